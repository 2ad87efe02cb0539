"""A solve that can be stopped: run it in a forked child process, end the child at the deadline.

HiGHS does not poll its time limit, nor its interrupt callbacks, in every phase (a primal
heuristic's sub-MIP or a presolve pass can run for minutes past both). A time limit the
planner reports is a promise, so a MILP solve runs in a child process forked for it: the child
streams every improving solution it finds (objective, values, proven bound) up a pipe, and
the parent ends the child with SIGKILL once the deadline plus a short grace has passed, keeping
the best solution streamed so far. Where ``os.fork`` is unavailable the solve runs in-process
(the callbacks alone then stand between the caller and an overrun).

Messages are length-prefixed pickles of tuples; only this process and its own child write or
read them.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chipfolio.planner.problem import FloatArray

HEADER = struct.Struct("<Q")
# how long past the deadline the child may take to wind down by itself before it is killed
GRACE_S = 0.25


@dataclass(frozen=True, slots=True)
class Incumbent:
    """The best solution a running solve has reported: objective, values, proven bound."""

    objective: float
    x: FloatArray
    bound: float | None


Report = Callable[[Incumbent], None]


def can_fork() -> bool:
    return hasattr(os, "fork") and os.name == "posix"


def _send(fd: int, message: tuple[Any, ...]) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class _Reader:
    """Collects length-prefixed messages from a non-blocking pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()
        self.closed = False

    def pump(self, timeout: float) -> list[tuple[Any, ...]]:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if ready:
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                self.closed = True
            self.buffer += chunk
        out = []
        while len(self.buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self.buffer)
            if len(self.buffer) < HEADER.size + size:
                break
            payload = bytes(self.buffer[HEADER.size : HEADER.size + size])
            del self.buffer[: HEADER.size + size]
            out.append(pickle.loads(payload))
        return out


@dataclass(frozen=True, slots=True)
class Guarded:
    """What a guarded run gave: the child's own result, or (``killed``) the best incumbent."""

    result: Any | None
    incumbent: Incumbent | None
    killed: bool
    error: str | None = None


def run_guarded(work: Callable[[Report], Any], deadline: float) -> Guarded:
    """Run ``work(report)`` in a forked child until ``deadline`` (``time.perf_counter``).

    ``work`` calls ``report`` with each improving solution; its return value must pickle.
    Exceptions raised by ``work`` come back as ``error`` (their text)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's exit is not seen by coverage
        os.close(read_fd)
        code = 0
        try:

            def report(found: Incumbent) -> None:
                _send(write_fd, ("incumbent", found.objective, found.x, found.bound))

            _send(write_fd, ("done", work(report)))
        except BaseException as exc:  # everything goes back to the parent as text
            try:
                _send(write_fd, ("error", f"{type(exc).__name__}: {exc}"))
            except BaseException:
                code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    reader = _Reader(read_fd)
    best: Incumbent | None = None
    try:
        while True:
            left = deadline + GRACE_S - time.perf_counter()
            if left <= 0:
                _kill(pid)
                return Guarded(None, best, killed=True)
            for message in reader.pump(min(left, 0.05)):
                if message[0] == "incumbent":
                    best = Incumbent(float(message[1]), np.asarray(message[2]), message[3])
                elif message[0] == "done":
                    _reap(pid)
                    return Guarded(message[1], best, killed=False)
                else:
                    _reap(pid)
                    return Guarded(None, best, killed=False, error=str(message[1]))
            if reader.closed:
                _reap(pid)
                return Guarded(None, best, killed=False, error="the solver process died")
    finally:
        os.close(read_fd)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may have ended on its own just now
        os.kill(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # already reaped
        os.waitpid(pid, 0)
