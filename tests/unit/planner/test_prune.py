"""Dominated pairs: blind to offers nothing can run on, and following every price move."""

from __future__ import annotations

import numpy as np

from chipfolio.planner import OfferTable, Policy, Problem, WorkloadTable
from chipfolio.planner.prune import dominated_pairs


def problem(
    prices: list[float], extra_prices: tuple[float, ...] = (), max_share: float = 1.0
) -> Problem:
    """Two workloads on same-vendor offers of equal speed; ``extra_prices`` adds offers
    nothing can run on (as the simulation's placeholders for kept spend)."""
    n, m = len(prices), len(extra_prices)
    offers = OfferTable.build(
        ids=[f"o{i}" for i in range(n + m)],
        providers=["p"] * (n + m),
        vendors=["v"] * (n + m),
        chips=["c"] * (n + m),
        usd_per_chip_hour=[*prices, *extra_prices],
    )
    workloads = WorkloadTable.build(names=["a", "b"], demand_tokens_per_s=[10.0, 20.0])
    tput = np.zeros((2, n + m))
    tput[:, :n] = 100.0
    return Problem(
        offers=offers,
        workloads=workloads,
        tokens_per_s_per_chip=tput,
        allowed=np.ones((2, n + m), dtype=bool),
        policy=Policy(max_share=max_share),
    )


def test_the_dearer_twin_is_dominated() -> None:
    mask = dominated_pairs(problem([2.0, 1.0, 3.0]))
    assert mask.tolist() == [[True, False, True], [True, False, True]]


def test_offers_nothing_runs_on_change_nothing() -> None:
    plain = dominated_pairs(problem([2.0, 1.0, 3.0]))
    for extra in ((0.5,), (9.0, 0.1), (1.0, 2.0, 3.0)):
        widened = dominated_pairs(problem([2.0, 1.0, 3.0], extra))
        assert widened.shape == (2, 3 + len(extra))
        assert np.array_equal(widened[:, :3], plain)
        assert not widened[:, 3:].any()


def test_the_mask_follows_the_prices() -> None:
    first = dominated_pairs(problem([2.0, 1.0, 3.0]))
    again = dominated_pairs(problem([2.0, 1.0, 3.0]))
    moved = dominated_pairs(problem([1.0, 2.0, 3.0]))
    assert np.array_equal(first, again)
    assert moved.tolist() == [[False, True, True], [False, True, True]]
    # under share caps only equal-price twins merge: none here
    assert not dominated_pairs(problem([1.0, 2.0, 3.0], max_share=0.6)).any()
    assert dominated_pairs(problem([1.0, 1.0, 3.0], max_share=0.6))[:, 1].all()
