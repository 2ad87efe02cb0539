"""Served-token meters and the plan-against-actual comparison, with hand-computed figures."""

from __future__ import annotations

import pytest

from chipfolio.routing import (
    PlanAllocation,
    PoolSpec,
    RoutingTable,
    TokenMeter,
    build_routing_table,
    offer_prices,
    plan_vs_actual,
)


def test_meter_totals_and_recent_rate() -> None:
    m = TokenMeter(now=100.0, window_s=10)
    m.add(100.2, 5, 40)
    m.add(100.7, 5, 60)
    m.add_unmetered()
    assert (m.prompt_tokens, m.completion_tokens, m.metered, m.unmetered) == (10, 100, 2, 1)
    assert m.recent_tokens_per_s(101.0) == pytest.approx(100.0)  # one second elapsed
    assert m.recent_tokens_per_s(105.0) == pytest.approx(20.0)  # 100 tokens over 5 s
    m.add(112.5, 0, 30)  # 100.x has left the 10 s window by 112
    assert m.recent_tokens_per_s(112.9) == pytest.approx(3.0)
    assert m.tokens_per_s(113.0) == pytest.approx(10.0)  # 130 tokens in 13 s
    with pytest.raises(ValueError):
        TokenMeter(0.0, window_s=0)


ALLOCS = [
    PlanAllocation("chat", "az-maia", 3000.0, 0.0, 10.0, cost_usd=100.0, vendor="microsoft"),
    PlanAllocation("chat", "aws-trn2", 1000.0, 0.0, 10.0, cost_usd=100.0, vendor="aws"),
    PlanAllocation(None, "gcp-tpu", 0.0, 0.0, 10.0, cost_usd=50.0, vendor="google"),
]


def table() -> RoutingTable:
    pools = [
        PoolSpec("maia", "chat", "az-maia", "http://127.0.0.1:1/v1"),
        PoolSpec("trn2", "chat", "aws-trn2", "http://127.0.0.1:2/v1"),
        PoolSpec("spare", "chat", "gcp-tpu", "http://127.0.0.1:3/v1"),
    ]
    return build_routing_table({"chat": "chat"}, pools, ALLOCS, 0.0)


def test_prices_are_plan_cost_over_planned_tokens() -> None:
    prices = offer_prices(ALLOCS)
    assert prices[("chat", "az-maia")].usd_per_million_tokens == pytest.approx(
        100.0 / (3000 * 36000) * 1e6
    )
    assert prices[("chat", "aws-trn2")].vendor == "aws"
    assert prices[(None, "gcp-tpu")].usd_per_million_tokens is None  # idle: no tokens planned
    assert prices[(None, "gcp-tpu")].vendor == "google"


def test_departure_from_plan_and_its_cost() -> None:
    out = plan_vs_actual(table(), offer_prices(ALLOCS), {"maia": 500, "trn2": 500}, 10.0)
    chat = out["workloads"]["chat"]
    rows = {r["pool"]: r for r in chat["pools"]}
    assert rows["maia"]["planned_share"] == 0.75 and rows["maia"]["served_share"] == 0.5
    assert rows["trn2"]["departure"] == pytest.approx(0.25)
    assert rows["trn2"]["served_tokens_per_s"] == 50.0 and chat["served_tokens_per_s"] == 100.0
    maia, trn2 = 100 / (3000 * 36000), 100 / (1000 * 36000)  # $ per token
    assert chat["cost_usd"] == pytest.approx(500 * maia + 500 * trn2, abs=1e-6)
    assert chat["cost_as_planned_usd"] == pytest.approx(
        1000 * (0.75 * maia + 0.25 * trn2), abs=1e-6
    )
    assert chat["departure_cost_usd"] == pytest.approx(250 * (trn2 - maia), abs=1e-6)
    assert out["vendors"]["aws"] == {"planned_tokens_per_s": 1000.0, "served_tokens_per_s": 50.0}
    assert out["vendors"]["microsoft"]["served_tokens_per_s"] == 50.0


def test_unpriced_fallback_tokens_leave_the_departure_cost_unknown() -> None:
    out = plan_vs_actual(table(), offer_prices(ALLOCS), {"maia": 750, "spare": 250}, 10.0)
    chat = out["workloads"]["chat"]
    assert chat["unpriced_tokens"] == 250 and chat["departure_cost_usd"] is None
    rows = {r["pool"]: r for r in chat["pools"]}
    assert rows["spare"]["cost_usd"] is None and rows["spare"]["vendor"] == "google"


def test_no_traffic_is_no_departure() -> None:
    out = plan_vs_actual(table(), offer_prices(ALLOCS), {}, 0.0)
    chat = out["workloads"]["chat"]
    assert all(r["departure"] == 0.0 for r in chat["pools"])
    assert chat["cost_usd"] == 0.0 and chat["departure_cost_usd"] == 0.0
