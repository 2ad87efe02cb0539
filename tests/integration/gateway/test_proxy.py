"""The gateway as an OpenAI endpoint: the official client, chat and text completions,
streaming and not, models, plan-weighted routing, admin and metrics, bad requests."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import openai
import pytest
from gateway_harness import Env, two_pools

MSG = [{"role": "user", "content": "hi"}]


def http(env: Env, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{env.port}{path}", data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def dechunk(raw: bytes) -> bytes:
    """The body of a chunked HTTP/1.1 response."""
    pos = raw.index(b"\r\n\r\n") + 4
    out = bytearray()
    while True:
        eol = raw.index(b"\r\n", pos)
        size = int(raw[pos:eol], 16)
        if size == 0:
            return bytes(out)
        out += raw[eol + 2 : eol + 2 + size]
        pos = eol + 2 + size + 2


def test_chat_and_text_completions_streaming_and_not(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(two_pools(a, b))
    c = env.client()
    r = c.chat.completions.create(model="chat", messages=MSG)
    assert r.choices[0].message.content == "tok0 tok1 tok2 tok3 "
    assert r.usage is not None and r.usage.completion_tokens == 4
    chunks = list(c.chat.completions.create(model="chat", messages=MSG, stream=True))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == "tok0 tok1 tok2 tok3 "
    assert chunks[-1].choices[0].finish_reason == "stop"
    t = c.completions.create(model="chat", prompt="x")
    assert t.choices[0].text == "tok0 tok1 tok2 tok3 "
    ts = list(c.completions.create(model="chat", prompt="x", stream=True))
    assert "".join(ch.choices[0].text for ch in ts) == "tok0 tok1 tok2 tok3 "


def test_models_lists_the_pools_file_models(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    pools = two_pools(a, b)
    pools["models"] = {"chat": "chat", "gpt-4o": "chat"}
    env.start(pools)
    assert sorted(m.id for m in env.client().models.list()) == ["chat", "gpt-4o"]


def test_traffic_follows_plan_weights_whatever_the_pool_order(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    pools = two_pools(a, b)
    pools["pools"].reverse()
    env.start(pools)
    c = env.client()
    served = []
    for i in range(40):
        raw = c.chat.completions.with_raw_response.create(
            model="chat", messages=MSG, stream=i % 2 == 1
        )
        served.append(raw.headers["x-chipfolio-pool"])
        raw.parse()
    assert served.count("maia") == 30 and served.count("trn2") == 10  # 0.75 / 0.25
    assert a.completions == 30 and b.completions == 10


def test_request_body_is_forwarded_unchanged_with_authorization(env: Env) -> None:
    a = env.upstream("a")
    env.start(
        {
            "models": {"chat": "chat"},
            "pools": [{"name": "maia", "workload": "chat", "offer": "az-maia", "url": a.url}],
        }
    )
    body = b'{"model": "chat",  "messages": [{"role":"user","content":"\\u00e9"}], "x": [1,2]}'
    req = urllib.request.Request(
        f"{env.base_url}/chat/completions",
        data=body,
        headers={"Authorization": "Bearer sk-1", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    assert a.last_request is not None
    assert a.last_request.body == body
    assert a.last_request.headers[b"authorization"] == b"Bearer sk-1"


def test_unknown_model_and_bad_bodies_get_openai_style_errors(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(two_pools(a, b))
    with pytest.raises(openai.NotFoundError) as exc:
        env.client().chat.completions.create(model="gpt-5", messages=MSG)
    assert "unknown model 'gpt-5'" in str(exc.value) and "chat" in str(exc.value)
    for body, needle in [
        (b"{not json", b"not valid JSON"),
        (b"[1, 2]", b"JSON object"),
        (b'{"messages": []}', b"missing 'model'"),
        (b'{"model": 5}', b"missing 'model'"),
    ]:
        status, raw, _ = http(env, "POST", "/v1/chat/completions", body)
        assert status == 400 and needle in raw, raw
        assert "message" in json.loads(raw)["error"]
    assert http(env, "GET", "/v1/nothing")[0] == 404
    assert http(env, "GET", "/v1/chat/completions")[0] == 405
    assert a.completions + b.completions == 0


def test_malformed_http_and_oversized_bodies_are_rejected(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    pools = two_pools(a, b, max_body_bytes=2048)
    env.start(pools)
    status, _, _ = http(env, "POST", "/v1/chat/completions", b"{" + b" " * 5000 + b"}")
    assert status == 413
    with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
        s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        assert s.recv(1000).startswith(b"HTTP/1.1 400")


def test_keep_alive_and_pipelined_requests_are_answered_in_order(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(two_pools(a, b))
    one = b'{"model":"chat","messages":[]}'
    req = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % len(one)
        + one
    )
    models = b"GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
        s.sendall(req + models + req)
        data = b""
        while data.count(b"HTTP/1.1 200") < 3:
            chunk = s.recv(65536)
            assert chunk
            data += chunk
    first = data.index(b"chat.completion")
    second = data.index(b'"object":"list"')
    third = data.rindex(b"chat.completion")
    assert first < second < third


def test_admin_state_and_metrics_show_weights_breakers_and_counters(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(two_pools(a, b))
    env.client().chat.completions.create(model="chat", messages=MSG)
    status, raw, _ = env.http("GET", "/admin/state", admin=True)
    state = json.loads(raw)
    pools = {p["name"]: p for p in state["workloads"]["chat"]}
    assert pools["maia"]["weight"] == 0.75 and pools["trn2"]["weight"] == 0.25
    assert pools["maia"]["breaker"] == "closed" and pools["maia"]["successes"] == 1
    status, raw, headers = http(env, "GET", "/metrics")
    text = raw.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert 'chipfolio_gateway_pool_weight{workload="chat",pool="maia"} 0.75' in text
    assert 'chipfolio_gateway_pool_breaker_state{workload="chat",pool="trn2"} 0' in text
    assert 'chipfolio_gateway_pool_successes_total{workload="chat",pool="maia"} 1' in text
    assert 'chipfolio_gateway_requests_total{route="chat",status="200"} 1' in text
    for line in text.splitlines():  # every sample line parses as name{labels} value
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


def test_expect_100_continue_is_answered(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(two_pools(a, b))
    body = b'{"model":"chat","messages":[]}'
    with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n"
            b"content-length: %d\r\n\r\n" % len(body)
        )
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        assert s.recv(65536).startswith(b"HTTP/1.1 200 OK")


def test_oversized_url_and_too_many_headers_are_refused(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(two_pools(a, b))
    long_url = b"GET /v1/models?" + b"x" * 70_000 + b" HTTP/1.1\r\nhost: x\r\n\r\n"
    many = (
        b"GET /v1/models HTTP/1.1\r\n" + b"".join(b"x-h%d: 1\r\n" % i for i in range(300)) + b"\r\n"
    )
    for raw, status in ((long_url, b"414"), (many, b"431")):
        with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
            s.sendall(raw)
            assert s.recv(1000).startswith(b"HTTP/1.1 " + status)


def test_a_slow_reader_holds_back_the_upstream_and_still_gets_every_byte(env: Env) -> None:
    a = env.upstream("a", tokens=200_000)  # about 30 MB of SSE events, written at once
    env.start(
        {
            "models": {"chat": "chat"},
            "pools": [{"name": "maia", "workload": "chat", "offer": "az-maia", "url": a.url}],
        }
    )
    body = b'{"model":"chat","stream":true,"messages":[]}'
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: small window
        s.settimeout(10)
        s.connect(("127.0.0.1", env.port))
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n"
            % len(body)
            + body
        )
        data = s.recv(4096)
        time.sleep(0.5)  # not reading: the gateway must stop reading the upstream

        def upstream_backlog() -> int:
            return sum(
                c.transport.get_write_buffer_size()
                for c in a._conns
                if c.transport is not None and not c.closed
            )

        assert env.lt.call(upstream_backlog) > 1_000_000
        buf = bytearray(data)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        while not buf.endswith(b"0\r\n\r\n"):
            chunk = s.recv(1 << 20)
            assert chunk
            buf += chunk
    events = dechunk(bytes(buf)).split(b"\n\n")
    assert sum(e.startswith(b"data: {") for e in events) == 200_001
    assert events[-2] == b"data: [DONE]" and b"tok199999 " in events[-4]
    assert env.pool_state("maia")["successes"] == 1
