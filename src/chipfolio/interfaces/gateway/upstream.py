"""The gateway's keep-alive upstream client on asyncio + httptools (plain HTTP or TLS).

Responses are delivered into an :class:`Exchange`, whose futures resolve with no exception
(the error is a field), so an abandoned exchange never logs "exception was never retrieved".
What a pool may send is bounded: the response head (``MAX_UPSTREAM_HEAD_BYTES``, at most
``MAX_HEADERS`` headers), the body held in memory (``Exchange.limit``), and nothing at all that
no request asked for (a second response, data on an idle connection), which drops the
connection so those bytes can never reach the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl as ssl_module
from collections.abc import Callable
from typing import Any, cast

import httptools

from chipfolio.interfaces.gateway.http11 import MAX_HEADERS

MAX_UPSTREAM_HEAD_BYTES = 64 * 1024


class Exchange:
    """One request/response on an upstream connection, filled in by its callbacks."""

    __slots__ = (
        "bad",
        "body",
        "done",
        "error",
        "first",
        "got_body",
        "got_head",
        "head",
        "headers",
        "last_body_at",
        "limit",
        "loop",
        "sink",
        "size",
        "status",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int = 1 << 62) -> None:
        self.loop = loop
        self.limit = limit  # most body bytes held in memory (not counting a sink's)
        self.size = 0
        self.bad = False  # the upstream broke HTTP or a limit, as opposed to going away
        self.status = 0
        self.headers: dict[bytes, bytes] = {}
        self.body: list[bytes] = []
        self.head: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.first: asyncio.Future[None] | None = None
        self.sink: Callable[[bytes], None] | None = None
        self.error: str | None = None
        self.got_head = False
        self.got_body = False
        self.last_body_at = 0.0

    def on_head(self, status: int) -> None:
        self.status = status
        self.got_head = True
        if not self.head.done():
            self.head.set_result(None)

    def on_body(self, data: bytes) -> None:
        if self.done.done():
            return
        self.got_body = True
        sink = self.sink
        if sink is not None:
            self.last_body_at = self.loop.time()
            sink(data)
        else:
            self.size += len(data)
            if self.size > self.limit:
                self.body.clear()
                self.fail(f"response larger than {self.limit} bytes", bad=True)
                return
            self.body.append(data)
        first = self.first
        if first is not None and not first.done():
            first.set_result(None)

    def on_complete(self) -> None:
        for fut in (self.head, self.first, self.done):
            if fut is not None and not fut.done():
                fut.set_result(None)

    def fail(self, reason: str, bad: bool = False) -> None:
        if self.done.done():
            return
        self.error = reason
        self.bad = bad
        self.on_complete()

    def body_bytes(self) -> bytes:
        return self.body[0] if len(self.body) == 1 else b"".join(self.body)


class UpstreamConnection(asyncio.Protocol):
    """A keep-alive connection to one upstream; carries one exchange at a time."""

    __slots__ = (
        "_head_bytes",
        "_headers",
        "_parser",
        "_poisoned",
        "closed",
        "exchange",
        "idle_since",
        "pool",
        "reading_paused",
        "transport",
        "uses",
    )

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self._parser: Any = httptools.HttpResponseParser(self)
        self.exchange: Exchange | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reading_paused = False
        self.uses = 0
        self.idle_since = 0.0
        self._head_bytes = 0
        self._headers = 0
        self._poisoned = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def pause_reading(self) -> None:
        if not self.closed and not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self.closed and self.reading_paused and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        ex = self.exchange
        if ex is None:  # bytes no request asked for must never reach the next request
            self.abort()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self.abort()
            ex.fail("malformed response from upstream", bad=True)
            return
        if self._poisoned:  # a second response after the one asked for: drop the connection
            self.abort()
        elif not ex.got_head:  # the head is still coming: bound what the parser holds
            self._head_bytes += len(data)
            if self._head_bytes > MAX_UPSTREAM_HEAD_BYTES:
                self.abort()
                ex.fail(f"response head larger than {MAX_UPSTREAM_HEAD_BYTES} bytes", bad=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.discard(self)
        ex = self.exchange
        self.exchange = None
        if ex is not None:
            ex.fail("upstream closed the connection" if ex.got_head else "connection closed")

    def send(self, data: bytes, exchange: Exchange) -> None:
        assert self.transport is not None
        self.exchange = exchange
        self._head_bytes = 0
        self._headers = 0
        self.uses += 1
        self.transport.write(data)

    def abort(self) -> None:
        self.exchange = None
        if not self.closed:
            self.closed = True
            self.pool.discard(self)
            if self.transport is not None:
                self.transport.abort()

    # httptools callbacks
    def on_message_begin(self) -> None:
        if self.exchange is None:
            self._poisoned = True

    def on_header(self, name: bytes, value: bytes) -> None:
        ex = self.exchange
        if ex is not None:
            self._headers += 1
            if self._headers > MAX_HEADERS:
                self.abort()
                ex.fail("too many response headers", bad=True)
                return
            ex.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        ex = self.exchange
        if ex is not None:
            ex.on_head(self._parser.get_status_code())

    def on_body(self, body: bytes) -> None:
        ex = self.exchange
        if ex is not None:
            ex.on_body(body)

    def on_message_complete(self) -> None:
        ex = self.exchange
        self.exchange = None
        keep = self._parser.should_keep_alive()
        if ex is not None:
            ex.on_complete()
        if keep and ex is not None:
            self.resume_reading()
            self.pool.release(self)
        else:
            self.abort()


class UpstreamPool:
    """Idle keep-alive connections to one ``host:port``; opens more on demand.

    An idle connection is not reused after ``keepalive_s`` seconds, before a typical server's
    own keep-alive timeout (uvicorn's is 5 s) can close it under a request.
    """

    __slots__ = (
        "_idle",
        "_loop",
        "connect_timeout",
        "host",
        "keepalive_s",
        "max_idle",
        "opened",
        "port",
        "ssl",
    )

    def __init__(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop,
        connect_timeout: float = 1.0,
        max_idle: int = 1024,
        keepalive_s: float = 4.0,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._loop = loop
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self.keepalive_s = keepalive_s
        self.ssl = ssl  # TLS: SNI and the certificate check use ``host``
        self._idle: list[UpstreamConnection] = []
        self.opened = 0

    async def acquire(self, fresh: bool = False) -> UpstreamConnection:
        """A kept-alive connection, or a new one (always new with ``fresh``)."""
        idle = self._idle
        if idle and not fresh:
            oldest = self._loop.time() - self.keepalive_s
            while idle:
                conn = idle.pop()
                if conn.closed:
                    continue
                if conn.idle_since >= oldest:
                    return conn
                conn.abort()
        tls = self.ssl
        connect = (
            self._loop.create_connection(lambda: UpstreamConnection(self), self.host, self.port)
            if tls is None
            else self._loop.create_connection(
                lambda: UpstreamConnection(self),
                self.host,
                self.port,
                ssl=tls,
                server_hostname=self.host,
                ssl_handshake_timeout=self.connect_timeout,
            )
        )
        _, proto = await asyncio.wait_for(connect, self.connect_timeout)
        self.opened += 1
        return proto

    def release(self, conn: UpstreamConnection) -> None:
        if conn.closed:
            return
        if len(self._idle) < self.max_idle:
            conn.idle_since = self._loop.time()
            self._idle.append(conn)
        else:
            conn.abort()

    def discard(self, conn: UpstreamConnection) -> None:
        with contextlib.suppress(ValueError):
            self._idle.remove(conn)

    def close(self) -> None:
        for conn in list(self._idle):
            conn.abort()
        self._idle.clear()
