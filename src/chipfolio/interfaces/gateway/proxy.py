"""The gateway: OpenAI-compatible proxying with plan-weighted routing and failover.

Routes:

- ``POST /v1/chat/completions``, ``POST /v1/completions`` (streaming and not): the body is
  forwarded byte for byte; only ``model`` and ``stream`` are read from it.
- ``GET /v1/models``: the model names of POOLS.yaml.
- ``GET /admin/state`` (JSON), ``GET /metrics`` (Prometheus text), ``POST /admin/reload``
  (both ``/admin`` routes need the admin key), ``GET /healthz``.

:class:`Gateway` owns the state (router, upstream pools, key checks, meters, counters), its
lifecycle (listen, health checks, file watch, client deadlines, reload, the other workers)
and the reports; forwarding a request with failover is its :class:`~.relay.Relay` half.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import random
import time
from collections.abc import Callable
from typing import Any

import orjson

from chipfolio.errors import ChipfolioError
from chipfolio.interfaces.gateway.access import load_access
from chipfolio.interfaces.gateway.admission import Gatekeeper, Refusal
from chipfolio.interfaces.gateway.config import GatewayConfig, GatewaySettings, load_config
from chipfolio.interfaces.gateway.http11 import (
    ClientLimits,
    Request,
    ServerConnection,
    serve_factory,
)
from chipfolio.interfaces.gateway.metering import UsageMeters
from chipfolio.interfaces.gateway.metrics import render_metrics
from chipfolio.interfaces.gateway.relay import PoolTarget, Relay, error_body
from chipfolio.interfaces.gateway.upstream import Exchange, UpstreamPool
from chipfolio.interfaces.gateway.workers import Peers
from chipfolio.routing import (
    Router,
    plan_vs_actual,
)

log = logging.getLogger("chipfolio.gateway")

_COMPLETION_PATHS = (b"/v1/chat/completions", b"/v1/completions")
_JSON = b"application/json"


class Gateway(Relay):
    """Owns the router, the upstream connection pools and the counters."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        hour: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.settings: GatewaySettings = config.settings
        self.hour = hour
        self.clock = clock
        self.router = Router(
            config.table,
            config.settings.routing_policy(),
            rng or random.Random(config.settings.seed),
            clock(),
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._targets: dict[str, PoolTarget] = {}
        self._upstreams: dict[tuple[str, int, str | None], UpstreamPool] = {}
        self._models_body = b""
        self.requests: dict[tuple[str, int], int] = {}
        self.retries = 0
        self.stream_cuts = 0
        self.stale_retries = 0
        self.in_flight = 0
        self.reload_errors = 0
        self.last_reload_error: str | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._sweep_task: asyncio.Task[None] | None = None
        self._keys_task: asyncio.Task[None] | None = None
        self.limits = ClientLimits(config.settings.max_body_bytes)
        self._server: asyncio.AbstractServer | None = None
        # the client's Authorization goes on to pools without their own credential, unless
        # it is a key of this gateway's (--client-keys)
        self.forward_client_auth = config.access.keys is None
        self.gate = Gatekeeper(clock)
        self.started = clock()
        self.usage = UsageMeters()
        self.peers: Peers | None = None  # the other workers, with --workers > 1
        self.last_errors: dict[str, str] = {}

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _build_targets(self) -> None:
        self.usage.keep((p.name for p in self.router.table.pools()), self.clock())
        targets: dict[str, PoolTarget] = {}
        for spec in self.router.table.pools():
            tr = self.config.transports[spec.name]
            key = tr.pool_key
            up = self._upstreams.get(key)
            if up is None:
                up = UpstreamPool(tr.host, tr.port, self.loop, self.settings.connect_timeout_s)
                self._upstreams[key] = up
            up.ssl = tr.tls
            up.connect_timeout = self.settings.connect_timeout_s
            up.keepalive_s = self.settings.upstream_keepalive_s
            targets[spec.name] = PoolTarget(spec, up, tr.base_path, tr.host_header, tr.credential)
        self._targets = targets
        self._models_body = self._models_list(sorted(self.router.table.models))

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        health: bool = True,
        watch_s: float | None = None,
        reuse_port: bool = False,
        peers: Peers | None = None,
    ) -> int:
        """Listen; returns the bound port (useful with ``port=0``). With ``peers`` (one of
        several workers), only worker 0 runs health checks and watches the files."""
        loop = self.loop
        self._build_targets()
        if peers is not None:
            self.peers = peers
            await peers.start(self)
            self.router.listener = peers.on_route_event
            self.gate.share = True
            if peers.index != 0:
                health, watch_s = False, None
        self._apply_limits()
        self._server = await loop.create_server(
            serve_factory(self.handle, self.limits, loop),
            host,
            port,
            reuse_port=reuse_port or None,
            backlog=2048,
        )
        if health:
            self._health_task = loop.create_task(self._health_loop())
        if watch_s:
            self._watch_task = loop.create_task(self._watch_loop(watch_s))
        self._sweep_task = loop.create_task(self._sweep_loop())
        if self.config.access.client_keys_db is not None:
            self._keys_task = loop.create_task(self._refresh_keys_loop())
        sock = self._server.sockets[0]
        bound: int = sock.getsockname()[1]
        return bound

    async def stop(self, drain_s: float = 0.0) -> None:
        """Stop accepting connections, let requests in flight finish for up to ``drain_s``."""
        for task in (self._health_task, self._watch_task, self._sweep_task, self._keys_task):
            if task is not None:
                task.cancel()
        if self.peers is not None:
            await self.peers.stop()
        if self._server is not None:
            self._server.close()
        deadline = self.loop.time() + drain_s
        while self.in_flight > 0 and self.loop.time() < deadline:
            await asyncio.sleep(0.01)
        for up in self._upstreams.values():
            up.close()

    def _apply_limits(self) -> None:
        s, lim = self.settings, self.limits
        lim.max_body = s.max_body_bytes
        lim.request_timeout_s = s.client_request_timeout_s
        lim.idle_timeout_s = s.client_idle_timeout_s
        lim.stalled_read_timeout_s = s.client_stalled_read_timeout_s
        lim.max_connections = s.max_client_connections

    async def _sweep_loop(self) -> None:
        """Close client connections past their deadline (slow requests, idle, stalled reads)."""
        while True:
            s = self.settings
            shortest = min(
                s.client_request_timeout_s,
                s.client_idle_timeout_s,
                s.client_stalled_read_timeout_s,
            )
            await asyncio.sleep(min(1.0, shortest / 4))
            self.limits.sweep(self.loop.time())

    async def _refresh_keys_loop(self) -> None:
        """Re-read the client keys (service tokens created or revoked) off the event loop."""
        while True:
            await asyncio.sleep(self.settings.client_keys_refresh_s)
            access = self.config.access
            try:
                fresh = await self.loop.run_in_executor(
                    None,
                    load_access,
                    access.client_keys_file,
                    access.admin_key_file,
                    tuple(self.router.table.workloads),
                    access.client_keys_db,
                )
            except ChipfolioError as exc:
                log.error("cannot refresh the client keys, keeping the current ones: %s", exc)
                continue
            self.config = dataclasses.replace(self.config, access=fresh)
            self.gate.reloaded(fresh)

    # --- reload ---------------------------------------------------------------------------

    def reload(self) -> dict[str, Any]:
        """Re-read POOLS.yaml and the plan; requests in flight finish on their pools."""
        access = self.config.access
        cfg = load_config(
            self.config.pools_file,
            self.config.plan_file,
            self.hour,
            client_keys=access.client_keys_file,
            admin_key_file=access.admin_key_file,
            client_keys_db=access.client_keys_db,
        )
        self.config = cfg
        self.settings = cfg.settings
        self.forward_client_auth = cfg.access.keys is None
        self.gate.reloaded(cfg.access)
        self._apply_limits()
        self.router.load(cfg.table)
        self._build_targets()
        return {
            pw.pool.name: round(pw.weight, 6) for pws in cfg.table.workloads.values() for pw in pws
        }

    async def _watch_loop(self, interval: float) -> None:
        def stamp() -> tuple[int, ...]:
            access = self.config.access
            files = (
                self.config.pools_file,
                self.config.plan_file,
                access.client_keys_file,
                access.admin_key_file,
            )
            out: list[int] = []
            try:
                for f in files:
                    if f is not None:
                        st = os.stat(f)
                        out += (st.st_mtime_ns, st.st_size)
            except OSError:
                return ()
            return tuple(out)

        last = stamp()
        while True:
            await asyncio.sleep(interval)
            now = stamp()
            if now != last and now:
                last = now
                try:
                    self.reload()
                    log.info("reloaded %s and %s", self.config.pools_file, self.config.plan_file)
                    if self.peers is not None:
                        self.peers.publish("reload")
                except ChipfolioError as exc:
                    self.reload_errors += 1
                    self.last_reload_error = str(exc)
                    log.error("reload failed, keeping the current plan: %s", exc)

    # --- health checks --------------------------------------------------------------------

    async def check_pool(self, name: str) -> bool:
        """GET <pool>/v1/models: costs no tokens; True on a 200."""
        target = self._targets.get(name)
        if target is None:
            return False
        ok = False
        conn = None
        try:
            conn = await target.upstream.acquire()
            ex = Exchange(self.loop)
            conn.send(
                b"GET "
                + target.base_path
                + b"/v1/models HTTP/1.1\r\nhost: "
                + target.host_header
                + target.credential
                + b"\r\n\r\n",
                ex,
            )
            timer = self.loop.call_later(self.settings.health_timeout_s, ex.fail, "timeout")
            await ex.done
            timer.cancel()
            ok = ex.error is None and ex.status == 200
            if ex.error is not None:
                conn.abort()
        except (OSError, TimeoutError):
            ok = False
        except asyncio.CancelledError:
            if conn is not None:
                conn.abort()
            raise
        self.router.on_health(name, ok, self.clock(), self.settings.unhealthy_after)
        if self.peers is not None:
            self.peers.publish("health", pool=name, ok=ok)
        return ok

    async def _health_loop(self) -> None:
        while True:
            names = [p.name for p in self.router.table.pools()]
            await asyncio.gather(*(self.check_pool(n) for n in names), return_exceptions=True)
            await asyncio.sleep(self.settings.health_interval_s)

    # --- request handling -----------------------------------------------------------------

    async def handle(self, req: Request, conn: ServerConnection) -> None:
        path = req.path
        method = req.method
        if method == b"POST" and path in _COMPLETION_PATHS:
            route = "chat" if path == _COMPLETION_PATHS[0] else "completions"
            client = None
            if self.config.access.keys is not None:
                admitted = self.gate.admit(self.config.access, req.headers.get(b"authorization"))
                if isinstance(admitted, Refusal):
                    self._refuse(conn, route, admitted)
                    return
                client = admitted
            self.in_flight += 1
            try:
                await self._proxy(req, conn, route, client)
            finally:
                self.in_flight -= 1
            return
        if path.startswith(b"/admin/"):
            refused = self.gate.admin(self.config.access, req.headers.get(b"authorization"))
            if refused is not None:
                self._refuse(conn, "admin", refused)
                return
        if method == b"GET":
            if path == b"/v1/models":
                self._models(req, conn)
                return
            if path == b"/metrics":
                conn.respond(200, self.metrics().encode(), b"text/plain; version=0.0.4")
                return
            if path == b"/admin/state":
                conn.respond(200, orjson.dumps(self.state(), option=orjson.OPT_INDENT_2))
                return
            if path == b"/healthz":
                conn.respond(200, b'{"status":"ok"}')
                return
        if method == b"POST" and path == b"/admin/reload":
            try:
                weights = self.reload()
            except ChipfolioError as exc:
                self.reload_errors += 1
                self.last_reload_error = str(exc)
                conn.respond(400, error_body(f"reload failed, plan unchanged: {exc}"))
                return
            if self.peers is not None:
                self.peers.publish("reload")
            conn.respond(200, orjson.dumps({"reloaded": True, "weights": weights}))
            return
        known = path in (
            *_COMPLETION_PATHS,
            b"/v1/models",
            b"/metrics",
            b"/admin/state",
            b"/admin/reload",
            b"/healthz",
        )
        status = 405 if known else 404
        self._count("other", status)
        conn.respond(
            status,
            error_body(
                f"{'method not allowed' if known else 'not found'}: "
                f"{method.decode('latin-1')[:16]} {path.decode('latin-1')[:200]}"
            ),
        )

    # --- access ---------------------------------------------------------------------------

    def _models(self, req: Request, conn: ServerConnection) -> None:
        access = self.config.access
        if access.keys is None:
            self._count("models", 200)
            conn.respond(200, self._models_body)
            return
        names = self.gate.models(
            access, req.headers.get(b"authorization"), self.router.table.models
        )
        if isinstance(names, Refusal):
            self._refuse(conn, "models", names)
            return
        self._count("models", 200)
        conn.respond(200, self._models_list(names))

    @staticmethod
    def _models_list(names: list[str]) -> bytes:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "chipfolio"} for m in names]
        return orjson.dumps({"object": "list", "data": data})

    def charge_clients(self, admitted: dict[str, Any]) -> None:
        """Rate-limited requests other workers admitted (see ``Gatekeeper.charge``)."""
        self.gate.charge(self.config.access, admitted)

    # --- reporting ------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """This worker's state, summed with the other workers' (``workers``), and the plan
        against actual."""
        state = self.local_state()
        if self.peers is not None:
            state = self.peers.merge(state)
        served = {
            p["name"]: float(p["usage"]["completion_tokens"])
            for ps in state["workloads"].values()
            for p in ps
            if "usage" in p
        }
        state["plan_vs_actual"] = plan_vs_actual(
            self.router.table, self.config.prices, served, self.clock() - self.started
        )
        return state

    def local_state(self) -> dict[str, Any]:
        """This worker's own routing state and counters."""
        now = self.clock()
        snap = self.router.snapshot(now)
        transports = self.config.transports
        for pools in snap["workloads"].values():
            for p in pools:
                tr = transports.get(p["name"])
                p["tls"] = None if tr is None else tr.trust
                p["credential"] = None if tr is None else tr.credential_source
                p["last_error"] = self.last_errors.get(p["name"])
                usage = self.usage.row(p["name"], now)
                if usage is not None:
                    p["usage"] = usage
        snap["pid"] = os.getpid()
        snap["plan_file"] = self.config.plan_file
        snap["pools_file"] = self.config.pools_file
        snap["gateway"] = {
            "in_flight": self.in_flight,
            "retries": self.retries,
            "stream_cuts": self.stream_cuts,
            "stale_connection_retries": self.stale_retries,
            "reload_errors": self.reload_errors,
            **self.gate.snapshot(),
            "last_reload_error": self.last_reload_error,
            "requests": [
                {"route": r, "status": s, "count": c} for (r, s), c in sorted(self.requests.items())
            ],
        }
        return snap

    def metrics(self) -> str:
        return render_metrics(self.state())
