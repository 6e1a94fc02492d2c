"""Parsing inbound mail in child processes: CPU work on untrusted input, off the server's GIL and
out of its address space.

Parsing and reply extraction are most of the CPU an inbound message costs. Run in a thread they
still hold the GIL that the event loop (SMTP sessions, API requests, WebSockets) needs; in a child
process they run beside it. And input that makes a parser crash (lxml is C) takes down only the
child: the pool starts again for the next message, and the failed job is retried like any other
failure. With `processes=0` parsing runs in a thread of the server process instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from .parse import ParsedMessage, parse

log = logging.getLogger("agentmail_server.parse")


PARENT_CHECK_SECONDS = 1.0
CLOSE_SECONDS = 5.0


def _exit_with_parent(parent: int) -> None:
    """In each child: exit once the server process is gone.

    A spawned pool worker holds both ends of its task queue, so it never sees end-of-file when the
    server dies without shutting the pool down (SIGKILL, the OOM killer): it would wait for work
    forever. Orphans are re-parented, which is what this watches for.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class ParsePool:
    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # "spawn": forking a process that runs an event loop,
            # threads and database connections copies them in an unusable state.
            self._executor = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_exit_with_parent, initargs=(os.getpid(),))
        return self._executor

    def warm_up(self) -> None:
        """Start the children now (in the background): the first message would otherwise wait for a
        process to spawn and import the parsers."""
        if self.processes:
            pool = self._pool()
            for _ in range(self.processes):
                pool.submit(parse, b"")

    async def parse(self, raw: bytes) -> ParsedMessage:
        if self.processes == 0:
            return await asyncio.to_thread(parse, raw)
        # A second try in a new pool: the child that died may have been parsing another message, or
        # have been killed from outside. A message that kills its parser twice fails its job.
        for attempt in (1, 2):
            pool = self._pool()
            try:
                return await asyncio.get_running_loop().run_in_executor(pool, parse, raw)
            except BrokenProcessPool:
                log.warning("a mail parsing process died; starting a new one")
                if self._executor is pool:
                    self._executor = None
                pool.shutdown(wait=False, cancel_futures=True)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Stop the children and let the pool's queues go before this process ends.

        Their semaphores are freed by finalizers that run when the queues are collected or at the
        interpreter's exit; neither `serve` (uvicorn re-raises SIGTERM once it has shut down) nor a
        worker process (os._exit) reaches that exit, and the resource tracker then reports them as
        leaked. An idle pool stops in milliseconds; one still parsing is waited for a few seconds.
        """
        executor, self._executor = self._executor, None
        if executor is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_SECONDS):
                    await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
