"""The router: candidates, cool-downs after 429, health, breakers, reloads, snapshot."""

from __future__ import annotations

import random
from collections import Counter

from chipfolio.routing import (
    BreakerPolicy,
    Failure,
    PlanAllocation,
    PoolSpec,
    RetryPolicy,
    Router,
    RoutingPolicy,
    RoutingTable,
    build_routing_table,
)

ALLOCS = (PlanAllocation("chat", "maia", 3000.0), PlanAllocation("chat", "trn2", 1000.0))


def table(*pools: tuple[str, str]) -> RoutingTable:
    specs = [PoolSpec(n, "chat", o, f"http://{n}/v1") for n, o in pools]
    return build_routing_table({"chat": "chat", "gpt": "chat"}, specs, ALLOCS)


def router(**policy: object) -> Router:
    t = table(("m", "maia"), ("t", "trn2"), ("f", "tpu"))
    return Router(t, RoutingPolicy(**policy), random.Random(0))  # type: ignore[arg-type]


def names(r: Router, n: int, now: float = 0.0, tried: tuple[str, ...] = ()) -> Counter[str]:
    out: Counter[str] = Counter()
    for _ in range(n):
        p = r.pick("chat", now, tried)
        out[p.name if p else "-"] += 1
    return out


def test_models_map_to_workloads() -> None:
    r = router()
    assert r.workload_of("gpt") == "chat" and r.workload_of("nope") is None
    assert r.pick("nope", 0.0) is None


def test_picks_follow_plan_weights_and_skip_tried_pools() -> None:
    r = router()
    assert names(r, 40) == {"m": 30, "t": 10}
    assert names(r, 10, tried=("m",)) == {"t": 10}
    assert names(r, 2, tried=("m", "t")) == {"f": 2}
    assert names(r, 1, tried=("m", "t", "f")) == {"-": 1}
    assert r.has_candidate("chat", 0.0, ("m", "t")) and not r.has_candidate("chat", 0.0, "mtf")
    assert not r.has_candidate("nope", 0.0)


def test_throttled_pool_cools_down_for_retry_after_then_returns() -> None:
    r = router(max_retry_after_s=60.0)
    r.on_start("m", 0.0)
    r.on_failure("m", Failure.THROTTLED, 0.0, retry_after_s=5.0)
    assert names(r, 8, now=4.9) == {"t": 8}
    assert r.soonest_retry_after("chat", 1.0) == 4.0
    assert names(r, 4, now=5.0)["m"] == 3
    # a 429 never counts against the breaker
    assert r.breakers["m"].trips == 0 and r.stats["m"].failures == {"throttled": 1}


def test_retry_after_is_capped_and_defaulted() -> None:
    r = router(max_retry_after_s=10.0, default_retry_after_s=2.0)
    r.on_start("m", 0.0)
    r.on_failure("m", Failure.THROTTLED, 0.0, retry_after_s=3600.0)
    assert r.stats["m"].throttled_until == 10.0
    r.on_start("t", 0.0)
    r.on_failure("t", Failure.THROTTLED, 0.0)
    assert r.stats["t"].throttled_until == 2.0


def test_failures_trip_the_breaker_and_traffic_moves() -> None:
    r = router(breaker=BreakerPolicy(consecutive_failures=2, open_s=1.0))
    for _ in range(2):
        r.on_start("m", 0.0)
        r.on_failure("m", Failure.CONNECT, 0.0)
    assert names(r, 5, now=0.5) == {"t": 5}
    # half-open: one probe goes to m, the rest elsewhere until it answers
    picked = [p.name for p in (r.pick("chat", 1.0) for _ in range(8)) if p]
    assert "m" in picked
    r.on_start("m", 1.0)
    assert all(p != "m" for p in [x.name for x in (r.pick("chat", 1.0) for _ in range(8)) if x])
    r.on_success("m", 1.1)
    assert names(r, 40, now=1.2) == {"m": 30, "t": 10}


def test_unhealthy_after_consecutive_failed_checks_and_back_on_success() -> None:
    r = router()
    r.on_health("t", False, 0.0, unhealthy_after=2)
    assert r.available("t", 0.0)
    r.on_health("t", False, 0.0, unhealthy_after=2)
    assert not r.available("t", 0.0)
    assert names(r, 4) == {"m": 4}
    r.on_health("t", True, 1.0)
    assert r.available("t", 1.0)
    assert r.stats["t"].health_checks == 3 and r.stats["t"].health_failures == 2


def test_when_every_weighted_pool_is_down_the_fallback_takes_traffic() -> None:
    r = router()
    for name in ("m", "t"):
        for _ in range(2):
            r.on_health(name, False, 0.0)
    assert names(r, 3) == {"f": 3}


def test_retry_budget_and_max_attempts_gate_retries() -> None:
    r = router(retry=RetryPolicy(max_attempts=3, burst=2.0, ratio=0.0, min_per_s=0.0))
    assert r.may_retry(1, 0.0) and r.may_retry(2, 0.0)
    assert not r.may_retry(3, 0.0)  # max attempts
    assert not r.may_retry(1, 0.0)  # budget spent
    assert 0.0 <= r.backoff(1) <= r.policy.retry.backoff_base_s


def test_reload_keeps_state_of_surviving_pools_and_drops_removed_ones() -> None:
    r = router(breaker=BreakerPolicy(consecutive_failures=1, open_s=10.0))
    r.on_start("m", 0.0)
    r.on_failure("m", Failure.STATUS_5XX, 0.0)
    r.on_start("t", 0.0)  # in flight across the reload
    r.load(table(("m", "maia"), ("t2", "trn2")))
    assert r.reloads == 1
    assert not r.available("m", 1.0)  # still open
    r.on_success("t", 1.0)  # the removed pool's request ends: ignored
    assert set(r.stats) == {"m", "t2"}
    assert names(r, 3, now=1.0) == {"t2": 3}


def test_snapshot_reports_weights_breakers_and_counters() -> None:
    r = router()
    r.on_start("m", 0.0)
    r.on_success("m", 0.0)
    r.on_start("t", 0.0)
    r.on_failure("t", Failure.TIMEOUT, 0.0)
    snap = r.snapshot(0.0)
    pools = {p["name"]: p for p in snap["workloads"]["chat"]}
    assert pools["m"]["weight"] == 0.75 and pools["m"]["successes"] == 1
    assert pools["t"]["failures"] == {"timeout": 1} and pools["t"]["in_flight"] == 0
    assert pools["f"]["fallback"] and pools["f"]["breaker"] == "closed"
    assert snap["models"] == {"chat": "chat", "gpt": "chat"}


def test_listener_hears_trips_recoveries_and_throttles_and_adopt_agrees() -> None:
    from chipfolio.routing import (
        BreakerPolicy,
        Failure,
        PlanAllocation,
        PoolSpec,
        Router,
        RoutingPolicy,
        build_routing_table,
    )

    table = build_routing_table(
        {"chat": "chat"},
        [PoolSpec("a", "chat", "o1", "u"), PoolSpec("b", "chat", "o2", "u")],
        [PlanAllocation("chat", "o1", 1.0), PlanAllocation("chat", "o2", 1.0)],
    )
    policy = RoutingPolicy(breaker=BreakerPolicy(consecutive_failures=2, open_s=3.0))
    one, two = Router(table, policy), Router(table, policy)
    heard: list[tuple[str, str, float]] = []
    one.listener = lambda pool, kind, s: heard.append((pool, kind, s))
    for _ in range(2):
        one.on_start("a", 0.0)
        one.on_failure("a", Failure.CONNECT, 0.0)
    assert heard == [("a", "open", 3.0)]
    two.adopt("a", "open", 3.0, 0.0)
    assert not two.available("a", 1.0) and two.available("b", 1.0)
    one.on_start("a", 3.0)  # half-open probe succeeds
    one.on_success("a", 3.0)
    assert heard[-1] == ("a", "closed", 0.0)
    two.adopt("a", "closed", 0.0, 3.0)
    assert two.available("a", 3.0)
    one.on_start("b", 4.0)
    one.on_failure("b", Failure.THROTTLED, 4.0, 7.0)
    assert heard[-1] == ("b", "throttled", 7.0)
    two.adopt("b", "throttled", 7.0, 4.0)
    assert not two.available("b", 10.0) and two.available("b", 11.0)
