"""Vendor share caps, checked one way everywhere: spend per vendor, and whether a cap holds.

A vendor's spend counts its allocations and its take-or-pay commitments (paid whether used
or not). A cap holds when every vendor's spend is at most ``max_share`` (plus an optional
tolerance) of the total, up to a relative 1e-9 and an absolute 1e-6 dollars of rounding.
``SHARE_MARGINS`` are the tighter caps a rounding retries from when its plan breaks one.
"""

from __future__ import annotations

import numpy as np

from chipfolio.planner.problem import BoolArray, FloatArray, Problem
from chipfolio.planner.structure import Structure

SHARE_MARGINS = (0.0, 0.003, 0.01, 0.03)
RELATIVE_SLACK = 1e-9
ABSOLUTE_SLACK_USD = 1e-6


def vendor_spend(s: Structure, units: FloatArray) -> FloatArray:
    """Spend per vendor label of a plan's units, commitments included."""
    n = max(len(s.labels), 1)
    used = np.bincount(s.col_label, weights=units[: s.n_cols] * s.col_usd_per_x, minlength=n)
    fixed = np.bincount(s.offer_label, weights=s.fixed_usd_by_offer, minlength=n)
    out: FloatArray = (used + fixed).astype(np.float64)
    return out


def over_cap(spend: FloatArray, max_share: float, tolerance: float = 0.0) -> BoolArray:
    """The vendors whose spend breaks the cap (none when caps are off)."""
    if max_share >= 1.0:
        return np.zeros(spend.size, dtype=bool)
    limit = (max_share + tolerance) * float(spend.sum()) * (1 + RELATIVE_SLACK)
    over: BoolArray = spend > limit + ABSOLUTE_SLACK_USD
    return over


def shares_hold(problem: Problem, s: Structure, units: FloatArray, tolerance: float = 0.0) -> bool:
    """True when no vendor's share of the plan's cost exceeds the cap (+ ``tolerance``)."""
    spend = vendor_spend(s, units)
    return not bool(over_cap(spend, problem.policy.max_share, tolerance).any())
