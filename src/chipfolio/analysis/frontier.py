"""Cost-versus-concentration frontier: plan cost as the vendor-share cap tightens.

Tightening ``max_share`` only removes plans, so cost never falls as the cap goes down and once
a cap is infeasible every tighter one is too. The frontier is traced on a grid from 1.0 down
(step 0.05 by default) until the first infeasible cap, then the tightest feasible cap is found
by bisection between the last feasible and the first infeasible grid point. No cap below
``1 / number of vendors`` can be feasible (shares sum to one), so the grid stops there (when
the grid does not land on it, the last probe is half a tolerance above it).

A plan solved at cap c whose largest vendor share is r <= c is also optimal for every cap in
[r, c] (it is feasible there, and a tighter cap cannot do better), so grid points in that range
reuse it without a solve, and a bisection probe that lands on such a plan jumps to r.

Like the walk-away search, this module drives an ``evaluate(cap)`` callable and knows nothing
about the planner.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class PointStatus(StrEnum):
    """What the solve at one cap found."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"  # a plan, proven only to the gap
    INFEASIBLE = "infeasible"
    UNKNOWN = "unknown"  # the time limit hit before any plan was found

    @property
    def has_plan(self) -> bool:
        return self in (PointStatus.OPTIMAL, PointStatus.FEASIBLE)


@dataclass(frozen=True, slots=True)
class FrontierPoint:
    """Plan cost at one cap (``cost_usd`` None without a plan)."""

    max_share: float
    cost_usd: float | None
    status: PointStatus
    tightest: bool = False
    max_share_used: float | None = None  # the plan's largest vendor share (<= max_share)

    def at_cap(self, cap: float) -> FrontierPoint:
        """The same plan reported at another cap it also satisfies."""
        return FrontierPoint(cap, self.cost_usd, self.status, False, self.max_share_used)

    def covers(self, cap: float) -> bool:
        """True when this point's plan is also optimal at ``cap``."""
        used = self.max_share_used
        return self.status.has_plan and used is not None and used - 1e-12 <= cap <= self.max_share

    def to_json(self) -> dict[str, object]:
        return {
            "max_share": round(self.max_share, 6),
            "cost_usd": self.cost_usd,
            "status": self.status.value,
            "tightest": self.tightest,
            "max_share_used": None
            if self.max_share_used is None
            else round(self.max_share_used, 6),
        }


@dataclass(frozen=True, slots=True)
class Frontier:
    """Points ordered from the loosest cap (1.0) to the tightest evaluated one."""

    points: tuple[FrontierPoint, ...]
    tightest_feasible_max_share: float | None
    solves: int
    # whether no cap tighter than it (by more than the tolerance) has a plan: False when a
    # point below was left unknown (a work or time limit) rather than proven infeasible
    tightest_proven: bool = True

    def to_json(self) -> list[dict[str, object]]:
        return [p.to_json() for p in self.points]


EvaluateCap = Callable[[float], FrontierPoint]


def cap_grid(step: float, floor: float) -> list[float]:
    """Caps 1.0, 1.0 - step, ... down to (not below) ``floor``, rounded to clean decimals."""
    if not 0.0 < step < 1.0:
        raise ValueError("step must be in (0, 1)")
    count = math.floor((1.0 - floor) / step + 1e-9)
    return [round(1.0 - i * step, 10) for i in range(count + 1)]


def trace_frontier(
    evaluate: EvaluateCap,
    n_vendors: int,
    *,
    step: float = 0.05,
    cap_tol: float = 1e-3,
) -> Frontier:
    """Trace the frontier and pin the tightest feasible cap to within ``cap_tol``."""
    floor = 1.0 / max(n_vendors, 1)
    points: list[FrontierPoint] = []
    solves = 0
    last_ok: FrontierPoint | None = None
    first_bad: float | None = None
    for cap in cap_grid(step, floor):
        if last_ok is not None and last_ok.covers(cap):
            last_ok = last_ok.at_cap(cap)
            points.append(last_ok)
            continue
        point = evaluate(cap)
        solves += 1
        points.append(point)
        if not point.status.has_plan:
            first_bad = cap
            break
        last_ok = point
    if last_ok is None:
        return Frontier(tuple(points), None, solves)
    near_floor = floor + 0.5 * cap_tol  # an exactly equal split is rarely feasible, and slow
    if first_bad is None and last_ok.max_share > floor + cap_tol:
        covered = last_ok.covers(near_floor)
        point = last_ok.at_cap(near_floor) if covered else evaluate(near_floor)
        solves += 0 if covered else 1
        if point.status.has_plan:
            last_ok = point
        else:
            first_bad = near_floor
        points.append(point)
    if first_bad is not None:
        tight, extra, probes = _bisect(evaluate, last_ok, first_bad, cap_tol)
        solves += probes
        points.extend(extra)
        last_ok = tight
    marked = [
        FrontierPoint(p.max_share, p.cost_usd, p.status, p is last_ok, p.max_share_used)
        for p in points
    ]
    marked.sort(key=lambda p: (-p.max_share, p.status.has_plan))
    tight_cap = last_ok.max_share
    proven = tight_cap <= floor + cap_tol or any(
        p.status is PointStatus.INFEASIBLE
        and tight_cap - cap_tol - 1e-12 <= p.max_share < tight_cap
        for p in points
    )
    return Frontier(tuple(_dedupe(marked)), tight_cap, solves, proven)


def _bisect(
    evaluate: EvaluateCap, ok: FrontierPoint, bad_cap: float, cap_tol: float
) -> tuple[FrontierPoint, list[FrontierPoint], int]:
    """Shrink ``[bad_cap, ok.max_share]``.

    Returns the tightest feasible point, every point found on the way and the solve count.
    """
    probes: list[FrontierPoint] = []
    solves = 0
    while ok.max_share - bad_cap > cap_tol:
        mid = 0.5 * (ok.max_share + bad_cap)
        point = evaluate(mid)
        solves += 1
        probes.append(point)
        if point.status.has_plan:
            ok = point
            used = point.max_share_used
            if used is not None and bad_cap < used < point.max_share - cap_tol:
                ok = point.at_cap(used)  # the same plan meets the tighter cap it actually uses
                probes.append(ok)
        else:
            bad_cap = mid
    return ok, probes, solves


def _dedupe(points: list[FrontierPoint]) -> list[FrontierPoint]:
    """One point per cap, keeping the tightest mark."""
    seen: dict[float, FrontierPoint] = {}
    for p in points:
        key = round(p.max_share, 9)
        if key not in seen or p.tightest:
            seen[key] = p
    return list(seen.values())
