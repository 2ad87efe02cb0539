"""The gateway: OpenAI-compatible proxying with plan-weighted routing and failover.

Routes:

- ``POST /v1/chat/completions``, ``POST /v1/completions`` (streaming and not): the body is
  forwarded byte for byte; only ``model`` and ``stream`` are read from it.
- ``GET /v1/models``: the model names of POOLS.yaml.
- ``GET /admin/state`` (JSON), ``GET /metrics`` (Prometheus text), ``POST /admin/reload``,
  ``GET /healthz``.

Failure handling: connect errors, 5xx, timeouts and a slow first token are retried on another
pool (up to ``max_attempts``, within the retry budget, after a jittered backoff); a 429 puts its
pool in cool-down for ``Retry-After`` seconds and the request moves on. A stream is committed
to a pool when its first body bytes arrive; after that there is no retry, and a cut upstream
ends the client's stream with an SSE ``error`` event (tokens are never sent twice).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from chipfolio.errors import ChipfolioError
from chipfolio.interfaces.gateway.access import ClientKey
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
from chipfolio.interfaces.gateway.upstream import Exchange, UpstreamConnection, UpstreamPool
from chipfolio.interfaces.gateway.workers import Peers
from chipfolio.routing import (
    Failure,
    PoolSpec,
    Router,
    plan_vs_actual,
)

log = logging.getLogger("chipfolio.gateway")

_COMPLETION_PATHS = (b"/v1/chat/completions", b"/v1/completions")
_JSON = b"application/json"


def error_body(message: str, kind: str = "invalid_request_error", code: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


@dataclass(slots=True)
class _Target:
    """How to reach one pool: its connection pool and the bytes every request to it shares,
    built once per plan load rather than per request."""

    spec: PoolSpec
    upstream: UpstreamPool
    base_path: bytes
    host_header: bytes
    credential: bytes = field(repr=False)  # b"\r\n<header>: <key>", or b"" (no own key)
    post: bytes = field(init=False)  # b"POST <base path>"
    head: bytes = field(init=False)  # " HTTP/1.1", host, content-type, "content-length: "
    pool_header: bytes = field(init=False)  # the x-chipfolio-pool response header line

    def __post_init__(self) -> None:
        self.post = b"POST " + self.base_path
        self.head = (
            b" HTTP/1.1\r\nhost: "
            + self.host_header
            + b"\r\ncontent-type: application/json\r\ncontent-length: "
        )
        self.pool_header = b"x-chipfolio-pool: " + self.spec.name.encode() + b"\r\n"


@dataclass(slots=True)
class _Failed:
    """The last failed attempt of a request, to answer the client with if nothing works."""

    pool: str
    kind: Failure
    status: int = 0
    body: bytes = b""
    content_type: bytes = _JSON
    retry_after: bytes | None = None


def _retry_after_s(value: bytes | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.decode("latin-1").strip())
    except ValueError:
        return None  # an HTTP date: use the default cool-down
    return seconds if seconds >= 0 else None


class Gateway:
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
        self._targets: dict[str, _Target] = {}
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
        targets: dict[str, _Target] = {}
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
            targets[spec.name] = _Target(spec, up, tr.base_path, tr.host_header, tr.credential)
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
        sock = self._server.sockets[0]
        bound: int = sock.getsockname()[1]
        return bound

    async def stop(self, drain_s: float = 0.0) -> None:
        """Stop accepting connections, let requests in flight finish for up to ``drain_s``."""
        for task in (self._health_task, self._watch_task, self._sweep_task):
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

    def _count(self, route: str, status: int) -> None:
        key = (route, status)
        self.requests[key] = self.requests.get(key, 0) + 1

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

    def _refuse(self, conn: ServerConnection, route: str, r: Refusal) -> None:
        self._client_error(conn, route, r.status, r.message, r.kind, r.code, r.extra_headers)

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

    def _client_error(
        self,
        conn: ServerConnection,
        route: str,
        status: int,
        msg: str,
        kind: str = "invalid_request_error",
        code: str | None = None,
        extra: bytes = b"",
    ) -> None:
        self._count(route, status)
        conn.respond(status, error_body(msg, kind, code), _JSON, extra)

    async def _proxy(
        self, req: Request, conn: ServerConnection, route: str, client: ClientKey | None
    ) -> None:
        try:
            doc = orjson.loads(req.body)
        except orjson.JSONDecodeError:
            self._client_error(conn, route, 400, "request body is not valid JSON")
            return
        if not isinstance(doc, dict):
            self._client_error(conn, route, 400, "request body must be a JSON object")
            return
        model = doc.get("model")
        if not isinstance(model, str):
            self._client_error(conn, route, 400, "missing 'model' (a string)", code="model")
            return
        stream = doc.get("stream") is True
        router = self.router
        workload = router.workload_of(model)
        if workload is None or (client is not None and not client.may_use(workload)):
            models = router.table.models
            known = ", ".join(
                sorted(m for m, w in models.items() if client is None or client.may_use(w))
            )
            shown = model[:100] + ("..." if len(model) > 100 else "")
            if workload is None:
                self._client_error(
                    conn,
                    route,
                    404,
                    f"unknown model '{shown}'; this gateway serves: {known or '(none)'}",
                    code="model_not_found",
                )
            else:
                assert client is not None
                self._refuse(conn, route, self.gate.forbid(client, shown, known))
            return
        clock = self.clock
        router.on_request(clock())
        tried: list[str] = []
        last: _Failed | None = None
        attempt = 0
        while True:
            now = clock()
            if attempt > 0:
                if not router.has_candidate(workload, now, tried):
                    break
                if not router.may_retry(attempt, now):
                    break
                self.retries += 1
                delay = router.backoff(attempt)
                if delay > 0:
                    await asyncio.sleep(delay)  # pools and the table may change meanwhile
                    now = clock()
            pool = router.pick(workload, now, tried)
            if pool is None:
                break
            attempt += 1
            tried.append(pool.name)
            target = self._targets[pool.name]
            router.on_start(pool.name, now)
            last = await self._attempt(target, req, conn, stream, route)
            if last is None:
                return
        self._give_up(conn, route, workload, last)

    def _give_up(
        self, conn: ServerConnection, route: str, workload: str, last: _Failed | None
    ) -> None:
        if last is None:
            wait = self.router.soonest_retry_after(workload, self.clock())
            if wait is not None:
                self._client_error(
                    conn,
                    route,
                    429,
                    f"every pool of workload '{workload}' is rate limited",
                    "rate_limit_error",
                    "rate_limited",
                    b"retry-after: %d\r\n" % max(1, round(wait)),
                )
            else:
                self._client_error(
                    conn,
                    route,
                    503,
                    f"no pool of workload '{workload}' is available",
                    "service_unavailable",
                    "no_pool",
                )
            return
        if last.status:
            self._count(route, last.status)
            extra = (
                b"" if last.retry_after is None else b"retry-after: " + last.retry_after + b"\r\n"
            )
            conn.respond(last.status, last.body, last.content_type, extra)
            return
        status = 504 if last.kind in (Failure.TIMEOUT, Failure.FIRST_TOKEN_TIMEOUT) else 502
        self._client_error(
            conn,
            route,
            status,
            f"upstream pool '{last.pool}' failed ({last.kind.value}) and no "
            "other pool could take the request",
            "upstream_error",
            last.kind.value,
        )

    def _connect_failed(self, name: str, exc: BaseException) -> None:
        """Charge the pool and keep the reason (a refused certificate, say) for /admin/state."""
        self.router.on_failure(name, Failure.CONNECT, self.clock())
        reason = (
            f"TLS: {exc.verify_message or exc}"
            if isinstance(exc, ssl.SSLCertVerificationError)
            else f"{type(exc).__name__}: {exc}"
        )
        reason = (
            f"{reason} ({exc.reason})" if isinstance(exc, ssl.SSLError) and exc.reason else reason
        )
        if self.last_errors.get(name) != reason:  # log each new reason once, not each request
            log.warning("pool '%s': cannot connect: %s", name, reason)
        self.last_errors[name] = reason

    def _request_bytes(self, target: _Target, req: Request, stream: bool) -> bytes:
        query = req.query
        head = (
            target.post
            + req.path
            + (b"?" + query if query else b"")
            + target.head
            + b"%d" % len(req.body)
        )
        if target.credential:  # the pool's own key; the client's never goes to such a pool
            head += target.credential
        elif self.forward_client_auth:
            auth = req.headers.get(b"authorization")
            if auth is not None:
                head += b"\r\nauthorization: " + auth
        if stream:
            head += b"\r\naccept: text/event-stream"
        return head + b"\r\n\r\n" + req.body

    async def _attempt(
        self, target: _Target, req: Request, conn: ServerConnection, stream: bool, route: str
    ) -> _Failed | None:
        """One try on one pool; None when the client got its answer."""
        router = self.router
        name = target.spec.name
        loop = self.loop
        settings = self.settings
        timeout = settings.first_token_timeout_s if stream else settings.request_timeout_s
        payload = self._request_bytes(target, req, stream)
        fresh = False
        up: UpstreamConnection | None = None
        timer: asyncio.TimerHandle | None = None
        try:
            while True:
                try:
                    up = await target.upstream.acquire(fresh)
                except (OSError, TimeoutError) as exc:
                    self._connect_failed(name, exc)
                    return _Failed(name, Failure.CONNECT)
                ex = Exchange(loop, settings.max_response_bytes)
                up.send(payload, ex)
                timer = loop.call_later(timeout, ex.fail, "timeout")
                await ex.head
                if (
                    ex.error is None
                    or ex.got_head
                    or ex.bad
                    or ex.error == "timeout"
                    or up.uses < 2
                ):
                    break
                # A kept-alive connection the pool closed as it was reused: the request never
                # reached it. Once, on a new connection, with no charge to the pool.
                timer.cancel()
                up.abort()
                self.stale_retries += 1
                if fresh:
                    break
                fresh = True
            if ex.error is None and (ex.status != 200 or not stream):
                await ex.done
            elif ex.error is None and not ex.got_body and not ex.done.done():
                ex.first = loop.create_future()
                await ex.first
        except asyncio.CancelledError:
            if timer is not None:
                timer.cancel()
            if up is not None:
                up.abort()
            router.on_abandon(name, self.clock())
            raise
        timer.cancel()
        if ex.error is not None:
            up.abort()
            if ex.error == "timeout":
                kind = Failure.FIRST_TOKEN_TIMEOUT if stream else Failure.TIMEOUT
            elif ex.bad:
                kind = Failure.BAD_RESPONSE
                log.warning("pool '%s': %s", name, ex.error)
            elif not ex.got_head:
                kind = Failure.CONNECT
            else:
                kind = Failure.CUT
            router.on_failure(name, kind, self.clock())
            return _Failed(name, kind)
        status = ex.status
        content_type = ex.headers.get(b"content-type", _JSON)
        if status != 200 or not stream:
            if status >= 500:
                router.on_failure(name, Failure.STATUS_5XX, self.clock())
                return _Failed(name, Failure.STATUS_5XX, status, ex.body_bytes(), content_type)
            if status == 429:
                ra = ex.headers.get(b"retry-after")
                router.on_failure(name, Failure.THROTTLED, self.clock(), _retry_after_s(ra))
                return _Failed(name, Failure.THROTTLED, 429, ex.body_bytes(), content_type, ra)
            router.on_success(name, self.clock())
            self._count(route, status)
            body = ex.body_bytes()
            conn.respond(status, body, content_type, target.pool_header)
            if status == 200:
                self.usage.from_body(name, body, self.clock())
            return None
        return await self._relay_stream(target, up, ex, conn, route, content_type)

    async def _relay_stream(
        self,
        target: _Target,
        up: UpstreamConnection,
        ex: Exchange,
        conn: ServerConnection,
        route: str,
        content_type: bytes,
    ) -> _Failed | None:
        """Commit the stream to this pool and copy it to the client until it ends."""
        router = self.router
        name = target.spec.name
        loop = self.loop
        sse = content_type.startswith(b"text/event-stream")
        pending = b""  # SSE: bytes after the last complete event, held back
        max_event = self.settings.max_sse_event_bytes

        def whole_events(data: bytes) -> bytes:
            nonlocal pending
            if not sse:
                return data
            if pending:
                data = pending + data
            lf, crlf = data.rfind(b"\n\n"), data.rfind(b"\r\n\r\n")
            end = max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)
            pending = data[end:]
            if len(pending) > max_event:  # a pool that never ends its event: bounded
                pending = b""
                ex.fail(f"an SSE event longer than {max_event} bytes", bad=True)
            return data[:end]

        first = whole_events(ex.body_bytes())
        ex.body.clear()
        conn.start_stream(200, content_type, target.pool_header, first)
        sent = len(first)
        last, before = first, b""  # the last two pieces sent: where a usage event would be
        timer = None
        if not ex.done.done():

            def write(data: bytes) -> None:
                nonlocal sent, last, before
                out = whole_events(data)
                if out:
                    sent += len(out)
                    before, last = last, out
                    conn.write_chunk(out)

            ex.sink = write
            conn.follow(up)
            idle = self.settings.stream_idle_timeout_s
            ex.last_body_at = loop.time()

            def check() -> None:
                nonlocal timer
                if conn.write_paused:  # the client is slow to read, not the pool to write
                    ex.last_body_at = loop.time()
                left = ex.last_body_at + idle - loop.time()
                if left <= 0:
                    ex.fail("stream idle timeout")
                else:
                    timer = loop.call_later(left, check)

            timer = loop.call_later(idle, check)
            try:
                await ex.done
            except asyncio.CancelledError:
                timer.cancel()
                conn.follow(None)
                up.abort()
                router.on_abandon(name, self.clock())
                raise
            timer.cancel()
            conn.follow(None)
        if ex.error is not None:  # the client has whole events only: end it with one more
            up.abort()
            self.stream_cuts += 1
            router.on_failure(name, Failure.BAD_RESPONSE if ex.bad else Failure.CUT, self.clock())
            event = orjson.dumps(
                {
                    "error": {
                        "message": f"upstream pool '{name}' ended the stream early "
                        f"({ex.error}) after {sent} bytes; the response is incomplete "
                        "and was not retried",
                        "type": "upstream_error",
                        "param": None,
                        "code": "stream_cut",
                    }
                }
            )
            conn.write_chunk(b"data: " + event + b"\n\n")
            conn.end_stream()
            self._count(route, 599)
            return None
        router.on_success(name, self.clock())
        conn.write_chunk(pending)
        conn.end_stream()
        self._count(route, 200)
        tail = before + last + pending
        self.usage.from_stream_tail(name, tail[-65536:], self.clock())
        return None

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
