"""A fake OpenAI-compatible server with injectable faults, for tests, benchmarks and docs.

It answers ``GET /v1/models``, ``POST /v1/chat/completions`` and ``POST /v1/completions``
(streaming as SSE ``data: {...}`` events ending in ``data: [DONE]``, and not), on the same lean
HTTP/1.1 stack as the gateway so it costs little CPU in a benchmark. Faults (``set_fault`` in
process, or ``POST /_fault`` with a JSON body from another process):

- ``error400``: answer 400 (the request's fault); ``error500``: answer 500;
- ``throttle``: answer 429 with ``Retry-After``;
- ``stall``: never answer; ``slow_first_token``: wait ``delay_s`` before the first token;
- ``cut``: send ``cut_after`` stream events (or half a JSON body) and drop the connection;
  with ``partial=1``, also half of the next event;
- ``reset``: drop the connection without answering;
- ``kill()`` stops listening and drops every connection; ``restart()`` listens again.

``count`` limits a fault to the next N completion requests (None: until changed). Run one with
``python -m chipfolio.interfaces.gateway.fake_upstream --port 9001 --name a``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass

import orjson

from chipfolio.interfaces.gateway.http11 import (
    ClientLimits,
    Request,
    ServerConnection,
    serve_factory,
)

FAULTS = (
    "none",
    "error400",
    "error500",
    "throttle",
    "stall",
    "slow_first_token",
    "cut",
    "reset",
)


@dataclass(slots=True)
class Fault:
    """The fault applied to the next completion requests."""

    mode: str = "none"
    count: int | None = None
    retry_after: float = 1.0
    delay_s: float = 0.0
    cut_after: int = 2
    partial: bool = False


class FakeUpstream:
    """One fake OpenAI endpoint on loopback."""

    def __init__(self, name: str = "fake", tokens: int = 4, token_delay_s: float = 0.0) -> None:
        self.name = name
        self.tokens = tokens
        self.token_delay_s = token_delay_s
        self.fault = Fault()
        self.host = "127.0.0.1"
        self.port = 0
        self.tls: ssl.SSLContext | None = None
        self.completions = 0
        self.models_requests = 0
        self.served = 0
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[ServerConnection] = set()
        self._cache: dict[tuple[bytes, str], bytes] = {}
        self._seq = 0
        self.last_request: Request | None = None
        self.last_models_request: Request | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/v1"

    def set_fault(self, mode: str, count: int | None = None, **kw: float) -> None:
        if mode not in FAULTS:
            raise ValueError(f"unknown fault {mode!r}; expected one of {', '.join(FAULTS)}")
        self.fault = Fault(
            mode,
            count,
            float(kw.get("retry_after", 1.0)),
            float(kw.get("delay_s", 0.0)),
            int(kw.get("cut_after", 2)),
            bool(kw.get("partial", 0)),
        )

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> FakeUpstream:
        """Listen (with TLS when ``tls`` is a server context)."""
        loop = asyncio.get_running_loop()
        self.host = host
        self.tls = tls if tls is not None else self.tls
        factory = serve_factory(self._handle, ClientLimits(1 << 24), loop)

        def tracked() -> ServerConnection:
            conn = factory()
            self._conns.add(conn)
            return conn

        self._server = await loop.create_server(tracked, host, port, backlog=2048, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def kill(self) -> None:
        """Stop listening and drop every open connection (a crashed server)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._conns):
            if conn.transport is not None:
                conn.transport.abort()
        self._conns.clear()
        await asyncio.sleep(0)

    async def restart(self) -> None:
        await self.start(self.host, self.port)

    async def stop(self) -> None:
        await self.kill()

    # --- serving ------------------------------------------------------------------------

    def _take_fault(self) -> Fault | None:
        f = self.fault
        if f.mode == "none":
            return None
        if f.count is not None:
            if f.count <= 0:
                return None
            f.count -= 1
        return f

    async def _handle(self, req: Request, conn: ServerConnection) -> None:
        if conn.closed:
            self._conns.discard(conn)
            return
        if req.method == b"GET" and req.path == b"/v1/models":
            self.models_requests += 1
            self.last_models_request = req
            body = orjson.dumps(
                {
                    "object": "list",
                    "data": [
                        {"id": "fake", "object": "model", "created": 0, "owned_by": self.name}
                    ],
                }
            )
            conn.respond(200, body)
            return
        if req.method == b"POST" and req.path == b"/_fault":
            try:
                spec = orjson.loads(req.body)
                mode = spec.pop("mode")
                count = spec.pop("count", None)
                self.set_fault(mode, count, **spec)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
                conn.respond(400, orjson.dumps({"error": {"message": str(e)}}))
                return
            conn.respond(200, b'{"ok":true}')
            return
        if req.method != b"POST" or req.path not in (b"/v1/chat/completions", b"/v1/completions"):
            conn.respond(404, b'{"error":{"message":"not found"}}')
            return
        self.completions += 1
        self.last_request = req
        try:
            doc = orjson.loads(req.body)
            model = str(doc.get("model", "fake"))
            stream = doc.get("stream") is True
        except (orjson.JSONDecodeError, AttributeError):
            conn.respond(400, b'{"error":{"message":"bad json"}}')
            return
        chat = req.path == b"/v1/chat/completions"
        fault = self._take_fault()
        if fault is not None:
            if fault.mode == "error400":
                conn.respond(400, b'{"error":{"message":"injected 400","type":"invalid_request"}}')
                return
            if fault.mode == "error500":
                conn.respond(500, b'{"error":{"message":"injected 500","type":"server_error"}}')
                return
            if fault.mode == "throttle":
                conn.respond(
                    429,
                    b'{"error":{"message":"injected 429","type":"rate_limit"}}',
                    extra_headers=b"retry-after: %g\r\n" % fault.retry_after,
                )
                return
            if fault.mode == "stall":
                await asyncio.sleep(3600)
                return
            if fault.mode == "reset":
                if conn.transport is not None:
                    conn.transport.abort()
                return
        if stream:
            opts = doc.get("stream_options")
            usage = isinstance(opts, dict) and opts.get("include_usage") is True
            await self._stream(conn, chat, model, fault, usage)
            return
        if fault is not None and fault.mode == "slow_first_token":
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.mode == "cut":
            body = self._completion(chat, model)
            assert conn.transport is not None
            conn.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
                % len(body)
                + body[: len(body) // 2]
            )
            conn.transport.abort()
            return
        self.served += 1
        conn.respond(200, self._completion(chat, model))

    def _completion(self, chat: bool, model: str) -> bytes:
        key = (b"chat" if chat else b"text", model)
        body = self._cache.get(key)
        if body is None:
            text = "".join(f"tok{i} " for i in range(self.tokens))
            choice: dict[str, object] = (
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
                if chat
                else {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
            )
            body = orjson.dumps(
                {
                    "id": f"{self.name}-cmpl",
                    "object": "chat.completion" if chat else "text_completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [choice],
                    "usage": {
                        "prompt_tokens": 1,
                        "completion_tokens": self.tokens,
                        "total_tokens": 1 + self.tokens,
                    },
                }
            )
            self._cache[key] = body
        return body

    def _event(self, chat: bool, model: str, seq: int, i: int, last: bool) -> bytes:
        if chat:
            delta = {} if last else {"content": f"tok{i} "}
            choice: dict[str, object] = {
                "index": 0,
                "delta": delta,
                "logprobs": None,
                "finish_reason": "stop" if last else None,
            }
        else:
            choice = {
                "index": 0,
                "text": "" if last else f"tok{i} ",
                "logprobs": None,
                "finish_reason": "stop" if last else None,
            }
        data = orjson.dumps(
            {
                "id": f"{self.name}-{seq}",
                "object": "chat.completion.chunk" if chat else "text_completion",
                "created": 0,
                "model": model,
                "choices": [choice],
            }
        )
        return b"data: " + data + b"\n\n"

    async def _stream(
        self,
        conn: ServerConnection,
        chat: bool,
        model: str,
        fault: Fault | None,
        include_usage: bool = False,
    ) -> None:
        self._seq += 1
        seq = self._seq
        conn.start_stream(200, b"text/event-stream")
        if fault is not None and fault.mode == "slow_first_token":
            await asyncio.sleep(fault.delay_s)
        cut_after = fault.cut_after if fault is not None and fault.mode == "cut" else -1
        for i in range(self.tokens + 1):
            if i == cut_after:
                if fault is not None and fault.partial:
                    event = self._event(chat, model, seq, i, i == self.tokens)
                    conn.write_chunk(event[: len(event) // 2])
                if conn.transport is not None:
                    conn.transport.abort()
                return
            if i and self.token_delay_s:
                await asyncio.sleep(self.token_delay_s)
            conn.write_chunk(self._event(chat, model, seq, i, i == self.tokens))
        if include_usage:  # as OpenAI does: one more chunk, no choices, the usage
            usage = orjson.dumps(
                {
                    "id": f"{self.name}-{seq}",
                    "object": "chat.completion.chunk" if chat else "text_completion",
                    "created": 0,
                    "model": model,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 1,
                        "completion_tokens": self.tokens,
                        "total_tokens": 1 + self.tokens,
                    },
                }
            )
            conn.write_chunk(b"data: " + usage + b"\n\n")
        conn.write_chunk(b"data: [DONE]\n\n")
        conn.end_stream()
        self.served += 1


async def _serve(
    host: str,
    port: int,
    name: str,
    tokens: int,
    token_delay_s: float,
    tls: ssl.SSLContext | None = None,
) -> None:
    up = FakeUpstream(name, tokens, token_delay_s)
    await up.start(host, port, tls)
    print(f"fake upstream {name} on {up.url}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--name", default="fake")
    parser.add_argument("--tokens", type=int, default=4)
    parser.add_argument("--token-delay", type=float, default=0.0)
    parser.add_argument("--certfile", help="serve TLS with this PEM certificate (chain)")
    parser.add_argument("--keyfile", help="the certificate's PEM private key")
    args = parser.parse_args(argv)
    tls = None
    if args.certfile:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.certfile, args.keyfile)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, args.name, args.tokens, args.token_delay, tls))


if __name__ == "__main__":
    main()
