"""Fast re-plans: the planner's LP relaxation rounded up to whole serving units, then repaired.

Rounding every allocation up keeps each demand and N-1 requirement met (they ask for at
least so much throughput, and rounding up only adds) and every vendor used by the LP stays
used (min_vendors). Two things need repair: an offer whose capacity the rounded-up units
exceed gets its columns rounded down instead (which can leave a sliver of demand short), and
a gang job the LP spread over several offers is placed whole on the offer the LP leaned on
most. Share caps can be overshot by the rounding: the answer says whether they hold (within
a tolerance the caller chooses) and the caller solves the MILP when they do not. Otherwise
the cost is at most one serving unit per allocation above the LP bound. Used when
re-planning thousands of scenarios, where a MILP per re-plan (tens of milliseconds for tiny
models, up to seconds for catalog-sized ones) would dominate.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from chipfolio.planner.problem import FloatArray, IntArray, Problem, WorkloadKind
from chipfolio.planner.solve import Built, build
from chipfolio.planner.solvers.base import SolveOptions, Solver
from chipfolio.planner.structure import Structure
from chipfolio.simulation.model import Schedule

ROUNDING_TOLERANCE = 1e-7


@dataclass(frozen=True, eq=False)
class Rounded:
    """A rounded LP answer: a schedule (None if the LP is infeasible) and whether it is valid.

    ``valid`` is False when rounding broke a share cap; the caller then solves exactly.
    """

    schedule: Schedule | None
    valid: bool


def lp_rounded_schedule(
    problem: Problem,
    solver: Solver,
    options: SolveOptions,
    *,
    built: Built | None = None,
    cap_tolerance: float = 0.0,
) -> Rounded:
    """A schedule from the rounded LP relaxation, checked against the share caps.

    ``built`` reuses a model already built for ``problem``; ``cap_tolerance`` is how far
    (in share of total cost) a vendor may exceed the cap before the answer is invalid.
    """
    built = built or build(problem, prune_pairs=options.prune)
    result = solver.solve(built.formulation, dataclasses.replace(options, relax=True))
    if not result.status.has_solution:
        return Rounded(None, valid=True)
    block = built.formulation.var_blocks["x"]
    x = np.maximum(result.value()[block.offset : block.stop], 0.0)[: built.structure.n_cols]
    units = round_units(built.structure, x)
    valid = caps_hold(built.problem, built.structure, units, cap_tolerance)
    return Rounded(schedule_from_units(problem, built.problem, built.structure, units), valid)


def caps_hold(problem: Problem, s: Structure, units: FloatArray, tolerance: float = 0.0) -> bool:
    """True when no vendor's cost share (commitments included) exceeds the cap + tolerance."""
    share = problem.policy.max_share
    if share >= 1.0:
        return True
    n = len(s.labels)
    cost = np.bincount(s.col_label, weights=units * s.col_usd_per_x, minlength=n)
    cost = cost + np.bincount(s.offer_label, weights=s.fixed_usd_by_offer, minlength=n)
    total = float(cost.sum())
    return bool((cost <= (share + tolerance) * total + 1e-9 * max(total, 1.0)).all())


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
    # a whole-job column's x is the share of the job itself; other columns count units
    units_in_x = np.where(s.col_whole_job, s.pair_gang_units[s.col_pair], 1.0)
    share = np.zeros(s.pair_workload.shape[0])
    np.add.at(share, s.col_pair[gang_col], (x * units_in_x)[gang_col])
    share = np.divide(
        share, s.pair_gang_units, out=np.zeros_like(share), where=s.pair_gang_units > 0
    )
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
    w_of = {name: i for i, name in enumerate(problem.workloads.names.tolist())}
    o_of = {oid: i for i, oid in enumerate(problem.offers.ids.tolist())}
    w_map = np.array([w_of[n] for n in pruned.workloads.names.tolist()], dtype=np.int64)
    o_map = np.array([o_of[i] for i in pruned.offers.ids.tolist()], dtype=np.int64)
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
