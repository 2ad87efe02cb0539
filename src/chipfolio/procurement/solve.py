"""Solve a procurement: the stochastic program, then the values of information and of
the stochastic solution, decoded into a ProcurementResult.

Three further models give the two values: the wait-and-see model (every scenario decided
with its future known; EVPI = stochastic objective - wait-and-see objective) and the
expected-value model (one scenario, the probability-weighted mean demand), whose period-0
signings, fixed in the stochastic model, give EEV (VSS = EEV - stochastic objective). They
share the time limit with the main solve, which gets most of it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from chipfolio.errors import InfeasibleError, SolverError
from chipfolio.planner import FloatArray, SolveOptions, SolveResult, SolveStatus, get_solver
from chipfolio.procurement.benders import decomposable, round_up, solve_benders
from chipfolio.procurement.model import ProcurementModel, build_model, start_period
from chipfolio.procurement.result import (
    Commitment,
    Negotiation,
    PeriodSummary,
    ProcurementResult,
    ScenarioOutcome,
    cvar,
    weighted_quantile,
)
from chipfolio.procurement.scenarios import generated_demand
from chipfolio.procurement.spec import Procurement

MIN_SOLVE_S = 0.05
# models this large (rows) go to the L-shaped method when they decompose: below it the
# direct LP relaxation is as fast, and its answers are the reference the tests check
BENDERS_MIN_ROWS = 30_000
METHODS = ("auto", "direct", "benders")


def _gap(objective: float, bound: float) -> float:
    return float(abs(objective - bound) / max(abs(objective), 1e-9))


def _rounded(model: ProcurementModel, x: FloatArray) -> FloatArray | None:
    """The integer columns of an LP solution rounded up; None when a bound breaks."""
    form = model.formulation
    ints = form.integrality == 1
    up = np.where(ints, np.ceil(x - 1e-6), x)
    if (up[ints] > form.col_upper[ints] + 1e-9).any():
        return None
    return round_up(model, x)


def _mean_start(model: ProcurementModel, options: SolveOptions, deadline: float) -> FloatArray:
    """Signings to start the L-shaped method from: those of the mean-demand LP (one
    scenario, cheap), given to every node of the tree."""
    proc = model.procurement
    form = model.formulation
    start = form.col_lower.copy()
    mean = np.einsum("wts,s->wt", proc.demand, proc.probabilities)[:, :, None]
    ev = build_model(proc, demand=mean, probability=np.ones(1))
    left = max(MIN_SOLVE_S, min(deadline - time.perf_counter(), options.time_limit_s))
    lp = get_solver(options.solver).solve(
        ev.formulation, dataclasses.replace(options, time_limit_s=left, relax=True)
    )
    if lp.status is not SolveStatus.OPTIMAL or lp.x is None:
        return start
    for mine, theirs in zip(model.signings, ev.signings, strict=True):
        start[mine.offset : mine.offset + mine.nodes] = lp.x[theirs.offset]
        if mine.binary_offset is not None and theirs.binary_offset is not None:
            lo, hi = mine.binary_offset, mine.binary_offset + mine.nodes
            start[lo:hi] = lp.x[theirs.binary_offset]
    return start


def _run(
    model: ProcurementModel, options: SolveOptions, deadline: float, method: str = "auto"
) -> SolveResult:
    """The MILP within the deadline. Large models that decompose: the L-shaped method
    (benders.py). Otherwise, or when a recourse LP is infeasible there: the LP relaxation
    (a proven bound), its integer columns rounded up and fixed (a feasible incumbent); branch
    and bound, warm-started from it, only when that incumbent is not within the requested gap
    of the bound."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (expected one of {METHODS})")
    solver = get_solver(options.solver)
    form = model.formulation
    started = time.perf_counter()
    large = form.n_rows >= BENDERS_MIN_ROWS
    split: SolveResult | None = None
    if (method == "benders" or (method == "auto" and large)) and decomposable(model):
        start = _mean_start(model, options, deadline)
        split = solve_benders(model, options, deadline, start=start)
        if split is not None and (
            split.status is not SolveStatus.FEASIBLE or time.perf_counter() >= deadline
        ):
            return split

    def limited(relax: bool = False) -> SolveOptions:
        left = max(MIN_SOLVE_S, deadline - time.perf_counter())
        return dataclasses.replace(options, time_limit_s=left, relax=relax)

    ints = form.integrality == 1
    if not ints.any():
        return solver.solve(form, limited())
    best: SolveResult | None = split  # the decomposition's incumbent, short of the gap
    if split is None:
        lp = solver.solve(form, limited(relax=True))
        if lp.status in (SolveStatus.INFEASIBLE, SolveStatus.UNBOUNDED):
            return lp
        if lp.status is SolveStatus.OPTIMAL and lp.x is not None and lp.objective is not None:
            rounded = _rounded(model, lp.x)
            if rounded is not None:
                fixed = dataclasses.replace(
                    form,
                    col_lower=np.where(ints, rounded, form.col_lower),
                    col_upper=np.where(ints, rounded, form.col_upper),
                    integrality=np.zeros_like(form.integrality),
                )
                fix = solver.solve(fixed, limited())
                if fix.status is SolveStatus.OPTIMAL and fix.x is not None and fix.objective:
                    gap = _gap(fix.objective, lp.objective)
                    within = gap <= options.mip_gap + 1e-12
                    best = SolveResult(
                        status=SolveStatus.OPTIMAL if within else SolveStatus.FEASIBLE,
                        x=fix.x,
                        objective=fix.objective,
                        mip_gap=gap,
                        dual_bound=lp.objective,
                        seconds=time.perf_counter() - started,
                        solver=fix.solver,
                        raw_status="rounded LP relaxation" + ("" if within else " (time limit)"),
                    )
                    if within or time.perf_counter() >= deadline:
                        return best
    mip = solver.solve(form, limited(), None if best is None else best.x)
    if best is None:
        return mip
    better = mip.objective is not None and (
        best.objective is None or mip.objective <= best.objective
    )
    if mip.status.has_solution and better:
        if split is not None:  # say where the incumbent came from
            return dataclasses.replace(
                mip, raw_status=f"{split.raw_status}, then branch and bound: {mip.raw_status}"
            )
        return mip
    # keep the rounded incumbent, with the better of the two proven bounds
    bounds = [b for b in (best.dual_bound, mip.dual_bound) if b is not None]
    bound = max(bounds) if bounds else None
    assert best.objective is not None
    final_gap = None if bound is None else _gap(best.objective, bound)
    within = final_gap is not None and final_gap <= options.mip_gap + 1e-12
    status = SolveStatus.OPTIMAL if within else SolveStatus.FEASIBLE
    return dataclasses.replace(
        best, status=status, mip_gap=final_gap, dual_bound=bound,
        seconds=time.perf_counter() - started,
        raw_status=f"{'rounded LP' if split is None else split.raw_status}; {mip.raw_status}",
    )  # fmt: skip


def _objective(result: SolveResult) -> float | None:
    return result.objective if result.status.has_solution else None


def _now_chips(model: ProcurementModel, x: FloatArray) -> dict[int, float]:
    """Chips signed at period 0, per contract, in a solution."""
    out: dict[int, float] = {}
    spec = model.procurement.spec
    for sg in model.signings:
        if sg.period == 0:
            c = spec.contracts[sg.contract]
            out[sg.contract] = round(float(x[sg.offset])) * c.chips_per_instance
    return out


BISECTION_STEPS = 6


def _variant(proc: Procurement, k: int, **changes: Any) -> Procurement:
    """``proc`` with contract ``k`` changed (price, term, size)."""
    spec = proc.spec
    contracts = list(spec.contracts)
    contracts[k] = contracts[k].model_copy(update=changes)
    return dataclasses.replace(proc, spec=spec.model_copy(update={"contracts": contracts}))


def _negotiate(
    proc: Procurement, options: SolveOptions, deadline: float, objective: float, method: str
) -> list[Negotiation]:
    """For each contract under ``negotiate``: its value (cost without it minus with it), its
    break-even price (bisection on the price: the highest at which it is still signed) and
    the value of a shorter term at the same price. Each is a full re-solve; a figure whose
    solve did not prove the gap is left out with a note."""
    spec = proc.spec
    ids = [c.id for c in spec.contracts]
    solves = len(spec.negotiate) * (3 + BISECTION_STEPS)
    done = 0
    out: list[Negotiation] = []

    def attempt(variant: Procurement, k: int) -> tuple[float, bool] | None:
        nonlocal done
        left = max(MIN_SOLVE_S, (deadline - time.perf_counter()) / max(1, solves - done))
        done += 1
        model = build_model(variant)
        result = _run(model, options, time.perf_counter() + left, method)
        if result.status is not SolveStatus.OPTIMAL or result.x is None:
            return None
        signed = any(
            result.x[sg.offset : sg.offset + sg.nodes].max(initial=0.0) > 0.5
            for sg in model.signings
            if sg.contract == k
        )
        return float(result.objective or 0.0), signed

    for neg in spec.negotiate:
        k = ids.index(neg.contract)
        c = spec.contracts[k]
        notes: list[str] = []
        without = attempt(_variant(proc, k, max_chips=0, min_chips=0), k)
        value = None if without is None else max(0.0, without[0] - objective)
        if without is None:
            notes.append("value not proven within the time limit")
        # break-even: the price where signing stops paying
        price = c.usd_per_chip_hour
        here = attempt(_variant(proc, k), k)
        break_even: float | None = None
        if here is None:
            notes.append("break-even not computed (time limit)")
        else:
            lo, hi = (price, 2.0 * max(price, 0.01)) if here[1] else (0.0, price)
            low = attempt(_variant(proc, k, usd_per_chip_hour=lo), k) if not here[1] else here
            if low is None or not low[1]:
                notes.append("not signed even at a price of 0" if low else "break-even: time")
            else:
                for _ in range(BISECTION_STEPS):
                    mid = 0.5 * (lo + hi)
                    probe = attempt(_variant(proc, k, usd_per_chip_hour=mid), k)
                    if probe is None:
                        notes.append("break-even bisection stopped at the time limit")
                        break
                    lo, hi = (mid, hi) if probe[1] else (lo, mid)
                break_even = lo
                if hi >= 2.0 * max(price, 0.01) and lo == price:
                    notes.append(f"signed at every price tried up to {hi:g}")
        term = neg.shorter_term_periods or max(1, c.term_periods // 2)
        shorter_value = None
        if term < c.term_periods:
            short = attempt(_variant(proc, k, term_periods=term, ramp=list(c.ramp[:term])), k)
            if short is None:
                notes.append("shorter term not proven within the time limit")
            else:
                shorter_value = objective - short[0]
        out.append(
            Negotiation(
                contract=c.id,
                usd_per_chip_hour=price,
                term_periods=c.term_periods,
                value_usd=value,
                break_even_usd_per_chip_hour=break_even,
                shorter_term_periods=term if term < c.term_periods else None,
                shorter_term_value_usd=shorter_value,
                notes=notes,
            )
        )
    return out


def solve_procurement(
    proc: Procurement,
    options: SolveOptions | None = None,
    *,
    deadline: float | None = None,
    values: bool = True,
    method: str = "auto",
) -> ProcurementResult:
    """Solve ``proc``; ``values`` also computes VSS and EVPI (three more solves).
    ``method``: "direct" (LP relaxation, rounding, branch and bound), "benders" (the
    L-shaped method where the model decomposes) or "auto" (benders for large models)."""
    options = options or SolveOptions()
    start = time.perf_counter()
    deadline = start + options.time_limit_s if deadline is None else deadline
    model = build_model(proc)
    # shares of the time: the main solve, then VSS/EVPI, the out-of-sample estimate and the
    # negotiation re-solves (weights, normalised)
    talks = bool(proc.spec.negotiate)
    gen = proc.spec.generated
    sampling = gen is not None and gen.out_of_sample > 0
    weights = [7.0, 3.0 if values else 0.0, 2.0 if sampling else 0.0, 3.0 if talks else 0.0]
    ends = np.cumsum(weights) / sum(weights)
    main_share, value_end, sample_end = float(ends[0]), float(ends[1]), float(ends[2])
    step = (value_end - main_share) / 3

    def at(share: float) -> float:
        return start + (deadline - start) * share

    result = _run(model, options, at(main_share), method)
    if result.status is SolveStatus.INFEASIBLE:
        raise InfeasibleError(
            "no procurement meets the demand and the policy in every scenario: allow on-demand "
            "capacity (or raise its max_chips), relax the policy, or set "
            "unserved_usd_per_token on the workloads",
            [],
        )
    if not result.status.has_solution or result.x is None:
        raise SolverError(
            f"the solver found no procurement within the time limit ({result.raw_status}); "
            "raise --time-limit"
        )
    vss = evpi = None
    notes: list[str] = []
    objective = float(result.objective or 0.0)
    if values:
        ws_model = build_model(proc, anticipative=True)
        ws = _run(ws_model, options, at(main_share + step), method)
        ws_obj = _objective(ws)
        if ws_obj is not None and ws.status is SolveStatus.OPTIMAL:
            evpi = objective - ws_obj
        else:
            notes.append(f"EVPI not computed (wait-and-see solve: {ws.status.value})")
        mean = np.einsum("wts,s->wt", proc.demand, proc.probabilities)[:, :, None]
        ev_model = build_model(proc, demand=mean, probability=np.ones(1))
        ev = _run(ev_model, options, at(main_share + 2 * step))
        if ev.status.has_solution and ev.x is not None:
            fixed = _now_chips(ev_model, ev.x)
            eev = _run(build_model(proc, fixed_now=fixed), options, at(value_end), method)
            if eev.status is SolveStatus.INFEASIBLE:
                notes.append("VSS unbounded: the mean-demand signings are infeasible")
            elif eev.status is SolveStatus.OPTIMAL and eev.objective is not None:
                vss = eev.objective - objective
                if vss < 0:
                    notes.append(
                        "VSS is negative only within the solves' gap (both are proven to "
                        f"--gap {options.mip_gap:g}, not exactly): read it as about 0"
                    )
            else:
                notes.append(f"VSS not computed (EEV solve: {eev.status.value})")
        else:
            notes.append(f"VSS not computed (expected-value solve: {ev.status.value})")
    saa = None
    if sampling:
        saa = _out_of_sample(model, result, options, at(sample_end), method, notes)
    talked = _negotiate(proc, options, deadline, objective, method) if talks else []
    decoded = decode(model, result, vss=vss, evpi=evpi, notes=notes, options=options,
                     seconds=time.perf_counter() - start)  # fmt: skip
    return dataclasses.replace(decoded, negotiation=talked, sampling=saa)


def _out_of_sample(
    model: ProcurementModel,
    result: SolveResult,
    options: SolveOptions,
    deadline: float,
    method: str,
    notes: list[str],
) -> dict[str, Any]:
    """The sample average approximation's statistical gap: the sign-now decision of the
    in-sample solve, fixed, on an independent sample of the same generator (another seed;
    later signings re-optimised there), against the in-sample objective."""
    proc = model.procurement
    gen = proc.spec.generated
    assert gen is not None and result.x is not None
    n_explicit = len(proc.spec.scenarios)
    start = np.array([gen.start[w.name] for w in proc.spec.workloads], dtype=np.float64)
    seed = (gen.seed + 1_000_003) % 2**32
    fresh = generated_demand(
        start, proc.spec.periods, gen.out_of_sample, gen.every, gen.growth.mean, gen.growth.sd,
        seed, gen.branching,
    )  # fmt: skip
    n = fresh.shape[2]
    weight = 1.0 if gen.weight is None else gen.weight
    probs = np.concatenate([proc.probabilities[:n_explicit], np.full(n, weight / n)])
    demand = np.concatenate([proc.demand[:, :, :n_explicit], fresh], axis=2)
    names = proc.scenario_names[:n_explicit] + [f"oos{i:04d}" for i in range(n)]
    other = dataclasses.replace(proc, demand=demand, names=tuple(names), probs=tuple(probs))
    fixed = _now_chips(model, result.x)
    oos_model = build_model(other, fixed_now=fixed)
    oos = _run(oos_model, options, deadline, method)
    in_sample = float(result.objective or 0.0)
    out: dict[str, Any] = {
        "scenarios": int(proc.demand.shape[2] - n_explicit),
        "out_of_sample_scenarios": n,
        "seed": gen.seed,
        "out_of_sample_seed": seed,
        "in_sample_usd": in_sample,
        "out_of_sample_usd": None,
        "gap_usd": None,
        "gap_fraction": None,
        "std_error_usd": None,
        "out_of_sample_gap": None,
    }
    if not oos.status.has_solution or oos.x is None or oos.objective is None:
        notes.append(f"out-of-sample estimate not computed ({oos.status.value})")
        return out
    costs = np.asarray(oos_model.scenario_cost @ oos.x).reshape(-1)
    mean = float(probs @ costs)
    spread = float(np.sqrt(max(0.0, float(probs @ (costs - mean) ** 2)) / max(1, n)))
    out.update(
        out_of_sample_usd=float(oos.objective),
        gap_usd=float(oos.objective) - in_sample,
        gap_fraction=(float(oos.objective) - in_sample) / max(abs(in_sample), 1e-9),
        std_error_usd=spread,
        out_of_sample_gap=oos.mip_gap,
    )
    return out


def _power(
    model: ProcurementModel, delivered: FloatArray, od_chips: FloatArray
) -> tuple[FloatArray | None, list[str]]:
    """Facility megawatts [vendor, period, scenario]: delivered (committed) and on-demand
    chips x watts per chip x PUE; None (with a note) when a chip's watts are unknown."""
    proc = model.procurement
    spec = proc.spec
    missing = sorted(
        {c.chip for c, w in zip(spec.contracts, proc.contract_watts, strict=True) if w is None}
        | {o.chip for o, w in zip(spec.on_demand, proc.offer_watts, strict=True) if w is None}
    )
    if missing:
        return None, [
            "power (MW) not shown: no watts per chip for " + ", ".join(missing)
            + " (give watts_per_chip in the file)"
        ]  # fmt: skip
    pue = spec.power.pue if spec.power is not None else 1.0
    cid = proc.chip_ids
    _, n_t, n_s = proc.demand.shape
    out = np.zeros((len(model.vendors), n_t, n_s))
    for k, c in enumerate(spec.contracts):
        g = model.groups.index((c.provider, cid[c.chip]))
        out[model.group_vendor[g]] += delivered[k] * (proc.contract_watts[k] or 0.0)
    for j, o in enumerate(spec.on_demand):
        g = model.groups.index((o.provider, cid[o.chip]))
        out[model.group_vendor[g]] += od_chips[j] * (proc.offer_watts[j] or 0.0)
    return out * pue / 1e6, []


def _chips_needed(model: ProcurementModel) -> FloatArray:
    """Chips the demand needs [period, scenario], each workload on its best chip."""
    proc = model.procurement
    best = np.zeros(len(proc.spec.workloads))
    for wi in range(best.shape[0]):
        best[wi] = max(proc.rates(wi).values())
    return np.asarray(np.einsum("wts,w->ts", proc.demand, 1.0 / best), dtype=np.float64)


def decode(
    model: ProcurementModel,
    result: SolveResult,
    *,
    vss: float | None = None,
    evpi: float | None = None,
    notes: list[str] | None = None,
    options: SolveOptions | None = None,
    seconds: float = 0.0,
) -> ProcurementResult:
    """Read a solution back: commitments, costs per scenario and per period."""
    proc = model.procurement
    spec = proc.spec
    x = result.value()
    tree = model.tree
    prob = proc.probabilities
    n_w, n_t, n_s = proc.demand.shape
    names = proc.scenario_names
    hours = spec.hours_per_period

    commitments: list[Commitment] = []
    delivered = np.zeros((len(spec.contracts), n_t, n_s))  # chips per contract
    for sg in model.signings:
        c = spec.contracts[sg.contract]
        frac = model.delivery[sg.contract][c.sign_periods.index(sg.period)]
        labels = tree.labels[sg.period]
        for node in range(sg.nodes):
            chips = round(float(x[sg.offset + node])) * c.chips_per_instance
            members = np.flatnonzero(labels == node)
            if chips <= 0:
                continue
            delivered[sg.contract][:, members] += chips * frac[:, None]
            start = start_period(c, sg.period, proc.available_from(c.chip))
            ramp = [c.ramp[i] if i < len(c.ramp) else 1.0 for i in range(c.term_periods)]
            # what signing commits to pay: the take-or-pay share of every delivered chip-hour
            price = c.usd_per_chip_hour * proc.price_factor(c.chip, sg.period)
            per_chip = c.take_or_pay * price * hours
            term_usd = chips * per_chip * float(sum(ramp))
            in_horizon = chips * per_chip * float(frac.sum())
            commitments.append(
                Commitment(
                    contract=c.id,
                    provider=c.provider,
                    chip=proc.chip_ids[c.chip],
                    sign_period=sg.period,
                    start_period=start,
                    end_period=start + c.term_periods,
                    chips=chips,
                    committed_usd=term_usd,
                    in_horizon_usd=in_horizon,
                    take_or_pay=c.take_or_pay,
                    usd_per_chip_hour=price,
                    scenarios=[names[s] for s in members],
                    probability=float(prob[members].sum()),
                )
            )
    commitments.sort(key=lambda m: (m.sign_period, m.contract, m.scenarios))

    base = model.scenario_cost.shape[1]
    xb = x[:base]
    scen_cost = np.asarray(model.scenario_cost @ xb).reshape(-1)
    od_cost = np.zeros(n_s)
    od_chips_ts = np.zeros((len(spec.on_demand), n_t, n_s))
    for j, o in enumerate(spec.on_demand):
        block = model.block(f"od:{j}")
        values = x[block][tree.rec_index]  # [T, S]
        od_chips_ts[j] = values
        factors = np.array([proc.price_factor(o.chip, t) for t in range(n_t)])
        od_cost += (values * factors[:, None]).sum(axis=0) * o.usd_per_chip_hour * hours
    unserved = np.zeros(n_s)
    total_demand = proc.demand.sum(axis=(0, 1))
    for w in range(n_w):
        block = model.block(f"u:{w}")
        if block.stop > block.start:
            unserved += x[block][tree.rec_index].sum(axis=0)
    frac_unserved = np.where(total_demand > 0, unserved / np.maximum(total_demand, 1e-300), 0.0)
    scenarios = [
        ScenarioOutcome(
            name=names[s],
            probability=float(prob[s]),
            cost_usd=float(scen_cost[s]),
            on_demand_usd=float(od_cost[s]),
            unserved_fraction=float(min(max(frac_unserved[s], 0.0), 1.0)),
        )
        for s in range(n_s)
    ]

    # per period: expected committed chips by vendor and chip, demand quantiles, shares
    period_cost = np.asarray(model.period_cost @ xb).reshape(-1)  # per recourse node
    vendor_cost = [np.asarray(m @ xb).reshape(-1) for m in model.vendor_cost]
    periods: list[PeriodSummary] = []
    by = spec.policy.share_by
    mw, power_notes = _power(model, delivered, od_chips_ts)  # [vendor, T, S] or None
    notes = list(proc.perf_notes) + list(notes or []) + power_notes
    needed = _chips_needed(model)  # [T, S]
    for t in range(n_t):
        committed: dict[str, dict[str, float]] = {}
        for k, c in enumerate(spec.contracts):
            mean_chips = float(prob @ delivered[k, t, :])
            if mean_chips <= 0:
                continue
            chip = proc.chip_ids[c.chip]
            vendor = c.provider if by == "provider" else proc.silicon[chip]
            row = committed.setdefault(vendor, {})
            row[chip] = row.get(chip, 0.0) + mean_chips
        od_chips: dict[str, float] = {}
        for j, o in enumerate(spec.on_demand):
            values = x[model.block(f"od:{j}")][tree.rec_index[t]]
            if float(prob @ values) > 1e-9:
                od_chips[o.id] = float(prob @ values)
        nodes = tree.rec_index[t]
        total = float(prob @ period_cost[nodes])
        shares = {
            v: (float(prob @ vendor_cost[i][nodes]) / total if total > 0 else 0.0)
            for i, v in enumerate(model.vendors)
        }
        quant = {
            w.name: {
                q: weighted_quantile(proc.demand[wi, t, :], prob, level)
                for q, level in (("p5", 0.05), ("p50", 0.5), ("p95", 0.95))
            }
            for wi, w in enumerate(spec.workloads)
        }
        power_mw = {}
        if mw is not None:
            power_mw = {
                v: float(prob @ mw[i, t]) for i, v in enumerate(model.vendors)
                if float(prob @ mw[i, t]) > 1e-12
            }  # fmt: skip
        periods.append(
            PeriodSummary(
                period=t,
                committed_chips=committed,
                on_demand_chips=od_chips,
                demand_quantiles=quant,
                vendor_shares={v: s for v, s in shares.items() if s > 1e-12},
                expected_cost_usd=total,
                power_mw=power_mw,
                chips_needed={
                    q: weighted_quantile(needed[t], prob, level)
                    for q, level in (("p5", 0.05), ("p50", 0.5), ("p95", 0.95))
                },
            )
        )
    info: dict[str, Any] = {
        "name": result.solver,
        "status": result.raw_status,
        "method": "benders" if result.raw_status.startswith("benders") else "direct",
        "gap": result.mip_gap,
        "bound": result.dual_bound,
        "seconds": result.seconds,
        "build_seconds": model.seconds,
        "columns": model.formulation.n_cols,
        "rows": model.formulation.n_rows,
        "integer_columns": int(model.formulation.integrality.sum()),
        "tree_nodes": tree.n_rec,
        "time_limit_s": None if options is None else options.time_limit_s,
        "requested_gap": None if options is None else options.mip_gap,
        "total_seconds": seconds,
    }
    status = "optimal" if result.status is SolveStatus.OPTIMAL else "feasible"
    return ProcurementResult(
        name=spec.name,
        status=status,
        objective_usd=float(result.objective or 0.0),
        expected_cost_usd=float(prob @ scen_cost),
        cvar_95_usd=cvar(scen_cost, prob, 0.95),
        cvar_weight=spec.risk.cvar_weight,
        cvar_alpha=spec.risk.cvar_alpha,
        gap=result.mip_gap,
        commitments=commitments,
        scenarios=scenarios,
        periods=periods,
        vss_usd=vss,
        evpi_usd=evpi,
        notes=notes,
        solver=info,
        peak_mw=None if mw is None else float(mw.sum(axis=0).max(initial=0.0)),
        pue=proc.spec.power.pue if proc.spec.power is not None else 1.0,
        hours_per_period=hours,
    )
