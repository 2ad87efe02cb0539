"""The walk-away search against cost functions whose breakpoint is known in closed form."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chipfolio.analysis.walkaway import (
    PricedSolve,
    SearchMethod,
    SearchSettings,
    search_walk_away,
)

Line = tuple[float, float]  # (other cost O, vendor cost at unit prices V)


class Oracle:
    """evaluate(m) = the cheapest of the plans ``lines`` at multiplier m; records the calls."""

    def __init__(self, lines: list[Line], exact: bool = True, proven: bool = True) -> None:
        self.lines = lines
        self.exact = exact
        self.proven = proven  # inexact solves still carry a proven bound (a MIP gap)
        self.calls: list[float] = []

    def __call__(self, m: float) -> PricedSolve:
        self.calls.append(m)
        o, v = min(self.lines, key=lambda line: (line[0] + m * line[1], line[1]))
        cost = o + m * v
        bound = cost if self.proven else None
        return PricedSolve(m, cost, v, self.exact, bound_usd=bound)


def true_breakpoint(lines: list[Line], w: float) -> float:
    """sup {m >= 0: min_i O_i + m V_i < W} for lines with V > 0 (W is the no-vendor plan)."""
    candidates = [(w - o) / v for o, v in lines if v > 0 and o < w]
    return max(candidates)


def test_two_vendor_known_answer() -> None:
    # A at $2, B at $3, one chip-hour needed: plan = A (O=0, V=2); without A, W=3 -> m* = 1.5
    evaluate = Oracle([(0.0, 2.0), (3.0, 0.0)])
    result = search_walk_away(evaluate, 3.0, evaluate(1.0))
    assert result.method is SearchMethod.NEWTON
    assert result.multiplier == pytest.approx(1.5)
    assert result.solves == 1  # one Newton step lands on the breakpoint and confirms it


def test_newton_walks_down_the_slopes() -> None:
    # three plans using less and less of the vendor; W = 100
    lines = [(10.0, 60.0), (40.0, 30.0), (70.0, 10.0), (100.0, 0.0)]
    evaluate = Oracle(lines)
    result = search_walk_away(evaluate, 100.0, evaluate(1.0))
    assert result.multiplier == pytest.approx(true_breakpoint(lines, 100.0))  # (100-70)/10 = 3
    assert result.multiplier == pytest.approx(3.0)
    assert result.solves <= 4


def test_vendor_not_bought_today_gets_a_multiplier_below_one() -> None:
    # buying from v costs 5/unit for 1 unit, the alternative costs 4 -> worth it below 0.8
    evaluate = Oracle([(0.0, 5.0), (4.0, 0.0)])
    result = search_walk_away(evaluate, 4.0, evaluate(1.0))
    assert result.multiplier == pytest.approx(0.8)
    assert evaluate.calls[1] == 0.0  # it starts from a free vendor


def test_vendor_useless_even_free_has_no_multiplier() -> None:
    evaluate = Oracle([(4.0, 0.0), (4.0, 1.0)])
    result = search_walk_away(evaluate, 4.0, evaluate(1.0))
    assert result.multiplier is None
    assert result.method is SearchMethod.NOT_WORTH_BUYING


def test_inexact_solves_with_proven_bounds_stay_exact() -> None:
    """Lines of non-optimal plans still bound C, and the cutoff proof pins the breakpoint."""
    lines = [(10.0, 60.0), (40.0, 30.0), (100.0, 0.0)]
    evaluate = Oracle(lines, exact=False)
    tol = 1e-4
    result = search_walk_away(
        evaluate, 100.0, evaluate(1.0), SearchSettings(multiplier_rel_tol=tol)
    )
    assert result.method is SearchMethod.NEWTON
    assert result.multiplier == pytest.approx(2.0)


def test_bisection_when_the_newton_candidate_is_wrong() -> None:
    """A feasible set that changes with m (a share cap) can make the Newton step overshoot."""
    w = 10.0

    def evaluate(m: float) -> PricedSolve:
        # the cheap plan (O=0, V=4) is only allowed for m <= 1.2 (a cap that bites later);
        # beyond, the best plan with v is (O=6, V=1): true breakpoint = min over... = 4.0
        if m <= 1.2:
            cost, v = min((0.0 + 4.0 * m, 4.0), (6.0 + m, 1.0), (w, 0.0))
        else:
            cost, v = min((6.0 + m, 1.0), (w, 0.0))
        return PricedSolve(m, cost, v, exact=False, bound_usd=cost)

    result = search_walk_away(evaluate, w, evaluate(1.0), SearchSettings(multiplier_rel_tol=1e-4))
    assert result.multiplier == pytest.approx(4.0, rel=1e-3)
    assert result.lower is not None and result.upper is not None
    assert result.lower <= 4.0 + 1e-9 <= result.upper + 1e-3


def test_timed_out_probes_never_move_the_upper_end() -> None:
    """The capped case above, but every solve beyond m = 2 runs out of time without a plan.

    Such a probe proves nothing, so the search must not call it "not worth buying": it stops
    at the largest multiplier it has proven (the true breakpoint is 4).
    """
    w = 10.0

    def evaluate(m: float) -> PricedSolve:
        if m > 2.0:  # time limit: no plan cheaper than W found, and no proof either
            return PricedSolve(m, w, 0.0, exact=False, bound_usd=None)
        if m <= 1.2:
            cost, v = min((0.0 + 4.0 * m, 4.0), (6.0 + m, 1.0), (w, 0.0))
        else:
            cost, v = min((6.0 + m, 1.0), (w, 0.0))
        until = 1.2 if v == 4.0 else math.inf  # the cheap plan breaks the cap beyond 1.2
        return PricedSolve(m, cost, v, exact=False, bound_usd=cost, valid_until=until)

    result = search_walk_away(evaluate, w, evaluate(1.0), SearchSettings(multiplier_rel_tol=1e-4))
    assert result.method is SearchMethod.AT_LEAST
    assert result.multiplier is not None and 1.0 <= result.multiplier <= 2.0 + 1e-9
    assert result.upper is None


def test_solve_budget_is_respected_and_gives_a_certified_lower_bound() -> None:
    # tangents of 20 sqrt(m): many pieces, so Newton needs several steps to reach m* = 25
    ts = [1.0 + 0.5 * i for i in range(120)]
    lines = [(10.0 * t**0.5, 10.0 / t**0.5) for t in ts] + [(100.0, 0.0)]
    evaluate = Oracle(lines)
    result = search_walk_away(evaluate, 100.0, evaluate(1.0), SearchSettings(max_solves=3))
    assert result.solves <= 3
    assert len(evaluate.calls) <= 4
    assert result.method is SearchMethod.AT_LEAST
    truth = true_breakpoint(lines, 100.0)
    assert result.multiplier is not None and 1.0 < result.multiplier <= truth + 1e-9
    # below the reported multiplier the vendor is really worth buying
    o, v = min(lines, key=lambda line: line[0] + result.multiplier * 0.999 * line[1])
    assert o + result.multiplier * 0.999 * v < 100.0


def test_unproven_last_step_reports_at_least() -> None:
    """A time limit left the final solve without a proof: the line bound still certifies."""
    evaluate = Oracle([(0.0, 2.0), (3.0, 0.0)], exact=False, proven=False)
    result = search_walk_away(evaluate, 3.0, evaluate(1.0))
    assert result.method is SearchMethod.AT_LEAST
    assert result.multiplier == pytest.approx(1.5)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=90.0), st.floats(min_value=0.01, max_value=80.0)
        ),
        min_size=1,
        max_size=8,
    )
)
def test_newton_finds_the_exact_breakpoint(raw: list[Line]) -> None:
    w = 100.0
    lines = [*raw, (w, 0.0)]
    evaluate = Oracle(lines)
    at_one = evaluate(1.0)
    result = search_walk_away(evaluate, w, at_one, SearchSettings(cost_rel_tol=1e-9))
    truth = true_breakpoint(lines, w)
    worth_free = min(o for o, v in lines if v > 0) < w * (1 - 1e-9)
    if not worth_free:
        assert result.multiplier is None
        return
    assert result.multiplier is not None
    assert math.isclose(result.multiplier, truth, rel_tol=1e-6, abs_tol=1e-9)
    assert result.solves <= len(lines) + 1


def test_a_plan_within_the_tolerance_below_w_starts_near_its_line_not_at_the_floor() -> None:
    """Today's plan costs 99.9 against W = 100 (inside a 0.2% tolerance): not "worth it"
    at today's prices, so the breakpoint is below 1; the first probe is where today's line is
    a full tolerance below W, not the floor."""
    lines = [(99.0, 0.9), (80.0, 20.0), (100.0, 0.0)]  # today: 99.9 via the first line
    evaluate = Oracle(lines)
    settings = SearchSettings(cost_rel_tol=2e-3, floor_multiplier=1e-3)
    result = search_walk_away(evaluate, 100.0, evaluate(1.0), settings)
    first = evaluate.calls[1]
    assert first == pytest.approx((100.0 - 0.2 - 99.0) / 0.9)  # today's line meets W - tol
    assert first > settings.floor_multiplier
    assert 0.0 not in evaluate.calls and settings.floor_multiplier not in evaluate.calls
    # the breakpoint is where the last worth-buying plan's line meets W (as from the floor)
    assert result.method is SearchMethod.NEWTON
    assert result.multiplier == pytest.approx((100.0 - 80.0) / 20.0)
    assert result.solves == 2
