"""HTML tables of the report (leverage, N-1, shadow prices, allocations, simulation, assumptions).

Every cell is escaped here; callers pass plain values. A table is a string of HTML.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from chipfolio.analysis.leverage import LeverageReport, VendorLeverage
from chipfolio.interfaces.report.charts import loss_text, usd
from chipfolio.interfaces.report.simulation import SimulationSummary
from chipfolio.planner.plan import Plan

Cell = str | tuple[str, str]  # text, or (text, css class)


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell]], css: str = "") -> str:
    """An escaped HTML table; a cell may carry a CSS class."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            text, klass = (cell, "") if isinstance(cell, str) else cell
            attr = f' class="{html.escape(klass)}"' if klass else ""
            cells.append(f"<td{attr}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    klass = f' class="{html.escape(css)}"' if css else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def pct(value: float, digits: int = 1) -> str:
    return f"{100.0 * value:.{digits}f}%"


def _walk_away(v: VendorLeverage) -> Cell:
    if v.walk_away_multiplier is None:
        return ("none — " + (v.reason or "no walk-away price"), "muted")
    m = v.walk_away_multiplier
    change = f"{100.0 * (m - 1.0):+.1f}%"
    price = v.walk_away_usd_per_chip_hour
    at = f" (≈ ${price:,.2f}/chip-h)" if price is not None else ""
    bound = "≥ " if v.search_method == "at_least" else ""  # a certified lower bound only
    return (f"{bound}×{m:.3f} ({change}){at}", "num")


def leverage_table(report: LeverageReport) -> str:
    """Per vendor: share, cost, average price, walk-away price and the cost of losing it."""
    rows: list[list[Cell]] = []
    for v in report.vendors:
        avg = f"${v.usd_per_chip_hour:,.2f}" if v.usd_per_chip_hour is not None else "—"
        lose = loss_text(v.leverage_usd, report.plan_cost_usd)
        without = usd(v.cost_without_usd) if v.cost_without_usd is not None else "no plan"
        rows.append(
            [
                v.vendor,
                (pct(v.share), "num"),
                (usd(v.cost_usd), "num"),
                (avg, "num"),
                _walk_away(v),
                (without, "num"),
                (lose, "num strong"),
            ]
        )
    return table(
        [
            "vendor",
            "share of spend",
            "spend",
            "avg $/chip-hour",
            "walk-away price",
            "cost without it",
            "cost of losing it",
        ],
        rows,
    )


def n_minus_1_table(plan: Plan) -> str:
    """Vendor lost -> fraction of each critical workload's demand still served."""
    lost = list(plan.n_minus_1)
    workloads = sorted({w for row in plan.n_minus_1.values() for w in row})
    if not lost or not workloads:
        return '<p class="muted">No critical workloads: the N-1 table is empty.</p>'
    need = plan.policy.n_minus_1
    rows: list[list[Cell]] = []
    for vendor in lost:
        row: list[Cell] = [f"lose {vendor}"]
        for w in workloads:
            frac = plan.n_minus_1[vendor].get(w, 0.0)
            klass = "num ok" if frac + 1e-9 >= max(need, 1e-12) else "num bad"
            row.append((pct(frac), klass))
        rows.append(row)
    return table(["scenario", *workloads], rows)


def shadow_table(report: LeverageReport) -> str:
    if not report.shadow_prices:
        return '<p class="muted">No capacity limit binds: more of any offer is worth $0.</p>'
    rows: list[list[Cell]] = [
        [
            s.offer,
            s.vendor,
            s.chip,
            (f"${s.list_usd_per_chip_hour:,.2f}", "num"),
            (f"{s.used_chips:,} / {s.capacity_chips:,.0f}", "num"),
            (f"${s.usd_per_chip_hour:,.3f}", "num strong"),
        ]
        for s in report.shadow_prices
    ]
    return table(
        ["offer", "vendor", "chip", "price $/chip-h", "used / capacity", "worth of +1 chip-hour"],
        rows,
    )


def allocation_table(plan: Plan) -> str:
    rows: list[list[Cell]] = []
    for a in sorted(plan.allocations, key=lambda a: (a.workload or "~", -a.cost_usd)):
        rows.append(
            [
                a.workload if a.workload is not None else "(idle commitment)",
                a.offer,
                a.provider,
                a.chip,
                a.region,
                (f"{a.chips:,}", "num"),
                (f"{a.tokens_per_s:,.0f}", "num"),
                (usd(a.cost_usd), "num"),
            ]
        )
    return table(
        ["workload", "offer", "provider", "chip", "region", "chips", "tokens/s", "cost"], rows
    )


def simulation_table(summary: SimulationSummary) -> str:
    rows: list[list[Cell]] = []
    for name, s in summary.strategies.items():
        rows.append(
            [
                name,
                (usd(s.cost_usd.p50), "num"),
                (usd(s.cost_usd.p95), "num"),
                (pct(s.unserved_fraction.p50, 2), "num"),
                (pct(s.unserved_fraction.p95, 2), "num"),
                (pct(s.slo_attainment.mean, 1), "num"),
                (pct(s.deadline_miss_rate, 1), "num"),
            ]
        )
    return table(
        [
            "strategy",
            "cost p50",
            "cost p95",
            "unserved p50",
            "unserved p95",
            "SLO attainment (mean)",
            "deadline misses",
        ],
        rows,
    )


def definition_list(items: Mapping[str, str]) -> str:
    entries = "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in items.items()
    )
    return f"<dl>{entries}</dl>"
