"""uvicorn's WebSocket protocol with permessage-deflate compressing each event once, not per connection.

uvicorn negotiates permessage-deflate with context takeover, so every connection compresses every frame
with its own zlib stream: fanning one event out to N subscribers costs N compressions of the same
bytes, the larger part of the fan-out's CPU. Here the server declares `server_no_context_takeover`
(RFC 7692 §7.1.1.1: a server may, whatever the client offered): each message it sends is compressed
from an empty window, so the output depends only on the payload and the negotiated window size and is
shared by every connection sending the same payload. Clients decompress as before; client-to-server
compression is unchanged. The price is somewhat larger frames (a 5.4 KB message.received event:
1.1 KB instead of 0.9 KB); it also drops each connection's compressor (≈32 KiB).
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import PerMessageDeflate, ServerPerMessageDeflateFactory
from websockets.frames import CONT, CTRL_OPCODES, Frame
from websockets.server import ServerProtocol

# uvicorn's own settings (websockets_sansio_impl), kept so that only context takeover changes.
WINDOW_BITS = 12
COMPRESS_SETTINGS = {"memLevel": 5}
# Recently sent payloads and their compressed form. A fan-out sends one payload to every connection in
# a row (or, in a burst, the same run of payloads to each): the budget holds several hundred events.
CACHE_BYTES = 4 * 1024 * 1024
CACHE_MAX_PAYLOAD = 256 * 1024  # larger ones are compressed for each connection and not kept

_EMPTY_BLOCK = b"\x00\x00\xff\xff"


class CompressedPayloads:
    """Deflate data of whole messages, each compressed from an empty window (without the trailer)."""

    def __init__(self, budget: int = CACHE_BYTES) -> None:
        self.budget = budget
        self.size = 0
        self._entries: OrderedDict[tuple[int, bytes], bytes] = OrderedDict()

    def get(self, data: bytes, window_bits: int) -> bytes:
        key = (window_bits, data)
        hit = self._entries.get(key)
        if hit is not None:
            self._entries.move_to_end(key)
            return hit
        encoder = zlib.compressobj(wbits=-window_bits, **COMPRESS_SETTINGS)
        out = encoder.compress(data) + encoder.flush(zlib.Z_SYNC_FLUSH)
        assert out[-4:] == _EMPTY_BLOCK
        out = out[:-4]
        if len(data) <= CACHE_MAX_PAYLOAD:
            self._entries[key] = out
            self.size += len(data) + len(out)
            while self.size > self.budget:
                (_, old), old_out = self._entries.popitem(last=False)
                self.size -= len(old) + len(old_out)
        return out


# One per process: every connection is served by the same event loop thread.
COMPRESSED = CompressedPayloads()


class SharedDeflate(PerMessageDeflate):
    """Sends whole messages compressed through the shared cache (always COMPRESS_SETTINGS, see the factory)."""

    def encode(self, frame: Frame) -> Frame:
        if (self.local_no_context_takeover and frame.fin and frame.opcode is not CONT
                and frame.opcode not in CTRL_OPCODES):
            data = COMPRESSED.get(bytes(frame.data), self.local_max_window_bits)
            return Frame(frame.opcode, data, frame.fin, True, frame.rsv2, frame.rsv3)
        return super().encode(frame)


class SharedDeflateFactory(ServerPerMessageDeflateFactory):
    def process_request_params(self, params: Any, accepted_extensions: Any) -> tuple[Any, PerMessageDeflate]:
        response, ext = super().process_request_params(params, accepted_extensions)
        assert isinstance(ext, PerMessageDeflate)
        return response, SharedDeflate(ext.remote_no_context_takeover, ext.local_no_context_takeover,
                                       ext.remote_max_window_bits, ext.local_max_window_bits, ext.compress_settings)


class EventSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol (its default), with SharedDeflate as the only change."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn fixes its extension parameters when building the protocol state; there is no setting.
        if self.config.ws_per_message_deflate:
            self.conn = ServerProtocol(
                extensions=[SharedDeflateFactory(server_no_context_takeover=True, server_max_window_bits=WINDOW_BITS,
                                                 client_max_window_bits=WINDOW_BITS,
                                                 compress_settings=COMPRESS_SETTINGS)],
                max_size=self.config.ws_max_size, logger=self.conn.logger,
            )
