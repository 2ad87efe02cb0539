"""Small planning problems for the planner tests, and an independent brute-force checker.

``evaluate`` re-implements the planning semantics directly from the issue text (instances per
(workload, offer) over the whole horizon; no formulation code), so tests compare the solver
against something that shares no code with it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chipfolio.planner import OfferTable, Policy, Problem, ShareBy, WorkloadTable


@dataclass(frozen=True)
class Of:
    """One offer for a test problem."""

    id: str
    provider: str
    price: float
    k: int = 1
    cap: float = math.inf
    chip: str = "h100-sxm"
    vendor: str = "nvidia"
    top: float = 0.0
    start: float = 0.0
    region: str = "r1"


@dataclass(frozen=True)
class Wl:
    """One workload for a test problem (inference unless kind says otherwise)."""

    name: str
    demand: float
    tput: Sequence[float]
    critical: bool = False
    kind: str = "inference"
    gang: bool = False
    deadline: float = math.inf


def make_problem(
    offers: Sequence[Of],
    workloads: Sequence[Wl],
    policy: Policy | None = None,
    horizon: float = 100.0,
    budget: float | None = None,
) -> Problem:
    table = OfferTable.build(
        ids=[o.id for o in offers],
        providers=[o.provider for o in offers],
        vendors=[o.vendor for o in offers],
        chips=[o.chip for o in offers],
        regions=[o.region for o in offers],
        usd_per_chip_hour=[o.price for o in offers],
        chips_per_instance=[o.k for o in offers],
        capacity_chips=[o.cap for o in offers],
        take_or_pay_chips=[o.top for o in offers],
        available_from_hour=[o.start for o in offers],
    )
    wl = WorkloadTable.build(
        names=[w.name for w in workloads],
        demand_tokens_per_s=[w.demand for w in workloads],
        kinds=[w.kind for w in workloads],
        critical=[w.critical for w in workloads],
        gang=[w.gang for w in workloads],
        deadline_hours=[w.deadline for w in workloads],
    )
    tput = np.array([list(w.tput) for w in workloads], dtype=float)
    return Problem(
        offers=table,
        workloads=wl,
        tokens_per_s_per_chip=tput,
        allowed=np.ones_like(tput, dtype=bool),
        policy=policy or Policy(),
        horizon_hours=horizon,
        budget_usd=budget,
    )


def evaluate(problem: Problem, n: np.ndarray, tol: float = 1e-7) -> tuple[bool, float]:
    """(feasible, cost) of ``n[w, o]`` instances held for the whole horizon.

    Supports inference workloads, capacities, take-or-pay, share caps, min_vendors and N-1
    (offers available the whole horizon; one instance per serving unit).
    """
    off, wl, pol = problem.offers, problem.workloads, problem.policy
    k = off.chips_per_instance.astype(float)
    chips = n * k[None, :]
    used = chips.sum(axis=0)
    if (used > off.capacity_chips + tol).any():
        return False, math.inf
    if (n[~problem.runnable] > 0).any():
        return False, math.inf
    hours = problem.horizon_hours
    cost_o = off.usd_per_chip_hour * hours * np.maximum(used, off.take_or_pay_chips)
    total = float(cost_o.sum())
    served = chips * problem.tokens_per_s_per_chip
    if (served.sum(axis=1) < wl.demand_tokens_per_s * (1 - tol)).any():
        return False, math.inf
    labels = problem.vendor_of_offers(pol.share_by)
    for label in set(labels.tolist()):
        mine = labels == label
        if cost_o[mine].sum() > pol.max_share * total + tol * max(1.0, total):
            return False, math.inf
    for w in np.flatnonzero(wl.critical):
        vendors = {labels[o] for o in np.flatnonzero(n[w] > 0)}
        if len(vendors) < pol.min_vendors:
            return False, math.inf
        for label in set(labels.tolist()):
            outside = served[w, labels != label].sum()
            if outside < pol.n_minus_1 * wl.demand_tokens_per_s[w] * (1 - tol):
                return False, math.inf
    return True, total


def brute_force(problem: Problem, max_instances: int) -> float:
    """Least cost over every n[w, o] in 0..max_instances (inf if none is feasible)."""
    shape = problem.allowed.shape
    best = math.inf
    for combo in itertools.product(range(max_instances + 1), repeat=shape[0] * shape[1]):
        n = np.array(combo, dtype=float).reshape(shape)
        ok, cost = evaluate(problem, n)
        if ok and cost < best:
            best = cost
    return best


def instances(problem: Problem, plan_allocations: Sequence[object]) -> np.ndarray:
    """The plan's allocations as an n[w, o] instance matrix."""
    n = np.zeros(problem.allowed.shape)
    for a in plan_allocations:
        if a.workload is None:  # type: ignore[attr-defined]
            continue
        w = problem.workloads.index_of(a.workload)  # type: ignore[attr-defined]
        o = problem.offers.index_of(a.offer)  # type: ignore[attr-defined]
        n[w, o] += a.instances  # type: ignore[attr-defined]
    return n


SHARE_BY = ShareBy
