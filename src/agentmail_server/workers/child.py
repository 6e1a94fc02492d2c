"""A worker process of `serve` (see workers/process.py for how it is started and talked to).

`run` is its life once it has its settings; a forked child calls it directly, an exec'd one (a
restart) through `main`, after reading the settings from stdin. Not a command for people: run the
worker role on its own with `AGENTMAIL_ROLES=worker agentmail-server serve` instead.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import sys
import threading
from typing import NoReturn

from ..config import Settings
from ..runtime import run_services
from ..telemetry import logs, metrics
from .process import READY

# The exit status when the serving process is gone: like the whole server, this one stops at once.
ORPHANED = 70


def _first_line() -> bytes:
    """The settings line from stdin, read from the raw descriptor (see _exit_when_orphaned)."""
    line = b""
    while not line.endswith(b"\n"):
        more = os.read(0, 1 << 16)
        if not more:
            break
        line += more
    return line


def _exit_when_orphaned() -> None:
    """Exit the moment the parent's end of stdin closes (the parent died, however it died)."""

    def watch() -> None:
        # The raw descriptor, not sys.stdin: a daemon thread blocked in a buffered read holds its lock,
        # which the interpreter's shutdown then cannot take.
        while os.read(0, 65536):
            pass
        os._exit(ORPHANED)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


async def _serve(settings: Settings, control: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with run_services(settings):
        os.write(control, READY + b"\n")
        await stop.wait()


def run(settings: Settings, control: int) -> NoReturn:
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when this one stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    logs.configure(settings.log_level, settings.log_format)
    _exit_when_orphaned()

    def relay(name: str, labels: dict[str, str], amount: float) -> None:
        os.write(control, b"count " + json.dumps([name, labels, amount]).encode() + b"\n")

    metrics.relay_to(relay)
    gc.freeze()  # as `serve` does before forking (cli.cmd_serve); again for a child started with exec
    try:
        import uvloop  # as uvicorn picks for the serving process
    except ImportError:
        asyncio.run(_serve(settings, control))
    else:
        uvloop.run(_serve(settings, control))
    # Everything is committed and closed: skip the interpreter's teardown, which would wait for the
    # parser process to wind down (half a second per stop; it exits by itself once this one is gone).
    logging.shutdown()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentmail_server.workers.child")
    parser.add_argument("--control-fd", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    line = _first_line()
    if not line.strip():
        return 0  # the parent stopped before it needed this process
    run(Settings.model_validate_json(line), args.control_fd)


if __name__ == "__main__":
    sys.exit(main())
