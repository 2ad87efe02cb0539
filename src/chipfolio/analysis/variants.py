"""Counterfactual variants of one portfolio, answered on one model built once.

The leverage analysis asks dozens of questions of one portfolio: a vendor's prices times m,
a vendor gone, the share cap moved, the policy dropped. Each is a change of costs, bounds or
a few coefficients of the model built once (``planner.LiveModel``), solved warm-started from
plans already found and undone afterwards; nothing is rebuilt.

Every answer is a deterministic function of the portfolio and the options: MILP solves stop
on a node count, not on the clock (the clock is a safety net only, and an answer it cut
short says so in ``stopped_by_clock``), and each ``Variants`` is used by one task only, in a
fixed order, so the same inputs give the same answers on any machine, load or worker count.

Column bounds implied by a cost ``B`` (the best plan known for the variant, or the cutoff)
make the MILP several times faster and remove no plan cheaper than ``B``:

* cost: every cost is non-negative, so ``c_j x_j <= B - fixed``;
* share cap: a vendor's spend is at most ``max_share x total <= max_share x B``;
* demand: units on a column beyond what serves its whole slot alone ("padding") serve
  nothing; dropping them keeps every requirement but the share caps and leaves no vendor
  spending more than before, at most ``max_share x B``. So such a plan costs at least
  ``L0``, the LP bound with each share cap replaced by that constant cap on the vendor's
  cost, and padding costs at most ``B - L0``. Hence ``x_j <= need_j + floor((B - L0) /
  c_j)`` (not for committed or gang-linked columns, whose units other rows tie to
  commitments and whole jobs).

Padding is what a plan buys only to raise its total for the share caps; most plans need
none, yet its room is what makes the integers' domains wide. A caller that needs a plan
cheaper than a cutoff, and a proof only when there is none (a walk-away probe), looks among
the plans without padding first (``unpadded_first``): a few times faster on the bundled
example, and a plan found there is a plan of the variant; the proof, when no plan is found,
is always made on the whole variant.

Without such a plan (a tight share cap the base plan breaks, a vendor gone), ``B`` is
guessed: 3%, 6%, 10% ... 100% above the variant's LP bound in turn (``LADDER_STEPS``), each
guess a solve that keeps only plans cheaper than it ("the ladder"). A guess below the
optimum is proven INFEASIBLE in a fraction of a second, because the bounds make every
integer's domain small;
the first guess above it finds the plan. This matters far more than it looks: HiGHS's root
reduced-cost bookkeeping grows with the square of an integer's domain (up to 1,024 values
each for unbounded columns), and on the bundled example it took 60-75% of every unbounded
solve (7-12 s at tight caps, against 0.3-1.5 s up the ladder).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from chipfolio.planner import (
    FloatArray,
    LiveModel,
    Problem,
    Solution,
    SolveMode,
    SolveOptions,
    SolveStatus,
    build_model,
    prune_is_safe,
    rounded_plan,
)

Change = Callable[[LiveModel], None]
DEFAULT_NODE_LIMIT = 10_000
# guesses of a variant's cost above its LP bound, tried in turn when no plan is known
LADDER_STEPS = (0.03, 0.06, 0.1, 0.15, 0.2, 0.3, 0.45, 0.7, 1.0)
ROUNDING_SKIP = 0.01  # a known plan this close to the LP bound makes rounding the LP moot
CLOCK_STATUSES = ("kTimeLimit", "kInterrupt", "kHighsInterrupt")  # stopped by the clock


@dataclass(frozen=True, eq=False)
class Answer:
    """One variant's solve: its plan (as column values) and what it costs.

    ``cost_usd`` is the plan's cost at the variant's prices; ``spend`` what it pays each
    label at today's (unscaled) prices, commitments included; ``bound_usd`` a proven lower
    bound on the variant's optimal cost (None: none proven).
    """

    status: SolveStatus
    x: FloatArray | None
    cost_usd: float | None
    spend: FloatArray | None
    bound_usd: float | None
    stopped_by_clock: bool = False

    @property
    def has_plan(self) -> bool:
        return self.x is not None

    def exact(self, rel_tol: float) -> bool:
        """Proven optimal to within ``rel_tol``."""
        if self.cost_usd is None or self.bound_usd is None:
            return False
        return self.cost_usd - self.bound_usd <= rel_tol * max(abs(self.cost_usd), 1.0)


class Variants:
    """A portfolio's model held live, and its variants answered one at a time."""

    def __init__(
        self,
        problem: Problem,
        options: SolveOptions,
        *,
        node_limit: int = DEFAULT_NODE_LIMIT,
        deadline: float | None = None,
    ) -> None:
        self.problem = problem
        self.options = options
        self.node_limit = node_limit
        self.deadline = deadline  # time.time() after which no solve starts (None: none)
        self.model = build_model(problem, prune_pairs=options.prune and prune_is_safe(problem))
        self.live = LiveModel(self.model, options)
        self.labels = list(self.model.structure.labels)
        self.multiplier = dict.fromkeys(self.labels, 1.0)
        self.max_share = problem.policy.max_share
        s = self.model.structure
        self._x = np.arange(self.model.x_columns.start, self.model.x_columns.stop)
        need = np.zeros(s.n_cols)
        per_unit = np.ceil(s.slot_demand[s.inc_slot] / np.maximum(s.inc_coef, 1e-300) - 1e-9)
        np.maximum.at(need, s.inc_col, per_unit)
        committed = s.virtual.committed[s.col_virtual]
        linked = problem.workloads.gang[s.col_workload] & ~s.col_whole_job
        self._need = np.where(committed | linked, np.inf, need)
        self._least_cost = problem.budget_usd is None

    # ----- changes in the portfolio's terms (callers use them inside ``answer``) ------------

    def scale(self, label: str, multiplier: float) -> Change:
        def change(live: LiveModel) -> None:
            live.scale_label(label, multiplier)
            self.multiplier[label] = multiplier

        return change

    def close(self, label: str) -> Change:
        def change(live: LiveModel) -> None:
            live.close_label(label)
            self.multiplier[label] = 0.0  # its commitments are dropped with it

        return change

    def cap(self, share: float) -> Change:
        def change(live: LiveModel) -> None:
            if share >= 1.0:
                live.drop_share_caps()
            else:
                live.set_max_share(share)
            self.max_share = share

        return change

    def no_policy(self) -> Change:
        def change(live: LiveModel) -> None:
            live.drop_share_caps()
            for family in ("min_vendors", "n_minus_1"):
                live.relax_family(family)
            self.max_share = 1.0

        return change

    # ----- answering -------------------------------------------------------------------------

    def answer(
        self,
        change: Change | None = None,
        *,
        gap: float | None = None,
        cutoff: float | None = None,
        starts: Sequence[FloatArray] = (),
        node_limit: int | None = None,
        unpadded_first: bool = False,
        unpadded_start: bool = False,
    ) -> Answer:
        """Solve the variant ``change`` makes (undone afterwards).

        ``starts`` are plans of related variants (column values of this model): each is
        completed here and the cheapest feasible one starts the solve and bounds the columns.
        With ``cutoff`` only plans cheaper than it count: INFEASIBLE then means "none
        cheaper" (proven).

        ``unpadded_first`` (for a caller that needs a plan cheaper than ``cutoff`` and a proof
        only when there is none) first looks for one among the plans without padding (see
        ``without_padding``): a plan found there is a plan of the variant, returned with no
        bound; when there is none, the whole variant is solved for the proof.
        ``unpadded_start`` solves the variant without padding first and lets that plan start
        the solve of the whole variant (a frontier point: its answer is the whole variant's).
        """
        opts = self.options if gap is None else dataclasses.replace(self.options, mip_gap=gap)
        if self.deadline is not None:
            left = self.deadline - time.time()
            if left <= 0.0:
                return Answer(SolveStatus.NO_SOLUTION, None, None, None, None, True)
            opts = dataclasses.replace(opts, time_limit_s=min(opts.time_limit_s, left))
        saved = (dict(self.multiplier), self.max_share)
        try:
            with self.live.changed():
                if change is not None:
                    change(self.live)
                limit = node_limit or self.node_limit
                # the solve without padding looks for plans itself, faster than the
                # planner's rounding would: the rounding is left out of it, and out of the
                # proof that follows when it finds none
                if unpadded_start:
                    with self.live.changed():
                        self.without_padding()
                        first = self._solve(opts, cutoff, starts, limit, rounding=False)
                    if first.x is not None:
                        starts = [*starts, first.x]
                elif unpadded_first and cutoff is not None:
                    with self.live.changed():
                        self.without_padding()
                        found = self._solve(opts, cutoff, starts, limit, rounding=False)
                    if found.has_plan:
                        # a plan of the variant, but its bound holds only without padding
                        return dataclasses.replace(found, bound_usd=None)
                    # most likely a proof that there is none: without primal heuristics
                    proof = dataclasses.replace(opts, heuristics=False)
                    return self._solve(proof, cutoff, starts, limit, rounding=False)
                return self._solve(opts, cutoff, starts, limit)
        finally:
            self.multiplier, self.max_share = saved

    def _solve(
        self,
        opts: SolveOptions,
        cutoff: float | None,
        starts: Sequence[FloatArray],
        node_limit: int,
        *,
        rounding: bool = True,
    ) -> Answer:
        live = self.live
        lp_bound, lp = self._lp()
        start, start_cost = self._best_start(starts, opts)
        near = (
            start_cost is not None
            and lp_bound is not None
            and start_cost <= (1.0 + ROUNDING_SKIP) * max(lp_bound, 0.0)
        )
        if rounding and not near:
            # the planner's rounding of the LP (a tenth of a second of local search): only
            # when no known plan is already within ROUNDING_SKIP of the LP bound
            rounded = self._rounded_starts(lp)
            if rounded:
                alt, alt_cost = self._best_start(rounded, opts)
                if alt_cost is not None and (start_cost is None or alt_cost < start_cost):
                    start, start_cost = alt, alt_cost
        if cutoff is not None and start_cost is not None and start_cost > cutoff:
            start = None
        if start is None and self._least_cost and lp_bound is not None and lp_bound > 0.0:
            laddered = self._ladder(opts, cutoff, lp_bound, node_limit)
            if laddered is not None:
                return laddered
        bound_at = cutoff if cutoff is not None else start_cost
        if start is not None and start_cost is not None and cutoff is not None:
            bound_at = min(cutoff, start_cost)
        if bound_at is not None and self._least_cost:
            self._bound_columns(bound_at)
        result = live.solve(
            SolveMode.EXACT, opts, start=start, cutoff=cutoff, node_limit=node_limit
        )
        return self._answer(result)

    def _ladder(
        self, opts: SolveOptions, cutoff: float | None, lp_bound: float, node_limit: int
    ) -> Answer | None:
        """Without a known plan, guessed costs ``B`` rising from the LP bound (module docstring).

        Each rung keeps only plans cheaper than ``B`` and bounds the columns by ``B``: an
        INFEASIBLE rung proves there is none, and the next guess is higher; the first rung
        with a plan answers the variant (every plan cheaper than it is inside the rung, so
        its bound is the variant's). None: no rung below ``cutoff`` found a plan.
        """
        live = self.live
        for step in LADDER_STEPS:
            guess = lp_bound * (1.0 + step)
            if cutoff is not None and guess >= cutoff:
                return None
            with live.changed():
                self._bound_columns(guess)
                result = live.solve(SolveMode.EXACT, opts, cutoff=guess, node_limit=node_limit)
            if result.x is not None and result.status.has_solution:
                return self._answer(result)
            if result.raw_status in CLOCK_STATUSES:
                return self._answer(result)
        return None

    def _answer(self, result: Solution) -> Answer:
        live = self.live
        clock = result.raw_status in CLOCK_STATUSES
        if result.x is None or not result.status.has_solution:
            status = result.status
            return Answer(status, None, None, None, None, stopped_by_clock=clock)
        x = result.x
        spend = live.spend_by_label(x)
        closed = [i for i, lab in enumerate(self.labels) if self.multiplier[lab] == 0.0]
        spend[closed] = 0.0
        cost = float(sum(spend[i] * self.multiplier[lab] for i, lab in enumerate(self.labels)))
        bound = result.dual_bound
        if bound is not None:
            # the solver's bound is on the objective, which adds tiny tie-breaking costs
            bound = min(bound, cost)
        return Answer(result.status, x, cost, spend, bound, stopped_by_clock=clock)

    def _lp(self) -> tuple[float | None, Solution | None]:
        """The variant's LP optimum (a lower bound on its cost; None: none) and solution."""
        if not self._least_cost:
            return None, None
        lp = self.live.solve(SolveMode.LP)
        if lp.x is None or lp.status is not SolveStatus.OPTIMAL or lp.objective is None:
            return None, None
        return float(lp.objective), lp

    def _rounded_starts(self, lp: Solution | None) -> list[FloatArray]:
        """The variant's LP relaxation made whole by the planner's rounding and repair."""
        if lp is None or lp.x is None:
            return []
        form = self.live.formulation()
        done = rounded_plan(self.model, form, lp.x, self.options, lp.row_duals)
        return [] if done is None or done.x is None else [done.x]

    def _best_start(
        self, starts: Sequence[FloatArray], opts: SolveOptions
    ) -> tuple[FloatArray | None, float | None]:
        """Each start's allocation pinned and the rest completed; the cheapest feasible.

        A start outside the variant's column bounds (a plan that buys from a vendor now
        closed) is clipped to them and repaired by the planner's rounding and repair first:
        the base plan less a vendor, made whole again, starts the cost without that vendor
        within a fraction of a percent of its optimum (the variant's rounded LP: 6%).
        """
        live = self.live
        best: FloatArray | None = None
        best_cost: float | None = None
        exact = dataclasses.replace(opts, mip_gap=1e-9)
        lower, upper = live.lower[self._x], live.upper[self._x]
        for x in starts:
            units = np.rint(np.maximum(x[self._x], 0.0))
            if (units > upper + 1e-9).any() or (units < lower - 1e-9).any():
                clipped = x.copy()
                clipped[self._x] = np.clip(units, lower, upper)
                done = rounded_plan(self.model, live.formulation(), clipped, opts)
                if done is None or done.x is None:
                    continue
                units = np.rint(np.maximum(done.x[self._x], 0.0))
                if (units > upper + 1e-9).any() or (units < lower - 1e-9).any():
                    continue
            with live.changed():
                live.set_bounds(self._x, units, units)
                done = live.solve(SolveMode.EXACT, exact, node_limit=1_000)
            if done.x is None or done.objective is None or not done.status.has_solution:
                continue
            if best_cost is None or done.objective < best_cost:
                best, best_cost = done.x, done.objective
        return best, best_cost

    def without_padding(self) -> None:
        """Bound each column by the units that serve its whole slot alone (its "need").

        Units beyond it serve nothing; a plan buys them only to raise its total spend for
        the share caps. Most plans need none, and without them every integer's domain is
        several times smaller, so the solver finds plans several times faster (its root
        reduced-cost bookkeeping grows with the square of the domains). The bounds cut off
        plans that pad, so they find plans but prove nothing about the variant.
        """
        live = self.live
        cols = self._x
        upper = np.minimum(live.upper[cols], np.maximum(self._need, live.lower[cols]))
        if (upper < live.upper[cols]).any():
            live.set_bounds(cols, live.lower[cols].copy(), upper)

    def _bound_columns(self, cost_usd: float) -> None:
        """Column bounds that keep every plan cheaper than ``cost_usd`` (module docstring)."""
        live = self.live
        s = self.model.structure
        cols = self._x
        c = live.cost[cols]
        slack = 1e-4 * max(abs(cost_usd), 1.0)
        room = max(cost_usd - live.offset, 0.0) + slack
        positive = c > 0.0
        safe_c = np.where(positive, c, 1.0)
        limit = np.where(positive, np.floor(room / safe_c + 1e-9), np.inf)
        if self.max_share < 1.0:
            # m_l (sum usd_j x_j + fixed_l) <= max_share x total <= max_share x cost_usd
            label_m = np.array([self.multiplier[lab] for lab in self.labels])
            label_m = np.where(label_m > 0.0, label_m, 1.0)  # a closed label has no columns
            fixed = np.bincount(s.offer_label, weights=s.fixed_usd_by_offer, minlength=len(label_m))
            spendable = self.max_share * (cost_usd + slack) / np.maximum(label_m, 1e-300) - fixed
            usd = s.col_usd_per_x
            paid = usd > 0.0
            share_limit = np.where(
                paid,
                np.floor(np.maximum(spendable[s.col_label], 0.0) / np.where(paid, usd, 1.0) + 1e-9),
                np.inf,
            )
            limit = np.minimum(limit, share_limit)
        floor = self._bound_without_caps(cost_usd + slack)
        if floor is not None:
            pad = np.where(positive, np.floor(max(cost_usd - floor, 0.0) / safe_c + 1e-9), np.inf)
            pad = pad + np.ceil(slack / safe_c)
            limit = np.minimum(limit, self._need + pad)
        upper = np.minimum(live.upper[cols], np.maximum(limit, live.lower[cols]))
        if (upper < live.upper[cols]).any():
            live.set_bounds(cols, live.lower[cols].copy(), upper)

    def _bound_without_caps(self, cost_usd: float) -> float | None:
        """A lower bound on the cost of a plan cheaper than ``cost_usd`` with its padding
        dropped (None: no bound): the variant's LP with each share cap replaced by the
        constant bound it implies, no label's cost above ``max_share x cost_usd``."""
        live = self.live
        with live.changed():
            live.relax_family("share_cap")
            if self.max_share < 1.0:
                live.cap_label_costs(self.max_share * cost_usd)
            lp = live.solve(SolveMode.LP)
        if lp.objective is None or lp.status is not SolveStatus.OPTIMAL:
            return None
        return float(lp.objective)

    def spend_shares(self, answer: Answer) -> dict[str, float]:
        """Each label's share of the answer's cost at today's prices."""
        if answer.spend is None:
            return {}
        total = float(answer.spend.sum())
        return {
            lab: (float(answer.spend[i]) / total if total > 0 else 0.0)
            for i, lab in enumerate(self.labels)
        }
