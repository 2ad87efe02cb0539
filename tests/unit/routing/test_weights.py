"""Pool weights from a plan: shares of planned tokens/s, equal splits, fallbacks, hours."""

from __future__ import annotations

import itertools

import pytest

from chipfolio.routing import PlanAllocation, PoolSpec, build_routing_table

ALLOCS = (
    PlanAllocation("chat", "az-maia", 3000.0),
    PlanAllocation("chat", "aws-trn2", 1000.0),
    PlanAllocation("code", "aws-trn2", 500.0),
    PlanAllocation(None, "gcp-tpu", 0.0),
)


def pool(name: str, offer: str, workload: str = "chat") -> PoolSpec:
    return PoolSpec(name, workload, offer, f"http://{name}:8000/v1")


def weights(
    pools: list[PoolSpec], allocs: tuple[PlanAllocation, ...] = ALLOCS, hour: float = 0.0
) -> dict[str, float]:
    table = build_routing_table({"chat": "chat"}, pools, allocs, hour)
    return {pw.pool.name: pw.weight for pws in table.workloads.values() for pw in pws}


def test_weight_is_the_offers_share_of_the_workloads_tokens() -> None:
    w = weights([pool("maia", "az-maia"), pool("trn2", "aws-trn2")])
    assert w == pytest.approx({"maia": 0.75, "trn2": 0.25})


def test_pools_on_one_offer_split_its_share_equally() -> None:
    w = weights([pool("maia-1", "az-maia"), pool("maia-2", "az-maia"), pool("trn2", "aws-trn2")])
    assert w == pytest.approx({"maia-1": 0.375, "maia-2": 0.375, "trn2": 0.25})


def test_a_pool_whose_offer_has_no_allocation_is_a_zero_weight_fallback() -> None:
    table = build_routing_table(
        {"chat": "chat"}, [pool("maia", "az-maia"), pool("tpu", "gcp-tpu")], ALLOCS
    )
    by_name = {pw.pool.name: pw for pw in table.workloads["chat"]}
    assert by_name["maia"].weight == pytest.approx(1.0)
    assert by_name["tpu"].weight == 0.0 and by_name["tpu"].fallback
    # trn2 serves code in the plan, but not chat: a fallback for chat
    assert weights([pool("maia", "az-maia"), pool("trn2c", "aws-trn2", "code")])["trn2c"] == 1.0


def test_workloads_are_weighted_separately() -> None:
    w = weights([pool("maia", "az-maia"), pool("trn2", "aws-trn2"), pool("c", "aws-trn2", "code")])
    assert w["c"] == pytest.approx(1.0)
    assert w["maia"] + w["trn2"] == pytest.approx(1.0)


def test_list_order_never_changes_the_weights_or_their_order() -> None:
    pools = [pool("maia", "az-maia"), pool("trn2", "aws-trn2"), pool("tpu", "gcp-tpu")]
    seen = set()
    for perm in itertools.permutations(pools):
        table = build_routing_table({"chat": "chat"}, list(perm), ALLOCS)
        seen.add(tuple((pw.pool.name, pw.weight) for pw in table.workloads["chat"]))
    assert len(seen) == 1
    assert [name for name, _ in next(iter(seen))] == ["maia", "tpu", "trn2"]


def test_only_allocations_active_at_the_hour_count() -> None:
    allocs = (
        PlanAllocation("chat", "az-maia", 1000.0, 0.0, 100.0),
        PlanAllocation("chat", "aws-trn2", 1000.0, 0.0, 730.0),
        PlanAllocation("chat", "az-maia", 3000.0, 100.0, 730.0),
    )
    pools = [pool("maia", "az-maia"), pool("trn2", "aws-trn2")]
    assert weights(pools, allocs, 0.0) == pytest.approx({"maia": 0.5, "trn2": 0.5})
    assert weights(pools, allocs, 200.0) == pytest.approx({"maia": 0.75, "trn2": 0.25})
    assert weights(pools, allocs, 800.0) == {"maia": 0.0, "trn2": 0.0}  # all fallback


def test_planned_tokens_are_reported_per_pool() -> None:
    table = build_routing_table(
        {"chat": "chat"}, [pool("m1", "az-maia"), pool("m2", "az-maia")], ALLOCS
    )
    assert [pw.planned_tokens_per_s for pw in table.workloads["chat"]] == [1500.0, 1500.0]
    assert table.weight_of("m1") == pytest.approx(0.5)
    with pytest.raises(KeyError):
        table.weight_of("nope")
