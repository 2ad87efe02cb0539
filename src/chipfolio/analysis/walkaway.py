"""Walk-away search: the largest price multiplier at which a vendor is still worth buying.

Let ``C(m)`` be the optimal plan cost when every price of vendor v is multiplied by ``m`` and
``W`` the optimal cost with v removed. Each plan x costs ``O(x) + m * V(x)`` (other vendors'
cost plus v's cost at unit prices), so ``C(m)`` — the minimum over plans — is concave,
piecewise linear and non-decreasing in ``m``, and v is worth buying exactly while ``C(m) < W``.
The walk-away multiplier is ``m* = sup {m : C(m) < W}``.

Newton (Dinkelbach) step. A plan solved at ``m_k`` gives the line ``L_k(m) = O_k + m V_k``, an
upper bound on ``C`` everywhere because that plan stays feasible at every ``m``. The step
``m_{k+1} = (W - O_k) / V_k`` is where that line meets ``W``, hence ``C(m_{k+1}) <= W``. If the
solve there reaches ``W``, then ``C(m) <= L_k(m) < W`` for all ``m < m_{k+1}`` and the
breakpoint is exactly ``m_{k+1}``; otherwise the new plan has a smaller slope and we step
again. A handful of solves reach the exact breakpoint.

The argument needs exact solves and the plan to stay feasible up to the step. A cost-share
cap (``max_share``) makes feasibility depend on ``m``: raising v's prices raises v's share, so
plan k is only feasible up to ``valid_until = s O_k / ((1 - s) V_k)`` (other vendors' shares
only fall as ``m`` grows). Each solve carries that bound; when the Newton step lies beyond it,
the search steps to the bound instead (where plan k still proves ``C < W``) and continues from
the new plan, so the answer stays exact. When a plan sits exactly at its cap (no room to step)
or a MILP is solved only to a gap, the candidate is checked by one probe just below it and, if
that probe fails, the breakpoint is bracketed by bisection.

This module knows nothing about the planner: it drives an ``evaluate(m)`` callable, so the
search is tested against functions with known breakpoints.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class PricedSolve:
    """One optimal (or best-found) plan with vendor v's prices scaled by ``multiplier``.

    ``valid_until`` bounds the multipliers at which the same plan stays feasible (a share cap
    on v); ``cost_usd`` is the plan's total cost at the scaled prices; ``vendor_unit_cost_usd`` is
    what the plan pays vendor v measured at unit prices (including fixed commitments), so
    the plan's cost line is ``cost_usd - multiplier * vendor_unit_cost_usd + m *
    vendor_unit_cost_usd``. ``exact`` is False when the solve stopped at a gap.
    """

    multiplier: float
    cost_usd: float
    vendor_unit_cost_usd: float
    exact: bool = True
    valid_until: float = math.inf  # largest multiplier at which this plan stays feasible
    valid_from: float = math.inf  # smallest such multiplier below ``multiplier`` (inf: unknown)
    bound_usd: float | None = None  # proven lower bound on C(m) (None: cost if exact)

    @property
    def proven_lower_usd(self) -> float:
        if self.bound_usd is not None:
            return self.bound_usd
        return self.cost_usd if self.exact else -math.inf

    @property
    def other_cost_usd(self) -> float:
        """The plan's cost outside vendor v (does not depend on the multiplier)."""
        return self.cost_usd - self.multiplier * self.vendor_unit_cost_usd

    def line_meets(self, level_usd: float) -> float:
        """The multiplier at which this plan's cost line reaches ``level_usd``."""
        return (level_usd - self.other_cost_usd) / self.vendor_unit_cost_usd


class SearchMethod(StrEnum):
    """How the walk-away multiplier was found."""

    NEWTON = "newton"  # exact breakpoint from Newton steps
    NEWTON_CHECKED = "newton_checked"  # Newton candidate confirmed by a probe just below it
    BISECTION = "bisection"  # bracketed to the tolerance
    NOT_WORTH_BUYING = "not_worth_buying"  # not worth buying even at zero price
    AT_LEAST = "at_least"  # a certified lower bound: the budget or a time limit ended the search
    NO_CONVERGENCE = "no_convergence"  # no bound at all


@dataclass(frozen=True, slots=True)
class WalkAwaySearch:
    """Result of the search: the multiplier (None when there is none) and its bracket."""

    multiplier: float | None
    method: SearchMethod
    solves: int
    lower: float | None = None  # largest multiplier seen where the vendor is worth buying
    upper: float | None = None  # smallest multiplier seen where it is not


@dataclass(frozen=True, slots=True)
class SearchSettings:
    """Tolerances of the search.

    ``cost_rel_tol`` decides "C(m) reached W" (relative to W; make it at least the MILP gap);
    ``multiplier_rel_tol`` is the bracket width at which bisection stops;
    ``floor_multiplier`` is where the search starts for a vendor not worth buying today
    (0 = free; a small positive value keeps free capacity from being bought at random).
    """

    cost_rel_tol: float = 1e-6
    multiplier_rel_tol: float = 1e-3
    max_solves: int = 40  # beyond it the search reports its certified lower bound
    newton_is_exact: bool = True
    floor_multiplier: float = 0.0


Evaluate = Callable[[float], PricedSolve]


@dataclass
class _Search:
    evaluate: Evaluate
    without_usd: float
    settings: SearchSettings
    solves: int = 0

    def run(self, m: float) -> PricedSolve:
        self.solves += 1
        return self.evaluate(m)

    def tol(self) -> float:
        return self.settings.cost_rel_tol * max(abs(self.without_usd), 1.0)

    def worth(self, solve: PricedSolve) -> bool:
        """A plan cheaper than W was found (certain: it is feasible)."""
        return solve.cost_usd < self.without_usd - self.tol()

    def proven_not_worth(self, solve: PricedSolve) -> bool:
        """The solver proved no plan is cheaper than W (beyond the tolerance)."""
        return solve.proven_lower_usd >= self.without_usd - self.tol()

    def left(self) -> int:
        return self.settings.max_solves - self.solves

    def result(
        self, m: float | None, method: SearchMethod, lo: float | None, hi: float | None
    ) -> WalkAwaySearch:
        return WalkAwaySearch(m, method, self.solves, lo, hi)

    def at_least(self, lo: float, hi: float | None = None) -> WalkAwaySearch:
        """Stop at ``lo``, the largest multiplier proven worth buying (a certified bound)."""
        return self.result(lo, SearchMethod.AT_LEAST, lo, hi)


def search_walk_away(
    evaluate: Evaluate,
    cost_without_usd: float,
    at_current: PricedSolve,
    settings: SearchSettings | None = None,
) -> WalkAwaySearch:
    """Find ``m*`` for one vendor.

    ``at_current`` is the already-solved plan at today's prices (multiplier 1, usually the
    base plan, so it costs no solve); ``evaluate(m)`` solves the problem with the vendor's
    prices times ``m``; ``cost_without_usd`` is the optimal cost without the vendor.
    """
    search = _Search(evaluate, cost_without_usd, settings or SearchSettings())
    start = at_current
    if not search.worth(start):
        below = _from_above(search, start)
        if isinstance(below, WalkAwaySearch):
            return below
        start = below
    lo, hi, exact_step = _newton(search, start)
    if hi is None:
        certain = _certified(search, lo)
        return search.result(certain, SearchMethod.AT_LEAST, certain, None)
    # lo's line bounds C from above whether or not lo was solved to optimality, so a proof
    # that hi is not worth buying pins the breakpoint at hi
    exact = search.settings.newton_is_exact and exact_step
    if exact and search.proven_not_worth(hi):
        return search.result(hi.multiplier, SearchMethod.NEWTON, lo.multiplier, hi.multiplier)
    if exact_step and not search.proven_not_worth(hi):
        # a time limit left the last step open: lo's line still certifies everything below it
        return search.result(hi.multiplier, SearchMethod.AT_LEAST, hi.multiplier, None)
    return _confirm_or_bisect(search, lo, hi)


def _from_above(search: _Search, above: PricedSolve) -> PricedSolve | WalkAwaySearch:
    """A worth-buying starting point below a multiplier where the vendor is not worth it.

    If today's plan buys from the vendor, its own cost line meets W at ``m_b < 1``; where the
    plan stays feasible (``valid_from`` up), ``C <= line < W`` below ``m_b``, so the vendor is
    worth buying there and ``m* >= m_b``. One solve at ``m_b`` then either proves
    ``m* = m_b`` or gives the next Newton step. Below ``valid_from`` the line proves nothing,
    but ``m_b`` is still probed first: it is usually worth buying there, and a start much
    nearer ``m*`` than the floor saves Newton steps. Otherwise the search starts from the
    floor.
    """
    if above.vendor_unit_cost_usd > 0.0 and search.left() > 0:
        m_b = above.line_meets(search.without_usd)
        if m_b >= above.multiplier:
            # today's plan is within the tolerance below W: start where its line is a full
            # tolerance below W instead (a plan there counts as worth buying)
            m_b = above.line_meets(search.without_usd - search.tol())
        if search.settings.floor_multiplier < m_b < above.multiplier:
            # below valid_from the line is no bound (another vendor's cap may break), but m_b
            # is still the likeliest worth-buying start: much nearer m* than the floor
            probe = search.run(m_b)
            if search.worth(probe):
                return probe
            certain = above.valid_from <= m_b and search.settings.newton_is_exact
            if certain and search.proven_not_worth(probe):
                return search.result(m_b, SearchMethod.NEWTON, m_b, m_b)
    floor = search.run(search.settings.floor_multiplier)
    if not search.worth(floor):
        return search.result(None, SearchMethod.NOT_WORTH_BUYING, None, 0.0)
    return floor


def _certified(search: _Search, lo: PricedSolve) -> float:
    """Largest multiplier up to which ``lo``'s cost line proves the vendor worth buying."""
    if lo.vendor_unit_cost_usd <= 0.0:
        return lo.multiplier
    reach = min(lo.line_meets(search.without_usd), lo.valid_until)
    return max(lo.multiplier, reach) if math.isfinite(reach) else lo.multiplier


def _newton(search: _Search, start: PricedSolve) -> tuple[PricedSolve, PricedSolve | None, bool]:
    """Newton steps from a point where the vendor is worth buying.

    Returns the last worth-buying solve, the first solve where it was not (None when the
    solve budget ran out first) and whether that last step was a full Newton step (inside
    the plan's ``valid_until``), i.e. whether the breakpoint is exact.
    """
    lo = start
    rel = search.settings.multiplier_rel_tol
    while search.left() > 0:
        if lo.vendor_unit_cost_usd <= 0.0:
            # cheaper than W while buying nothing from v: W was not the optimum without v
            return lo, None, False
        target = lo.line_meets(search.without_usd)
        if not math.isfinite(target) or target <= lo.multiplier:
            return lo, None, False
        full_step = target <= lo.valid_until
        room = lo.valid_until > lo.multiplier * (1 + rel)
        # beyond valid_until the line is no bound: step to the bound, or (no room: the plan
        # sits at its cap) try the target itself and bracket if it overshoots
        m_next = target if full_step or not room else lo.valid_until
        probe = search.run(m_next)
        if not search.worth(probe):
            return lo, probe, full_step
        lo = probe
    return lo, None, False


def _confirm_or_bisect(search: _Search, lo: PricedSolve, hi: PricedSolve) -> WalkAwaySearch:
    """Bracket ``m*`` in ``[lo, hi]`` when the Newton argument is not exact.

    First one probe just below ``hi`` (confirms a Newton candidate that was right after all).
    Then the bracket shrinks by false position on ``g(m) = C(m) - W`` (Illinois variant, so
    neither end stalls) where ``g(hi)`` carries a slope, by halving where it does not; each
    false-position point found too high is checked just below, as above.

    Only a proof moves the upper end: a probe that neither finds a plan cheaper than W nor
    proves there is none (a time limit) ends the search at its certified lower bound.
    """
    rel = search.settings.multiplier_rel_tol
    w = search.without_usd
    lo_m, lo_g = lo.multiplier, lo.cost_usd - w
    hi_m, hi_g = hi.multiplier, hi.cost_usd - w
    if not search.proven_not_worth(hi):
        return search.at_least(lo_m)
    if hi_m * (1.0 - rel) > lo_m and search.left() > 0:
        below = search.run(hi_m * (1.0 - rel))
        if search.worth(below):
            return search.result(hi_m, SearchMethod.NEWTON_CHECKED, below.multiplier, hi_m)
        if not search.proven_not_worth(below):
            return search.at_least(lo_m)
        hi_m, hi_g = below.multiplier, below.cost_usd - w
    kept = ""  # which end stayed put last time (Illinois halves its g)
    while hi_m - lo_m > rel * hi_m and search.left() > 0:
        width = hi_m - lo_m
        slope = hi_g > 0.0 and lo_g < 0.0
        mid = hi_m - hi_g * width / (hi_g - lo_g) if slope else lo_m + 0.5 * width
        mid = min(max(mid, lo_m + 0.01 * width), hi_m - 0.01 * width)
        probe = search.run(mid)
        if search.worth(probe):
            lo_m, lo_g = mid, probe.cost_usd - w
            hi_g, kept = (hi_g * 0.5, "hi") if kept == "hi" else (hi_g, "hi")
            continue
        if not search.proven_not_worth(probe):
            return search.at_least(lo_m)
        hi_m, hi_g = mid, probe.cost_usd - w
        lo_g, kept = (lo_g * 0.5, "lo") if kept == "lo" else (lo_g, "lo")
        if slope and mid * (1.0 - rel) > lo_m and search.left() > 0:
            below = search.run(mid * (1.0 - rel))
            if search.worth(below):
                return search.result(mid, SearchMethod.BISECTION, below.multiplier, mid)
            if not search.proven_not_worth(below):
                return search.at_least(lo_m)
            hi_m, hi_g = below.multiplier, below.cost_usd - w
    if hi_m - lo_m > rel * hi_m:  # the solve budget ended with the bracket still wide
        return search.at_least(lo_m, hi_m)
    return search.result(lo_m, SearchMethod.BISECTION, lo_m, hi_m)
