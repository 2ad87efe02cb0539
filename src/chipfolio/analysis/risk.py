"""Concentration of spend: vendor shares and the Herfindahl-Hirschman index.

HHI is the sum of squared shares. ``hhi`` uses the antitrust convention (shares in percent,
0..10,000: 10,000 is a single vendor, 2,500 is four equal vendors); ``hhi_fraction`` is the
same figure on 0..1. ``equivalent_vendors`` (1 / hhi_fraction) reads as "spend is as
concentrated as N equal vendors".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Concentration:
    """HHI of a spend split, on both scales."""

    hhi: float  # 0..10,000
    hhi_fraction: float  # 0..1
    equivalent_vendors: float | None  # None when nothing is spent


def shares_of(cost_by_vendor: Mapping[str, float]) -> dict[str, float]:
    """Each vendor's share of the total (all zero when nothing is spent)."""
    total = sum(max(c, 0.0) for c in cost_by_vendor.values())
    if total <= 0.0:
        return {v: 0.0 for v in cost_by_vendor}
    return {v: max(c, 0.0) / total for v, c in cost_by_vendor.items()}


def concentration(cost_by_vendor: Mapping[str, float]) -> Concentration:
    """HHI of spend across vendors."""
    shares = shares_of(cost_by_vendor)
    fraction = sum(s * s for s in shares.values())
    equivalent = 1.0 / fraction if fraction > 0.0 else None
    return Concentration(
        hhi=fraction * 10_000.0, hhi_fraction=fraction, equivalent_vendors=equivalent
    )
