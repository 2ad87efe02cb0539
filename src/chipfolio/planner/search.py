"""Local search on a whole-unit plan: each slot emptied and refilled at least cost.

Moves are judged at the LP's prices of share caps and capacity first, then at true cost; a
move is kept only when it keeps capacity and share caps (see ``improve_plan``).
"""

from __future__ import annotations

import math
import time

import numpy as np

from chipfolio.planner.model import Formulation
from chipfolio.planner.problem import BoolArray, FloatArray, IntArray, Problem
from chipfolio.planner.rounding import _fill_enumerate
from chipfolio.planner.structure import Structure
from chipfolio.planner.units import EPS, _as_full, _Spend, _spread, _State

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
