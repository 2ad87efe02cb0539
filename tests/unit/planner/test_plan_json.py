"""Plan.from_json: the one reader of plan JSON, round-tripping plans and refusing bad ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chipfolio.errors import InputError
from chipfolio.planner import Plan, plan_portfolio
from chipfolio.workloads.spec import load_portfolio

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def doc() -> dict:  # type: ignore[type-arg]
    plan = plan_portfolio(load_portfolio(REPO / "examples" / "frontier-lab.yaml"))
    return json.loads(json.dumps(plan.to_json()))


def test_a_plan_reads_back_to_the_same_document(doc: dict) -> None:  # type: ignore[type-arg]
    again = Plan.from_json(doc, "plan.json")
    assert again.to_json() == doc


def test_allocations_carry_instance_type_and_zone(doc: dict) -> None:  # type: ignore[type-arg]
    catalog = [a for a in doc["allocations"] if a["offer"].count(":") == 4]
    assert catalog, "the bundled example plans some catalog offers"
    for a in catalog:
        assert a["instance_type"] == a["offer"].split(":")[1]
    # an older document without the fields gets them from catalog offer ids
    old = json.loads(json.dumps(doc))
    for a in old["allocations"]:
        a.pop("instance_type"), a.pop("zone")
    plan = Plan.from_json(old, "old.json")
    for a, b in zip(plan.allocations, doc["allocations"], strict=True):
        if b["offer"].count(":") == 4:
            assert a.instance_type == b["instance_type"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(status="great"), "status"),
        (lambda d: d.update(allocations={}), "allocations"),
        (lambda d: d["allocations"][0].update(chips=-1), "allocations[0].chips"),
        (lambda d: d["allocations"][0].update(chips=True), "allocations[0].chips"),
        (lambda d: d["allocations"][0].update(cost_usd="1e9"), "allocations[0].cost_usd"),
        (lambda d: d["allocations"][0].update(to_hour=-5), "allocations[0].to_hour"),
        (lambda d: d["allocations"][0].update(offer=""), "allocations[0].offer"),
        (lambda d: d["allocations"][0].update(workload="ghost"), "allocations[0].workload"),
        (lambda d: d["workloads"][0].update(kind="batch"), "workloads[0].kind"),
        (lambda d: d["policy"].update(max_share=7), "policy"),
        (lambda d: d.update(vendor_shares={"aws": "half"}), "vendor_shares.aws"),
        (lambda d: d.update(horizon_hours=float("nan")), "horizon_hours"),
    ],
)
def test_a_bad_document_names_the_field(doc: dict, change, field: str) -> None:  # type: ignore[no-untyped-def, type-arg]
    bad = json.loads(json.dumps(doc))
    change(bad)
    with pytest.raises(InputError) as err:
        Plan.from_json(bad, "bad.json")
    assert err.value.location.file == "bad.json"
    assert err.value.location.field == field


@pytest.mark.parametrize("data", [None, [], "plan", 3, {"workloads": []}, {"allocations": "all"}])
def test_not_a_plan_at_all(data: object) -> None:
    with pytest.raises(InputError):
        Plan.from_json(data, "x.json")
