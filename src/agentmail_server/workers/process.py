"""The worker role in child processes of the serving process, restarted when they crash.

Processing inbound mail (parsing aside, ≈12 ms of event-loop time per 10 KB message), delivery and
webhook dispatch would otherwise share one event loop, one core's worth of GIL, with the SMTP
listener, the REST API and the WebSocket fan-out: a burst of mail then slows every API request and
the listener's 250s. In a child process they run beside them, on another core.

Talking to a child takes three channels:

* its stdin is a pipe that this process holds open: end-of-file tells the child that this process
  is gone (killed, even with SIGKILL), and it exits at once, as the whole server would. A child
  started with exec reads its settings from it first (one JSON line);
* a pipe back (its control descriptor) carries "ready" once its services run, and counter
  increments for this process's /metrics (`telemetry.metrics.RELAYED`); its end-of-file says the
  child exited;
* committed work and events travel through the database and its wake-ups (LISTEN/NOTIFY on
  PostgreSQL, `db.host_notify` datagrams on SQLite), as between any two processes of a deployment.

`serve` forks its first children (`fork_children`) once the database is migrated, before it starts
any thread or event loop: they have every module imported already and start their services while
this process builds its app. A child that exits with a failure (a crash, the OOM killer) is started
again after a backoff, with exec (this process has threads by then, which a fork must not copy);
one that exits cleanly was stopped on purpose (SIGTERM) and stays stopped (`/ready` says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from ..config import Settings
from ..telemetry import metrics
from .tasks import cancel

log = logging.getLogger("agentmail_server.workers.process")

READY = b"ready"
RESTART_BACKOFF_START = 1.0
RESTART_BACKOFF_MAX = 30.0
# A child that ran this long before crashing starts again after the shortest backoff.
STABLE_SECONDS = 60.0
REAP_INTERVAL = 0.01


def child_settings(settings: Settings) -> Settings:
    """What a worker child runs with: this process's settings, with the worker role alone."""
    return settings.model_copy(update={"roles": "worker", "worker_processes": 0})


@dataclass
class _Handle:
    """A started child: its pid, our end of its stdin, our end of its control pipe."""

    pid: int
    stdin: int
    control: int
    popen: subprocess.Popen[bytes] | None = None  # kept for exec'd children: it reaps them

    def exit_status(self) -> int | None:
        if self.popen is not None:
            return self.popen.poll()
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return -1  # reaped by someone else; its status is lost
        return None if pid == 0 else os.waitstatus_to_exitcode(status)

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.stdin)


def _exec_child(settings: Settings) -> _Handle:
    stdin_r, stdin_w = os.pipe()
    control_r, control_w = os.pipe()
    try:
        popen = subprocess.Popen(
            [sys.executable, "-m", "agentmail_server.workers.child", "--control-fd", str(control_w)],
            stdin=stdin_r, pass_fds=(control_w,),
        )
    except BaseException:
        for fd in (stdin_w, control_r):
            os.close(fd)
        raise
    finally:
        for fd in (stdin_r, control_w):
            os.close(fd)
    handle = _Handle(popen.pid, stdin_w, control_r, popen)
    try:
        os.write(stdin_w, child_settings(settings).model_dump_json().encode() + b"\n")
    except OSError:
        pass  # it died already: its control pipe says so at once, and it is restarted as any other
    return handle


def _fork_child(settings: Settings) -> _Handle:
    stdin_r, stdin_w = os.pipe()
    control_r, control_w = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or the child would write what this process had buffered a second time
    pid = os.fork()
    if pid == 0:  # the child: never returns
        status = 1
        try:
            os.close(stdin_w)
            os.close(control_r)
            os.dup2(stdin_r, 0)
            os.close(stdin_r)
            from .child import run

            run(child_settings(settings), control_w)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(status)
    os.close(stdin_r)
    os.close(control_w)
    return _Handle(pid, stdin_w, control_r)


# Children forked by `fork_children`, taken by `WorkerProcesses.start`.
_forked: list[_Handle] = []


def fork_children(settings: Settings, count: int) -> None:
    """Fork `count` worker children now, while this process has no other thread (a fork copies only
    the calling thread, and locks held by others would stay locked in the child). With threads
    about, `WorkerProcesses.start` execs its children instead."""
    if threading.active_count() > 1:
        log.info("not forking worker processes (%d threads run); they are started with exec",
                 threading.active_count())
        return
    _forked.extend(_fork_child(settings) for _ in range(count))


@dataclass
class _Child:
    number: int
    handle: _Handle | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    started_at: float = 0.0
    # The control pipe's reader; it ends, with the exit status, when the child has exited.
    control: asyncio.Task[int] | None = None


class WorkerProcesses:
    def __init__(self, settings: Settings, count: int) -> None:
        self.settings = settings
        self._children = [_Child(number) for number in range(count)]
        self._watchers: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self, ready_timeout: float = 60.0) -> None:
        """Start the children and wait until each runs its services (or has failed to start)."""
        for child in self._children:
            self._spawn(child)
        failed = await asyncio.gather(*(self._wait_ready(child, ready_timeout) for child in self._children))
        if any(failed):
            await self.stop()
            raise RuntimeError("a worker process failed to start (its log lines are above)")
        self._watchers = [asyncio.create_task(self._watch(child), name=f"worker-process-{child.number}")
                          for child in self._children]

    def running(self) -> int:
        return sum(1 for child in self._children
                   if child.control is not None and not child.control.done() and child.ready.is_set())

    @property
    def count(self) -> int:
        return len(self._children)

    async def stop(self, grace: float = 30.0) -> None:
        self._stopping = True
        await cancel(*self._watchers)
        self._watchers = []
        live = [child for child in self._children if child.control is not None and not child.control.done()]
        for child in live:
            assert child.handle is not None
            child.handle.signal(signal.SIGTERM)
        for child in live:
            assert child.handle is not None and child.control is not None
            try:
                await asyncio.wait_for(asyncio.shield(child.control), grace)
            except TimeoutError:
                log.warning("worker process %s did not stop within %.0f s; killing it", child.handle.pid, grace)
                child.handle.signal(signal.SIGKILL)
                await child.control
        for child in self._children:
            if child.handle is not None:
                child.handle.close()

    def _spawn(self, child: _Child) -> None:
        handle = _forked.pop(0) if _forked else _exec_child(self.settings)
        child.handle, child.started_at = handle, time.monotonic()
        child.ready = asyncio.Event()
        child.control = asyncio.create_task(self._read_control(child, handle), name=f"worker-control-{child.number}")
        log.info("worker process %d started (pid %d)", child.number, handle.pid)

    @staticmethod
    async def _read_control(child: _Child, handle: _Handle) -> int:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                    os.fdopen(handle.control, "rb", buffering=0))
        try:
            while line := await reader.readline():
                line = line.rstrip(b"\n")
                if line == READY:
                    child.ready.set()
                elif line.startswith(b"count "):
                    _relay_count(line[len(b"count "):])
        finally:
            transport.close()
        # The pipe closed as the child exited: its status is there within moments (no event to wait
        # for: the child is not asyncio's, as the first ones are forked before any loop runs).
        while (code := handle.exit_status()) is None:  # noqa: ASYNC110
            await asyncio.sleep(REAP_INTERVAL)
        return code

    async def _wait_ready(self, child: _Child, within: float) -> bool:
        """Whether the child failed: exited before it was ready. A slow one is waited for no longer."""
        assert child.control is not None
        ready = asyncio.create_task(child.ready.wait())
        try:
            await asyncio.wait({ready, child.control}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if child.ready.is_set():
            return False
        if child.control.done():
            log.error("worker process %d exited with %s before it was ready", child.number, child.control.result())
            return True
        log.warning("worker process %d is not ready after %.0f s; serving without waiting", child.number, within)
        return False

    async def _watch(self, child: _Child) -> None:
        backoff = RESTART_BACKOFF_START
        while True:
            assert child.handle is not None and child.control is not None
            code = await asyncio.shield(child.control)
            child.handle.close()
            if self._stopping:
                return
            if code == 0:
                log.warning("worker process %d (pid %d) was stopped; it is not restarted",
                            child.number, child.handle.pid)
                return
            if time.monotonic() - child.started_at > STABLE_SECONDS:
                backoff = RESTART_BACKOFF_START
            log.error("worker process %d (pid %d) exited with %d; restarting in %.0f s",
                      child.number, child.handle.pid, code, backoff)
            while True:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RESTART_BACKOFF_MAX)
                try:
                    self._spawn(child)
                    break
                except Exception:
                    log.exception("starting worker process %d failed; trying again in %.0f s", child.number, backoff)


def _relay_count(body: bytes) -> None:
    try:
        name, labels, amount = json.loads(body)
        metrics.RELAYED[name].labels(**labels).inc(float(amount))
    except Exception:
        log.warning("ignoring a malformed counter from a worker process: %r", body[:200])
