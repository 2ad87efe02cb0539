"""A lean HTTP/1.1 server on asyncio + httptools, with bounds on what a client may hold.

The gateway's hot path is one parse of the client request, one write to a pooled upstream
connection (``upstream``), one parse of the response and one write back. Both sides use llhttp
(through ``httptools``) for parsing and plain ``asyncio.Protocol`` callbacks, with no
per-request framework objects.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

import httptools

if TYPE_CHECKING:
    from chipfolio.interfaces.gateway.upstream import UpstreamConnection

MAX_URL_BYTES = 64 * 1024
MAX_HEADERS = 200
MAX_PIPELINED = 16  # requests queued behind the one running; then the connection is not read

_STATUS_LINES: dict[int, bytes] = {
    s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus
}


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else f"HTTP/1.1 {status} Status\r\n".encode()


class Request:
    """A fully read client request."""

    __slots__ = ("body", "headers", "keep_alive", "method", "path", "query")

    def __init__(
        self,
        method: bytes,
        path: bytes,
        query: bytes,
        headers: dict[bytes, bytes],
        body: bytes,
        keep_alive: bool,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive


Handler = Callable[[Request, "ServerConnection"], Awaitable[None]]


class ClientLimits:
    """Bounds on what one client connection may hold, shared by a server's connections.

    A request must arrive whole within ``request_timeout_s`` of its first byte (slowloris), a
    kept-alive connection may sit idle for ``idle_timeout_s``, and a client that stops reading
    a response is cut after ``stalled_read_timeout_s`` with its buffer full. ``sweep`` enforces
    the three from one periodic task, so a request costs no timer of its own. At most
    ``max_connections`` are open at once; more are closed at accept with a 503. A client
    that pipelines more than ``MAX_PIPELINED`` requests is not read until the queue drains.
    """

    __slots__ = (
        "conns",
        "idle_timeout_s",
        "max_body",
        "max_connections",
        "pipelines_paused",
        "refused",
        "request_timeout_s",
        "stalled_read_timeout_s",
        "timed_out",
    )

    def __init__(
        self,
        max_body: int,
        request_timeout_s: float | None = None,
        idle_timeout_s: float | None = None,
        stalled_read_timeout_s: float | None = None,
        max_connections: int = 1 << 30,
    ) -> None:
        self.max_body = max_body
        self.request_timeout_s = request_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.stalled_read_timeout_s = stalled_read_timeout_s
        self.max_connections = max_connections
        self.conns: set[ServerConnection] = set()
        self.refused = 0
        self.timed_out = 0
        self.pipelines_paused = 0

    def sweep(self, now: float) -> None:
        for conn in [c for c in self.conns if 0.0 < c.deadline < now]:
            self.timed_out += 1
            conn.time_out()


class ServerConnection(asyncio.Protocol):
    """One client connection: parses requests and runs the handler on each, in order."""

    __slots__ = (
        "_body",
        "_body_size",
        "_current",
        "_flow",
        "_handler",
        "_headers",
        "_limits",
        "_loop",
        "_parser",
        "_pending",
        "_reading",
        "_url",
        "closed",
        "deadline",
        "response_started",
        "transport",
        "write_paused",
    )

    def __init__(
        self, handler: Handler, limits: ClientLimits, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._handler = handler
        self._limits = limits
        self._loop = loop
        self.deadline = 0.0  # when ClientLimits.sweep closes this connection (0: never)
        self._reading = False  # between the first byte of a request and its end
        self._parser: Any = httptools.HttpRequestParser(self)
        self._pending: collections.deque[Request] = collections.deque()
        self._current: asyncio.Task[None] | None = None
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.response_started = False
        self.write_paused = False
        self._flow: UpstreamConnection | None = None

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        limits = self._limits
        if len(limits.conns) >= limits.max_connections:
            limits.refused += 1
            self._reject(503, b"too many connections")
            return
        limits.conns.add(self)
        self._idle()

    def _idle(self) -> None:
        t = self._limits.idle_timeout_s
        self.deadline = self._loop.time() + t if t else 0.0

    def time_out(self) -> None:
        """Called by ``ClientLimits.sweep`` when the deadline passed."""
        self.deadline = 0.0
        if self._reading and self._current is None:
            self._reject(408, b"request not received in time")
        elif self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(400, b"protocol upgrades are not supported")
        except httptools.HttpParserError:
            self._reject(400, b"malformed HTTP request")

    def pause_writing(self) -> None:
        self.write_paused = True
        t = self._limits.stalled_read_timeout_s
        if t:
            self.deadline = self._loop.time() + t
        if self._flow is not None:
            self._flow.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.deadline = 0.0
        if self._flow is not None:
            self._flow.resume_reading()

    def follow(self, upstream: UpstreamConnection | None) -> None:
        """Back-pressure: while the client's buffer is full, stop reading ``upstream``.

        ``None`` detaches without resuming: an upstream connection resumes reading itself
        before it goes back to its pool, and an aborted one never reads again."""
        self._flow = upstream
        if upstream is not None and self.write_paused:
            upstream.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.deadline = 0.0
        self._limits.conns.discard(self)
        self._pending.clear()
        if self._current is not None and not self._current.done():
            self._current.cancel()

    # --- httptools callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_size = 0
        self._reading = True
        t = self._limits.request_timeout_s
        if t and self._current is None:
            self.deadline = self._loop.time() + t

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_URL_BYTES:
            self._reject(414, b"request URL too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value
        if len(self._headers) > MAX_HEADERS:
            self._reject(431, b"too many request headers")

    def on_headers_complete(self) -> None:
        length = self._headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self._limits.max_body:
            self._reject(413, b"request body too large")  # before reading any of it
            return
        if self._headers.get(b"expect", b"").lower() == b"100-continue" and self.transport:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self.closed:
            return
        self._body_size += len(body)
        if self._body_size > self._limits.max_body:  # chunked: refuse as soon as it is over
            self._body = []
            self._reject(413, b"request body too large")
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._reading = False
        if self.closed:
            return
        if self._current is None:
            self.deadline = 0.0  # the handler runs; the pool's timeouts apply now
        path, _, query = self._url.partition(b"?")
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        req = Request(
            self._parser.get_method(),
            path,
            query,
            self._headers,
            body,
            self._parser.should_keep_alive(),
        )
        if self._current is None:
            self._start(req)
        else:
            self._pending.append(req)
            if len(self._pending) == MAX_PIPELINED and self.transport is not None:
                self._limits.pipelines_paused += 1
                self.transport.pause_reading()  # read no more until the queue drains

    # --- running handlers -------------------------------------------------------------------

    def _start(self, req: Request) -> None:
        self.response_started = False
        self._current = self._loop.create_task(self._run(req))

    async def _run(self, req: Request) -> None:
        try:
            await self._handler(req, self)
        except asyncio.CancelledError:
            self._current = None
            return
        except Exception:  # a bug in a handler must not kill the connection silently
            if not self.response_started:
                self.respond(500, b'{"error":{"message":"internal gateway error"}}')
            req.keep_alive = False
        self._current = None
        if self.closed:
            return
        if not req.keep_alive:
            assert self.transport is not None
            self.transport.close()
            self.closed = True
        elif self._pending:
            if len(self._pending) == MAX_PIPELINED and self.transport is not None:
                self.transport.resume_reading()
            self._start(self._pending.popleft())
        else:
            self._idle()

    def _reject(self, status: int, message: bytes) -> None:
        if self.closed or self.transport is None:
            return
        body = b'{"error":{"message":"' + message + b'","type":"invalid_request_error"}}'
        self.transport.write(
            status_line(status)
            + b"content-type: application/json\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\nconnection: close\r\n\r\n"
            + body
        )
        self.transport.close()
        self.closed = True

    # --- responses --------------------------------------------------------------------------

    def respond(
        self,
        status: int,
        body: bytes,
        content_type: bytes = b"application/json",
        extra_headers: bytes = b"",
    ) -> None:
        """A whole response; ``extra_headers`` are preformatted ``name: value\\r\\n`` lines."""
        self.response_started = True
        if self.closed or self.transport is None:
            return
        self.transport.write(
            status_line(status)
            + b"content-type: "
            + content_type
            + b"\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\n"
            + extra_headers
            + b"\r\n"
            + body
        )

    def start_stream(
        self, status: int, content_type: bytes, extra_headers: bytes = b"", first: bytes = b""
    ) -> None:
        """Headers of a chunked response (and its first chunk, in the same write)."""
        self.response_started = True
        if self.closed or self.transport is None:
            return
        head = (
            status_line(status)
            + b"content-type: "
            + content_type
            + b"\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
            + extra_headers
            + b"\r\n"
        )
        if first:
            head += b"%x\r\n" % len(first) + first + b"\r\n"
        self.transport.write(head)

    def write_chunk(self, data: bytes) -> None:
        if data and not self.closed and self.transport is not None:
            self.transport.write(b"%x\r\n" % len(data) + data + b"\r\n")

    def end_stream(self) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(b"0\r\n\r\n")


def serve_factory(
    handler: Handler, limits: ClientLimits, loop: asyncio.AbstractEventLoop
) -> Callable[[], ServerConnection]:
    return lambda: ServerConnection(handler, limits, loop)
