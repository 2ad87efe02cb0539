"""Solution -> Plan: allocations per (workload, offer), idle commitments, shares, N-1 table."""

from __future__ import annotations

import numpy as np

from chipfolio.planner.model import Formulation
from chipfolio.planner.plan import Allocation, Plan, PlanStatus, SolverInfo, WorkloadOutcome
from chipfolio.planner.problem import FloatArray, Problem, WorkloadKind
from chipfolio.planner.solvers.base import SolveResult, SolveStatus
from chipfolio.planner.structure import Structure


def _units(structure: Structure, form: Formulation, result: SolveResult) -> FloatArray:
    x = result.value()[form.var_blocks["x"].offset : form.var_blocks["x"].stop]
    units: FloatArray = np.rint(np.maximum(x, 0.0))
    return units[: structure.n_cols]


def _pair_allocations(problem: Problem, s: Structure, units: FloatArray) -> list[Allocation]:
    offers, names = problem.offers, problem.workloads.names
    used = np.flatnonzero(units > 0)
    price = offers.usd_per_chip_hour[s.col_offer[used]]
    chips = units[used] * s.col_chips_per_x[used]
    cost = chips * price * s.col_hours[used]
    committed = np.where(s.virtual.committed[s.col_virtual[used]], chips, 0.0)
    # one allocation per (workload, offer, time window): merge committed and overflow parts
    keys = s.col_pair[used] * max(s.n_slots, 1) + s.inc_slot[used]
    groups, first, inverse = np.unique(keys, return_index=True, return_inverse=True)

    def per_pair(values: FloatArray) -> FloatArray:
        summed = np.bincount(inverse, weights=values, minlength=groups.size)
        return summed.astype(np.float64)

    instances = per_pair(units[used] * s.col_instances_per_x[used])
    chips_sum, cost_sum = per_pair(chips), per_pair(cost)
    tokens = per_pair(units[used] * s.col_tokens_per_s_per_x[used])
    committed_sum = per_pair(committed)
    out: list[Allocation] = []
    for i, col in enumerate(used[first].tolist()):
        w, o = int(s.col_workload[col]), int(s.col_offer[col])
        out.append(
            Allocation(
                workload=str(names[w]),
                offer=str(offers.ids[o]),
                provider=str(offers.providers[o]),
                vendor=str(offers.vendors[o]),
                chip=str(offers.chips[o]),
                region=str(offers.regions[o]),
                instances=round(float(instances[i])),
                chips=round(float(chips_sum[i])),
                cost_usd=float(cost_sum[i]),
                tokens_per_s=float(tokens[i]),
                from_hour=float(s.col_start_hour[col]),
                to_hour=float(s.col_end_hour[col]),
                committed_chips=round(float(committed_sum[i])),
                pricing=str(offers.pricing[o]),
                chips_per_instance=int(offers.chips_per_instance[o]),
                instance_type=str(offers.instance_types[o]) or None,
                zone=str(offers.zones[o]) or None,
            )
        )
    return out


def _idle_commitments(problem: Problem, s: Structure, units: FloatArray) -> list[Allocation]:
    offers = problem.offers
    committed_cols = s.virtual.committed[s.col_virtual]
    chips = units * s.col_chips_per_x
    used_value = np.bincount(
        s.col_offer[committed_cols],
        weights=(chips * s.col_hours * offers.usd_per_chip_hour[s.col_offer])[committed_cols],
        minlength=len(offers),
    )
    used_chips = np.bincount(
        s.col_offer[committed_cols], weights=chips[committed_cols], minlength=len(offers)
    )
    out: list[Allocation] = []
    for o in np.flatnonzero(s.fixed_usd_by_offer > 0).tolist():
        idle_cost = float(s.fixed_usd_by_offer[o] - used_value[o])
        if idle_cost <= 1e-6 * max(1.0, float(s.fixed_usd_by_offer[o])):
            continue
        out.append(
            Allocation(
                workload=None,
                offer=str(offers.ids[o]),
                provider=str(offers.providers[o]),
                vendor=str(offers.vendors[o]),
                chip=str(offers.chips[o]),
                region=str(offers.regions[o]),
                instances=0,
                chips=int(max(0.0, round(offers.take_or_pay_chips[o] - used_chips[o]))),
                cost_usd=idle_cost,
                tokens_per_s=0.0,
                from_hour=float(s.offer_start_hour[o]),
                to_hour=float(s.offer_end_hour[o]),
                committed_chips=0,
                pricing=str(offers.pricing[o]),
                chips_per_instance=int(offers.chips_per_instance[o]),
            )
        )
    return out


def served_by_slot(
    s: Structure, units: FloatArray, col_mask: FloatArray | None = None
) -> FloatArray:
    """Tokens/s credited to each slot, optionally counting only the columns in ``col_mask``."""
    coef = s.inc_coef * units[s.inc_col]
    if col_mask is not None:
        coef = coef * col_mask[s.inc_col]
    served = np.bincount(s.inc_slot, weights=coef, minlength=s.n_slots)
    return served.astype(np.float64)


def _outcomes(problem: Problem, s: Structure, units: FloatArray) -> tuple[WorkloadOutcome, ...]:
    wl = problem.workloads
    served = served_by_slot(s, units)
    worst = np.full(len(wl), np.inf)
    np.minimum.at(worst, s.slot_workload, served)
    worst[~np.isfinite(worst)] = 0.0
    labels = problem.vendor_of_offers()
    out = []
    for w in range(len(wl)):
        cols = np.flatnonzero((s.col_workload == w) & (units > 0))
        vendors = tuple(sorted({str(v) for v in labels[s.col_offer[cols]].tolist()}))
        training = wl.kinds[w] == WorkloadKind.TRAINING.value
        finish = None
        if training and worst[w] > 0:
            finish = float(s.workload_end_hour[w] * wl.demand_tokens_per_s[w] / worst[w])
        out.append(
            WorkloadOutcome(
                name=str(wl.names[w]),
                kind=str(wl.kinds[w]),
                critical=bool(wl.critical[w]),
                demand_tokens_per_s=float(wl.demand_tokens_per_s[w]),
                served_tokens_per_s=float(worst[w]),
                vendors=vendors,
                finish_hour=finish,
            )
        )
    return tuple(out)


def _n_minus_1(
    problem: Problem, s: Structure, units: FloatArray, lost_labels: list[str]
) -> dict[str, dict[str, float]]:
    wl = problem.workloads
    critical = np.flatnonzero(wl.critical)
    col_labels = problem.vendor_of_offers()[s.col_offer]
    table: dict[str, dict[str, float]] = {}
    for label in lost_labels:
        keep = (col_labels != label).astype(np.float64)
        retained = served_by_slot(s, units, keep)
        frac = np.full(len(wl), np.inf)
        slot_frac = np.minimum(retained / s.slot_demand, 1.0)
        np.minimum.at(frac, s.slot_workload, slot_frac)
        table[label] = {
            str(wl.names[w]): float(frac[w]) if np.isfinite(frac[w]) else 0.0
            for w in critical.tolist()
        }
    return table


def decode(
    problem: Problem,
    structure: Structure,
    form: Formulation,
    result: SolveResult,
    *,
    build_seconds: float,
    pruned_pairs: int = 0,
    requested_gap: float | None = None,
    time_limit_s: float | None = None,
) -> Plan:
    """Turn a solver result with a solution into a Plan (costs recomputed from the units)."""
    units = _units(structure, form, result)
    allocations = _pair_allocations(problem, structure, units)
    allocations += _idle_commitments(problem, structure, units)
    label_of = dict(
        zip(problem.offers.ids.tolist(), problem.vendor_of_offers().tolist(), strict=True)
    )
    cost_by_label: dict[str, float] = {}
    for a in allocations:
        label = str(label_of[a.offer])
        cost_by_label[label] = cost_by_label.get(label, 0.0) + a.cost_usd
    total = float(sum(a.cost_usd for a in allocations))
    shares = {k: (v / total if total > 0 else 0.0) for k, v in sorted(cost_by_label.items())}
    status = PlanStatus.OPTIMAL if result.status is SolveStatus.OPTIMAL else PlanStatus.FEASIBLE
    return Plan(
        status=status,
        total_cost_usd=total,
        allocations=tuple(allocations),
        share_by=problem.policy.share_by.value,
        vendor_shares=shares,
        cost_by_vendor_usd=dict(sorted(cost_by_label.items())),
        n_minus_1=_n_minus_1(problem, structure, units, sorted(cost_by_label)),
        workloads=_outcomes(problem, structure, units),
        solver=SolverInfo(
            name=result.solver,
            status=result.raw_status,
            gap=result.mip_gap,
            seconds=result.seconds,
            build_seconds=build_seconds,
            dual_bound=result.dual_bound,
            columns=form.n_cols,
            rows=form.n_rows,
            pruned_offers=pruned_pairs,
            requested_gap=requested_gap,
            time_limit_s=time_limit_s,
        ),
        catalog_snapshot=problem.catalog_snapshot,
        horizon_hours=problem.horizon_hours,
        policy=problem.policy,
        budget_usd=problem.budget_usd,
        uncalibrated=_uncalibrated_pairs(problem),
    )


def _uncalibrated_pairs(problem: Problem) -> frozenset[tuple[str, str]]:
    """The (workload, offer) pairs whose throughput rests on an uncalibrated estimate."""
    if problem.uncalibrated is None or not problem.uncalibrated.any():
        return frozenset()
    workloads, offers = problem.workloads.names, problem.offers.ids
    return frozenset(
        (str(workloads[w]), str(offers[o]))
        for w, o in zip(*np.nonzero(problem.uncalibrated), strict=True)
    )
