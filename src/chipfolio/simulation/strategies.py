"""Strategies (policy variants of one portfolio), their initial plans, and how they re-plan.

``cheapest`` drops the diversification policy, ``capped`` keeps the file's max_share and
min_vendors without N-1, ``n1`` keeps the whole policy. Each makes its initial plan once;
when an event lands it re-plans with the planner, incrementally: only the workloads the
event touches are re-planned, on what is still available after the untouched workloads keep
their instances. When that is infeasible it widens to every active workload, then drops the
diversification policy, and at last serves as much as the remaining capacity allows.
Re-plans solve the exact MILP (``ReplanMode.EXACT``) or, by default (``ReplanMode.FAST``),
the LP relaxation rounded up to whole units (see ``rounding.py``). A rounded answer that
overshoots a share cap by more than ``SHARE_CAP_TOLERANCE`` (one percentage point) even
after the rounding's repairs is replaced by the MILP's, and so is one of a small model (at
most ``EXACT_MAX_COLUMNS`` allocation columns) under share caps that costs more than
``SMALL_MODEL_GAP`` above the LP bound (whole units matter there). Initial plans are always
exact. Re-plans size inference demand in whole percent of the planned demand and read
prices to the percent, so similar situations repeat exactly and come from the cache.
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from chipfolio.errors import InfeasibleError, InputError, UnknownNameError
from chipfolio.planner import (
    FloatArray,
    LiveModel,
    LpSession,
    Memo,
    OfferTable,
    Plan,
    Policy,
    Problem,
    ShareBy,
    SolveMode,
    SolveOptions,
    Solver,
    WorkloadKind,
    WorkloadTable,
    build_model,
    content_key,
    decode,
    get_solver,
    solve_problem,
)
from chipfolio.planner import Model as Built
from chipfolio.simulation.model import ReplanRequest, Schedule
from chipfolio.simulation.rounding import Rounded, build_schedule, lp_rounded_schedule

CACHE_ENTRIES = 4096
CANONICAL_HORIZON_HOURS = 720.0
DEMAND_GRID = 0.01
PRICE_GRID = 0.01
EXACT_MAX_COLUMNS = 50
SMALL_MODEL_GAP = 0.005
SHARE_CAP_TOLERANCE = 0.01
PHANTOM_PREFIX = "~kept:"
SERVE_BUDGET_FACTOR = 4.0
SERVED_MARGIN = 1e-6
DYNAMIC_FIELDS = (
    "usd_per_chip_hour",
    "capacity_chips",
    "take_or_pay_chips",
    "available_from_hour",
    "available_until_hour",
)
"""Offer fields a re-plan sets (prices now, capacity left, windows from now)."""
STATIC_FIELDS = tuple(
    f.name for f in dataclasses.fields(OfferTable) if f.name not in DYNAMIC_FIELDS
)
"""Offer fields a re-plan never changes (ids, labels, sizes)."""
REPLAN_NODE_LIMIT = 2_000
"""Branch-and-bound nodes a re-plan's MILP may explore: a deterministic work limit, so a
re-plan's answer never depends on the machine's speed or load (the wall-clock limit in the
options is only a safety net)."""


class ReplanMode(StrEnum):
    """How a re-plan is solved: the exact MILP, or the LP relaxation rounded up (fast)."""

    EXACT = "exact"
    FAST = "fast"


class StrategyName(StrEnum):
    """How much of the portfolio's diversification policy a strategy keeps."""

    CHEAPEST = "cheapest"
    CAPPED = "capped"
    N1 = "n1"


def parse_strategies(text: str) -> tuple[StrategyName, ...]:
    """``"cheapest,n1"`` -> strategies in the given order; unknown or repeated names fail."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise InputError("expected at least one strategy", field="strategies")
    known = [s.value for s in StrategyName]
    out: list[StrategyName] = []
    for name in names:
        if name not in known:
            raise UnknownNameError("strategy", name, known, field="strategies")
        if StrategyName(name) in out:
            raise InputError(f"strategy '{name}' is listed twice", field="strategies")
        out.append(StrategyName(name))
    return tuple(out)


def strategy_policy(name: StrategyName, policy: Policy) -> Policy:
    """The policy a strategy plans with, derived from the portfolio's own policy."""
    if name is StrategyName.CHEAPEST:
        return Policy(share_by=policy.share_by)
    if name is StrategyName.CAPPED:
        return dataclasses.replace(policy, n_minus_1=0.0)
    return policy


@dataclass(frozen=True, eq=False)
class Strategy:
    """A strategy's base problem (its policy applied) and its initial plan's schedule."""

    name: StrategyName
    problem: Problem
    initial: Schedule
    initial_cost_usd: float

    @property
    def initial_instances(self) -> FloatArray:
        """The initial plan at hour 0."""
        return self.initial.first


def schedule_of(problem: Problem, plan: Plan) -> Schedule:
    """The plan's allocations as a schedule over ``problem``'s workloads and offers.

    A training job keeps its chips until its tokens are done, not only until the hour the
    plan expected it to finish.
    """
    w_index = {name: i for i, name in enumerate(problem.workloads.names.tolist())}
    o_index = {oid: i for i, oid in enumerate(problem.offers.ids.tolist())}
    ends = np.minimum(problem.workloads.deadline_hours, problem.horizon_hours)
    training = problem.workloads.kinds != WorkloadKind.INFERENCE.value
    rows: list[tuple[int, int, float, float, float]] = []
    for a in plan.allocations:
        if a.workload is None or a.instances <= 0:
            continue
        w = w_index[a.workload]
        to = math.inf if training[w] and a.to_hour >= ends[w] - 1e-9 else a.to_hour
        rows.append((w, o_index[a.offer], float(a.instances), a.from_hour, to))
    table = np.array(rows, dtype=np.float64).reshape(-1, 5)
    return build_schedule(
        (len(problem.workloads), len(problem.offers)),
        table[:, 0].astype(np.int64),
        table[:, 1].astype(np.int64),
        table[:, 2],
        table[:, 3],
        table[:, 4],
        problem.horizon_hours,
    )


def instances_of(problem: Problem, plan: Plan) -> FloatArray:
    """The plan's instances at hour 0 as a ``[w, o]`` matrix."""
    return schedule_of(problem, plan).first


def prepare_strategies(
    problem: Problem, names: Sequence[StrategyName], options: SolveOptions
) -> tuple[Strategy, ...]:
    """Solve each strategy's initial plan once (the plan does not depend on the scenario)."""
    out: list[Strategy] = []
    for name in names:
        variant = problem.with_policy(strategy_policy(name, problem.policy))
        try:
            plan = solve_problem(variant, options)
        except InfeasibleError as exc:
            raise InfeasibleError(
                f"strategy '{name.value}' has no initial plan: {exc}", exc.conflicts
            ) from exc
        out.append(Strategy(name, variant, schedule_of(variant, plan), plan.total_cost_usd))
    return tuple(out)


@dataclass(frozen=True, eq=False)
class _SubProblem:
    """A re-plan problem over the rows ``rows`` and the offers ``offers`` of the base problem.

    Only offers the re-planned workloads can use (runnable, capacity left) or that carry a
    commitment (it counts in vendor shares) enter; phantom offers may follow them.
    """

    rows: np.ndarray
    offers: np.ndarray
    problem: Problem

    def expand(self, schedule: Schedule, n_offers: int) -> Schedule:
        """``schedule`` over this sub-problem's offers as a schedule over all base offers."""
        mats = []
        for matrix in schedule.instances:
            full = np.zeros((matrix.shape[0], n_offers))
            full[:, self.offers] = matrix[:, : self.offers.size]
            mats.append(full)
        return Schedule(schedule.hours, tuple(mats))


class PlannerReplanner:
    """Re-plans one strategy with the planner, caching exact repeats of the same sub-problem.

    The cache key is the sub-problem's full content, so a cached answer is exactly what a
    fresh (deterministic) solve would return: results never depend on which scenarios a
    worker happened to run before.
    """

    def __init__(
        self, strategy: Strategy, options: SolveOptions, mode: ReplanMode = ReplanMode.FAST
    ) -> None:
        self.strategy = strategy
        self.mode = mode
        self.options = dataclasses.replace(options, relax=False)
        self._solver: Solver | None = None
        self._session: LpSession | None = None
        self._cache: OrderedDict[bytes, Schedule | None] = OrderedDict()
        self._static: Memo[dict[str, np.ndarray]] = Memo(CACHE_ENTRIES)
        self._phantom_static: Memo[dict[str, np.ndarray]] = Memo(CACHE_ENTRIES)
        self._prices_now: Memo[np.ndarray] = Memo(CACHE_ENTRIES)
        self.solves = 0
        self.cache_hits = 0

    @property
    def solver(self) -> Solver:
        if self._solver is None:
            self._solver = get_solver(self.options.solver)
        return self._solver

    @property
    def session(self) -> LpSession:
        """One HiGHS instance for this re-planner's LP relaxations (see lp_session); no
        presolve, which costs more than it saves on LPs of this size."""
        if self._session is None:
            self._session = LpSession(dataclasses.replace(self.options, relax=True), presolve=False)
        return self._session

    def replan(self, request: ReplanRequest) -> Schedule | None:
        active = request.active
        touched = request.touched & active
        if not touched.any():
            return None
        target = np.where(active[:, None], request.target, 0.0)
        for rows in _widening(touched, active):
            answer = self._solve_rows(request, rows, target, self.strategy.problem.policy)
            if answer is not None:
                return answer
        trivial = Policy(share_by=self.strategy.problem.policy.share_by)
        answer = self._solve_rows(request, active, target, trivial)
        if answer is not None:
            return answer
        return self._serve_what_remains(request, active, target)

    # ----- building sub-problems ---------------------------------------------------------
    def _sub_problem(
        self, request: ReplanRequest, rows: np.ndarray, target: FloatArray, policy: Policy
    ) -> _SubProblem | None:
        base = self.strategy.problem
        keep = np.flatnonzero(rows)
        if not keep.size:
            return None
        columns = _offers_now(base, request, target, rows)
        runnable = (base.allowed[keep] & (base.tokens_per_s_per_chip[keep] > 0)).any(0)
        usable = (runnable & (columns["capacity_chips"] > 0)) | (columns["take_or_pay_chips"] > 0)
        cols = np.flatnonzero(usable)
        columns = {name: values[cols] for name, values in columns.items()}
        columns.update(self._static_columns(cols))
        columns["usd_per_chip_hour"] = self._prices(request.price_multiplier, cols)
        w = base.workloads
        horizon = max(base.horizon_hours - request.hour, 1e-6)
        deadline = np.minimum(request.hours_left[keep], horizon)
        if _timeless(columns, deadline, horizon):
            # nothing starts, stops or falls due before the end: the remaining length only
            # scales every cost alike, so a canonical length makes repeats exact repeats
            columns["available_until_hour"] = np.full(cols.size, np.inf)
            horizon = CANONICAL_HORIZON_HOURS
            deadline = np.full(keep.size, horizon)
        workloads = WorkloadTable(
            names=w.names[keep],
            kinds=w.kinds[keep],
            demand_tokens_per_s=_on_grid(
                w.demand_tokens_per_s[keep],
                np.maximum(request.demand_tokens_per_s[keep], 1e-9),
                w.kinds[keep] == WorkloadKind.INFERENCE.value,
            ),
            critical=w.critical[keep],
            gang=w.gang[keep],
            deadline_hours=deadline,
            weight=w.weight[keep],
        )
        grid = np.ix_(keep, cols)
        tput = base.tokens_per_s_per_chip[grid]
        allowed = base.allowed[grid]
        units = base.units[grid]
        if policy.caps_shares:
            spend = _kept_spend(base, request, target, rows, policy)
            policy = _cap_without_dilution(policy, spend)
            columns = self._with_phantoms(columns, cols, spend, policy)
            extra = (keep.size, len(spend))  # phantoms: nothing runs there
            tput = np.concatenate([tput, np.zeros(extra)], axis=1)
            allowed = np.concatenate([allowed, np.zeros(extra, dtype=bool)], axis=1)
            units = np.concatenate([units, np.ones(extra, dtype=units.dtype)], axis=1)
        problem = Problem(
            offers=OfferTable(**columns),
            workloads=workloads,
            tokens_per_s_per_chip=tput,
            allowed=allowed,
            policy=policy,
            horizon_hours=horizon,
            catalog_snapshot=base.catalog_snapshot,
            instances_per_unit=units,
        )
        return _SubProblem(keep, cols, problem)

    def _static_columns(self, cols: np.ndarray) -> dict[str, np.ndarray]:
        """The offer fields a re-plan never changes for the offers ``cols`` of the base
        problem: read-only arrays kept per set of offers (a few sets recur through a whole
        study), so a sub-problem neither re-slices nor copies them."""
        offers = self.strategy.problem.offers
        return self._static.get(
            cols.tobytes(),
            lambda: {name: _locked(getattr(offers, name)[cols]) for name in STATIC_FIELDS},
        )

    def _prices(self, multiplier: FloatArray, cols: np.ndarray) -> np.ndarray:
        """Prices now of the base offers ``cols``: a read-only array kept per (multipliers,
        offers), since prices move only at price events. Every model built on the same
        prices then shares one array, and its ranking is remembered (see unique_inverse)."""
        offers = self.strategy.problem.offers
        grid = _price_on_grid(multiplier)
        key = grid.tobytes() + cols.tobytes()  # one entry per offer: splits unambiguously
        return self._prices_now.get(key, lambda: _locked((offers.usd_per_chip_hour * grid)[cols]))

    def _with_phantoms(
        self,
        columns: dict[str, np.ndarray],
        cols: np.ndarray,
        spend: dict[str, float],
        policy: Policy,
    ) -> dict[str, np.ndarray]:
        """Append one unusable offer per vendor whose commitment costs what others keep there.

        ``columns`` holds the fields of an offer table over the base offers ``cols``. The
        planner counts commitments in each vendor's share, so a re-plan of a few workloads
        then respects the share caps of the whole portfolio, not of those few alone. No
        workload can run on these offers (zero throughput), so they change nothing else.
        """
        if not spend:
            return columns
        labels = list(spend)
        key = b"|".join([cols.tobytes(), "|".join(labels).encode(), policy.share_by.encode()])

        def with_phantoms() -> dict[str, np.ndarray]:
            base, extra = self._static_columns(cols), _phantom_static(labels, policy)
            return {name: _locked(np.concatenate([base[name], extra[name]])) for name in base}

        static = self._phantom_static.get(key, with_phantoms)
        n = len(labels)
        dynamic = {
            "usd_per_chip_hour": np.array([spend[label] for label in labels]),
            "capacity_chips": np.ones(n),
            "take_or_pay_chips": np.ones(n),
            "available_from_hour": np.zeros(n),
            "available_until_hour": np.full(n, np.inf),
        }
        out = {name: np.concatenate([columns[name], dynamic[name]]) for name in dynamic}
        out.update(static)
        return out

    def _solve_rows(
        self, request: ReplanRequest, rows: np.ndarray, target: FloatArray, policy: Policy
    ) -> Schedule | None:
        sub = self._sub_problem(request, rows, target, policy)
        if sub is None:
            return None
        solved = self._solve(sub.problem)
        if solved is None:
            return None
        return _merge(target, [(sub.rows, sub.expand(solved, target.shape[1]))])

    def _serve_what_remains(
        self, request: ReplanRequest, active: np.ndarray, target: FloatArray
    ) -> Schedule | None:
        """Not enough capacity for every demand: find what can be served, then buy it cheaply."""
        trivial = Policy(share_by=self.strategy.problem.policy.share_by)
        sub = self._sub_problem(request, active, target, trivial)
        if sub is None:
            return None
        relaxed = _not_critical(sub.problem)
        budget = SERVE_BUDGET_FACTOR * _full_service_usd(relaxed)
        plan = self._plan(relaxed.with_budget(budget))
        if plan is None:
            return None
        served = np.array([o.served_fraction for o in plan.workloads])
        servable = served > SERVED_MARGIN
        nothing = Schedule.constant(np.zeros((sub.rows.size, target.shape[1])))
        if not servable.any():
            return _merge(target, [(sub.rows, nothing)])
        scale = np.where(servable, np.minimum(served, 1.0) * (1.0 - SERVED_MARGIN), 1.0)
        reduced = _take_workloads(relaxed.with_demand(scale), np.flatnonzero(servable))
        solved = self._solve(reduced)
        if solved is None:
            solved = schedule_of(reduced, plan_only_servable(plan, reduced))
        gone = sub.rows[~servable]
        solved = sub.expand(solved, target.shape[1])
        none_left = Schedule.constant(np.zeros((gone.size, target.shape[1])))
        return _merge(target, [(sub.rows[servable], solved), (gone, none_left)])

    # ----- solving, with an exact-content cache ------------------------------------------
    def _solve(self, problem: Problem) -> Schedule | None:
        key = _content_key(problem)
        if key in self._cache:
            self._cache.move_to_end(key)
            self.cache_hits += 1
            return self._cache[key]
        built = build_model(problem, prune_pairs=self.options.prune)
        answer: Schedule | None = None
        rounded = None if self.mode is ReplanMode.EXACT else self._rounded(problem, built)
        if rounded is not None and rounded.schedule is None:
            answer = None  # the LP is infeasible, so is every whole plan
        elif rounded is not None and rounded.valid and self._close_enough(built, rounded):
            answer = rounded.schedule
        else:
            plan = self._plan_built(built)
            answer = None if plan is None else schedule_of(problem, plan)
        self._cache[key] = answer
        if len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return answer

    @staticmethod
    def _close_enough(built: Built, rounded: Rounded) -> bool:
        """A small model under share caps takes the rounding only within SMALL_MODEL_GAP."""
        small = built.formulation.n_cols <= EXACT_MAX_COLUMNS
        if not (built.problem.policy.caps_shares and small):
            return True
        return rounded.gap <= SMALL_MODEL_GAP

    def _rounded(self, problem: Problem, built: Built) -> Rounded:
        rounded = lp_rounded_schedule(
            problem,
            self.solver,
            self.options,
            built=built,
            cap_tolerance=SHARE_CAP_TOLERANCE,
            session=self.session,
        )
        self.solves += rounded.lps
        return rounded

    def _plan(self, problem: Problem) -> Plan | None:
        """The plan, or None when infeasible or unsolved (no diagnosis: it is not shown)."""
        return self._plan_built(build_model(problem, prune_pairs=self.options.prune))

    def _plan_built(self, built: Built) -> Plan | None:
        """The MILP under ``REPLAN_NODE_LIMIT`` nodes (its best plan when the limit stops it)."""
        self.solves += 1
        live = LiveModel(built, self.options)
        result = live.solve(SolveMode.EXACT, node_limit=REPLAN_NODE_LIMIT)
        if not result.status.has_solution:
            return None
        return decode(built, result)


def _merge(target: FloatArray, parts: list[tuple[np.ndarray, Schedule]]) -> Schedule:
    """``target`` with the rows of each part replaced by that part's schedule."""
    hours = sorted({h for _, sched in parts for h in sched.hours})
    mats = []
    for hour in hours:
        matrix = target.copy()
        for rows, sched in parts:
            if rows.size:
                matrix[rows] = sched.at(hour)
        mats.append(matrix)
    return Schedule(tuple(hours), tuple(mats))


def _kept_spend(
    base: Problem, request: ReplanRequest, target: FloatArray, rows: np.ndarray, policy: Policy
) -> dict[str, float]:
    """USD per hour, by vendor label, of what the workloads not re-planned keep holding."""
    kept = np.where((request.active & ~rows)[:, None], target, 0.0)
    offers = base.offers
    usd = (kept * offers.chips_per_instance[None, :]).sum(0) * offers.usd_per_chip_hour
    usd = usd * _price_on_grid(request.price_multiplier)
    held = np.flatnonzero(usd > 0)
    labels = base.vendor_of_offers(policy.share_by)[held]
    spend: dict[str, float] = {}
    for label, value in zip(labels.tolist(), usd[held].tolist(), strict=True):
        if value > 0:
            spend[str(label)] = spend.get(str(label), 0.0) + float(value)
    return dict(sorted(spend.items()))


def _cap_without_dilution(policy: Policy, spend: dict[str, float]) -> Policy:
    """The cap a re-plan can meet without buying capacity only to dilute a vendor's share.

    When what the other workloads keep already puts a vendor above the cap (a plan balances
    shares over the whole horizon, holdings at one moment need not be balanced), holding the
    re-plan to the cap would force it to spend elsewhere just to shrink that share. It is
    held instead to the larger of the cap and the kept portfolio's highest share.
    """
    total = sum(spend.values())
    if total <= 0:
        return policy
    worst = max(spend.values()) / total
    return dataclasses.replace(policy, max_share=min(1.0, max(policy.max_share, worst)))


def _phantom_static(labels: list[str], policy: Policy) -> dict[str, np.ndarray]:
    """The fixed fields of the phantom offers of ``labels`` (see ``_with_phantoms``)."""
    n = len(labels)
    by_provider = policy.share_by is ShareBy.PROVIDER
    kept = np.array(["(kept)"] * n)
    names = np.array(labels)
    return {
        "ids": np.array([f"{PHANTOM_PREFIX}{label}" for label in labels]),
        "providers": names if by_provider else kept,
        "vendors": kept if by_provider else names,
        "chips": kept,
        "regions": kept,
        "pricing": np.array(["committed"] * n),
        "chips_per_instance": np.ones(n, dtype=np.int64),
        "instance_types": np.full(n, "", dtype=np.str_),
        "zones": np.full(n, "", dtype=np.str_),
    }


def _locked(array: np.ndarray) -> np.ndarray:
    """``array``, made read-only (it is shared by every sub-problem that uses it)."""
    array.setflags(write=False)
    return array


def _timeless(columns: dict[str, np.ndarray], deadline: FloatArray, horizon: float) -> bool:
    """True when no offer opens or closes and no workload falls due before ``horizon``."""
    usable = columns["capacity_chips"] > 0
    open_all_along = (columns["available_from_hour"] <= 0.0) & (
        columns["available_until_hour"] >= horizon
    )
    return bool((open_all_along | ~usable).all() and (deadline >= horizon).all())


def _on_grid(base: FloatArray, demand: FloatArray, inference: np.ndarray) -> FloatArray:
    """Inference demand rounded up to a whole percent of the planned demand.

    Capacity is planned in percent steps, so re-plans in similar situations are the same
    problem (and hit the cache) instead of differing in the tenth digit of a growth level.
    """
    steps = np.ceil(demand / base / DEMAND_GRID - 1e-9) * DEMAND_GRID
    on_grid: FloatArray = np.where(inference, base * steps, demand)
    return on_grid


def _widening(touched: np.ndarray, active: np.ndarray) -> list[np.ndarray]:
    """Try the touched workloads first, then every active workload."""
    if (touched == active).all():
        return [touched]
    return [touched, active]


def _offers_now(
    base: Problem, request: ReplanRequest, target: FloatArray, rows: np.ndarray
) -> dict[str, np.ndarray]:
    """Offers as seen at ``request.hour``: shifted windows and capacity left over (the
    fields of an offer table a re-plan changes, but for prices: see ``_prices``)."""
    offers = base.offers
    hour = request.hour
    horizon = base.horizon_hours - hour
    cpi = offers.chips_per_instance.astype(np.float64)
    kept_chips = (np.where(rows[:, None], 0.0, target) * cpi[None, :]).sum(0)
    factor = request.capacity_factor
    scaled = np.where(factor > 0, offers.capacity_chips * np.maximum(factor, 1e-300), 0.0)
    capacity = np.minimum(scaled, request.capacity_limit_chips)
    capacity = np.maximum(capacity - kept_chips, 0.0)
    until = request.available_until_hour
    start = np.maximum(offers.available_from_hour - hour, 0.0)
    end = until - hour
    over = (end <= 0.0) | (start >= horizon)
    capacity = np.where(over, 0.0, capacity)
    start = np.where(over, 0.0, start)
    end = np.where(over, math.inf, end)
    take_or_pay = np.minimum(np.maximum(offers.take_or_pay_chips - kept_chips, 0.0), capacity)
    return {
        "capacity_chips": capacity,
        "take_or_pay_chips": take_or_pay,
        "available_from_hour": start,
        "available_until_hour": end,
    }


def _price_on_grid(multiplier: FloatArray) -> FloatArray:
    """Price multipliers to the nearest percent (re-plans react to 10% moves anyway)."""
    rounded: FloatArray = np.maximum(np.round(multiplier / PRICE_GRID) * PRICE_GRID, PRICE_GRID)
    return rounded


def _not_critical(problem: Problem) -> Problem:
    workloads = dataclasses.replace(
        problem.workloads, critical=np.zeros(len(problem.workloads), dtype=bool)
    )
    return dataclasses.replace(problem, workloads=workloads)


def _take_workloads(problem: Problem, keep: np.ndarray) -> Problem:
    return dataclasses.replace(
        problem,
        workloads=problem.workloads.take(keep),
        tokens_per_s_per_chip=problem.tokens_per_s_per_chip[keep],
        allowed=problem.allowed[keep],
        instances_per_unit=problem.units[keep],
        uncalibrated=None if problem.uncalibrated is None else problem.uncalibrated[keep],
    )


def _full_service_usd(problem: Problem) -> float:
    """A generous budget: every workload served on its dearest runnable offer."""
    runnable = problem.runnable
    price = problem.offers.usd_per_chip_hour[None, :]
    rate = np.where(runnable, problem.tokens_per_s_per_chip, np.inf)
    usd_per_token_s = np.where(runnable, price / rate, 0.0).max(1, initial=0.0)
    hours = np.minimum(problem.workloads.deadline_hours, problem.horizon_hours)
    committed = float((problem.offers.take_or_pay_chips * problem.offers.usd_per_chip_hour).sum())
    total = float((problem.workloads.demand_tokens_per_s * usd_per_token_s * hours).sum())
    return max(total + committed * problem.horizon_hours, 1.0)


def plan_only_servable(plan: Plan, reduced: Problem) -> Plan:
    """The budget-mode plan restricted to the workloads of ``reduced`` (for instances_of)."""
    names = set(reduced.workloads.names.tolist())
    allocations = tuple(a for a in plan.allocations if a.workload in names)
    return dataclasses.replace(plan, allocations=allocations)


def _content_key(problem: Problem) -> bytes:
    """Every number and label that shapes the solve, as bytes.

    Offers and workloads enter by id and name (within one re-planner those fix every
    throughput, size and permission), then by each value a re-plan sets.
    """
    o, w = problem.offers, problem.workloads
    policy = problem.policy
    settings = [problem.horizon_hours, problem.budget_usd or -1.0]
    settings += [policy.max_share, policy.min_vendors, policy.n_minus_1]
    return content_key(
        o.ids,
        o.providers,
        o.vendors,
        w.names,
        o.usd_per_chip_hour,
        o.capacity_chips,
        o.take_or_pay_chips,
        o.available_from_hour,
        o.available_until_hour,
        w.demand_tokens_per_s,
        w.deadline_hours,
        w.critical,
        w.weight,
        np.asarray(settings, dtype=np.float64),
    )
