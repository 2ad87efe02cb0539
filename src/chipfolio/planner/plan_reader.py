"""Read a plan document (``chipfolio plan --json``) back into a Plan, checking every field.

The one reader of plan JSON: the exporters and the gateway call ``Plan.from_json``. A bad
document raises InputError naming the source and the field (``allocations[3].chips``) and
what was expected; nothing here trusts the input's types, sizes or numbers. Fields a reader
may not need (an allocation's provider, chip or counts; a workload's kind or demand) may be
missing, as in a routing-only document: they read as empty or zero, and the exporters then
refuse what they cannot launch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from chipfolio.errors import InputError
from chipfolio.planner.plan import Allocation, Plan, PlanStatus, SolverInfo, WorkloadOutcome
from chipfolio.planner.problem import Policy, ShareBy

MAX_ALLOCATIONS = 1_000_000
MAX_WORKLOADS = 1_000_000
CATALOG_ID_PARTS = 5  # provider:instance_type:region:zone:pricing


class _Doc:
    """Typed reads of one JSON object, each failing with the source and the field's path."""

    def __init__(self, data: object, source: str, path: str) -> None:
        if not isinstance(data, Mapping):
            what = "an object" if path else "a plan object (from `chipfolio plan --json`)"
            raise InputError(f"expected {what}", file=source, field=path or "(top level)")
        self.data, self.source, self.path = data, source, path

    def _field(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, expected: str) -> InputError:
        return InputError(f"expected {expected}", file=self.source, field=self._field(name))

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def number(self, name: str, *, default: float | None = None, low: float = -math.inf) -> float:
        value = self.data.get(name, default)
        expected = "a finite number" + ("" if low == -math.inf else f" >= {low:g}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(name, expected)
        if not math.isfinite(value) or value < low:
            raise self.fail(name, expected)
        return float(value)

    def optional_number(self, name: str, low: float = -math.inf) -> float | None:
        return None if self.data.get(name) is None else self.number(name, low=low)

    def integer(self, name: str, *, default: int | None = None, low: int = 0) -> int:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self.fail(name, f"an integer >= {low}")
        return value

    def text(self, name: str, *, default: str | None = None, nonempty: bool = False) -> str:
        value = self.data.get(name, default)
        if not isinstance(value, str) or (nonempty and not value):
            raise self.fail(name, "a non-empty string" if nonempty else "a string")
        return value

    def optional_text(self, name: str, *, nonempty: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or (nonempty and not value):
            raise self.fail(name, "a non-empty string or null" if nonempty else "a string or null")
        return value

    def items(self, name: str, limit: int, *, required: bool = True) -> list[Any]:
        value = self.data.get(name, None if required else [])
        if not isinstance(value, list):
            raise self.fail(name, f"a list of {name}")
        if len(value) > limit:
            raise self.fail(name, f"at most {limit:,} entries")
        return value

    def mapping(self, name: str) -> Mapping[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise self.fail(name, "an object")
        return value

    def child(self, name: str) -> _Doc:
        return _Doc(self.data.get(name), self.source, self._field(name))


def _catalog_detail(offer_id: str) -> tuple[str | None, str | None]:
    """Instance type and zone encoded in a catalog offer id (older plans carry no fields)."""
    parts = offer_id.split(":")
    if len(parts) != CATALOG_ID_PARTS or not parts[1]:
        return None, None
    return parts[1], None if parts[3] in ("", "-") else parts[3]


def _allocation(doc: _Doc) -> Allocation:
    offer = doc.text("offer", nonempty=True)
    workload = doc.optional_text("workload", nonempty=True)
    start = doc.number("from_hour", default=0.0, low=0.0)
    end = math.inf if doc.data.get("to_hour") is None else doc.number("to_hour", low=start)
    per_instance = doc.data.get("chips_per_instance")
    instance_type, zone = doc.optional_text("instance_type"), doc.optional_text("zone")
    if not doc.has("instance_type") and not doc.has("zone"):
        instance_type, zone = _catalog_detail(offer)
    return Allocation(
        workload=workload,
        offer=offer,
        provider=doc.text("provider", default=""),
        vendor=doc.text("vendor", default=""),
        chip=doc.text("chip", default=""),
        region=doc.text("region", default=""),
        instances=doc.integer("instances", default=0),
        chips=doc.integer("chips", default=0),
        cost_usd=doc.number("cost_usd", default=0.0, low=0.0),
        tokens_per_s=doc.number("tokens_per_s", default=0.0, low=0.0),
        from_hour=start,
        to_hour=end,
        committed_chips=doc.integer("committed_chips", default=0),
        pricing=doc.optional_text("pricing"),
        chips_per_instance=None
        if per_instance is None
        else doc.integer("chips_per_instance", low=1),
        instance_type=instance_type,
        zone=zone,
    )


def _workload(doc: _Doc) -> WorkloadOutcome:
    kind = doc.text("kind", default="")
    if kind not in ("training", "inference", ""):
        raise doc.fail("kind", "'training' or 'inference'")
    vendors = doc.items("vendors", 10_000, required=False)
    if not all(isinstance(v, str) for v in vendors):
        raise doc.fail("vendors", "a list of strings")
    critical = doc.data.get("critical", False)
    if not isinstance(critical, bool):
        raise doc.fail("critical", "true or false")
    demand = doc.number("demand_tokens_per_s", default=0.0, low=0.0)
    return WorkloadOutcome(
        name=doc.text("name"),
        kind=kind,
        critical=critical,
        demand_tokens_per_s=demand,
        served_tokens_per_s=doc.number("served_tokens_per_s", default=0.0, low=0.0),
        vendors=tuple(vendors),
        finish_hour=doc.optional_number("finish_hour", low=0.0),
    )


def _shares(doc: _Doc, name: str) -> dict[str, float]:
    values = doc.mapping(name)
    inner = _Doc(values, doc.source, doc._field(name))
    return {k: inner.number(k, low=0.0) for k in values}


def _solver(doc: _Doc) -> SolverInfo:
    return SolverInfo(
        name=doc.text("name", default="unknown"),
        status=doc.text("status", default="unknown"),
        gap=doc.optional_number("gap", low=0.0),
        seconds=doc.number("seconds", default=0.0, low=0.0),
        build_seconds=doc.number("build_seconds", default=0.0, low=0.0),
        dual_bound=doc.optional_number("dual_bound"),
        columns=doc.integer("columns", default=0),
        rows=doc.integer("rows", default=0),
        pruned_offers=doc.integer("pruned_pairs", default=0),
        requested_gap=doc.optional_number("requested_gap", low=0.0),
        time_limit_s=doc.optional_number("time_limit_s", low=0.0),
    )


def _policy(doc: _Doc) -> Policy:
    share_by = doc.text("share_by", default="provider")
    if share_by not in {s.value for s in ShareBy}:
        raise doc.fail("share_by", "'provider' or 'silicon'")
    try:
        return Policy(
            max_share=doc.number("max_share", default=1.0, low=0.0),
            share_by=ShareBy(share_by),
            min_vendors=doc.integer("min_vendors", default=1, low=1),
            n_minus_1=doc.number("n_minus_1", default=0.0, low=0.0),
        )
    except InputError as exc:
        raise InputError(exc.reason, file=doc.source, field=doc.path) from exc


def read_plan(data: object, source: str) -> Plan:
    """The Plan of a parsed plan document (see the module docstring)."""
    top = _Doc(data, source, "")
    raw = top.items("allocations", MAX_ALLOCATIONS)
    # a document without a status claims nothing about optimality
    status = top.text("status", default=PlanStatus.FEASIBLE.value)
    if status not in {s.value for s in PlanStatus}:
        raise top.fail("status", "'optimal' or 'feasible' (is this a plan JSON?)")
    docs = [_Doc(a, source, f"allocations[{i}]") for i, a in enumerate(raw)]
    allocations = tuple(_allocation(doc) for doc in docs)
    uncalibrated = set()
    for doc, a in zip(docs, allocations, strict=True):
        mark = doc.data.get("uncalibrated_estimate", False)
        if not isinstance(mark, bool):
            raise doc.fail("uncalibrated_estimate", "true or false")
        if mark and a.workload is not None:
            uncalibrated.add((a.workload, a.offer))
    listed = top.items("workloads", MAX_WORKLOADS, required=False)
    for i, w in enumerate(listed):
        if not isinstance(w, Mapping) or not isinstance(w.get("name"), str):
            raise InputError("expected an object with a name", file=source, field=f"workloads[{i}]")
    workloads = tuple(_workload(_Doc(w, source, f"workloads[{i}]")) for i, w in enumerate(listed))
    known = {w.name for w in workloads}
    for i, a in enumerate(allocations):
        if workloads and a.workload is not None and a.workload not in known:
            raise InputError(
                f"workload '{a.workload}' is not listed under 'workloads'",
                file=source,
                field=f"allocations[{i}].workload",
            )
    n_minus_1 = top.mapping("n_minus_1")
    table = {k: _shares(top.child("n_minus_1"), k) for k in n_minus_1}
    budget = top.optional_number("budget_usd", low=0.0)
    policy = _policy(top.child("policy")) if top.has("policy") else Policy()
    return Plan(
        status=PlanStatus(status),
        total_cost_usd=sum(a.cost_usd for a in allocations),
        allocations=allocations,
        share_by=top.text("share_by", default=policy.share_by.value),
        vendor_shares=_shares(top, "vendor_shares"),
        cost_by_vendor_usd=_shares(top, "cost_by_vendor_usd"),
        n_minus_1=table,
        workloads=workloads,
        solver=_solver(top.child("solver"))
        if top.has("solver")
        else _solver(_Doc({}, source, "solver")),
        catalog_snapshot=top.text("catalog_snapshot", default="unknown"),
        horizon_hours=top.number("horizon_hours", default=0.0, low=0.0),
        policy=policy,
        budget_usd=budget,
        uncalibrated=frozenset(uncalibrated),
    )
