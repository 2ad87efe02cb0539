"""Plausibility limits every offer source applies to prices and counts from outside."""

from __future__ import annotations

import math

# No accelerator rents for more than this per chip-hour; larger values are typos or hostile.
MAX_USD_PER_CHIP_HOUR = 10_000.0
# Largest count of chips in one offer (instances x chips) we accept.
MAX_CHIPS = 10_000_000
# Spot below this fraction of on-demand (an over 85 % discount) is kept but flagged: real
# AWS/GCP spot discounts reach 60-90 %, and several catalog rows sit at exactly 10 % of
# on-demand, which looks computed rather than observed.
SPOT_FLOOR_RATIO = 0.15


def plausible_price(usd: float, chips: int) -> bool:
    """True when ``usd`` (per instance-hour for ``chips`` chips) is positive, finite, sane."""
    return math.isfinite(usd) and usd > 0 and usd / max(chips, 1) <= MAX_USD_PER_CHIP_HOUR
