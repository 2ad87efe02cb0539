"""Remove (workload, offer) pairs that a cheaper-or-equal, unlimited twin makes redundant.

Offer o' is dominated for workload w by offer o when, for w, o is at least as fast and at
most as expensive and otherwise interchangeable: same vendor label under the policy (so
share caps, min_vendors and N-1 see the same vendor), same chips per instance and serving
unit, same availability window, o has unlimited capacity and neither carries a take-or-pay
commitment. Any plan using o' then has a counterpart using o that is no worse and obeys
every constraint, so the optimum does not change.

One subtlety: under share caps, moving spend to a cheaper twin lowers the total and can push
*another* vendor above its cap; so when caps are active only equal-price twins are merged
(o' replaced by o costs exactly the same). Without caps any cheaper twin dominates.
"""

from __future__ import annotations

import numpy as np

from chipfolio.planner.problem import BoolArray, IntArray, Problem, unique_inverse
from chipfolio.planner.structure import TIME_DECIMALS


def _dense_rank(values: np.ndarray) -> IntArray:
    return unique_inverse(values)[1]


def dominated_pairs(problem: Problem) -> BoolArray:
    """``[w, o]`` mask of runnable pairs that are dominated (safe to drop)."""
    offers = problem.offers
    w, o = np.nonzero(problem.runnable)
    dominated = np.zeros(problem.allowed.shape, dtype=bool)
    if w.size < 2:
        return dominated
    no_commit = offers.take_or_pay_chips == 0
    eligible = (np.isinf(offers.capacity_chips) & no_commit)[o]
    candidate = no_commit[o]
    horizon = problem.horizon_hours
    start = np.round(np.clip(offers.available_from_hour, 0, horizon), TIME_DECIMALS)
    end = np.round(np.clip(offers.available_until_hour, 0, horizon), TIME_DECIMALS)
    price = _dense_rank(offers.usd_per_chip_hour)[o]
    label = _dense_rank(problem.vendor_of_offers())[o] if not problem.policy.is_trivial else 0
    group_keys = [
        w,
        label * np.ones_like(w),
        offers.chips_per_instance[o],
        problem.units[w, o],
        _dense_rank(start)[o],
        _dense_rank(end)[o],
        price if problem.policy.caps_shares else np.zeros_like(w),
    ]
    tput = problem.tokens_per_s_per_chip[w, o]
    # sort: group, then fastest, cheapest, eligible first, lowest index
    order = np.lexsort([o, ~eligible, price, -tput, *reversed(group_keys)])
    keys = np.stack([k[order] for k in group_keys], axis=1)
    new_group = np.ones(order.size, dtype=bool)
    new_group[1:] = (keys[1:] != keys[:-1]).any(axis=1)
    group = np.cumsum(new_group) - 1
    big = np.int64(price.max() + 2)
    masked = np.where(eligible[order], price[order], big - 1)
    offset = (group[-1] - group) * big
    prefix = np.minimum.accumulate(masked + offset)
    prev = np.empty_like(prefix)
    prev[0] = np.iinfo(np.int64).max
    prev[1:] = prefix[:-1]
    prev = np.where(new_group, np.iinfo(np.int64).max, prev - offset)
    hit = candidate[order] & (prev <= price[order])
    dominated[w[order][hit], o[order][hit]] = True
    return dominated


def prune(problem: Problem) -> tuple[Problem, int]:
    """The problem without dominated pairs, and how many pairs were removed."""
    mask = dominated_pairs(problem)
    count = int(mask.sum())
    return (problem.restrict(~mask) if count else problem), count
