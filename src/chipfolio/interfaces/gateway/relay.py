"""Proxying one request: pick a pool, try it, fail over, relay the answer.

Failure handling: connect errors, 5xx, timeouts, a slow first token and answers that break
HTTP or a size limit are retried on another pool (up to ``max_attempts``, within the retry
budget, after a jittered backoff); a 429 puts its pool in cool-down for ``Retry-After`` seconds
and the request moves on. A stream is committed to a pool when its first body bytes arrive;
after that there is no retry, and a cut upstream ends the client's stream with an SSE
``error`` event (tokens are never sent twice). Tokens are metered from each answer's ``usage``.

:class:`Relay` is the request half of :class:`~chipfolio.interfaces.gateway.proxy.Gateway`,
which owns the state it uses (declared here).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from chipfolio.interfaces.gateway.access import ClientKey
from chipfolio.interfaces.gateway.admission import Gatekeeper, Refusal
from chipfolio.interfaces.gateway.config import GatewaySettings
from chipfolio.interfaces.gateway.http11 import Request, ServerConnection
from chipfolio.interfaces.gateway.metering import UsageMeters
from chipfolio.interfaces.gateway.upstream import Exchange, UpstreamConnection, UpstreamPool
from chipfolio.routing import Failure, PoolSpec, Router

log = logging.getLogger("chipfolio.gateway")

_JSON = b"application/json"


def error_body(message: str, kind: str = "invalid_request_error", code: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


@dataclass(slots=True)
class PoolTarget:
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


class Relay:
    """Forwarding of one client request, with failover (a part of ``Gateway``)."""

    router: Router
    settings: GatewaySettings
    clock: Callable[[], float]
    gate: Gatekeeper
    usage: UsageMeters
    requests: dict[tuple[str, int], int]
    retries: int
    stream_cuts: int
    stale_retries: int
    forward_client_auth: bool
    last_errors: dict[str, str]
    _targets: dict[str, PoolTarget]

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        raise NotImplementedError

    def _count(self, route: str, status: int) -> None:
        key = (route, status)
        self.requests[key] = self.requests.get(key, 0) + 1

    def _refuse(self, conn: ServerConnection, route: str, r: Refusal) -> None:
        self._client_error(conn, route, r.status, r.message, r.kind, r.code, r.extra_headers)

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

    def _request_bytes(self, target: PoolTarget, req: Request, stream: bool) -> bytes:
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
        self, target: PoolTarget, req: Request, conn: ServerConnection, stream: bool, route: str
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
        target: PoolTarget,
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
