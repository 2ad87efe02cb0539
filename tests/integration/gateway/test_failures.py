"""Failure handling against real loopback upstreams with injected faults, through the
official openai client: connect errors, 5xx, 429, slow first token, cut streams, breakers,
health checks, a pool killed under load, reloads with requests in flight."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import openai
import pytest
from gateway_harness import PLAN, Env, FakeUpstream, two_pools

MSG = [{"role": "user", "content": "hi"}]


def primary_fallback(a: FakeUpstream, b: FakeUpstream, **settings: Any) -> dict[str, Any]:
    """a takes every request it can (weight 1); b is a fallback (its offer has no chat)."""
    return {
        "models": {"chat": "chat"},
        "pools": [
            {"name": "primary", "workload": "chat", "offer": "az-maia", "url": a.url},
            {"name": "spare", "workload": "chat", "offer": "gcp-tpu", "url": b.url},
        ],
        "settings": settings,
    }


def chat(env: Env, stream: bool = False, **kw: Any) -> tuple[str, str]:
    """(pool that answered, text) for one chat request."""
    c = env.client(**kw)
    raw = c.chat.completions.with_raw_response.create(model="chat", messages=MSG, stream=stream)
    pool = raw.headers["x-chipfolio-pool"]
    if stream:
        text = "".join(ch.choices[0].delta.content or "" for ch in raw.parse())
    else:
        text = raw.parse().choices[0].message.content or ""
    return pool, text


def wait_until(cond: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_connect_error_is_retried_on_another_pool(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(primary_fallback(a, b))
    env.lt.run(a.kill())
    for stream in (False, True):
        assert chat(env, stream) == ("spare", "tok0 tok1 tok2 tok3 ")
    p = env.pool_state("primary")
    assert p["failures"]["connect"] >= 1
    assert env.state()["gateway"]["retries"] >= 1


def test_5xx_is_retried_elsewhere_and_counted(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(primary_fallback(a, b, breaker_consecutive_failures=100))
    a.set_fault("error500")
    for stream in (False, True, False):
        assert chat(env, stream)[0] == "spare"
    assert a.completions == 3 and b.completions == 3
    assert env.pool_state("primary")["failures"] == {"status_5xx": 3}


def test_without_retry_budget_the_upstream_error_reaches_the_client(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(
        primary_fallback(
            a,
            b,
            retry_budget_burst=0,
            retry_budget_ratio=0,
            retry_budget_min_per_s=0,
            breaker_consecutive_failures=100,
        )
    )
    a.set_fault("error500")
    with pytest.raises(openai.InternalServerError) as exc:
        chat(env)
    assert "injected 500" in str(exc.value)
    assert b.completions == 0
    assert env.state()["retry_budget"]["denied"] == 1


def test_max_attempts_bounds_the_retries(env: Env) -> None:
    ups = [env.upstream(n) for n in "abc"]
    pools = {
        "models": {"chat": "chat"},
        "pools": [
            {"name": f"p{i}", "workload": "chat", "offer": "az-maia", "url": u.url}
            for i, u in enumerate(ups)
        ],
        "settings": {"max_attempts": 2, "breaker_consecutive_failures": 100},
    }
    env.start(pools)
    for u in ups:
        u.set_fault("error500")
    with pytest.raises(openai.InternalServerError):
        chat(env)
    assert sum(u.completions for u in ups) == 2


def test_429_respects_retry_after_and_shifts_load(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(primary_fallback(a, b), fake_clock=True)
    a.set_fault("throttle", count=1, retry_after=30)
    assert chat(env)[0] == "spare"  # retried at once on the other pool
    p = env.pool_state("primary")
    assert p["failures"] == {"throttled": 1} and p["throttled_for_s"] == 30.0
    assert p["breaker"] == "closed"  # 429 is back-pressure, not a fault
    for _ in range(3):
        assert chat(env)[0] == "spare"
    assert a.completions == 1
    env.clock.advance(30.0)
    assert chat(env)[0] == "primary"


def test_every_pool_throttled_returns_429_with_retry_after(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(two_pools(a, b), fake_clock=True)
    a.set_fault("throttle", retry_after=7)
    b.set_fault("throttle", retry_after=3)
    with pytest.raises(openai.RateLimitError) as exc:
        chat(env)
    assert exc.value.response.headers["retry-after"] in ("3", "7")
    with pytest.raises(openai.RateLimitError) as exc:  # both cooling down: gateway answers
        chat(env)
    assert exc.value.response.headers["retry-after"] == "3"
    assert a.completions + b.completions == 2


def test_slow_first_token_times_out_and_the_stream_comes_from_another_pool(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(primary_fallback(a, b, first_token_timeout_s=1.0))
    a.set_fault("slow_first_token", count=1, delay_s=30.0)
    t0 = time.monotonic()
    assert chat(env, stream=True) == ("spare", "tok0 tok1 tok2 tok3 ")
    assert time.monotonic() - t0 < 10.0
    assert env.pool_state("primary")["failures"] == {"first_token_timeout": 1}


def test_stalled_non_streaming_request_times_out_and_is_retried(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(primary_fallback(a, b, request_timeout_s=1.0))
    a.set_fault("stall", count=1)
    assert chat(env) == ("spare", "tok0 tok1 tok2 tok3 ")
    assert env.pool_state("primary")["failures"] == {"timeout": 1}


def test_stream_cut_after_tokens_ends_with_an_error_event_and_no_duplicates(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(primary_fallback(a, b))
    a.set_fault("cut", count=1, cut_after=2)
    stream = env.client().chat.completions.create(model="chat", messages=MSG, stream=True)
    got: list[str] = []
    with pytest.raises(openai.APIError) as exc:
        for ch in stream:
            got.append(ch.choices[0].delta.content or "")
    assert got == ["tok0 ", "tok1 "]  # what was sent, once, and nothing from another pool
    assert "ended the stream early" in str(exc.value)
    assert isinstance(exc.value.body, dict) and exc.value.body["code"] == "stream_cut"
    assert b.completions == 0
    assert env.pool_state("primary")["failures"] == {"cut": 1}
    assert env.state()["gateway"]["stream_cuts"] == 1


def test_body_cut_before_completion_is_retried_when_nothing_was_sent(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(primary_fallback(a, b))
    a.set_fault("cut", count=1)
    assert chat(env) == ("spare", "tok0 tok1 tok2 tok3 ")
    a.set_fault("reset", count=1)
    assert chat(env, stream=True)[0] == "spare"


def test_breaker_trips_half_opens_probes_and_recovers(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(
        primary_fallback(
            a, b, breaker_consecutive_failures=3, breaker_open_s=10, breaker_max_open_s=40
        ),
        fake_clock=True,
    )
    a.set_fault("error500")
    for _ in range(3):
        assert chat(env)[0] == "spare"
    assert env.pool_state("primary")["breaker"] == "open"
    for _ in range(5):  # open: the primary is not even tried
        assert chat(env)[0] == "spare"
    assert a.completions == 3
    env.clock.advance(10.0)
    assert env.pool_state("primary")["breaker"] == "half_open"
    assert chat(env)[0] == "spare"  # the probe fails: open again, for twice as long
    assert a.completions == 4 and env.pool_state("primary")["breaker"] == "open"
    env.clock.advance(10.0)
    assert env.pool_state("primary")["breaker"] == "open"
    env.clock.advance(10.0)
    a.set_fault("none")
    assert chat(env)[0] == "primary"  # the probe succeeds: closed
    p = env.pool_state("primary")
    assert p["breaker"] == "closed" and p["breaker_trips"] == 2
    assert chat(env)[0] == "primary"


def test_breaker_trips_on_error_rate(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(
        primary_fallback(
            a,
            b,
            breaker_consecutive_failures=100,
            breaker_error_rate=0.5,
            breaker_window=6,
            breaker_min_requests=6,
        ),
        fake_clock=True,
    )
    for i in range(3):  # success, failure, ... : 3 failures in 6 = 50%, never 2 in a row
        assert env.pool_state("primary")["breaker"] == "closed", i
        assert chat(env)[0] == "primary"
        a.set_fault("error500", count=1)
        assert chat(env)[0] == "spare"
    assert env.pool_state("primary")["breaker"] == "open"


def test_active_health_checks_cost_no_tokens_and_mark_pools_down_and_up(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(
        primary_fallback(a, b, health_interval_s=0.05, health_timeout_s=2.0, unhealthy_after=2),
        health=True,
    )
    wait_until(lambda: a.models_requests >= 2 and b.models_requests >= 2)
    assert a.completions == b.completions == 0  # checks spend no tokens
    port = a.port
    env.lt.run(a.kill())
    wait_until(lambda: not env.pool_state("primary")["healthy"])
    assert chat(env)[0] == "spare"
    assert a.completions == 0  # a known-down pool is not tried
    env.lt.run(a.start(port=port))
    wait_until(lambda: env.pool_state("primary")["healthy"])
    assert chat(env)[0] == "primary"
    assert env.pool_state("primary")["health_failures"] >= 2


def test_pool_killed_under_load_fails_no_client_request(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(two_pools(a, b))
    errors: list[BaseException] = []
    done = [0]
    stop = threading.Event()

    def worker(i: int) -> None:
        c = env.client()
        while not stop.is_set():
            try:
                if i % 2:
                    list(c.chat.completions.create(model="chat", messages=MSG, stream=True))
                else:
                    c.chat.completions.create(model="chat", messages=MSG)
                done[0] += 1
            except BaseException as e:
                errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    wait_until(lambda: done[0] >= 100)
    env.lt.run(a.kill())
    before = done[0]
    wait_until(lambda: done[0] >= before + 200)
    stop.set()
    for t in threads:
        t.join(10)
    assert errors == []
    assert env.pool_state("maia")["breaker_trips"] >= 1


def test_reload_swaps_weights_without_dropping_requests_in_flight(env: Env) -> None:
    a = env.upstream("a", token_delay_s=0.05, tokens=10)
    b = env.upstream("b")
    env.start(two_pools(a, b))
    stream = env.client().chat.completions.create(model="chat", messages=MSG, stream=True)
    it = iter(stream)
    first = next(it)  # the stream is running on pool maia (weight 0.75 picks it first)
    plan = json.loads(json.dumps(PLAN))
    plan["allocations"][0]["tokens_per_s"] = 1000.0
    plan["allocations"][1]["tokens_per_s"] = 3000.0
    (env.tmp / "plan.json").write_text(json.dumps(plan))
    status, raw, _ = env.http("POST", "/admin/reload", b"", admin=True)
    assert status == 200 and json.loads(raw)["weights"] == {"maia": 0.25, "trn2": 0.75}
    rest = [ch.choices[0].delta.content or "" for ch in it]
    text = (first.choices[0].delta.content or "") + "".join(rest)
    assert text == "".join(f"tok{i} " for i in range(10))
    weights = {p["name"]: p["weight"] for p in env.state()["workloads"]["chat"]}
    assert weights == {"maia": 0.25, "trn2": 0.75}


def test_bad_reload_keeps_the_current_plan(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(two_pools(a, b))
    (env.tmp / "plan.json").write_text("{broken")
    status, raw, _ = env.http("POST", "/admin/reload", b"", admin=True)
    assert status == 400 and "plan unchanged" in raw.decode()
    assert chat(env)[0] in ("maia", "trn2")
    assert env.state()["gateway"]["reload_errors"] == 1


def test_client_leaving_mid_stream_releases_the_upstream(env: Env) -> None:
    a = env.upstream("a", token_delay_s=0.05, tokens=50)
    b = env.upstream("b")
    env.start(primary_fallback(a, b))
    stream = env.client().chat.completions.create(model="chat", messages=MSG, stream=True)
    next(iter(stream))
    stream.close()
    wait_until(lambda: env.pool_state("primary")["in_flight"] == 0)
    wait_until(lambda: env.state()["gateway"]["in_flight"] == 0)
    assert env.pool_state("primary")["failures"] == {}
    assert chat(env)[0] == "primary"


def test_stream_idle_after_commit_ends_with_an_error_event(env: Env) -> None:
    a = env.upstream("a", token_delay_s=5.0, tokens=3)
    b = env.upstream("b")
    env.start(primary_fallback(a, b, stream_idle_timeout_s=0.5))
    stream = env.client().chat.completions.create(model="chat", messages=MSG, stream=True)
    got: list[str] = []
    with pytest.raises(openai.APIError, match="stream idle timeout"):
        for ch in stream:
            got.append(ch.choices[0].delta.content or "")
    assert got == ["tok0 "]
    assert b.completions == 0
    assert env.pool_state("primary")["failures"] == {"cut": 1}


def test_file_watch_reloads_a_changed_plan(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    gw = env.start(two_pools(a, b))
    env.lt.run(gw.stop())
    port = env.lt.run(gw.start("127.0.0.1", 0, health=False, watch_s=0.05))
    env.port = port
    plan = json.loads(json.dumps(PLAN))
    plan["allocations"][1]["tokens_per_s"] = 3000.0  # trn2 now as big as maia
    time.sleep(0.1)
    (env.tmp / "plan.json").write_text(json.dumps(plan))
    wait_until(lambda: env.pool_state("trn2")["weight"] == 0.5)
    assert env.state()["reloads"] == 1
    (env.tmp / "plan.json").write_text("{broken")  # a bad edit keeps the last good plan
    wait_until(lambda: env.state()["gateway"]["reload_errors"] == 1)
    assert env.pool_state("trn2")["weight"] == 0.5
    assert chat(env)[0] in ("maia", "trn2")


def test_a_4xx_from_the_pool_is_the_requests_fault_and_is_not_retried(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(primary_fallback(a, b, breaker_consecutive_failures=1))
    a.set_fault("error400", count=1)
    with pytest.raises(openai.BadRequestError, match="injected 400"):
        chat(env)
    assert b.completions == 0
    assert env.pool_state("primary")["breaker"] == "closed"
    assert chat(env)[0] == "primary"


def test_no_pool_left_gives_503_without_touching_upstreams(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(two_pools(a, b, breaker_consecutive_failures=1, breaker_open_s=30), fake_clock=True)
    a.set_fault("error500")
    b.set_fault("error500")
    with pytest.raises(openai.InternalServerError) as first:
        chat(env)
    assert first.value.status_code == 500  # both tried; the last upstream answer is passed on
    with pytest.raises(openai.InternalServerError) as second:
        chat(env)
    assert second.value.status_code == 503 and "no pool" in str(second.value)
    assert a.completions + b.completions == 2


def test_a_kept_alive_connection_dropped_under_a_request_is_retried_on_the_same_pool(
    env: Env,
) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(primary_fallback(a, b, breaker_consecutive_failures=1))
    assert chat(env)[0] == "primary"  # leaves a kept-alive connection
    a.set_fault("reset", count=1)  # it is closed as the next request arrives on it
    assert chat(env)[0] == "primary"
    state = env.state()
    assert state["gateway"]["stale_connection_retries"] == 1
    assert env.pool_state("primary")["failures"] == {}
    assert env.pool_state("primary")["breaker"] == "closed" and b.completions == 0


def test_idle_upstream_connections_are_not_reused_after_the_keepalive_time(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    gw = env.start(primary_fallback(a, b, upstream_keepalive_s=1.0))
    chat(env)
    chat(env)  # at once: the same connection
    opened = lambda: sum(u.opened for u in gw._upstreams.values())  # noqa: E731
    assert env.lt.call(opened) == 1
    time.sleep(1.2)
    chat(env)
    assert env.lt.call(opened) == 2


def test_a_cut_in_the_middle_of_an_event_never_reaches_the_client_half_sent(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(primary_fallback(a, b))
    a.set_fault("cut", count=1, cut_after=3, partial=1)
    stream = env.client().chat.completions.create(model="chat", messages=MSG, stream=True)
    got: list[str] = []
    with pytest.raises(openai.APIError) as exc:  # the error event, not a JSON decode error
        for ch in stream:
            got.append(ch.choices[0].delta.content or "")
    assert got == ["tok0 ", "tok1 ", "tok2 "]
    assert isinstance(exc.value.body, dict) and exc.value.body["code"] == "stream_cut"


def test_events_split_across_reads_are_forwarded_whole(env: Env) -> None:
    a = env.upstream("a", tokens=300)
    env.start(
        {
            "models": {"chat": "chat"},
            "pools": [{"name": "maia", "workload": "chat", "offer": "az-maia", "url": a.url}],
        }
    )
    for _ in range(3):
        chunks = list(env.client().chat.completions.create(model="chat", messages=MSG, stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == "".join(
            f"tok{i} " for i in range(300)
        )
