"""A small authoritative DNS server for tests, serving BIND zone text over UDP and TCP.

    with ZoneServer(ZONE) as server:              # or: server = ZoneServer.start(ZONE) ... server.stop()
        resolver = make_resolver(server.nameservers)
        server.set_zone(OTHER_ZONE)              # replace every record at runtime
        server.set_servfail({"name.example.test"})  # simulate a broken upstream for some names

Built on dnslib, but not on its ZoneResolver, which (checked) puts a CNAME's target in the
additional section (dnspython then reports NoAnswer) and answers NXDOMAIN for an existing name
asked for a type it lacks. Here CNAME chains are followed into the answer section and NXDOMAIN
is only for names with no records at or below them. TXT strings longer than 255 bytes in the
zone text are split into several strings, as a real zone file would have to publish them.
"""

from __future__ import annotations

import re
import socket
import threading
from types import TracebackType

from dnslib import QTYPE, RCODE, RR, DNSLabel, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE_OR_CHAR = re.compile(r"\\[0-9]{3}|\\.|.", re.DOTALL)
_MAX_CNAME_CHAIN = 8


def _split_quoted(match: re.Match[str]) -> str:
    # Split at token boundaries so an escape (\" or \DDD) is never cut in half.
    chunks: list[str] = []
    current, size = "", 0
    for token in _ESCAPE_OR_CHAR.findall(match.group(1)):
        token_size = 1 if token.startswith("\\") else len(token.encode())
        if size + token_size > 255:
            chunks.append(current)
            current, size = "", 0
        current += token
        size += token_size
    chunks.append(current)
    return " ".join(f'"{chunk}"' for chunk in chunks)


def parse_zone(zone_text: str) -> list[RR]:
    """Resource records from BIND zone text ($ORIGIN and $TTL work as in dnslib)."""
    return list(RR.fromZone(_QUOTED.sub(_split_quoted, zone_text)))


class _Resolver(BaseResolver):
    def __init__(self, records: list[RR]):
        self.records = records
        self.servfail: frozenset[DNSLabel] = frozenset()

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        records = self.records  # one snapshot per query: set_zone may swap it meanwhile
        reply = request.reply()
        qname: DNSLabel = request.q.qname
        qtype = request.q.qtype
        if qname in self.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        name, seen = qname, set()
        while name not in seen and len(seen) < _MAX_CNAME_CHAIN:
            seen.add(name)
            matches = [rr for rr in records if rr.rname == name]
            wanted = [rr for rr in matches if rr.rtype == qtype or qtype == QTYPE.ANY]
            cnames = [rr for rr in matches if rr.rtype == QTYPE.CNAME]
            if wanted or not cnames or qtype == QTYPE.CNAME:
                for rr in wanted:
                    reply.add_answer(rr)
                break
            reply.add_answer(cnames[0])
            name = cnames[0].rdata.label
        if not reply.rr and not any(rr.rname == qname or rr.rname.matchSuffix(qname) for rr in records):
            # Only a name with nothing at or below it is nonexistent; an empty non-terminal
            # (e.g. _domainkey.example.test) or a missing type is NOERROR with no answer.
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class ZoneServer:
    """Serves one zone on 127.0.0.1, UDP and TCP on the same free port."""

    def __init__(self, zone_text: str = ""):
        self._resolver = _Resolver(parse_zone(zone_text))
        self._logger = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
        self._servers: list[DNSServer] = []
        self._lock = threading.Lock()
        self.port = 0

    @classmethod
    def start(cls, zone_text: str = "") -> ZoneServer:
        server = cls(zone_text)
        server._start()
        return server

    @property
    def nameservers(self) -> str:
        """The AGENTMAIL_DNS_NAMESERVERS value that points at this server."""
        return f"127.0.0.1:{self.port}"

    def set_zone(self, zone_text: str) -> None:
        self._resolver.records = parse_zone(zone_text)

    def set_servfail(self, names: set[str]) -> None:
        """Answer SERVFAIL for these names (a temporary DNS error); an empty set stops it."""
        self._resolver.servfail = frozenset(DNSLabel(name) for name in names)

    def _start(self) -> None:
        with self._lock:
            if self._servers:
                return
            # A free UDP port may be taken for TCP; try a few.
            for _ in range(20):
                udp = DNSServer(self._resolver, address="127.0.0.1", port=0, logger=self._logger)
                port = udp.server.server_address[1]
                try:
                    tcp = DNSServer(self._resolver, address="127.0.0.1", port=port, tcp=True, logger=self._logger)
                except OSError:
                    udp.server.server_close()
                    continue
                break
            else:
                raise OSError("no free port for both UDP and TCP")
            for server in (udp, tcp):
                # dnslib's start_thread polls for shutdown every 0.5 s; stop() is quicker this way.
                server.thread = threading.Thread(
                    target=server.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
                )
                server.thread.start()
            self._servers = [udp, tcp]
            self.port = port

    def stop(self) -> None:
        """Stop serving and close the sockets (queries then get ICMP refusals, not silence)."""
        with self._lock:
            for server in self._servers:
                server.stop()  # dnslib's stop only ends serve_forever...
                server.server.server_close()  # ...the socket must be closed separately
            for server in self._servers:
                server.thread.join(timeout=5)
            self._servers = []

    def __enter__(self) -> ZoneServer:
        self._start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def blackhole_nameservers() -> tuple[socket.socket, str]:
    """A bound UDP socket that never answers, and its nameservers string (close it when done).

    Lookups against it time out, which is the slow failure a stopped ZoneServer does not give.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock, f"127.0.0.1:{sock.getsockname()[1]}"
