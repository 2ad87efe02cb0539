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

from dataclasses import dataclass, fields

import numpy as np

from chipfolio.planner.memo import Memo, content_key, read_only
from chipfolio.planner.problem import BoolArray, FloatArray, IntArray, Problem, unique_inverse
from chipfolio.planner.structure import TIME_DECIMALS


def _hours(values: FloatArray, horizon: float) -> FloatArray:
    """Hours clipped to the horizon, rounded as the structure rounds them."""
    out: FloatArray = np.round(np.clip(values, 0.0, horizon), TIME_DECIMALS).astype(np.float64)
    return out


def _dense_rank(values: np.ndarray) -> IntArray:
    return unique_inverse(values)[1]


_MASKS: Memo[BoolArray] = Memo(1024)


def dominated_pairs(problem: Problem) -> BoolArray:
    """``[w, o]`` mask of runnable pairs that are dominated (safe to drop).

    Only offers some workload can run on matter, and of their prices only the order, so the
    mask over those offers is remembered per exact content of what it depends on there (the
    simulation prunes thousands of sub-problems that repeat one another, differing in
    offers nothing runs on, such as the placeholders that carry kept spend)."""
    runnable = problem.runnable
    live = np.flatnonzero(runnable.any(0))
    o = problem.offers
    horizon = problem.horizon_hours
    label = None if problem.policy.is_trivial else _dense_rank(problem.vendor_of_offers())[live]
    on = _Live(
        runnable=runnable[:, live],
        tput=problem.tokens_per_s_per_chip[:, live],
        units=problem.units[:, live],
        no_commit=o.take_or_pay_chips[live] == 0,
        unlimited=np.isinf(o.capacity_chips[live]),
        start=_hours(o.available_from_hour[live], horizon),
        end=_hours(o.available_until_hour[live], horizon),
        price=o.usd_per_chip_hour[live],
        chips_per_instance=o.chips_per_instance[live],
        label=label,
        by_price=problem.policy.caps_shares,
    )
    key = b"|".join([content_key(np.asarray(runnable.shape), live), on.key()])
    found = _MASKS.get(key, lambda: _dominated(on))
    if live.size == runnable.shape[1]:
        return found
    mask = np.zeros(runnable.shape, dtype=bool)
    mask[:, live] = found
    return mask


@dataclass(frozen=True, eq=False)
class _Live:
    """What dominance depends on, over the offers some workload can run on."""

    runnable: BoolArray
    tput: FloatArray
    units: IntArray
    no_commit: BoolArray
    unlimited: BoolArray
    start: FloatArray
    end: FloatArray
    price: FloatArray
    chips_per_instance: IntArray
    label: IntArray | None
    by_price: bool

    def key(self) -> bytes:
        arrays = [getattr(self, f.name) for f in fields(self) if f.name not in _FLAGS]
        label = b"-" if self.label is None else content_key(self.label)
        return b"|".join([content_key(*arrays), label, b"p" * self.by_price])


_FLAGS = ("label", "by_price")


def _dominated(on: _Live) -> BoolArray:
    """The dominated pairs among ``on.runnable``."""
    w, o = np.nonzero(on.runnable)
    dominated = np.zeros(on.runnable.shape, dtype=bool)
    if w.size < 2:
        read_only(dominated)
        return dominated
    eligible = (on.unlimited & on.no_commit)[o]
    candidate = on.no_commit[o]
    price = _dense_rank(on.price)[o]
    label = on.label[o] if on.label is not None else 0
    group_keys = [
        w,
        label * np.ones_like(w),
        on.chips_per_instance[o],
        on.units[w, o],
        _dense_rank(on.start)[o],
        _dense_rank(on.end)[o],
        price if on.by_price else np.zeros_like(w),
    ]
    tput = on.tput[w, o]
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
    read_only(dominated)
    return dominated


def prune(problem: Problem) -> tuple[Problem, int]:
    """The problem without dominated pairs, and how many pairs were removed."""
    mask = dominated_pairs(problem)
    count = int(mask.sum())
    return (problem.restrict(~mask) if count else problem), count
