"""Generated demand: seeded growth scenarios, as a fan of sampled paths or a tree.

Demand starts at the given level per workload and grows by a lognormal factor each step of
``every`` periods (one factor for all workloads of a path: demand moves together), drawn from
exp(Normal(mean, sd)). With ``branching`` b, every node splits into b children at each step
while the tree has at most ``scenarios`` leaves (afterwards each path continues alone: one
draw per step, no further splitting); without it, every one of ``scenarios`` paths draws its
own factors from the first step (a fan: the sample of a sample average approximation).
Every leaf has the same probability.
"""

from __future__ import annotations

import numpy as np

from chipfolio.planner import FloatArray


def growth_paths(
    periods: int,
    scenarios: int,
    every: int,
    mean: float,
    sd: float,
    seed: int,
    branching: int | None = None,
) -> FloatArray:
    """Demand multipliers [path, period] (1 at period 0), seeded."""
    rng = np.random.default_rng(seed)
    every = max(1, every)
    level = np.ones(1)
    steps = [np.ones((1, min(every, periods)))]  # per step: [paths, periods of the step]
    parent: list[np.ndarray] = []  # per step: the parent path of every path
    for t0 in range(every, periods, every):
        n = level.shape[0]
        if branching is None:
            split = scenarios if n == 1 else 1
        else:
            split = branching if n * branching <= scenarios else 1
        idx = np.repeat(np.arange(n), split)
        level = level[idx] * np.exp(rng.normal(mean, sd, size=idx.shape[0]))
        parent.append(idx)
        steps.append(np.repeat(level[:, None], min(every, periods - t0), axis=1))
    # walk back from the leaves: each path's multipliers, step by step
    leaves = steps[-1].shape[0]
    which = np.arange(leaves)
    pieces = [steps[-1]]
    for k in range(len(steps) - 2, -1, -1):
        which = parent[k][which]
        pieces.append(steps[k][which])
    return np.concatenate(pieces[::-1], axis=1)


def generated_demand(
    start: FloatArray,
    periods: int,
    scenarios: int,
    every: int,
    mean: float,
    sd: float,
    seed: int,
    branching: int | None = None,
) -> FloatArray:
    """Demand [workload, period, path] from the levels ``start`` [workload]."""
    paths = growth_paths(periods, scenarios, every, mean, sd, seed, branching)
    return np.asarray(start[:, None, None] * paths.T[None, :, :], dtype=np.float64)
