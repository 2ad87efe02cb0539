"""Run the gateway: event loop set-up (uvloop when installed), workers and signals."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from chipfolio.interfaces.gateway.config import GatewayConfig
from chipfolio.interfaces.gateway.proxy import Gateway
from chipfolio.interfaces.gateway.workers import Peers, make_links, relay

# On SIGTERM/SIGINT, requests in flight get this long to finish before the process exits.
DRAIN_S = 30.0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in the gateway extra
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def _serve(
    config: GatewayConfig,
    host: str,
    port: int,
    hour: float,
    watch_s: float | None,
    reuse_port: bool,
    ready: Callable[[int], None],
    peers: Peers | None = None,
) -> None:
    gateway = Gateway(config, hour=hour)
    bound = await gateway.start(host, port, watch_s=watch_s, reuse_port=reuse_port, peers=peers)
    ready(bound)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await gateway.stop(drain_s=DRAIN_S)


def run_gateway(
    config: GatewayConfig,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    hour: float = 0.0,
    watch_s: float | None = None,
    workers: int = 1,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM. ``workers`` > 1 forks processes sharing the port
    (SO_REUSEPORT) that keep one state through the parent (``workers.relay``)."""
    announce = ready or (lambda p: None)
    if workers <= 1:
        _run_one(_serve(config, host, port, hour, watch_s, False, announce))
        return
    links = make_links(workers)
    children: list[int] = []
    for i in range(workers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child process
            code = 0
            try:
                for j, (parent_end, worker_end) in enumerate(links):
                    parent_end.close()
                    if j != i:
                        worker_end.close()
                peers = Peers(links[i][1], i, workers)
                _run_one(_serve(config, host, port, hour, watch_s, True, lambda p: None, peers))
            except BaseException:
                code = 1
            os._exit(code)
        children.append(pid)
    for _, worker_end in links:
        worker_end.close()
    announce(port)
    relay([parent_end for parent_end, _ in links], children)


def _run_one(main: Coroutine[Any, Any, None]) -> None:
    loop = _loop_factory()()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main)
    finally:
        loop.close()
        sys.stdout.flush()
