"""A rounding heuristic for least-cost plans: floor the LP optimum, then fill each slot.

Steps: (1) each gang job goes whole to the offer its LP solution leans on most that still has
room; (2) every other column is rounded down; (3) each demand slot's remaining gap is filled
at least cost from its columns that have capacity left — for a plain slot the single column
that covers the gap cheapest, for a critical slot (N-1, min_vendors) greedily by deficit
covered per dollar; (4) vendor shares are checked against the caps. The auxiliary variables
(vendor flags, throughputs, costs) are then completed by the solver with the units fixed,
which also verifies every constraint of the model. A failure returns None; the caller may
retry with tightened share caps in the LP it rounds.
"""

from __future__ import annotations

import math

import numpy as np

from chipfolio.planner.model import Formulation
from chipfolio.planner.problem import FloatArray, IntArray, Problem
from chipfolio.planner.shares import shares_hold
from chipfolio.planner.structure import Structure
from chipfolio.planner.units import (
    EPS,
    MAX_COMBOS,
    MAX_GREEDY_STEPS,
    _State,
)


def _gang_options(
    st: _State, cols: IntArray, x_lp: FloatArray
) -> list[tuple[float, float, list[tuple[int, float]]]]:
    """Every way to place one gang job that fits now: (LP lean, cost, units per column).

    A whole-job column takes 1 unit. On an offer with a take-or-pay commitment the job is a
    pair of columns (committed part, overflow part) that must hold ``gang_units`` units
    together: committed chips are used first, the rest goes to the overflow part."""
    s = st.s
    out: list[tuple[float, float, list[tuple[int, float]]]] = []
    whole = cols[s.col_whole_job[cols]]
    for c, room in zip(whole.tolist(), st.room(whole).tolist(), strict=True):
        if room >= 1:
            out.append((float(x_lp[c]), float(st.cost[c]), [(c, 1.0)]))
    linked = cols[~s.col_whole_job[cols]]
    for pair in np.unique(s.col_pair[linked]).tolist():
        part = linked[s.col_pair[linked] == pair]
        committed = s.virtual.committed[s.col_virtual[part]]
        order = part[np.argsort(~committed, kind="stable")]  # committed part first
        need = float(s.pair_gang_units[pair])
        fill: list[tuple[int, float]] = []
        rest = need
        for c, room in zip(order.tolist(), st.room(order).tolist(), strict=True):
            take = min(rest, max(0.0, math.floor(room + EPS)))
            if take > 0:
                fill.append((c, take))
                rest -= take
        if rest <= EPS and need > 0:
            lean = float(x_lp[part].sum()) / need
            out.append((lean, sum(n * float(st.cost[c]) for c, n in fill), fill))
    return out


def _place_gang_jobs(problem: Problem, st: _State, x_lp: FloatArray) -> bool:
    """Each gang job goes whole to the placement its LP solution leans on most (ties: the
    cheaper) among those that still have room; False when one job has none."""
    s = st.s
    gang_cols = np.flatnonzero(problem.workloads.gang[s.col_workload])
    for w in np.unique(s.col_workload[gang_cols]).tolist():
        options = _gang_options(st, gang_cols[s.col_workload[gang_cols] == w], x_lp)
        if not options:
            return False
        _, _, fill = min(options, key=lambda o: (-o[0], o[1]))
        for c, n in fill:
            st.add(c, n)
    return True


def _fill_plain(st: _State, slot: int, cols: IntArray, gap: float) -> bool:
    coef = st.s.inc_coef[cols]
    need = np.ceil(gap / np.maximum(coef, 1e-300) - EPS)
    room = st.room(cols)
    ok = room >= need
    if not ok.any():
        return _fill_greedy(st, cols, lambda added: max(0.0, gap - added @ coef))
    total = np.where(ok, need * st.cost[cols], np.inf)
    best = int(np.argmin(total))
    st.add(int(cols[best]), float(need[best]))
    return True


def _fill_greedy(st: _State, cols: IntArray, deficit_after: object) -> bool:
    """Add one unit at a time of the column that removes most deficit per dollar."""
    assert callable(deficit_after)
    added = np.zeros(cols.size)
    current = float(deficit_after(added))
    steps = 0
    while current > EPS and steps < MAX_GREEDY_STEPS:
        steps += 1
        room = st.room(cols) - 0.0
        best, best_score = -1, 0.0
        for i in np.flatnonzero(room >= 1).tolist():
            added[i] += 1
            gain = current - float(deficit_after(added))
            added[i] -= 1
            score = gain / max(float(st.cost[cols[i]]), 1e-12)
            if gain > EPS and score > best_score:
                best, best_score = i, score
        if best < 0:
            return False
        added[best] += 1
        st.add(int(cols[best]), 1.0)
        current = float(deficit_after(added))
    return current <= EPS


def _fill_critical(problem: Problem, st: _State, slot: int, cols: IntArray) -> bool:
    s, policy = st.s, problem.policy
    coef_all = s.inc_coef[cols]
    labels_all = s.col_label[cols]
    present = np.unique(labels_all)
    demand = float(s.slot_demand[slot])
    served0 = st.units[cols] * coef_all
    base_total = float(served0.sum())
    base_by_label = np.bincount(labels_all, weights=served0, minlength=len(s.labels))
    base_used = set(labels_all[st.units[cols] > 0].tolist())
    # candidates: per vendor, the cheapest few columns (by cost per token/s) with room left
    ratio = st.cost[cols] / np.maximum(coef_all, 1e-300)
    ratio = np.where(st.room(cols) >= 1, ratio, np.inf)
    pick = np.concatenate(
        [
            np.flatnonzero(labels_all == lab)[np.argsort(ratio[labels_all == lab])[:4]]
            for lab in present
        ]
    )
    pick = pick[np.isfinite(ratio[pick])]
    cand, coef, labels = cols[pick], coef_all[pick], labels_all[pick]

    def deficit(added: FloatArray) -> float:
        served = added * coef
        total = base_total + float(served.sum())
        gap = max(0.0, demand - total) / demand
        if policy.n_minus_1 > 0:
            by_label = base_by_label + np.bincount(labels, weights=served, minlength=len(s.labels))
            lost = np.maximum(0.0, policy.n_minus_1 * demand - (total - by_label[present]))
            gap += float(lost.sum()) / demand
        if policy.min_vendors > 1:
            used = base_used | set(labels[added > 0].tolist())
            gap += max(0, policy.min_vendors - len(used))
        return gap

    return _fill_greedy(st, cand, deficit)


def _single_fills(st: _State, cols: IntArray, gap: float, n: int) -> list[int]:
    """The ``n`` columns that alone cover ``gap`` tokens/s cheapest (capacity permitting)."""
    if gap <= 0:
        return []
    need = np.ceil(gap / np.maximum(st.s.inc_coef[cols], 1e-300) - EPS)
    cost = need * st.cost[cols]
    best = cols[np.argsort(cost)[: 4 * n]]
    fits = best[st.room(best) >= need[np.searchsorted(cols, best)]]
    return [int(c) for c in fits[:n]]


def _candidates(st: _State, cols: IntArray, lp: FloatArray, limit: int) -> IntArray:
    """A handful of columns to add units on: the LP's own, then per vendor the cheapest per
    token/s and the cheapest among the finest-grained (fewest chips per unit)."""
    s = st.s
    ratio = st.cost[cols] / np.maximum(s.inc_coef[cols], 1e-300)
    picks: list[int] = [int(c) for c in cols[np.argsort(-lp[cols])] if lp[c] > EPS]
    labels = s.col_label[cols]
    for lab in np.unique(labels).tolist():
        mine = np.flatnonzero(labels == lab)
        by_ratio = mine[np.argsort(ratio[mine])]
        picks += [int(cols[i]) for i in by_ratio[:2]]
        fine = mine[s.col_chips_per_x[cols[mine]] == s.col_chips_per_x[cols[mine]].min()]
        picks.append(int(cols[fine[np.argmin(ratio[fine])]]))
    unique = list(dict.fromkeys(picks))
    return np.array(unique[:limit], dtype=np.int64)


def _fill_enumerate(
    problem: Problem, st: _State, slot: int, cols: IntArray, lp: FloatArray
) -> bool:
    """Cheapest extra units on a few columns (enumerated) that meet every slot constraint."""
    s, policy = st.s, problem.policy
    critical = bool(problem.workloads.critical[s.slot_workload[slot]])
    strict = critical and (policy.n_minus_1 > 0 or policy.min_vendors > 1)
    cols = np.sort(cols)
    demand = float(s.slot_demand[slot])
    base = st.units[cols] * s.inc_coef[cols]
    singles = _single_fills(st, cols, demand - float(base.sum()), 3)
    cand = np.array(list(dict.fromkeys([*singles, *_candidates(st, cols, lp, 10).tolist()])))[:10]
    if not cand.size:
        return False
    coef = s.inc_coef[cand]
    gap = max(demand - float(base.sum()), 0.0)
    if strict and policy.n_minus_1 > 0:
        labels_all = s.col_label[cols]
        by = np.bincount(labels_all, weights=base, minlength=len(s.labels))[np.unique(labels_all)]
        lost = policy.n_minus_1 * demand - (float(base.sum()) - by)
        gap = max(gap, float(lost.max(initial=0.0)))
    room = st.room(cand)
    upper = np.minimum(room, np.ceil(gap / np.maximum(coef, 1e-300) + EPS))
    if strict:
        upper = np.maximum(upper, np.minimum(room, 1.0))
    chosen, combos = [], 1.0
    for i, u in enumerate(upper.tolist()):
        if u >= 0 and combos * (u + 1) <= MAX_COMBOS:
            combos *= u + 1
            chosen.append(i)
    cand, coef = cand[chosen], coef[chosen]
    axes = [np.arange(u + 1.0) for u in upper[chosen].tolist()]
    grid = np.array(np.meshgrid(*axes, indexing="ij")).reshape(cand.size, -1).T
    served = float(base.sum()) + grid @ coef
    ok = served >= demand * (1 - 1e-9)
    if strict:
        labels_all = s.col_label[cols]
        present = np.unique(labels_all)
        base_by = np.bincount(labels_all, weights=base, minlength=len(s.labels))[present]
        onehot = (s.col_label[cand][:, None] == present[None, :]).astype(float)
        by_label = base_by[None, :] + grid @ (coef[:, None] * onehot)
        if policy.n_minus_1 > 0:
            ok &= ((served[:, None] - by_label) >= policy.n_minus_1 * demand * (1 - 1e-9)).all(
                axis=1
            )
        if policy.min_vendors > 1:
            used_base = (
                np.bincount(labels_all, weights=st.units[cols], minlength=len(s.labels))[present]
                > 0
            )
            used = used_base[None, :] | ((grid @ onehot) > 0)
            ok &= used.sum(axis=1) >= policy.min_vendors
    if not ok.any():
        return False
    cost = grid @ st.cost[cand]
    best = grid[np.flatnonzero(ok)[np.argmin(cost[ok])]]
    for c, n in zip(cand.tolist(), best.tolist(), strict=True):
        if n > 0:
            st.add(c, n)
    return bool((st.residual >= -EPS).all())


def round_plan(
    problem: Problem,
    s: Structure,
    form: Formulation,
    x_lp: FloatArray,
    *,
    shares: bool = True,
    gang_first: bool = False,
) -> FloatArray | None:
    """Integer units for every column, or None when rounding cannot keep all constraints
    (with ``shares=False`` share caps are not checked: repair_shares may restore them).

    By default the LP's units are rounded down first and gang jobs placed in the room left;
    ``gang_first`` places gang jobs first (the offer the LP leans on, which the others'
    rounded units may otherwise fill) and rounds the others down within what is left."""
    if problem.budget_usd is not None:
        return None
    lp = x_lp[: s.n_cols]
    gang_col = problem.workloads.gang[s.col_workload]  # placed whole below, never rounded
    floor = np.where(gang_col, 0.0, np.floor(lp + EPS))
    if gang_first:
        st = _State(s, form, np.zeros(s.n_cols))
        if not _place_gang_jobs(problem, st, lp):
            return None
        for col in np.flatnonzero(floor > 0).tolist():
            take = min(float(floor[col]), float(st.room(np.array([col]))[0]))
            if take > 0:
                st.add(col, take)
    else:
        st = _State(s, form, floor)
        if (st.residual < -EPS).any() or not _place_gang_jobs(problem, st, lp):
            return None
    gang = problem.workloads.gang[s.slot_workload]
    order = np.argsort(s.inc_slot, kind="stable")
    bounds = np.searchsorted(s.inc_slot[order], np.arange(s.n_slots + 1))
    for slot in np.flatnonzero(~gang).tolist():
        cols = order[bounds[slot] : bounds[slot + 1]]
        if not _fill_enumerate(problem, st, slot, cols, lp) and not _fallback(
            problem, st, slot, cols
        ):
            return None
    return st.units if not shares or _shares_ok(problem, s, st.units) else None


def _fallback(problem: Problem, st: _State, slot: int, cols: IntArray) -> bool:
    s = st.s
    critical = bool(problem.workloads.critical[s.slot_workload[slot]])
    strict = (problem.policy.n_minus_1 > 0) or (problem.policy.min_vendors > 1)
    if critical and strict:
        return _fill_critical(problem, st, slot, cols)
    gap = float(s.slot_demand[slot]) - float(st.units[cols] @ s.inc_coef[cols])
    return gap <= EPS * max(1.0, float(s.slot_demand[slot])) or _fill_plain(st, slot, cols, gap)


def _shares_ok(problem: Problem, s: Structure, units: FloatArray) -> bool:
    return shares_hold(problem, s, units)
