"""Leverage analysis: per vendor, walk-away multiplier, cost without it, share; plus HHI,
policy cost, shadow prices and the cost-versus-concentration frontier, from counterfactuals.

Vendors are grouped by the policy's ``share_by`` (provider or silicon). For each vendor v:

* ``cost_without_usd`` — optimal cost with every offer of v removed (None if then infeasible);
  ``leverage_usd`` = that minus the plan's cost: what losing v costs, i.e. the value of the
  relationship to us (and what a negotiator's walk-away threat is worth to them).
* ``walk_away_multiplier`` — the largest uniform multiplier on all of v's prices at which an
  optimal plan still buys from v (see ``walkaway``). None with a ``reason`` when the policy
  needs v whatever it costs, when nothing can replace v, or when v is not worth buying even
  nearly free.

``policy_cost_usd`` is the plan's cost minus the cost with no diversification requirement.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum

from chipfolio.analysis.counterfactual import vendor_cost_usd
from chipfolio.analysis.frontier import (
    Frontier,
    FrontierPoint,
    PointStatus,
    cap_grid,
    trace_frontier,
)
from chipfolio.analysis.risk import Concentration, concentration
from chipfolio.analysis.shadow import ShadowPrice, shadow_prices
from chipfolio.analysis.variants import DEFAULT_NODE_LIMIT, Answer, Variants
from chipfolio.analysis.walkaway import (
    PricedSolve,
    SearchMethod,
    SearchSettings,
    WalkAwaySearch,
    search_walk_away,
)
from chipfolio.errors import InfeasibleError, SolverError
from chipfolio.planner import (
    FloatArray,
    LiveModel,
    Plan,
    Problem,
    Solution,
    SolveOptions,
    SolveStatus,
    decode,
    diagnose,
    solve_problem,
)

CLOCK_TEXT = (
    "the analysis reached its time limit before this vendor's search finished: a multiplier "
    "shown is only the bound proven by then, and may depend on the machine's speed; raise "
    "--time-limit"
)
START_PLANS = 3  # known plans tried as warm starts per solve (each costs a small solve)
SAFETY_TIME_LIMIT_S = 600.0  # per solve; answers stop on node counts, this is a net only
FRONTIER_BUILD_CAP = 0.999  # a policy without caps gets share-cap rows at this cap to move
SEARCH_NODE_LIMIT = 5_000  # per walk-away probe: a probe that runs out proves nothing
FRONTIER_NODE_LIMIT = 2_000  # per frontier point: one that runs out is `feasible` with a bound


class WalkAwayReason(StrEnum):
    """Why a vendor has no walk-away multiplier."""

    POLICY_REQUIRES = "policy_requires_vendor"
    IRREPLACEABLE = "nothing_can_replace_it"
    NOT_WORTH_BUYING = "not_worth_buying"
    NO_COST_DIFFERENCE = "no_cost_difference"
    NO_CONVERGENCE = "search_did_not_converge"
    LOWER_BOUND = "lower_bound"  # the multiplier is a certified lower bound, not the breakpoint
    CLOCK = "time_limit"  # the analysis's time limit cut the search short: may depend on load


@dataclass(frozen=True, slots=True)
class LeverageOptions:
    """Settings of the analysis.

    ``solve`` is used for the base plan and the solves that define the reference costs (cost
    without each vendor, without the policy); its ``mip_gap``, 0.1% by default like
    ``chipfolio plan``, sets how finely costs are compared (``cost_rel_tol`` about twice it).
    Its ``time_limit_s`` is only a safety net per solve. Every solve stops on a count of
    branch-and-bound nodes, a deterministic work limit, so the answers are the same on any
    machine and load: ``node_limit`` for reference solves, ``search_node_limit`` per
    walk-away probe, ``frontier_node_limit`` per frontier point. A vendor's walk-away search
    makes at most ``search_solves`` solves at ``search_mip_gap`` (its steps only need good
    cost lines and cutoff proofs); when the budget runs out it reports the certified lower
    bound it reached ("at least"). Frontier points are solved to ``frontier_mip_gap`` and
    the tightest cap is pinned to ``frontier_cap_tol``. ``workers`` > 1 runs the vendor
    searches and the frontier in a process pool (0 = decide from the base solve's time).
    ``floor_multiplier`` is the lowest price multiplier tried for a vendor not worth buying
    today.

    ``time_limit_s`` bounds the whole analysis's wall-clock time (None: only the per-solve
    safety net). Within it, answers stop on work limits and do not depend on the machine; a
    vendor, frontier point or policy cost the limit cuts short is marked so (reason
    ``time_limit``, point ``unknown``) and keeps only what was proven before it.
    """

    solve: SolveOptions = field(
        default_factory=lambda: SolveOptions(
            time_limit_s=SAFETY_TIME_LIMIT_S, mip_gap=1e-3, hard_deadline=False
        )
    )
    cost_rel_tol: float = 2e-3
    multiplier_rel_tol: float = 1e-3
    floor_multiplier: float = 1e-3
    frontier_step: float = 0.05
    frontier_cap_tol: float = 5e-3
    search_mip_gap: float = 1e-2
    search_solves: int = 12
    frontier_mip_gap: float = 1e-2
    node_limit: int = DEFAULT_NODE_LIMIT
    search_node_limit: int = SEARCH_NODE_LIMIT
    frontier_node_limit: int = FRONTIER_NODE_LIMIT
    workers: int = 1
    time_limit_s: float | None = None
    deadline: float | None = None  # set by the analysis: time.time() when time_limit_s ends


@dataclass(frozen=True, slots=True)
class VendorLeverage:
    """One vendor's row of the leverage table."""

    vendor: str
    share: float
    cost_usd: float
    walk_away_multiplier: float | None
    reason: str | None
    reason_code: WalkAwayReason | None
    cost_without_usd: float | None
    leverage_usd: float | None
    usd_per_chip_hour: float | None  # average paid per chip-hour in the plan
    search_method: str
    solves: int

    @property
    def walk_away_usd_per_chip_hour(self) -> float | None:
        if self.walk_away_multiplier is None or self.usd_per_chip_hour is None:
            return None
        return self.walk_away_multiplier * self.usd_per_chip_hour

    def to_json(self) -> dict[str, object]:
        def r(v: float | None, digits: int) -> float | None:
            return None if v is None else round(v, digits)

        return {
            "vendor": self.vendor,
            "share": round(self.share, 6),
            "cost_usd": round(self.cost_usd, 2),
            "walk_away_multiplier": r(self.walk_away_multiplier, 6),
            "reason": self.reason,
            "reason_code": None if self.reason_code is None else self.reason_code.value,
            "cost_without_usd": r(self.cost_without_usd, 2),
            "leverage_usd": r(self.leverage_usd, 2),
            "usd_per_chip_hour": r(self.usd_per_chip_hour, 6),
            "walk_away_usd_per_chip_hour": r(self.walk_away_usd_per_chip_hour, 6),
            "walk_away_exact": self.walk_away_multiplier is not None
            and self.search_method != SearchMethod.AT_LEAST.value
            and self.reason_code is not WalkAwayReason.CLOCK,
            "search": {"method": self.search_method, "solves": self.solves},
        }


@dataclass(frozen=True, eq=False)
class LeverageReport:
    """Everything ``chipfolio leverage`` prints, plus the plan it is about."""

    plan: Plan
    vendors: tuple[VendorLeverage, ...]
    shadow_prices: tuple[ShadowPrice, ...]
    concentration: Concentration
    cost_without_policy_usd: float | None  # None: the time limit came first
    frontier: Frontier
    solves: int
    seconds: float
    phase_seconds: Mapping[str, float] = field(default_factory=dict)
    stopped_by_time_limit: bool = False  # some answer below was cut short by the clock

    @property
    def plan_cost_usd(self) -> float:
        return self.plan.total_cost_usd

    @property
    def policy_cost_usd(self) -> float | None:
        if self.cost_without_policy_usd is None:
            return None
        return self.plan_cost_usd - self.cost_without_policy_usd

    def vendor(self, name: str) -> VendorLeverage:
        for v in self.vendors:
            if v.vendor == name:
                return v
        raise KeyError(name)

    def to_json(self) -> dict[str, object]:
        c = self.concentration
        return {
            "plan_cost_usd": round(self.plan_cost_usd, 2),
            "share_by": self.plan.share_by,
            "vendors": [v.to_json() for v in self.vendors],
            "shadow_prices": [s.to_json() for s in self.shadow_prices],
            "hhi": round(c.hhi, 3),
            "hhi_scale": "0-10000 (sum of squared percentage shares of spend)",
            "hhi_fraction": round(c.hhi_fraction, 6),
            "equivalent_vendors": None
            if c.equivalent_vendors is None
            else round(c.equivalent_vendors, 4),
            "policy_cost_usd": _round(self.policy_cost_usd, 2),
            "cost_without_policy_usd": _round(self.cost_without_policy_usd, 2),
            "frontier": self.frontier.to_json(),
            "tightest_feasible_max_share": self.frontier.tightest_feasible_max_share,
            "tightest_feasible_proven": self.frontier.tightest_proven,
            "plan_status": self.plan.status.value,
            "analysis": {
                "solves": self.solves,
                "seconds": round(self.seconds, 3),
                "phase_seconds": {k: round(v, 3) for k, v in self.phase_seconds.items()},
                "stopped_by_time_limit": self.stopped_by_time_limit,
            },
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def candidate_vendors(problem: Problem) -> list[str]:
    """Vendor labels with at least one offer some workload can use (or a commitment)."""
    labels = problem.vendor_of_offers()
    usable = problem.runnable.any(axis=0) | (problem.offers.take_or_pay_chips > 0)
    return sorted({str(v) for v in labels[usable].tolist()})


def _avg_price(plan: Plan, label: str, share_by: str) -> float | None:
    key = "provider" if share_by == "provider" else "vendor"
    cost = chip_hours = 0.0
    for a in plan.allocations:
        if str(getattr(a, key)) == label:
            cost += a.cost_usd
            chip_hours += a.chips * max(a.to_hour - a.from_hour, 0.0)
    return cost / chip_hours if chip_hours > 0 else None


@dataclass(frozen=True, slots=True)
class _VendorTask:
    """What one vendor's search needs (plain values, so it pickles for a process pool)."""

    problem: Problem
    label: str
    options: LeverageOptions
    plan_cost_usd: float
    plan_exact: bool
    vendor_cost_usd: float
    share: float
    usd_per_chip_hour: float | None
    plan_x: FloatArray  # the base plan's column values (the same model in every process)
    top_other_usd: float = 0.0  # the plan's largest spend on another vendor

    @classmethod
    def of(
        cls, problem: Problem, plan: Plan, label: str, opts: LeverageOptions, plan_x: FloatArray
    ) -> _VendorTask:
        return cls(
            problem=problem,
            label=label,
            options=opts,
            plan_cost_usd=plan.total_cost_usd,
            plan_exact=_plan_exact(plan, opts.cost_rel_tol),
            vendor_cost_usd=vendor_cost_usd(plan, label),
            share=float(plan.vendor_shares.get(label, 0.0)),
            usd_per_chip_hour=_avg_price(plan, label, plan.share_by),
            plan_x=plan_x,
            top_other_usd=_top_other(plan, label),
        )


def _variants(problem: Problem, opts: LeverageOptions) -> Variants:
    return Variants(problem, opts.solve, node_limit=opts.node_limit, deadline=opts.deadline)


def _without_reason(task: _VendorTask, variants: Variants) -> tuple[WalkAwayReason, str, int]:
    """Why the problem without the vendor has no plan (one more solve, policy relaxed)."""
    problem, label = task.problem, task.label
    close, free = variants.close(label), variants.no_policy()

    def both(live: LiveModel) -> None:
        close(live)
        free(live)

    relaxed = variants.answer(both)
    if relaxed.has_plan:
        without = problem.drop_offers(problem.vendor_of_offers() == label)
        conflicts = diagnose(without, task.options.solve)
        detail = f": {conflicts[0]}" if conflicts else ""
        return (
            WalkAwayReason.POLICY_REQUIRES,
            f"the policy cannot be met without {label}{detail}",
            1,
        )
    return (
        WalkAwayReason.IRREPLACEABLE,
        f"nothing can replace {label}: without it no plan meets the demand",
        1,
    )


def valid_until(max_share: float, m: float, total_usd: float, vendor_usd: float) -> float:
    """Largest multiplier at which a plan solved at ``m`` still meets the vendor's share cap.

    At multiplier x the vendor costs ``x V`` (V = vendor_usd / m) and the rest ``O``; the cap
    ``x V <= s (O + x V)`` holds while ``x <= s O / ((1 - s) V)``. Other vendors' shares only
    fall as x grows, and no other requirement depends on prices.
    """
    if max_share >= 1.0 or vendor_usd <= 0.0 or m <= 0.0:
        return math.inf
    other = total_usd - vendor_usd
    return max_share * other / ((1.0 - max_share) * (vendor_usd / m))


def valid_from(
    max_share: float, m: float, total_usd: float, vendor_usd: float, top_other: float
) -> float:
    """Smallest multiplier down to which a plan solved at ``m`` keeps the other vendors' caps.

    Lowering the vendor's prices shrinks the total, so another vendor u with cost ``O_u``
    keeps ``O_u <= s (O + x V)`` only while ``x >= (O_u / s - O) / V``; the largest other
    vendor (``top_other``) decides.
    """
    if max_share >= 1.0:
        return 0.0
    if vendor_usd <= 0.0 or m <= 0.0:
        return math.inf
    other = total_usd - vendor_usd
    return max(0.0, (top_other / max_share - other) / (vendor_usd / m))


def _top_other(plan: Plan, label: str) -> float:
    return max((c for v, c in plan.cost_by_vendor_usd.items() if v != label), default=0.0)


def _evaluator(
    task: _VendorTask,
    variants: Variants,
    counter: list[int],
    without_usd: float,
    known: list[FloatArray],
    clock: list[bool],
) -> Callable[[float], PricedSolve]:
    """``evaluate(m)`` for the search; ``known`` (plans met so far) seeds warm starts."""
    problem, label, opts = task.problem, task.label, task.options
    index = variants.labels.index(label)
    share = problem.policy.max_share
    # the search's solves only need good lines and cutoff proofs, not tight optima
    gap = max(opts.solve.mip_gap, opts.search_mip_gap)
    # only plans cheaper than W (beyond the tolerance) tell the search anything
    cutoff = without_usd - opts.cost_rel_tol * max(abs(without_usd), 1.0)

    def evaluate(m: float) -> PricedSolve:
        counter[0] += 1
        starts = known[-START_PLANS:]
        found = variants.answer(
            variants.scale(label, m),
            gap=gap,
            cutoff=cutoff,
            starts=starts,
            node_limit=opts.search_node_limit,
            unpadded_first=True,
        )
        clock[0] = clock[0] or found.stopped_by_clock
        if found.spend is None or found.cost_usd is None:
            # nothing below the cutoff: proven when the solver says infeasible
            proven = found.status is SolveStatus.INFEASIBLE
            lower = cutoff if proven else None
            return PricedSolve(m, without_usd, 0.0, proven, bound_usd=lower)
        assert found.x is not None
        known.append(found.x)
        v_unit = float(found.spend[index])
        total = found.cost_usd
        top_other = max(
            (float(found.spend[i]) for i in range(len(variants.labels)) if i != index),
            default=0.0,
        )
        return PricedSolve(
            multiplier=m,
            cost_usd=total,
            vendor_unit_cost_usd=v_unit,
            exact=found.exact(opts.cost_rel_tol),
            valid_until=valid_until(share, m, total, v_unit * m),
            bound_usd=found.bound_usd,
            valid_from=valid_from(share, m, total, v_unit * m, top_other),
        )

    return evaluate


def analyze_vendor(task: _VendorTask) -> VendorLeverage:
    """Cost without the vendor and its walk-away multiplier (a few solves, one model)."""
    label, opts = task.label, task.options
    variants = _variants(task.problem, opts)
    cost_v, share, avg = task.vendor_cost_usd, task.share, task.usd_per_chip_hour
    solves = 0
    clock = [False]
    if cost_v > 0.0:
        # today's plan less the vendor, repaired, starts the solve (see Variants._best_start)
        without = variants.answer(variants.close(label), starts=[task.plan_x])
        solves += 1
        clock[0] = without.stopped_by_clock
        if without.cost_usd is None and without.stopped_by_clock:
            return VendorLeverage(
                label,
                share,
                cost_v,
                None,
                CLOCK_TEXT,
                WalkAwayReason.CLOCK,
                None,
                None,
                avg,
                "none",
                solves,
            )
        if without.status is not SolveStatus.INFEASIBLE and without.cost_usd is None:
            raise SolverError(
                f"no plan without {label} within the work limit ({without.status.value}); "
                "raise --time-limit"
            )
        if without.cost_usd is None:
            code, text, extra = _without_reason(task, variants)
            return VendorLeverage(
                label, share, cost_v, None, text, code, None, None, avg, "none", solves + extra
            )
        w = without.cost_usd
        assert without.x is not None
        known = [task.plan_x, without.x]
    else:
        w = task.plan_cost_usd  # the plan does not use v, so removing v changes nothing
        known = [task.plan_x]
    counter = [0]
    cap = task.problem.policy.max_share
    at_one = PricedSolve(
        1.0,
        task.plan_cost_usd,
        cost_v,
        task.plan_exact,
        valid_until(cap, 1.0, task.plan_cost_usd, cost_v),
        valid_from=valid_from(cap, 1.0, task.plan_cost_usd, cost_v, task.top_other_usd),
    )
    settings = SearchSettings(
        max_solves=opts.search_solves,
        cost_rel_tol=opts.cost_rel_tol,
        multiplier_rel_tol=opts.multiplier_rel_tol,
        floor_multiplier=opts.floor_multiplier,
    )
    evaluate = _evaluator(task, variants, counter, w, known, clock)
    search = search_walk_away(evaluate, w, at_one, settings)
    reason_code, reason_text = _search_reason(search, label, opts.floor_multiplier, cost_v > 0)
    if clock[0]:
        reason_code, reason_text = WalkAwayReason.CLOCK, CLOCK_TEXT
    return VendorLeverage(
        vendor=label,
        share=share,
        cost_usd=cost_v,
        walk_away_multiplier=search.multiplier,
        reason=reason_text,
        reason_code=reason_code,
        cost_without_usd=w,
        leverage_usd=w - task.plan_cost_usd,
        usd_per_chip_hour=avg,
        search_method=search.method.value,
        solves=solves + counter[0],
    )


def _plan_exact(plan: Plan, rel_tol: float) -> bool:
    gap = plan.solver.gap
    return plan.status.value == "optimal" and gap is not None and gap <= rel_tol


def _search_reason(
    search: WalkAwaySearch, label: str, floor: float, bought: bool
) -> tuple[WalkAwayReason | None, str | None]:
    if search.method is SearchMethod.NOT_WORTH_BUYING and bought:
        return (
            WalkAwayReason.NO_COST_DIFFERENCE,
            f"the optimal cost is the same with or without {label}, even at {floor:g}x its "
            "prices (its spend could go elsewhere at no extra cost)",
        )
    if search.method is SearchMethod.NOT_WORTH_BUYING:
        return (
            WalkAwayReason.NOT_WORTH_BUYING,
            f"{label} is not worth buying even at {floor:g}x its prices",
        )
    if search.method is SearchMethod.AT_LEAST:
        return (
            WalkAwayReason.LOWER_BOUND,
            f"at least this multiplier: the search stopped at its solve or time budget, and "
            f"{label} is proven worth buying up to it",
        )
    if search.method is SearchMethod.NO_CONVERGENCE:
        return WalkAwayReason.NO_CONVERGENCE, "the search ran out of solves before a bracket"
    return None, None


def _largest_share(plan: Plan) -> float:
    return max(plan.vendor_shares.values(), default=0.0)


@dataclass(frozen=True, slots=True)
class _FrontierTask:
    """The frontier's inputs as plain values (pickles for a process pool)."""

    problem: Problem
    options: LeverageOptions
    n_vendors: int
    plan_share: float  # the base plan's largest vendor share
    plan_cost_usd: float
    plan_x: FloatArray


def _frontier_problem(problem: Problem) -> Problem:
    """The problem with share-cap rows in its model (moved per point; a loose cap when the
    policy has none, so the first point drops them again)."""
    if problem.policy.max_share < 1.0:
        return problem
    return problem.with_policy(dataclasses.replace(problem.policy, max_share=FRONTIER_BUILD_CAP))


class _FrontierSolver:
    """Frontier points of one portfolio, on one model; ``known`` answers are reused."""

    def __init__(self, task: _FrontierTask, known: Mapping[float, FrontierPoint]) -> None:
        self.task = task
        self.variants = _variants(_frontier_problem(task.problem), task.options)
        self.known = dict(known)
        # plans met so far, as (largest vendor share, cost): each is feasible at looser caps
        self.met: list[tuple[float, float]] = [(task.plan_share, task.plan_cost_usd)]
        self.plans: list[FloatArray] = [task.plan_x]
        self.solves = 0
        self.solved_elsewhere = 0  # points of ``known`` solved by other processes
        self.clock = False  # a point solved here was cut short by the time limit

    def evaluate(self, cap: float) -> FrontierPoint:
        key = round(cap, 12)
        point = self.known[key] if key in self.known else self._solve(cap)
        if point.cost_usd is not None and point.max_share_used is not None:
            self.met.append((point.max_share_used, point.cost_usd))
        return point

    def _solve(self, cap: float) -> FrontierPoint:
        opts = self.task.options
        gap = max(opts.solve.mip_gap, opts.frontier_mip_gap)
        variants = self.variants
        self.solves += 1
        found = variants.answer(
            variants.cap(cap),
            gap=gap,
            starts=self.plans[-START_PLANS:],
            node_limit=opts.frontier_node_limit,
            unpadded_start=True,
        )
        self.clock = self.clock or found.stopped_by_clock
        if found.x is not None:
            self.plans.append(found.x)
        if found.cost_usd is not None and found.spend is not None:
            used = max(variants.spend_shares(found).values(), default=0.0)
            exact = found.status is SolveStatus.OPTIMAL
            status = PointStatus.OPTIMAL if exact else PointStatus.FEASIBLE
            return FrontierPoint(cap, found.cost_usd, status, max_share_used=used)
        if found.status is SolveStatus.INFEASIBLE:
            return FrontierPoint(cap, None, PointStatus.INFEASIBLE)
        best = min(((c, u) for u, c in self.met if u <= cap + 1e-12), default=None)
        if best is not None:
            # the solve stopped without a plan, but a plan met earlier already fits under this
            # cap: the point is feasible and that plan's cost bounds it from above
            cost, used = best
            return FrontierPoint(cap, cost, PointStatus.FEASIBLE, max_share_used=used)
        return FrontierPoint(cap, None, PointStatus.UNKNOWN)

    def trace(self) -> Frontier:
        opts = self.task.options
        frontier = trace_frontier(
            self.evaluate,
            self.task.n_vendors,
            step=opts.frontier_step,
            cap_tol=opts.frontier_cap_tol,
        )
        return dataclasses.replace(frontier, solves=self.solves + self.solved_elsewhere)


def _frontier_point(job: tuple[_FrontierTask, float]) -> FrontierPoint:
    task, cap = job
    return _FrontierSolver(task, {})._solve(cap)


def _caps_to_solve(task: _FrontierTask, loosest: FrontierPoint) -> list[float]:
    """Grid caps that neither the base plan nor the loosest point's plan answers: the
    frontier's expensive points, solved side by side (each on its own model)."""
    opts, policy_cap = task.options, task.problem.policy.max_share
    floor = 1.0 / max(task.n_vendors, 1)
    caps = [*cap_grid(opts.frontier_step, floor), floor + 0.5 * opts.frontier_cap_tol]
    out = []
    for cap in caps:
        if loosest.covers(cap) or task.plan_share - 1e-12 <= cap <= policy_cap:
            continue
        out.append(cap)
    return out


def _base_plan_points(task: _FrontierTask, plan: Plan) -> dict[float, FrontierPoint]:
    """Grid caps the base plan answers without a solve: from its largest share up to the
    policy's cap it is feasible, and no tighter cap can cost less than the policy's own
    optimum, so it is optimal there (to the plan's own gap)."""
    opts, policy_cap = task.options, task.problem.policy.max_share
    if policy_cap >= 1.0:
        return {}
    floor = 1.0 / max(task.n_vendors, 1)
    status = PointStatus.OPTIMAL if _plan_exact(plan, opts.cost_rel_tol) else PointStatus.FEASIBLE
    return {
        round(cap, 12): FrontierPoint(
            cap, task.plan_cost_usd, status, max_share_used=task.plan_share
        )
        for cap in [*cap_grid(opts.frontier_step, floor), policy_cap]
        if task.plan_share - 1e-12 <= cap <= policy_cap
    }


def _pool(workers: int) -> ProcessPoolExecutor:
    # fork where the platform has it (no re-import in each worker: about a second saved per
    # worker); the solver runs single-threaded here, so the parent holds no solver threads
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def _auto_workers(plan: Plan, requested: int) -> int:
    """``requested`` workers, or for 0 a guess: a pool only pays off when solves are slow.

    Starting a spawned worker costs about a second (imports); a base solve under a quarter
    of a second means the whole analysis is quicker in one process.
    """
    if requested > 0:
        return requested
    slow = plan.solver.seconds + plan.solver.build_seconds > 0.25
    return min(os.cpu_count() or 1, 4) if slow else 1


class _Clock:
    """Seconds spent per phase of the analysis."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self._last
        self._last = now


def _as_cost(value: object) -> float | None:
    assert value is None or isinstance(value, float)
    return value


def _cost_without_policy(
    problem: Problem, plan_x: FloatArray, opts: LeverageOptions
) -> float | None:
    """The optimal cost with no diversification requirement (None: the time limit came first)."""
    if problem.policy.is_trivial:
        raise ValueError("no policy to drop")
    variants = _variants(problem, opts)
    found = variants.answer(variants.no_policy(), starts=[plan_x])
    if found.cost_usd is None and found.stopped_by_clock:
        return None
    if found.cost_usd is None:
        raise InfeasibleError("no plan even without the diversification policy")
    return found.cost_usd


def _task(job: tuple[str, object]) -> object:
    """One unit of the analysis in a worker (or in this process): its kind and inputs."""
    kind, payload = job
    if kind == "vendor":
        assert isinstance(payload, _VendorTask)
        return analyze_vendor(payload)
    if kind == "point":
        assert isinstance(payload, tuple)
        return _frontier_point(payload)
    assert isinstance(payload, tuple)
    problem, plan_x, opts = payload
    return _cost_without_policy(problem, plan_x, opts)


def analyze_leverage(problem: Problem, options: LeverageOptions | None = None) -> LeverageReport:
    """The full leverage analysis of ``problem`` (raises InfeasibleError if it has no plan).

    Every counterfactual is a change of one built model (see ``variants``); the answers do
    not depend on the machine's speed or load, nor on ``workers``.
    """
    opts = options or LeverageOptions()
    if opts.time_limit_s is not None:
        opts = dataclasses.replace(opts, deadline=time.time() + opts.time_limit_s)
    clock = _Clock()
    variants = _variants(problem, opts)
    base = variants.answer()
    if base.x is None and base.stopped_by_clock:
        raise SolverError(
            f"no plan for the portfolio within the time limit ({opts.time_limit_s:g} s); "
            "raise --time-limit"
        )
    if base.x is None:
        solve_problem(problem, opts.solve)  # raises the diagnosed InfeasibleError or SolverError
        raise SolverError(f"no plan for the portfolio ({base.status.value})")
    plan = decode(variants.model, _as_solution(base, variants), opts.solve)
    plan_x = base.x
    solves = 1  # the base plan (each count below is of answers, not of LP or completion solves)
    clock.lap("plan")
    labels = candidate_vendors(problem)
    tasks = [_VendorTask.of(problem, plan, label, opts, plan_x) for label in labels]
    share, cost = _largest_share(plan), plan.total_cost_usd
    front = _FrontierTask(problem, opts, len(labels), share, cost, plan_x)
    frontier_solver = _FrontierSolver(front, {})
    policy_job = None if problem.policy.is_trivial else ("policy", (problem, plan_x, opts))
    loose_job = ("point", (front, 1.0))
    workers = _auto_workers(plan, opts.workers)
    free: float | None = plan.total_cost_usd
    if workers > 1:
        # the loosest frontier point first (the tight caps to solve depend on it), then the
        # vendors' searches, the long tasks: a pool hands tasks out in order, so the short
        # frontier points and the policy cost fill in behind them
        with _pool(workers) as pool:
            loose_future = pool.submit(_task, loose_job)
            # longest first: a vendor the plan buys little of (or none) needs the most
            # probes (it starts from a low price), so the pool starts those first
            by_share = sorted(range(len(tasks)), key=lambda i: (tasks[i].share, i))
            submitted = {i: pool.submit(_task, ("vendor", tasks[i])) for i in by_share}
            vendor_futures = [submitted[i] for i in range(len(tasks))]
            policy_future = None if policy_job is None else pool.submit(_task, policy_job)
            loosest = loose_future.result()
            assert isinstance(loosest, FrontierPoint)
            caps = _caps_to_solve(front, loosest)
            point_futures = [pool.submit(_task, ("point", (front, cap))) for cap in caps]
            prices = shadow_prices(problem, plan, opts.solve)
            vendor_results = [f.result() for f in vendor_futures]
            point_results = [f.result() for f in point_futures]
            if policy_future is not None:
                free = _as_cost(policy_future.result())
    else:
        loosest = _task(loose_job)
        assert isinstance(loosest, FrontierPoint)
        caps = _caps_to_solve(front, loosest)
        vendor_results = [_task(("vendor", t)) for t in tasks]
        if policy_job is not None:
            free = _as_cost(_task(policy_job))
        point_results = [_task(("point", (front, cap))) for cap in caps]
        prices = shadow_prices(problem, plan, opts.solve)
    clock.lap("vendors_frontier_points_and_policy_cost")
    vendors = [r for r in vendor_results if isinstance(r, VendorLeverage)]
    points = {round(cap, 12): r for cap, r in zip(caps, point_results, strict=True)}
    points.update(_base_plan_points(front, plan))
    points[round(1.0, 12)] = loosest
    frontier_solver.known = {k: v for k, v in points.items() if isinstance(v, FrontierPoint)}
    frontier_solver.solved_elsewhere = len(caps) + 1  # and the loosest point
    frontier = frontier_solver.trace()
    clock.lap("frontier")
    extra = 0 if policy_job is None else 1
    # a frontier point solved in the pool and cut short shows as `unknown`; past the
    # deadline, count the analysis as cut short
    cut = (
        base.stopped_by_clock
        or free is None
        or frontier_solver.clock
        or any(v.reason_code is WalkAwayReason.CLOCK for v in vendors)
        or (opts.deadline is not None and time.time() >= opts.deadline)
    )
    solves += sum(v.solves for v in vendors) + 1 + extra + frontier.solves
    spend = {label: vendor_cost_usd(plan, label) for label in labels}
    return LeverageReport(
        plan=plan,
        vendors=tuple(sorted(vendors, key=lambda v: (-v.cost_usd, v.vendor))),
        shadow_prices=prices,
        concentration=concentration(spend),
        cost_without_policy_usd=free,
        frontier=frontier,
        solves=solves,
        seconds=sum(clock.phases.values()),
        phase_seconds=clock.phases,
        stopped_by_time_limit=bool(cut),
    )


def _as_solution(answer: Answer, variants: Variants) -> Solution:
    """The base answer as the seam's Solution, for decoding the plan."""
    assert answer.x is not None and answer.cost_usd is not None
    gap = None
    if answer.bound_usd is not None:
        gap = max(answer.cost_usd - answer.bound_usd, 0.0) / max(abs(answer.cost_usd), 1e-9)
    return Solution(
        status=answer.status,
        x=answer.x,
        objective=variants.live.objective(answer.x),
        mip_gap=gap,
        dual_bound=answer.bound_usd,
        seconds=variants.live.seconds,
        solver=variants.options.solver,
        raw_status=answer.status.value,
    )
