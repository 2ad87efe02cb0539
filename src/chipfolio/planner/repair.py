"""Share-cap repair of a rounded plan: move workloads off the vendors above their cap.

Vendors above the cap lose whole slots' worth of units, cheapest increase per dollar moved
first; ``tighten_shares`` gives the LP slightly tighter caps to round from when repair fails.
"""

from __future__ import annotations

import numpy as np

from chipfolio.planner.model import Formulation
from chipfolio.planner.problem import BoolArray, FloatArray, IntArray, Problem
from chipfolio.planner.search import _refill_plain, _refill_two_vendors
from chipfolio.planner.structure import Structure
from chipfolio.planner.units import EPS, _Spend, _State


def share_margin_rows(form: Formulation) -> IntArray:
    """Rows of the share-cap requirement (tightened when rounding breaks a cap)."""
    return form.rows_of("share_cap", "requirement")


def tighten_shares(form: Formulation, margin: float, max_share: float) -> Formulation:
    """A copy whose share caps are ``max_share - margin`` (the LP then leaves rounding room)."""
    import dataclasses

    rows = share_margin_rows(form)
    if not rows.size or margin <= 0:
        return form
    A = form.A.tocsr(copy=True)
    new_share = max(max_share - margin, 1e-6)
    for r in rows.tolist():
        start, stop = A.indptr[r], A.indptr[r + 1]
        vals = A.data[start:stop]
        A.data[start:stop] = np.where(vals > 0, 1.0 - new_share, -new_share)
    return dataclasses.replace(form, A=A.tocsc())


MAX_REPAIR_ROUNDS = 20


def repair_shares(
    problem: Problem, s: Structure, form: Formulation, units: FloatArray
) -> FloatArray | None:
    """Bring every vendor within its share cap by moving whole workloads off the vendors
    above it, cheapest increase per dollar moved first; None when that does not succeed."""
    if problem.budget_usd is not None:
        return None
    st = _State(s, form, units.copy())
    if (st.residual < -EPS).any():
        return None
    spend = _Spend(problem, s, st.units)
    policy = problem.policy
    strict_policy = policy.n_minus_1 > 0 or policy.min_vendors > 1
    order = np.argsort(s.inc_slot, kind="stable")
    bounds = np.searchsorted(s.inc_slot[order], np.arange(s.n_slots + 1))
    for _ in range(MAX_REPAIR_ROUNDS):
        over = spend.over(spend.by_label)
        if not over.any():
            return st.units
        excess = spend.by_label - problem.policy.max_share * float(spend.by_label.sum())
        label = int(np.argmax(np.where(over, excess, -np.inf)))
        moves: list[tuple[float, int]] = []
        for slot in range(s.n_slots):
            w = s.slot_workload[slot]
            if problem.workloads.gang[w]:
                continue
            cols = np.sort(order[bounds[slot] : bounds[slot + 1]])
            on = float((st.units[cols] * s.col_usd_per_x[cols])[s.col_label[cols] == label].sum())
            if on <= 0:
                continue
            extra = _move_off(problem, st, slot, cols, over, strict_policy, apply=False)
            if extra is not None:
                moves.append((extra / on, slot))
        if not moves:
            return None
        for _, slot in sorted(moves):
            if not spend.over(spend.by_label)[label]:
                break
            cols = np.sort(order[bounds[slot] : bounds[slot + 1]])
            over = spend.over(spend.by_label)
            _move_off(problem, st, slot, cols, over, strict_policy, apply=True, spend=spend)
    return st.units if not spend.over(spend.by_label).any() else None


def _move_off(
    problem: Problem,
    st: _State,
    slot: int,
    cols: IntArray,
    banned: BoolArray,
    strict_policy: bool,
    *,
    apply: bool,
    spend: _Spend | None = None,
) -> float | None:
    """Refill ``slot`` without the ``banned`` vendors; the cost increase (and, with
    ``apply``, the move made when it keeps the other caps), or None if impossible."""
    s, policy = st.s, problem.policy
    old = st.units[cols].copy()
    for c in np.flatnonzero(old).tolist():
        st.add(int(cols[c]), -float(old[c]))
    critical = bool(problem.workloads.critical[s.slot_workload[slot]]) and strict_policy
    demand = float(s.slot_demand[slot])
    if critical and policy.n_minus_1 >= 0.5 and policy.min_vendors <= 2:
        new = _refill_two_vendors(st, cols, demand, policy.n_minus_1, banned)
    elif critical:
        new = None
    else:
        new = _refill_plain(st, cols, demand, banned)
    extra = None if new is None else float((new - old) @ st.cost[cols])
    if apply and new is not None and spend is not None:
        delta: FloatArray = np.bincount(
            s.col_label[cols], weights=(new - old) * s.col_usd_per_x[cols], minlength=len(s.labels)
        ).astype(np.float64)
        after = spend.after(delta)
        newly_over = spend.over(after) & ~spend.over(spend.by_label)
        if not newly_over.any():
            for c in np.flatnonzero(new).tolist():
                st.add(int(cols[c]), float(new[c]))
            spend.by_label = after
            return extra
    for c in np.flatnonzero(old).tolist():
        st.add(int(cols[c]), float(old[c]))
    return extra if not apply else None
