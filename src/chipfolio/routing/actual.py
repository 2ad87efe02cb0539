"""Plan against actual: where served traffic departed from the plan, and what that cost.

For each workload, each pool's planned share of output tokens/s (its routing weight) is set
against its served share (completion tokens counted by the gateway over a window). Tokens are
priced at the plan's own prices: an offer's dollars per million tokens is its allocations'
``cost_usd`` over the tokens they were planned to produce in their window (``tokens_per_s`` x
hours). *As planned* prices the same served tokens at the plan's weights; the difference is
what the departure costs (positive: dearer than planned). For committed capacity the money is
spent either way; the figure then says how much planned value traffic moved elsewhere.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chipfolio.routing.weights import PlanAllocation, RoutingTable


@dataclass(frozen=True, slots=True)
class OfferPrice:
    """An offer's vendor and its plan price per million output tokens (None: unknown)."""

    vendor: str | None
    usd_per_million_tokens: float | None


def offer_prices(allocations: Iterable[PlanAllocation]) -> dict[tuple[str | None, str], OfferPrice]:
    """Prices per (workload, offer), plus (None, offer) over all of an offer's allocations."""
    cost: dict[tuple[str | None, str], float] = defaultdict(float)
    tokens: dict[tuple[str | None, str], float] = defaultdict(float)
    vendor: dict[str, str | None] = {}
    for a in allocations:
        if a.vendor is not None or a.offer not in vendor:
            vendor[a.offer] = a.vendor
        hours = a.to_hour - a.from_hour
        if a.cost_usd is None or not math.isfinite(hours) or hours <= 0 or a.tokens_per_s <= 0:
            continue
        for key in ((a.workload, a.offer), (None, a.offer)):
            cost[key] += a.cost_usd
            tokens[key] += a.tokens_per_s * hours * 3600.0
    out: dict[tuple[str | None, str], OfferPrice] = {}
    for key in set(cost) | {(None, o) for o in vendor}:
        t = tokens.get(key, 0.0)
        price = cost[key] / t * 1e6 if t > 0 else None
        out[key] = OfferPrice(vendor.get(key[1]), price)
    return out


def _price(
    prices: Mapping[tuple[str | None, str], OfferPrice], workload: str, offer: str
) -> OfferPrice:
    own = prices.get((workload, offer))
    if own is not None and own.usd_per_million_tokens is not None:
        return own
    return prices.get((None, offer), OfferPrice(None, None))


def _share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0


def plan_vs_actual(
    table: RoutingTable,
    prices: Mapping[tuple[str | None, str], OfferPrice],
    served_tokens: Mapping[str, float],
    seconds: float,
) -> dict[str, Any]:
    """The comparison as plain data (for /admin/state, /metrics and the report).

    ``served_tokens``: completion tokens per pool name over ``seconds``."""
    span = max(seconds, 1e-9)
    workloads: dict[str, Any] = {}
    vendors: dict[str, dict[str, float]] = defaultdict(
        lambda: {"planned_tokens_per_s": 0.0, "served_tokens_per_s": 0.0}
    )
    for workload, pws in sorted(table.workloads.items()):
        served_total = sum(served_tokens.get(pw.pool.name, 0.0) for pw in pws)
        planned_total = sum(pw.planned_tokens_per_s for pw in pws)
        rows = []
        cost = as_planned = 0.0
        unpriced = 0.0
        planned_price = 0.0  # the plan's weighted price per token of this workload
        planned_price_known = True
        for pw in pws:
            p = _price(prices, workload, pw.pool.offer)
            tokens = served_tokens.get(pw.pool.name, 0.0)
            usd = p.usd_per_million_tokens
            row_cost = None if usd is None else tokens * usd / 1e6
            if row_cost is None:
                unpriced += tokens
            else:
                cost += row_cost
            if pw.weight > 0:
                if usd is None:
                    planned_price_known = False
                else:
                    planned_price += pw.weight * usd / 1e6
            served_share = _share(tokens, served_total)
            rows.append(
                {
                    "pool": pw.pool.name,
                    "offer": pw.pool.offer,
                    "vendor": p.vendor,
                    "planned_tokens_per_s": round(pw.planned_tokens_per_s, 3),
                    "planned_share": round(pw.weight, 6),
                    "served_tokens": round(tokens),
                    "served_tokens_per_s": round(tokens / span, 3),
                    "served_share": round(served_share, 6),
                    "departure": round(served_share - pw.weight, 6) if served_total else 0.0,
                    "usd_per_million_tokens": None if usd is None else round(usd, 6),
                    "cost_usd": None if row_cost is None else round(row_cost, 6),
                }
            )
            v = vendors[p.vendor or "unknown"]
            v["planned_tokens_per_s"] += pw.planned_tokens_per_s
            v["served_tokens_per_s"] += tokens / span
        if planned_price_known and unpriced == 0:
            as_planned = served_total * planned_price
            departure_cost: float | None = round(cost - as_planned, 6)
        else:
            as_planned, departure_cost = math.nan, None
        workloads[workload] = {
            "planned_tokens_per_s": round(planned_total, 3),
            "served_tokens": round(served_total),
            "served_tokens_per_s": round(served_total / span, 3),
            "cost_usd": round(cost, 6),
            "cost_as_planned_usd": None if math.isnan(as_planned) else round(as_planned, 6),
            "departure_cost_usd": departure_cost,
            "unpriced_tokens": round(unpriced),
            "pools": rows,
        }
    return {
        "basis": "completion (output) tokens, as counted from the answers' usage",
        "window_s": round(seconds, 3),
        "workloads": workloads,
        "vendors": {
            name: {k: round(x, 3) for k, x in v.items()} for name, v in sorted(vendors.items())
        },
    }
