"""Fast re-plans: the planner's LP relaxation rounded up to whole serving units, then repaired.

Rounding every allocation up keeps each demand and N-1 requirement met (they ask for at
least so much throughput, and rounding up only adds) and every vendor used by the LP stays
used (min_vendors). Two things need repair: an offer whose capacity the rounded-up units
exceed gets its columns rounded down instead (which can leave a sliver of demand short), and
a gang job the LP spread over several offers is placed whole on the offer the LP leaned on
most. Otherwise the cost is at most one serving unit per allocation above the LP bound.

Share caps can be overshot by the rounding, mostly when a gang job lands whole on one
vendor. Then, before giving up, two cheap repairs are tried, each an LP solve: each gang job
pinned in turn to each of the few offers the LP leaned on most (the rest of the portfolio
re-balances around it; the cheapest rounding that keeps the caps wins), then the LP with
slightly tighter caps so rounding up has room. Only when both fail does the caller solve
the MILP. Used when re-planning thousands of scenarios, where a MILP per re-plan (tens of
milliseconds for tiny models, seconds for a catalog-sized one with a gang job under caps)
would dominate. Every step is a deterministic function of the problem.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from chipfolio.planner import (
    SHARE_MARGINS,
    FloatArray,
    Formulation,
    IntArray,
    LpSession,
    Problem,
    SolveOptions,
    Solver,
    Structure,
    WorkloadKind,
    round_plan,
    shares_hold,
    tighten_shares,
)
from chipfolio.planner import Model as Built
from chipfolio.planner import build_model as build
from chipfolio.simulation.model import Schedule

ROUNDING_TOLERANCE = 1e-7
GANG_CANDIDATES = 4
TIGHTER_CAPS = SHARE_MARGINS[1:]
BOUND_MARGIN = 1e-6
"""Relative slack on an LP bound before it rules a rounding out (solver tolerances)."""


@dataclass(frozen=True, eq=False)
class Rounded:
    """A rounded LP answer: a schedule (None if the LP is infeasible) and whether it is valid.

    ``valid`` is False when rounding broke a share cap and no repair kept it; the caller then
    solves exactly. ``cost`` is the rounded plan's objective and ``bound`` the LP optimum, a
    lower bound on every whole plan; ``lps`` counts the LP solves it took.
    """

    schedule: Schedule | None
    valid: bool
    cost: float = math.inf
    bound: float = -math.inf
    lps: int = 1

    @property
    def gap(self) -> float:
        """How far above the LP bound the rounded plan costs, relative to its cost."""
        if not (math.isfinite(self.cost) and math.isfinite(self.bound)):
            return math.inf
        return max(self.cost - self.bound, 0.0) / max(abs(self.cost), 1e-9)


@dataclass(frozen=True, eq=False)
class _Try:
    """Units for the columns of ``built`` and what they cost (the LP's objective)."""

    built: Built
    units: FloatArray
    cost: float


def lp_rounded_schedule(
    problem: Problem,
    solver: Solver,
    options: SolveOptions,
    *,
    built: Built | None = None,
    cap_tolerance: float = 0.0,
    repair: bool = True,
    session: LpSession | None = None,
) -> Rounded:
    """A schedule from the rounded LP relaxation, checked against the share caps.

    ``built`` reuses a model already built for ``problem``; ``cap_tolerance`` is how far
    (in share of total cost) a vendor may exceed the cap before the answer is invalid;
    ``repair`` tries the gang placements and tighter caps above when the first rounding
    breaks a cap. ``session`` solves the LPs on one reused HiGHS instance (same answers)
    when ``solver`` is HiGHS.
    """
    built = built or build(problem, prune_pairs=options.prune)
    lp_options = dataclasses.replace(options, relax=True)
    lp = _Lp(solver, lp_options, session if solver.name == "highs" else None)
    first = _solve_lp(built, built.formulation, lp)
    if first is None:
        return Rounded(None, valid=True)
    x, bound = first
    attempt = _round(built, x)
    lps = 1
    valid = caps_hold(built.problem, built.structure, attempt.units, cap_tolerance)
    if not valid and repair:
        fixed, tries = _repair_caps(built, x, lp, cap_tolerance)
        lps += tries
        if fixed is not None:
            attempt, valid = fixed, True
    schedule = schedule_from_units(
        problem, attempt.built.problem, attempt.built.structure, attempt.units
    )
    return Rounded(schedule, valid, attempt.cost, bound, lps)


@dataclass(frozen=True, eq=False)
class _Lp:
    """How LP relaxations are solved: ``session`` when set, else ``solver``."""

    solver: Solver
    options: SolveOptions
    session: LpSession | None

    def solve(self, form: Formulation) -> tuple[FloatArray, float] | None:
        if self.session is not None:
            return self.session.solve(form)
        result = self.solver.solve(form, self.options)
        if not result.status.has_solution or result.objective is None:
            return None
        return result.value(), float(result.objective)


def _solve_lp(built: Built, form: Formulation, lp: _Lp) -> tuple[FloatArray, float] | None:
    """The LP optimum's allocation columns and objective, or None when infeasible."""
    solved = lp.solve(form)
    if solved is None:
        return None
    values, objective = solved
    block = built.formulation.var_blocks["x"]
    x = np.maximum(values[block.offset : block.stop], 0.0)[: built.structure.n_cols]
    return x, objective


def _round(built: Built, x: FloatArray) -> _Try:
    return _priced(built, round_units(built.structure, x))


def _priced(built: Built, units: FloatArray) -> _Try:
    form = built.formulation
    block = form.var_blocks["x"]
    cost = float(form.c[block.offset : block.offset + units.size] @ units)
    return _Try(built, units, cost + form.objective_offset)


def _cheapest_valid(
    built: Built, x: FloatArray, tolerance: float, floor: float = -math.inf, beat: float = math.inf
) -> _Try | None:
    """The cheaper of two roundings of ``x`` that keeps the share caps, if any does.

    Rounding every column up, and the planner's own rounding (round down, then fill each
    demand at least cost, which buys one unit where rounding up bought one per column).
    The planner's rounding, the dearer to compute, is skipped when it cannot win: when
    ``floor`` (the LP bound of ``built``, below which no whole plan of it costs) is not below
    both the first rounding's cost and ``beat`` (what the caller already has).
    """
    first = round_units(built.structure, x)
    found = []
    if caps_hold(built.problem, built.structure, first, tolerance):
        found.append(_priced(built, first))
    to_beat = min([beat, *(t.cost for t in found)])
    if floor < to_beat - BOUND_MARGIN * max(abs(to_beat), 1.0):
        units = _planner_rounding(built, x)
        if units is not None and caps_hold(built.problem, built.structure, units, tolerance):
            found.append(_priced(built, units))
    return min(found, key=lambda t: t.cost) if found else None


def _planner_rounding(built: Built, x: FloatArray) -> FloatArray | None:
    full = np.zeros(built.formulation.n_cols)
    full[: x.size] = x
    return round_plan(built.problem, built.structure, built.formulation, full)


def _repair_caps(built: Built, x: FloatArray, lp: _Lp, tolerance: float) -> tuple[_Try | None, int]:
    """A rounding that keeps the share caps, and how many LPs were solved to find it.

    First each gang job pinned to each of its ``GANG_CANDIDATES`` likeliest offers (the
    cheapest valid rounding among them), then the LP with caps tighter by each of
    ``TIGHTER_CAPS`` in turn (the first valid rounding).
    """
    lps = 0
    best: _Try | None = None
    for pinned in _gang_pins(built, x):
        lps += 1
        solved = _solve_lp(pinned, pinned.formulation, lp)
        attempt = None
        if solved is not None:
            beat = math.inf if best is None else best.cost
            attempt = _cheapest_valid(pinned, solved[0], tolerance, solved[1], beat)
        if attempt is not None and (best is None or attempt.cost < best.cost):
            best = attempt
    if best is not None:
        return best, lps
    cap = built.problem.policy.max_share
    for margin in (0.0, *TIGHTER_CAPS):
        if cap - margin <= 0.0:
            break
        if margin > 0.0:
            lps += 1
            tight = tighten_shares(built.formulation, margin, cap)
            solved = _solve_lp(built, tight, lp)
            if solved is None:
                break
            x = solved[0]
        attempt = _cheapest_valid(built, x, tolerance)
        if attempt is not None:
            return attempt, lps
    return None, lps


def _gang_pins(built: Built, x: FloatArray) -> list[Built]:
    """Variants of ``built`` with one gang job allowed on a single offer each.

    Per gang job, its ``GANG_CANDIDATES`` offers with the largest LP share (ties: the
    planner's pair order), so the choice is a function of the LP answer alone. A variant is
    the same model with the job's columns on every other offer bounded to zero (no rebuild).
    """
    s = built.structure
    form = built.formulation
    gang_pair = s.pair_gang_units > 0
    if not gang_pair.any():
        return []
    share = _pair_shares(s, x)
    x_offset = form.var_blocks["x"].offset
    out: list[Built] = []
    for w in np.unique(s.pair_workload[gang_pair]).tolist():
        pairs = np.flatnonzero(gang_pair & (s.pair_workload == w))
        order = pairs[np.lexsort((pairs, -share[pairs]))][:GANG_CANDIDATES]
        of_job = s.col_workload == w
        for pair in order.tolist():
            closed = x_offset + np.flatnonzero(of_job & (s.col_pair != pair))
            upper = form.col_upper.copy()
            upper[closed] = 0.0
            pinned = dataclasses.replace(form, col_upper=upper)
            out.append(dataclasses.replace(built, formulation=pinned))
    return out


def _pair_shares(s: Structure, x: FloatArray) -> FloatArray:
    """Per (workload, offer) pair, the share of its gang job the LP put there (0: no gang).

    A whole-job column's x is the share of the job itself; other columns count units.
    """
    units_in_x = np.where(s.col_whole_job, s.pair_gang_units[s.col_pair], 1.0)
    share = np.zeros(s.pair_workload.shape[0])
    np.add.at(share, s.col_pair, x * units_in_x)
    out: FloatArray = np.divide(
        share, s.pair_gang_units, out=np.zeros_like(share), where=s.pair_gang_units > 0
    )
    return out


def caps_hold(problem: Problem, s: Structure, units: FloatArray, tolerance: float = 0.0) -> bool:
    """True when no vendor's cost share (commitments included) exceeds the cap + tolerance."""
    return shares_hold(problem, s, units, tolerance)


def round_units(s: Structure, x: FloatArray) -> FloatArray:
    """Whole serving units per column: up, then down where capacity would be exceeded."""
    units = np.ceil(x - ROUNDING_TOLERANCE)
    units = np.minimum(np.maximum(units, 0.0), s.col_upper)
    gang_col = s.pair_gang_units[s.col_pair] > 0
    units = _place_gangs(s, x, units, gang_col)
    return _repair_capacity(s, x, units, gang_col)


def _place_gangs(
    s: Structure, x: FloatArray, units: FloatArray, gang_col: np.ndarray
) -> FloatArray:
    """Each gang job whole on the (workload, offer) pair with the largest LP share."""
    if not gang_col.any():
        return units
    out = units.copy()
    out[gang_col] = 0.0
    share = _pair_shares(s, x)
    for w in np.unique(s.col_workload[gang_col]).tolist():
        pairs = np.flatnonzero((s.pair_workload == w) & (s.pair_gang_units > 0))
        pairs = pairs[np.isin(pairs, s.col_pair[gang_col])]
        if not pairs.size or share[pairs].max() <= ROUNDING_TOLERANCE:
            continue
        best = int(pairs[np.argmax(share[pairs])])
        need = float(s.pair_gang_units[best])
        cols = np.flatnonzero(s.col_pair == best)
        cols = cols[np.argsort(~s.virtual.committed[s.col_virtual[cols]], kind="stable")]
        for col in cols.tolist():  # the committed (already paid) part first
            if s.col_whole_job[col]:
                out[col] = 1.0 if need > 0 else 0.0
                need = 0.0
                continue
            take = min(need, float(s.col_upper[col]))
            out[col] = take
            need -= take
    return out


def _repair_capacity(
    s: Structure, x: FloatArray, units: FloatArray, gang_col: np.ndarray
) -> FloatArray:
    """Round down the columns running on an offer at a moment it would be overfilled.

    The planner checks finite capacities at every moment use can rise (``check_*``); the
    same moments are checked here.
    """
    if not s.check_virtual.size:
        return units
    chips = units * s.col_chips_per_x
    used = np.bincount(
        s.check_inc_row, weights=chips[s.check_inc_col], minlength=s.check_virtual.size
    )
    over = used > s.virtual.capacity_chips[s.check_virtual] * (1.0 + 1e-12)
    if not over.any():
        return units
    fix = np.zeros(units.shape[0], dtype=bool)
    fix[s.check_inc_col[over[s.check_inc_row]]] = True
    fix &= ~gang_col
    out = units.copy()
    out[fix] = np.floor(x[fix] + ROUNDING_TOLERANCE)
    return out


def schedule_from_units(
    problem: Problem, pruned: Problem, s: Structure, units: FloatArray
) -> Schedule:
    """Serving units per column as a schedule over ``problem``'s workloads and offers."""
    n_w, n_o = len(problem.workloads), len(problem.offers)
    used = np.flatnonzero(units > 0)
    w_map = _index_map(problem.workloads.names, pruned.workloads.names)
    o_map = _index_map(problem.offers.ids, pruned.offers.ids)
    training = pruned.workloads.kinds != WorkloadKind.INFERENCE.value
    col_w = s.col_workload[used]
    end = s.col_end_hour[used]
    # a training job keeps its chips until its tokens are done, not until the planned end
    end = np.where(training[col_w] & (end >= s.workload_end_hour[col_w] - 1e-9), np.inf, end)
    return build_schedule(
        (n_w, n_o),
        w_map[col_w],
        o_map[s.col_offer[used]],
        units[used] * s.col_instances_per_x[used],
        s.col_start_hour[used],
        end,
        pruned.horizon_hours,
    )


def _index_map(names: np.ndarray, subset: np.ndarray) -> IntArray:
    """Where each of ``subset`` sits in ``names`` (pruning keeps the same tables, so mostly
    ``subset`` is ``names`` itself)."""
    if subset is names:
        return np.arange(names.shape[0], dtype=np.int64)
    where = {name: i for i, name in enumerate(names.tolist())}
    return np.array([where[n] for n in subset.tolist()], dtype=np.int64)


def build_schedule(
    shape: tuple[int, int],
    workloads: IntArray,
    offers: IntArray,
    instances: FloatArray,
    starts: FloatArray,
    ends: FloatArray,
    horizon_hours: float,
) -> Schedule:
    """Instances running on ``[starts, ends)`` per (workload, offer), as a schedule."""
    bounds = np.unique(np.concatenate([[0.0], starts, ends[np.isfinite(ends)]]))
    bounds = bounds[bounds < horizon_hours - 1e-9]
    hours: list[float] = []
    mats: list[FloatArray] = []
    for hour in bounds.tolist():
        running = (starts <= hour + 1e-9) & (ends > hour + 1e-9)
        matrix = np.zeros(shape)
        np.add.at(matrix, (workloads[running], offers[running]), instances[running])
        if mats and np.array_equal(mats[-1], matrix):
            continue
        hours.append(float(hour))
        mats.append(matrix)
    if not hours or hours[0] != 0.0:
        hours.insert(0, 0.0)
        mats.insert(0, np.zeros(shape))
    return Schedule(tuple(hours), tuple(mats))
