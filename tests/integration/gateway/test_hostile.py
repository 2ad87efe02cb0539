"""Hostile traffic, each with a bounded effect: oversized bodies, slowloris clients, clients
that never read, too many connections, malformed JSON, header injection, and pools that answer
garbage, never answer, never end an event, answer too much or answer twice. Every loop here
stops by itself (bounded iterations and socket timeouts); every address is loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from gateway_harness import Env, FakeUpstream

MSG = [{"role": "user", "content": "hi"}]
BODY = b'{"model":"chat","messages":[]}'


def post(body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
        + extra
        + b"content-length: %d\r\n\r\n" % len(body)
        + body
    )


def read_all(s: socket.socket, limit: float = 5.0) -> bytes:
    """Everything the gateway sends until it closes (or ``limit`` seconds pass)."""
    s.settimeout(0.2)
    out = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    return out


def primary_and_spare(bad_url: str, good: FakeUpstream, **settings: Any) -> dict[str, Any]:
    return {
        "models": {"chat": "chat"},
        "pools": [
            {"name": "bad", "workload": "chat", "offer": "az-maia", "url": bad_url},
            {
                "name": "good",
                "workload": "chat",
                "offer": "gcp-tpu",
                "url": good.url,
                "fallback": True,
            },
        ],
        "settings": settings,
    }


class RawPool:
    """A loopback 'pool' that answers each request with whatever ``reply`` writes."""

    def __init__(self, env: Env, reply: Callable[[asyncio.StreamWriter], Awaitable[None]]):
        self.env = env
        self.reply = reply
        self.requests = 0
        self.connections = 0

        self.tasks: set[asyncio.Task[Any]] = set()

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            self.connections += 1
            task = asyncio.current_task()
            assert task is not None
            self.tasks.add(task)
            try:
                while True:
                    head = await r.readuntil(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    await r.readexactly(length)
                    self.requests += 1
                    await self.reply(w)
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                pass
            finally:
                w.close()
                self.tasks.discard(task)

        async def start() -> asyncio.Server:
            return await asyncio.start_server(handle, "127.0.0.1", 0)

        self.server = env.lt.run(start())
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1"

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

        self.env.lt.run(stop())


def served(env: Env, stream: bool = False) -> tuple[str, str]:
    c = env.client(timeout=10)
    raw = c.chat.completions.with_raw_response.create(model="chat", messages=MSG, stream=stream)
    if stream:
        text = "".join(ch.choices[0].delta.content or "" for ch in raw.parse())
    else:
        text = raw.parse().choices[0].message.content or ""
    return raw.headers["x-chipfolio-pool"], text


# --- clients ---------------------------------------------------------------------------------


def test_an_announced_oversized_body_is_refused_before_it_is_read(env: Env) -> None:
    a = env.upstream("a")
    env.start(primary_and_spare(a.url, a, max_body_bytes=2048))
    with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 10000000000\r\n\r\n"
            + b"x" * 100
        )
        data = read_all(s)
    assert data.startswith(b"HTTP/1.1 413") and b"connection: close" in data
    assert a.completions == 0


def test_a_chunked_body_over_the_limit_is_cut_off_while_it_streams(env: Env) -> None:
    a = env.upstream("a")
    env.start(primary_and_spare(a.url, a, max_body_bytes=2048))
    sent = 0
    with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        try:
            for _ in range(1000):  # up to 1 MB; the gateway must stop us long before
                s.sendall(b"400\r\n" + b"x" * 1024 + b"\r\n")
                sent += 1024
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = read_all(s)
    assert data.startswith(b"HTTP/1.1 413")
    assert a.completions == 0


def test_slowloris_headers_and_bodies_are_cut_after_the_request_timeout(env: Env) -> None:
    a = env.upstream("a")
    env.start(primary_and_spare(a.url, a, client_request_timeout_s=0.5))
    for head, trickle in (
        (b"POST /v1/chat/completions HTTP/1.1\r\n", b"x-slow: 1\r\n"),  # headers never end
        (b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: 1000\r\n\r\n", b"{"),  # body
    ):
        with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
            t0 = time.monotonic()
            s.sendall(head)
            closed_at = None
            for _ in range(50):  # a byte-sized piece every 0.1 s, for at most 5 s
                try:
                    s.sendall(trickle)
                except (BrokenPipeError, ConnectionResetError):
                    closed_at = time.monotonic()
                    break
                s.settimeout(0.1)
                try:
                    data = s.recv(1000)
                except TimeoutError:
                    continue
                closed_at = time.monotonic()
                assert data.startswith(b"HTTP/1.1 408") or data == b""
                break
            assert closed_at is not None, "the slow client was never cut off"
            assert closed_at - t0 < 2.5
    assert a.completions == 0
    assert env.gateway is not None and env.gateway.limits.timed_out == 2


def test_idle_keep_alive_connections_are_closed(env: Env) -> None:
    a = env.upstream("a")
    env.start(primary_and_spare(a.url, a, client_idle_timeout_s=0.4))
    with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
        s.sendall(post(BODY))
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        t0 = time.monotonic()
        assert read_all(s, limit=3.0) == b""
        assert time.monotonic() - t0 < 2.0
    assert env.gateway is not None and not env.gateway.limits.conns


def test_a_client_that_stops_reading_a_stream_is_cut_and_frees_the_pool(env: Env) -> None:
    a = env.upstream("a", tokens=200_000)
    env.start(primary_and_spare(a.url, a, client_stalled_read_timeout_s=0.5))
    body = b'{"model":"chat","stream":true,"messages":[]}'
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(5)
        s.connect(("127.0.0.1", env.port))
        s.sendall(post(body))
        deadline = time.monotonic() + 5
        while env.pool_state("bad")["in_flight"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)  # until the stream runs
        assert env.pool_state("bad")["in_flight"] == 1
        t0 = time.monotonic()
        while env.pool_state("bad")["in_flight"] == 1 and time.monotonic() < deadline:
            time.sleep(0.05)  # never reading
        assert time.monotonic() - t0 < 2.5
    p = env.pool_state("bad")
    assert p["in_flight"] == 0 and p["successes"] == 0
    gw = env.gateway
    assert gw is not None and gw.limits.timed_out == 1


def test_connections_past_the_limit_get_503(env: Env) -> None:
    a = env.upstream("a")
    env.start(primary_and_spare(a.url, a, max_client_connections=3))
    held = [socket.create_connection(("127.0.0.1", env.port), timeout=5) for _ in range(3)]
    try:
        time.sleep(0.1)
        with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
            assert read_all(s).startswith(b"HTTP/1.1 503")
        held[0].sendall(post(BODY))
        assert held[0].recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        for s in held:
            s.close()
    assert env.gateway is not None and env.gateway.limits.refused == 1


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"[" * 100_000 + b"]" * 100_000, 400, b"not valid JSON"),
        (b'{"model": "ch\xffat", "messages": []}', 400, b"not valid JSON"),
        (b'{"model": "chat", "messages": [}', 400, b"not valid JSON"),
        (b'{"model": "chat\\r\\nx-evil: 1"}', 404, b"unknown model"),
        (b'{"model": "' + b"m" * 1_000_000 + b'"}', 404, b"unknown model"),
        (b"", 400, b"not valid JSON"),
    ],
)
def test_malformed_json_gets_a_400_and_the_connection_lives_on(
    env: Env, body: bytes, status: int, needle: bytes
) -> None:
    a = env.upstream("a")
    env.start(primary_and_spare(a.url, a))
    with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
        s.sendall(post(body) + post(BODY))
        data = b""
        for _ in range(100):
            if data.count(b"HTTP/1.1 ") >= 2 and data.endswith(b"}"):
                break
            data += s.recv(1 << 20)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d" % status) and needle in rest
    assert b"x-evil" not in head and len(rest) < 2000  # echoed names are cut short
    assert data.count(b"HTTP/1.1 200") == 1 and a.completions == 1


@pytest.mark.parametrize(
    "raw",
    [
        post(BODY, b"authorization: Bearer x\r\n x-evil: 1\r\n"),  # obsolete line folding
        post(BODY, b"authorization: Bearer x\rx-evil: 1\r\n"),  # bare CR
        post(BODY, b"authorization: Bearer \x00x\r\n"),  # NUL
        post(BODY, b"x-ok: 1\nx-evil: 1\r\n"),  # bare LF
        b"POST /v1/chat/completions?a=b\r\nx-evil:1 HTTP/1.1\r\nhost: x\r\n\r\n",
        # request smuggling shapes: both framings, two lengths, an odd transfer coding
        b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: 3\r\n"
        b"transfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: 3\r\ncontent-length: 5\r\n\r\n"
        b"abcde",
        b"POST /v1/chat/completions HTTP/1.1\r\ntransfer-encoding: chunked, identity\r\n\r\n"
        b"0\r\n\r\n",
    ],
)
def test_header_injection_and_smuggling_are_refused_and_nothing_reaches_a_pool(
    env: Env, raw: bytes
) -> None:
    a = env.upstream("a")
    env.start(primary_and_spare(a.url, a))
    with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
        s.sendall(raw)
        data = read_all(s)
    assert data.startswith(b"HTTP/1.1 400")
    assert a.completions == 0


# --- pools -----------------------------------------------------------------------------------


def test_a_pool_answering_garbage_is_charged_and_the_request_served_elsewhere(env: Env) -> None:
    async def garbage(w: asyncio.StreamWriter) -> None:
        w.write(b"\x16\x03\x01 this is not HTTP at all\r\n\r\n")

    bad, good = RawPool(env, garbage), env.upstream("good")
    try:
        env.start(primary_and_spare(bad.url, good))
        for stream in (False, True):
            assert served(env, stream) == ("good", "tok0 tok1 tok2 tok3 ")
        assert env.pool_state("bad")["failures"] == {"bad_response": 2}
    finally:
        bad.close()


def test_a_pool_that_never_answers_is_timed_out(env: Env) -> None:
    async def silent(w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)  # cancelled when the gateway drops the connection

    bad, good = RawPool(env, silent), env.upstream("good")
    try:
        env.start(
            primary_and_spare(bad.url, good, request_timeout_s=0.3, first_token_timeout_s=0.3)
        )
        t0 = time.monotonic()
        assert served(env)[0] == "good" and served(env, stream=True)[0] == "good"
        assert time.monotonic() - t0 < 3
        failures = env.pool_state("bad")["failures"]
        assert failures == {"timeout": 1, "first_token_timeout": 1}
    finally:
        bad.close()


def test_a_stream_whose_event_never_ends_is_cut_at_the_event_limit(env: Env) -> None:
    async def endless(w: asyncio.StreamWriter) -> None:
        w.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        event = b'data: {"a":1}\n\n'
        w.write(b"%x\r\n" % len(event) + event + b"\r\n")  # one whole event, then one endless
        for _ in range(400):  # at most 400 x 1 KiB, then the test pool gives up by itself
            w.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
            await w.drain()
            await asyncio.sleep(0.001)

    bad, good = RawPool(env, endless), env.upstream("good")
    try:
        env.start(primary_and_spare(bad.url, good, max_sse_event_bytes=16 * 1024))
        body = b'{"model":"chat","stream":true,"messages":[]}'
        with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
            s.sendall(post(body))
            data = b""
            for _ in range(1000):  # until the chunked answer ends (bounded)
                more = s.recv(65536)
                data += more
                if not more or data.endswith(b"0\r\n\r\n"):
                    break
        assert b'data: {"a":1}' in data and b"stream_cut" in data
        assert b"xxxx" not in data and len(data) < 4096  # the endless event never went out
        assert env.pool_state("bad")["failures"] == {"bad_response": 1}
    finally:
        bad.close()


def test_a_response_too_large_to_hold_is_dropped_and_retried(env: Env) -> None:
    async def huge(w: asyncio.StreamWriter) -> None:
        body = b'{"x":"' + b"y" * 1_000_000 + b'"}'
        w.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body)

    async def huge_head(w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nx-big: " + b"h" * 200_000 + b"\r\n\r\n")

    for reply in (huge, huge_head):
        bad, good = RawPool(env, reply), env.upstream("good")
        try:
            env.start(primary_and_spare(bad.url, good, max_response_bytes=64 * 1024))
            assert served(env) == ("good", "tok0 tok1 tok2 tok3 ")
            assert env.pool_state("bad")["failures"] == {"bad_response": 1}
        finally:
            bad.close()
            env.close()
            env.upstreams.clear()
            env.gateway = None


def test_a_second_answer_smuggled_after_the_first_never_reaches_another_client(
    env: Env,
) -> None:
    calls = [0]

    async def twice(w: asyncio.StreamWriter) -> None:
        calls[0] += 1
        one = json.dumps(
            {
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "for A"},
                        "finish_reason": "stop",
                    }
                ],
                "object": "chat.completion",
                "id": "1",
                "created": 0,
                "model": "chat",
            }
        ).encode()
        two = b'{"error": "SECRET-OF-CLIENT-A"}'
        w.write(
            b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(one)
            + one
            + (b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(two) + two)
        )

    bad, good = RawPool(env, twice), env.upstream("good")
    try:
        pools = primary_and_spare(bad.url, good)
        pools["pools"][1]["fallback"] = False
        pools["pools"][1]["offer"] = "aws-trn2"
        env.start(pools)
        bodies = []
        for _ in range(8):
            status, raw, _ = env.http("POST", "/v1/chat/completions", BODY)
            assert status == 200
            bodies.append(raw)
        assert not any(b"SECRET-OF-CLIENT-A" in b for b in bodies)
        assert calls[0] >= 2 and bad.connections == calls[0]  # a new connection each time
    finally:
        bad.close()


def test_a_pipelined_flood_is_read_only_as_fast_as_it_is_answered(env: Env) -> None:
    a = env.upstream("a")
    env.start(primary_and_spare(a.url, a))
    n = 500
    with socket.create_connection(("127.0.0.1", env.port), timeout=10) as s:
        s.sendall(post(BODY) * n)  # all at once; the gateway queues at most 16 of them
        data = b""
        for _ in range(10_000):  # bounded: until every answer is in
            if data.count(b"HTTP/1.1 200 OK") >= n:
                break
            chunk = s.recv(1 << 20)
            assert chunk
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == n and a.completions == n
    assert env.gateway is not None and env.gateway.limits.pipelines_paused >= 1
