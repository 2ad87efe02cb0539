"""Problem: validation, read-only arrays, and transformations that return new problems."""

from __future__ import annotations

import math

import numpy as np
import pytest
from planner_cases import Of, Wl, make_problem

from chipfolio.errors import InputError
from chipfolio.planner import OfferTable, Policy, Problem, ShareBy, SolveOptions, solve_problem


def base() -> Problem:
    offers = [
        Of("a", "aws", 1.0, chip="trainium2", vendor="aws"),
        Of("b", "azure", 2.0, chip="maia-200", vendor="microsoft", cap=8),
        Of("c", "lambda", 3.0, vendor="nvidia"),
    ]
    return make_problem(offers, [Wl("w", 1000, [100, 100, 100]), Wl("v", 500, [0, 50, 50])])


def test_arrays_are_read_only() -> None:
    p = base()
    with pytest.raises(ValueError):
        p.offers.usd_per_chip_hour[0] = 9.0
    with pytest.raises(ValueError):
        p.tokens_per_s_per_chip[0, 0] = 9.0


def test_scale_prices_returns_a_new_problem() -> None:
    p = base()
    q = p.scale_prices(p.vendor_of_offers() == "azure", 1.5)
    assert q is not p
    assert list(q.offers.usd_per_chip_hour) == [1.0, 3.0, 3.0]
    assert list(p.offers.usd_per_chip_hour) == [1.0, 2.0, 3.0]


def test_drop_offers_removes_columns_everywhere() -> None:
    p = base()
    q = p.drop_offers(p.vendor_of_offers(ShareBy.SILICON) == "nvidia")
    assert list(q.offers.ids) == ["a", "b"]
    assert q.tokens_per_s_per_chip.shape == (2, 2)
    assert q.allowed.shape == (2, 2) and q.units.shape == (2, 2)


def test_with_capacity_and_demand_and_policy() -> None:
    p = base()
    q = p.with_capacity(np.array([True, False, False]), 16)
    assert list(q.offers.capacity_chips) == [16, 8, math.inf]
    r = q.with_demand([2.0, 1.0])
    assert list(r.workloads.demand_tokens_per_s) == [2000, 500]
    s = r.with_policy(Policy(max_share=0.6))
    assert s.policy.max_share == 0.6 and r.policy.max_share == 1.0


def test_with_capacity_cuts_a_commitment_down() -> None:
    p = make_problem([Of("c", "p", 1.0, cap=30, top=20)], [Wl("w", 10, [10])])
    q = p.with_capacity(np.array([True]), 5)
    assert q.offers.take_or_pay_chips[0] == 5


def test_vendor_labels_by_provider_or_silicon() -> None:
    p = base()
    assert list(p.vendor_of_offers()) == ["aws", "azure", "lambda"]
    assert list(p.vendor_of_offers("silicon")) == ["aws", "microsoft", "nvidia"]


def test_transformed_problem_solves_differently() -> None:
    p = base()
    cheap = solve_problem(p, SolveOptions(mip_gap=0)).total_cost_usd
    dearer = p.scale_prices(np.ones(3, bool), 2.0)
    assert solve_problem(dearer, SolveOptions(mip_gap=0)).total_cost_usd == pytest.approx(2 * cheap)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_share": 0.0},
        {"max_share": 1.5},
        {"min_vendors": 0},
        {"n_minus_1": -0.1},
        {"n_minus_1": 1.1},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(InputError):
        Policy(**kwargs)


def test_offer_table_validation() -> None:
    good = dict(
        ids=["a"], providers=["p"], vendors=["nvidia"], chips=["h100-sxm"], usd_per_chip_hour=[1.0]
    )
    OfferTable.build(**good)
    with pytest.raises(ValueError, match="unique"):
        OfferTable.build(**{**good, "ids": ["a", "a"], "usd_per_chip_hour": [1.0, 1.0]})
    with pytest.raises(ValueError, match="finite"):
        OfferTable.build(**{**good, "usd_per_chip_hour": [math.nan]})
    with pytest.raises(ValueError, match="take_or_pay"):
        OfferTable.build(**good, capacity_chips=[4], take_or_pay_chips=[8])


def test_problem_rejects_bad_matrices() -> None:
    p = base()
    import dataclasses

    with pytest.raises(ValueError):
        dataclasses.replace(p, tokens_per_s_per_chip=-np.ones((2, 3)))
    with pytest.raises(ValueError):
        dataclasses.replace(p, horizon_hours=math.inf)
    with pytest.raises(ValueError):
        p.with_demand(0.0)


def test_unique_inverse_matches_numpy_and_remembers_read_only_arrays() -> None:
    from chipfolio.planner.problem import unique_inverse

    labels = np.array(["b", "a", "c", "a", "b"])
    labels.setflags(write=False)
    names, inverse = unique_inverse(labels)
    want_names, want_inverse = np.unique(labels, return_inverse=True)
    assert names.tolist() == want_names.tolist() and inverse.tolist() == want_inverse.tolist()
    again = unique_inverse(labels)
    assert again[1] is inverse  # the same answer, not recomputed
    assert not inverse.flags.writeable  # shared, so nobody may change it
    writable = labels.copy()
    first = unique_inverse(writable)
    writable[0] = "z"  # a writable array can change: never remembered
    assert unique_inverse(writable)[0].tolist() == ["a", "b", "c", "z"]
    assert first[0].tolist() == ["a", "b", "c"]
    constant = np.full(4, 2.5)
    names, inverse = unique_inverse(constant)
    assert names.tolist() == [2.5] and inverse.tolist() == [0, 0, 0, 0]
    assert unique_inverse(np.zeros(0))[1].size == 0
