"""Problem -> MILP: variables, objective and every constraint family; imports no solver.

Variables: ``x`` (one integer per column: serving units of a workload on a virtual offer),
then the auxiliary blocks the families add (gang choices, vendor costs, vendor-used flags,
critical throughputs) and, in budget mode, ``served`` (tokens/s actually credited per slot).

Objective, least-cost mode: total cost in USD (column costs + fixed commitments as a
constant). Budget mode: maximise the weighted fraction of demand served (each workload's
served rate over its demand, time-weighted across its slots), with total cost as a tiny
tie-breaker so that, among plans serving the same, the cheaper wins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from chipfolio.planner import constraints
from chipfolio.planner.constraints import Context
from chipfolio.planner.model import Formulation, ModelBuilder, VarBlock
from chipfolio.planner.problem import Problem
from chipfolio.planner.structure import Structure, build_structure

BUDGET_COST_WEIGHT = 1e-6

FAMILY_BUILDERS: dict[str, Callable[[ModelBuilder, Context], None]] = {
    "demand": constraints.demand,
    "capacity": constraints.capacity,
    "take_or_pay": constraints.take_or_pay,
    "gang": constraints.gang,
    "share_cap": constraints.share_cap,
    "min_vendors": constraints.min_vendors,
    "n_minus_1": constraints.n_minus_1,
    "budget": constraints.budget,
}


def _served_block(b: ModelBuilder, problem: Problem, s: Structure) -> VarBlock:
    """Budget mode: served tokens/s per slot, full demand for critical workloads."""
    assert problem.budget_usd is not None
    w = s.slot_workload
    critical = problem.workloads.critical[w]
    hours = s.slot_end_hour - s.slot_start_hour
    window = np.maximum(s.workload_end_hour[w], 1e-300)
    weight = problem.workloads.weight[w] * hours / window / s.slot_demand
    return b.add_vars(
        "served",
        np.where(critical, s.slot_demand, 0.0),
        s.slot_demand.copy(),
        cost=-weight,
    )


def build_formulation(
    problem: Problem,
    structure: Structure | None = None,
    *,
    skip: Iterable[str] = (),
) -> Formulation:
    """Turn ``problem`` into a MILP. ``skip`` drops whole constraint families (diagnosis)."""
    s = structure if structure is not None else build_structure(problem)
    skipped = set(skip)
    unknown = skipped - set(FAMILY_BUILDERS)
    if unknown:
        raise ValueError(f"unknown constraint families: {sorted(unknown)}")
    budget_mode = problem.budget_usd is not None
    b = ModelBuilder()
    cost = s.objective_usd_per_x(problem.offers.usd_per_chip_hour)
    if budget_mode:
        assert problem.budget_usd is not None
        cost = cost * (BUDGET_COST_WEIGHT / problem.budget_usd)
    x = b.add_vars("x", np.zeros(s.n_cols), s.col_upper, cost=cost, integer=True)
    served = _served_block(b, problem, s) if budget_mode else None
    if not budget_mode:
        b.add_objective_constant(float(s.fixed_usd_by_offer.sum()))
    ctx = Context(problem=problem, structure=s, x=x, served=served)
    for family, add in FAMILY_BUILDERS.items():
        if family not in skipped:
            add(b, ctx)
    return b.build()
