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
import time

import numpy as np

from chipfolio.planner.model import Formulation
from chipfolio.planner.problem import BoolArray, FloatArray, IntArray, Problem
from chipfolio.planner.shares import over_cap, shares_hold, vendor_spend
from chipfolio.planner.structure import Structure

EPS = 1e-7
MAX_GREEDY_STEPS = 10_000
MAX_COMBOS = 2_000


class _State:
    """Units chosen so far and what they leave of capacity and demand."""

    def __init__(self, s: Structure, form: Formulation, units: FloatArray) -> None:
        self.s = s
        self.units = units
        self.cap = s.virtual.capacity_chips[s.check_virtual]
        rows = s.check_inc_row
        self.row_of_col = _csr(s.check_inc_col, rows, s.n_cols)
        use = np.bincount(
            rows,
            weights=s.col_chips_per_x[s.check_inc_col] * units[s.check_inc_col],
            minlength=self.cap.size,
        )
        self.residual = self.cap - use
        self.cost = form.c[: s.n_cols]
        self.judge: FloatArray | None = None  # costs that decide a move (default: cost)

    def room(self, cols: IntArray) -> FloatArray:
        """How many more units of each column fit (inf where unlimited)."""
        starts, index = self.row_of_col
        out = np.full(cols.size, np.inf)
        lens = starts[cols + 1] - starts[cols]
        has = lens > 0
        if has.any():
            ends = np.cumsum(lens)
            offsets = np.repeat(starts[cols] - (ends - lens), lens) + np.arange(int(ends[-1]))
            least = np.minimum.reduceat(self.residual[index[offsets]], (ends - lens)[has])
            out[has] = np.floor(least / self.s.col_chips_per_x[cols[has]] + EPS)
        room: FloatArray = np.minimum(out, self.s.col_upper[cols] - self.units[cols])
        return room

    def add(self, col: int, n: float) -> None:
        starts, index = self.row_of_col
        self.residual[index[starts[col] : starts[col + 1]]] -= n * self.s.col_chips_per_x[col]
        self.units[col] += n


def _csr(keys: IntArray, values: IntArray, n: int) -> tuple[IntArray, IntArray]:
    order = np.argsort(keys, kind="stable")
    starts = np.zeros(n + 1, dtype=np.int64)
    np.add.at(starts, keys + 1, 1)
    return np.cumsum(starts), values[order]


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


def fixed_bounds(form: Formulation, units: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Column bounds with the x block pinned to ``units`` (for completing the other vars)."""
    lower, upper = form.col_lower.copy(), form.col_upper.copy()
    lower[: units.size] = units
    upper[: units.size] = units
    return lower, upper


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


def mask_of(n: int, index: IntArray) -> BoolArray:
    out = np.zeros(n, dtype=bool)
    out[index] = True
    return out


# --- local search on a rounded plan ------------------------------------------------------

PRICED_PASSES = 3
TRUE_COST_PASSES = 1
COVER_CANDIDATES = 60
COVER_NODE_LIMIT = 400


def _cover(cost: FloatArray, coef: FloatArray, most: FloatArray, need: float) -> FloatArray | None:
    """Least ``cost @ x`` with ``coef @ x >= need`` and ``0 <= x <= most`` integer, by
    depth-first branch and bound with a fractional bound (best found at the node limit)."""
    order = np.argsort(cost / np.maximum(coef, 1e-300), kind="stable")
    c, a, m = cost[order].tolist(), coef[order].tolist(), most[order].tolist()
    n = len(c)
    tol = 1e-9 * max(need, 1.0)

    def frac(i: int, rest: float) -> float:
        total = 0.0
        for k in range(i, n):
            if rest <= tol:
                return total
            take = min(m[k], rest / a[k])
            total += take * c[k]
            rest -= take * a[k]
        return total if rest <= tol else math.inf

    best = math.inf
    best_x: list[float] | None = None
    x = [0.0] * n
    nodes = 0

    def dfs(i: int, rest: float, spent: float) -> None:
        nonlocal best, best_x, nodes
        if rest <= tol:
            if spent < best:
                best, best_x = spent, list(x)
            return
        nodes += 1
        if i >= n or nodes > COVER_NODE_LIMIT:
            return
        top = min(m[i], math.ceil(rest / a[i] - EPS))
        for v in range(int(top), -1, -1):
            after = rest - v * a[i]
            bound = spent + v * c[i] + frac(i + 1, max(after, 0.0))
            if bound >= best * (1 - 1e-12):
                if v == top:
                    continue  # the top count may overshoot: one fewer can be cheaper
                break  # fewer units of the best-ratio column only raise the bound
            x[i] = float(v)
            dfs(i + 1, after, spent + v * c[i])
            x[i] = 0.0

    dfs(0, need, 0.0)
    if best_x is None:
        return None
    out = np.zeros(n)
    out[order] = best_x
    return out


class _Spend:
    """Vendor spend of a plan, for checking share caps after each move."""

    def __init__(self, problem: Problem, s: Structure, units: FloatArray) -> None:
        self.cap = problem.policy.max_share
        self.by_label: FloatArray = vendor_spend(s, units)

    def after(self, delta: FloatArray) -> FloatArray:
        out: FloatArray = self.by_label + delta
        return out

    def over(self, spend: FloatArray) -> BoolArray:
        """Labels whose spend would break the cap (none when caps are off)."""
        return over_cap(spend, self.cap)


def _refill_plain(
    st: _State, cols: IntArray, demand: float, banned: BoolArray, cost: FloatArray | None = None
) -> FloatArray | None:
    """Least-cost integer cover of ``demand`` from ``cols`` (capacity left permitting), at
    ``cost`` (default: the state's costs)."""
    s = st.s
    cost = st.cost if cost is None else cost
    coef = s.inc_coef[cols]
    room = st.room(cols)
    usable = np.flatnonzero((room >= 1) & (coef > 0) & ~banned[s.col_label[cols]])
    if not usable.size:
        return None
    ratio = cost[cols[usable]] / coef[usable]
    need_units = np.ceil(demand / coef[usable] - EPS)
    single_cost = np.where(room[usable] >= need_units, need_units * cost[cols[usable]], np.inf)
    # the best per token/s, the best single covers, and the best of each unit size (small
    # units let a cover end close to the demand instead of overshooting it)
    by_ratio = np.argsort(ratio, kind="stable")
    size = s.col_chips_per_x[cols[usable]][by_ratio]
    first_of_size = by_ratio[np.unique(size, return_index=True)[1]]
    pick = list(dict.fromkeys([*by_ratio[:COVER_CANDIDATES].tolist(),
                               *np.argsort(single_cost, kind="stable")[:4].tolist(),
                               *first_of_size.tolist()]))  # fmt: skip
    sel = usable[np.array(pick, dtype=np.int64)]
    most = np.minimum(room[sel], np.ceil(demand / coef[sel] - EPS))
    x = _cover(cost[cols[sel]], coef[sel], most, demand)
    if x is None:
        return None
    out = np.zeros(cols.size)
    out[sel] = x
    return out


PRICED_FAMILIES = ("share_cap", "capacity", "take_or_pay")


def priced_costs(form: Formulation, n_x: int, duals: FloatArray) -> FloatArray:
    """Column costs plus the LP's prices of share caps and capacity: what a unit really
    costs the plan when a vendor sits at its cap or an offer runs out."""
    rows = np.concatenate([form.rows_of(family) for family in PRICED_FAMILIES])
    y = np.zeros(form.n_rows)
    y[rows] = duals[rows]
    out: FloatArray = form.c[:n_x] - form.A[:, :n_x].T @ y
    return np.maximum(out, 1e-9 * np.abs(form.c[:n_x]))


def improve_plan(
    problem: Problem,
    s: Structure,
    form: Formulation,
    units: FloatArray,
    duals: FloatArray | None = None,
    *,
    deadline: float | None = None,
) -> FloatArray:
    """Cheaper integer units by local search: each workload in turn is emptied and refilled
    at least cost (an exact integer cover for plain workloads, the two cheapest vendors'
    covers under N-1 of at least one half, else the enumerated fill), gang jobs move whole
    to a cheaper offer; a move is kept only when it keeps capacity and share caps.

    With the LP's row prices (``duals``), the first passes keep a move only when it lowers
    the *priced* cost (list price plus the LP's prices of share caps and capacity), so a
    vendor at its cap or a scarce offer goes to the workloads that gain most from it rather
    than to whichever comes first; a last pass then keeps any move that lowers true cost.
    A fixed number of passes, so the result is deterministic; the search only stops early
    (keeping the moves made) when ``deadline`` (``time.perf_counter``) passes."""
    if problem.budget_usd is not None:
        return units
    cost = form.c[: s.n_cols]
    start = units
    if duals is not None and duals.shape[0] == form.n_rows:
        priced = priced_costs(form, s.n_cols, duals)
        units = _search(problem, s, form, units, cost, PRICED_PASSES, priced, deadline)
    units = _search(problem, s, form, units, cost, TRUE_COST_PASSES, None, deadline)
    return units if float(units @ cost) <= float(start @ cost) else start


def _search(
    problem: Problem,
    s: Structure,
    form: Formulation,
    units: FloatArray,
    cost: FloatArray,
    passes: int,
    judge: FloatArray | None = None,
    deadline: float | None = None,
) -> FloatArray:
    st = _State(s, form, units.copy())
    if (st.residual < -EPS).any():
        return units
    st.cost = cost
    st.judge = judge
    spend = _Spend(problem, s, st.units)
    policy = problem.policy
    strict_policy = policy.n_minus_1 > 0 or policy.min_vendors > 1
    order = np.argsort(s.inc_slot, kind="stable")
    bounds = np.searchsorted(s.inc_slot[order], np.arange(s.n_slots + 1))
    # each demand slot is refilled on its own columns (a workload cut into slots by offers
    # that start or stop has one demand row per slot)
    eligible = [
        slot for slot in range(s.n_slots) if not problem.workloads.gang[s.slot_workload[slot]]
    ]
    no_ban = np.zeros(len(s.labels), dtype=bool)
    whole = np.flatnonzero(s.col_whole_job)
    jobs = np.unique(s.col_workload[whole])
    linked = problem.workloads.gang[s.col_workload] & ~s.col_whole_job
    if linked.any():
        jobs = jobs[:0]  # gang jobs on take-or-pay offers stay where they are
    for _ in range(passes):
        moved = False
        for w in jobs.tolist():
            job_cols = whole[s.col_workload[whole] == w]
            if _move_gang_job(st, spend, job_cols):
                moved = True
        for i, slot in enumerate(eligible):
            if i % 64 == 0 and deadline is not None and time.perf_counter() >= deadline:
                return st.units
            cols = np.sort(order[bounds[slot] : bounds[slot + 1]])
            if _improve_slot(problem, st, spend, slot, cols, strict_policy, no_ban):
                moved = True
        if not moved:
            break
    return st.units


def _improve_slot(
    problem: Problem,
    st: _State,
    spend: _Spend,
    slot: int,
    cols: IntArray,
    strict_policy: bool,
    banned: BoolArray,
) -> bool:
    s = st.s
    old = st.units[cols].copy()
    judge = st.judge if st.judge is not None else st.cost
    old_cost = float(old @ judge[cols])
    if old_cost <= 0:
        return False
    for c in np.flatnonzero(old).tolist():
        st.add(int(cols[c]), -float(old[c]))
    for _ in range(3):
        new = _refill_slot(problem, st, slot, cols, old, strict_policy, banned)
        if new is None or float(new @ judge[cols]) >= old_cost * (1 - 1e-9):
            break
        delta: FloatArray = np.bincount(
            s.col_label[cols], weights=(new - old) * s.col_usd_per_x[cols], minlength=len(s.labels)
        ).astype(np.float64)
        over = spend.over(spend.after(delta))
        if over.any():
            banned = banned | over  # retry without the vendors the move would push over
            continue
        for c in np.flatnonzero(new).tolist():
            st.add(int(cols[c]), float(new[c]))
        spend.by_label = spend.after(delta)
        return True
    for c in np.flatnonzero(old).tolist():
        st.add(int(cols[c]), float(old[c]))
    return False


def _refill_slot(
    problem: Problem,
    st: _State,
    slot: int,
    cols: IntArray,
    old: FloatArray,
    strict_policy: bool,
    banned: BoolArray,
) -> FloatArray | None:
    """A least-cost refill of an emptied slot (left empty): plain cover, two-vendor covers
    under N-1 of at least one half, else the enumerated fill."""
    s, policy = st.s, problem.policy
    critical = bool(problem.workloads.critical[s.slot_workload[slot]]) and strict_policy
    demand = float(s.slot_demand[slot])
    if critical and policy.n_minus_1 >= 0.5 and policy.min_vendors <= 2:
        return _refill_two_vendors(st, cols, demand, policy.n_minus_1, banned)
    if critical:
        return _refill_enumerated(problem, st, slot, cols, old)
    return _refill_plain(st, cols, demand, banned)


def _move_gang_job(st: _State, spend: _Spend, cols: IntArray) -> bool:
    """Move a gang job whole to a cheaper offer with room, share caps permitting."""
    s = st.s
    current = cols[st.units[cols] > 0.5]
    if current.size != 1:
        return False
    here = int(current[0])
    st.add(here, -1.0)
    judge = st.judge if st.judge is not None else st.cost
    cheaper = cols[judge[cols] < judge[here] * (1 - 1e-9)]
    fits = cheaper[st.room(cheaper) >= 1]
    for col in fits[np.argsort(st.cost[fits], kind="stable")].tolist():
        delta = np.zeros(len(s.labels))
        delta[s.col_label[col]] += s.col_usd_per_x[col]
        delta[s.col_label[here]] -= s.col_usd_per_x[here]
        if not spend.over(spend.after(delta)).any():
            st.add(col, 1.0)
            spend.by_label = spend.after(delta)
            return True
    st.add(here, 1.0)
    return False


def _refill_enumerated(
    problem: Problem, st: _State, slot: int, cols: IntArray, old: FloatArray
) -> FloatArray | None:
    """The enumerated fill of an emptied critical slot (left empty again afterwards)."""
    ok = _fill_enumerate(problem, st, slot, cols, _as_full(st, cols, old))
    new = st.units[cols].copy()
    for c in np.flatnonzero(new).tolist():
        st.add(int(cols[c]), -float(new[c]))
    return new if ok else None


def _refill_two_vendors(
    st: _State, cols: IntArray, demand: float, fraction: float, banned: BoolArray
) -> FloatArray | None:
    """Critical slot with N-1 of at least one half: two vendors each carrying ``fraction``
    of the demand meet N-1, min_vendors <= 2 and the demand itself; each vendor's part is
    an exact integer cover, and the two cheapest vendors are taken."""
    s = st.s
    labels = s.col_label[cols]
    need = fraction * demand
    # vendors in order of a lower bound on their part (best cost per token/s, room aside)
    ratio = np.where(
        st.room(cols) >= 1, st.cost[cols] / np.maximum(s.inc_coef[cols], 1e-300), np.inf
    )
    least = np.full(len(s.labels), np.inf)
    np.minimum.at(least, labels, ratio)
    least[banned] = np.inf
    parts: list[tuple[float, int, FloatArray]] = []
    for lab in np.argsort(least, kind="stable").tolist():
        floor = need * float(least[lab])
        if not np.isfinite(floor) or (len(parts) >= 2 and floor >= parts[1][0]):
            break
        mine = np.flatnonzero(labels == lab)
        part = _refill_plain(st, cols[mine], need, banned)
        if part is not None:
            parts.append((float(part @ st.cost[cols[mine]]), lab, _spread(cols.size, mine, part)))
            parts.sort(key=lambda p: (p[0], p[1]))
    if len(parts) < 2:
        return None
    out: FloatArray = parts[0][2] + parts[1][2]
    return out


def _spread(n: int, index: IntArray, values: FloatArray) -> FloatArray:
    out = np.zeros(n)
    out[index] = values
    return out


def _as_full(st: _State, cols: IntArray, values: FloatArray) -> FloatArray:
    full = np.zeros(st.units.size)
    full[cols] = values
    return full


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
