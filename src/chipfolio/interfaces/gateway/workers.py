"""One state across ``--workers``: a broadcast hub in the parent, a peer link in each worker.

The parent process forks the workers and then only relays: every line a worker writes on its
socket (newline-delimited JSON) goes to every other worker, unread. Each worker

- announces its breaker changes and 429 cool-downs as they happen (``route`` events), and the
  others adopt them, so a pool that fails on one worker leaves every worker's rotation;
- runs the active health checks only in worker 0, which announces each result;
- announces a successful reload (``/admin/reload`` on any worker, or ``--watch`` in worker 0),
  and the others re-read the same files;
- sends a snapshot of its counters every ``interval_s`` (with the client-key requests it
  admitted since the last one, which the others charge to their own rate-limit buckets);

and answers ``/admin/state`` and ``/metrics`` with its own fresh counters summed with the
latest snapshot of every other worker (at most ``interval_s`` old), listing each worker under
``workers`` with its weights and breaker states so their agreement can be checked.
Events carry the sender's ``time.monotonic()`` (one clock for every process on Linux), so each
worker also reports how late they arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import selectors
import signal
import socket
import time
from typing import TYPE_CHECKING, Any

import orjson

from chipfolio.errors import ChipfolioError

if TYPE_CHECKING:
    from chipfolio.interfaces.gateway.proxy import Gateway

log = logging.getLogger("chipfolio.gateway")

_POOL_SUMS = ("attempts", "successes", "in_flight", "health_checks", "health_failures")
_USAGE_SUMS = (
    "prompt_tokens",
    "completion_tokens",
    "metered_answers",
    "unmetered_answers",
    "completion_tokens_per_s",
    "recent_completion_tokens_per_s",
)
_GATEWAY_SUMS = (
    "in_flight",
    "retries",
    "stream_cuts",
    "stale_connection_retries",
    "reload_errors",
    "unauthorized",
)
MAX_LINE_BYTES = 16 * 1024 * 1024


# --- parent: the hub --------------------------------------------------------------------------


def relay(socks: list[socket.socket], children: list[int], signals: bool = True) -> None:
    """Forward each worker's lines to the others until every worker has exited (or, with no
    ``children`` to wait for, until every worker closed its socket). ``signals``: pass
    SIGINT/SIGTERM on to the children (main thread only)."""
    sel = selectors.DefaultSelector()
    buffers: dict[int, bytearray] = {}
    for i, s in enumerate(socks):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        buffers[i] = bytearray()
    alive = set(range(len(socks)))

    def stop_children(signum: int, frame: Any) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    if signals:
        signal.signal(signal.SIGINT, stop_children)
        signal.signal(signal.SIGTERM, stop_children)
    running = set(children)
    while running or (not children and alive):
        for key, _ in sel.select(timeout=0.5):
            i = key.data
            try:
                data = socks[i].recv(1 << 20)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(socks[i])
                alive.discard(i)
                continue
            buf = buffers[i]
            buf += data
            end = buf.rfind(b"\n")
            if end < 0:
                if len(buf) > MAX_LINE_BYTES:
                    buf.clear()  # a runaway line: drop it rather than grow without bound
                continue
            lines = bytes(buf[: end + 1])
            del buf[: end + 1]
            for j in alive - {i}:
                _send_all(socks[j], lines)
        for pid in list(running):
            with contextlib.suppress(ChildProcessError):
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    running.discard(pid)
    sel.close()


def _send_all(sock: socket.socket, data: bytes) -> None:
    """Best effort within a second; a worker that does not read loses this message."""
    deadline = time.monotonic() + 1.0
    view = memoryview(data)
    while view and time.monotonic() < deadline:
        try:
            sent = sock.send(view)
        except (BlockingIOError, InterruptedError):
            time.sleep(0.001)
            continue
        except OSError:
            return
        view = view[sent:]


# --- worker: the peer link --------------------------------------------------------------------


class Peers:
    """One worker's link to the others (through the hub)."""

    def __init__(self, sock: socket.socket, index: int, count: int, interval_s: float = 0.25):
        self.sock = sock
        self.index = index
        self.count = count
        self.interval_s = interval_s
        self.snapshots: dict[int, tuple[float, dict[str, Any]]] = {}  # worker -> (at, state)
        self.events_in = 0
        self.lags_ms: list[float] = []
        self.reloads_applied = 0
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._gateway: Gateway | None = None

    async def start(self, gateway: Gateway) -> None:
        self._gateway = gateway
        reader, self._writer = await asyncio.open_connection(sock=self.sock, limit=MAX_LINE_BYTES)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read_loop(reader)),
            loop.create_task(self._snap_loop()),
        ]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        if self._writer is not None:
            self._writer.close()

    def publish(self, msg_type: str, **fields: Any) -> None:
        w = self._writer
        if w is None or w.is_closing():
            return
        if w.transport.get_write_buffer_size() > MAX_LINE_BYTES:
            return  # the hub is not reading: drop rather than buffer without bound
        msg = {"t": msg_type, "w": self.index, "sent": time.monotonic(), **fields}
        w.write(orjson.dumps(msg) + b"\n")

    # route events ------------------------------------------------------------------------

    def on_route_event(self, pool: str, kind: str, seconds: float) -> None:
        self.publish("route", pool=pool, kind=kind, seconds=seconds)

    # loops ---------------------------------------------------------------------------------

    async def _snap_loop(self) -> None:
        gw = self._gateway
        assert gw is not None
        while True:
            await asyncio.sleep(self.interval_s)
            self.publish("snap", state=gw.local_state(), admitted=gw.gate.take_admitted())

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                continue  # an over-long line: skip it
            if not line:
                return
            try:
                msg = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(msg, dict):
                self._apply(msg)

    def _apply(self, msg: dict[str, Any]) -> None:
        gw = self._gateway
        assert gw is not None
        kind = msg.get("t")
        sender = msg.get("w")
        sent = msg.get("sent")
        if isinstance(sent, float):
            lag = time.monotonic() - sent
            self.lags_ms.append(1000.0 * lag)
            del self.lags_ms[:-1000]
        else:
            lag = 0.0
        self.events_in += 1
        now = gw.clock()
        if kind == "snap" and isinstance(sender, int) and isinstance(msg.get("state"), dict):
            self.snapshots[sender] = (time.monotonic(), msg["state"])
            admitted = msg.get("admitted")
            if isinstance(admitted, dict):
                gw.charge_clients(admitted)
        elif kind == "route":
            pool, what, seconds = msg.get("pool"), msg.get("kind"), msg.get("seconds")
            if isinstance(pool, str) and isinstance(what, str) and isinstance(seconds, float | int):
                gw.router.adopt(pool, what, float(seconds) - lag, now)
        elif kind == "health":
            pool, ok = msg.get("pool"), msg.get("ok")
            if isinstance(pool, str) and isinstance(ok, bool):
                gw.router.on_health(pool, ok, now, gw.settings.unhealthy_after)
        elif kind == "reload":
            try:
                gw.reload()
                self.reloads_applied += 1
            except ChipfolioError as exc:
                gw.reload_errors += 1
                gw.last_reload_error = str(exc)
                log.error(
                    "worker %d: reload announced by worker %s failed: %s", self.index, sender, exc
                )

    # reporting -----------------------------------------------------------------------------

    def merge(self, local: dict[str, Any]) -> dict[str, Any]:
        """``local`` summed with the latest snapshot of every other worker."""
        out = copy.deepcopy(local)
        now = time.monotonic()
        workers = [_worker_row(self.index, 0.0, local)]
        pools = {p["name"]: p for ps in out["workloads"].values() for p in ps}
        for index, (at, snap) in sorted(self.snapshots.items()):
            workers.append(_worker_row(index, now - at, snap))
            _sum_pools(pools, snap)
            _sum_gateway(out["gateway"], snap.get("gateway", {}))
            rb, srb = out["retry_budget"], snap.get("retry_budget", {})
            for k in ("balance", "spent", "denied"):
                rb[k] = rb.get(k, 0) + srb.get(k, 0)
        lags = sorted(self.lags_ms)
        out["workers"] = workers
        out["sync"] = {
            "workers_expected": self.count,
            "workers_reporting": 1 + len(self.snapshots),
            "events_received": self.events_in,
            "event_lag_ms_p50": round(lags[len(lags) // 2], 3) if lags else None,
            "event_lag_ms_max": round(lags[-1], 3) if lags else None,
            "reloads_applied_from_peers": self.reloads_applied,
        }
        return out


def _worker_row(index: int, age_s: float, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "worker": index,
        "pid": state.get("pid"),
        "snapshot_age_s": round(age_s, 3),
        "reloads": state.get("reloads"),
        "requests": sum(r["count"] for r in state.get("gateway", {}).get("requests", [])),
        "weights": {p["name"]: p["weight"] for ps in state["workloads"].values() for p in ps},
        "breakers": {p["name"]: p["breaker"] for ps in state["workloads"].values() for p in ps},
    }


def _sum_pools(pools: dict[str, dict[str, Any]], snap: dict[str, Any]) -> None:
    for ps in snap.get("workloads", {}).values():
        for p in ps:
            mine = pools.get(p.get("name"))
            if mine is None:  # a pool this worker does not have (mid-reload): skipped
                continue
            for k in _POOL_SUMS:
                mine[k] = mine.get(k, 0) + p.get(k, 0)
            mine["breaker_trips"] = mine.get("breaker_trips", 0) + p.get("breaker_trips", 0)
            fails = mine.setdefault("failures", {})
            for reason, n in p.get("failures", {}).items():
                fails[reason] = fails.get(reason, 0) + n
            mu, pu = mine.get("usage"), p.get("usage")
            if isinstance(mu, dict) and isinstance(pu, dict):
                for k in _USAGE_SUMS:
                    mu[k] = round(mu.get(k, 0) + pu.get(k, 0), 3)


def _sum_gateway(g: dict[str, Any], other: dict[str, Any]) -> None:
    for k in _GATEWAY_SUMS:
        g[k] = g.get(k, 0) + other.get(k, 0)
    counts: dict[tuple[str, int], int] = {
        (r["route"], r["status"]): r["count"] for r in g["requests"]
    }
    for r in other.get("requests", []):
        key = (r["route"], r["status"])
        counts[key] = counts.get(key, 0) + r["count"]
    g["requests"] = [{"route": r, "status": s, "count": c} for (r, s), c in sorted(counts.items())]
    clients = g.setdefault("clients", {})
    for name, outcomes in other.get("clients", {}).items():
        mine = clients.setdefault(name, {})
        for outcome, n in outcomes.items():
            mine[outcome] = mine.get(outcome, 0) + n


def make_links(count: int) -> list[tuple[socket.socket, socket.socket]]:
    """One (parent end, worker end) socket pair per worker."""
    return [socket.socketpair() for _ in range(count)]
