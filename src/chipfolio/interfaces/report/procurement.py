"""The procurement report (`chipfolio procure FILE --html OUT`): one self-contained HTML file.

Sections: headline figures; commitments on a timeline; capacity against the demand fan; the
cost distribution by scenario; megawatts by vendor; negotiation and sampling figures when the
file asks for them; every commitment in a table. Plotly's JavaScript is inlined (no network);
every label from the input is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go
import plotly.offline

from chipfolio.errors import InputError
from chipfolio.interfaces.report import charts
from chipfolio.interfaces.report.page import CSS, _figure_html
from chipfolio.procurement import ProcurementResult

CHART_IDS = ("chart-timeline", "chart-capacity", "chart-costs", "chart-power")


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _money(value: float | None) -> str:
    return "—" if value is None else charts.usd(value)


def _section(title: str, lead: str, body: str, section_id: str) -> str:
    return (
        f'<section id="{section_id}"><h2>{_esc(title)}</h2>'
        f'<p class="lead">{_esc(lead)}</p>{body}</section>'
    )


def _vendors(result: ProcurementResult) -> list[str]:
    found: set[str] = set()
    for p in result.periods:
        found.update(p.committed_chips)
        found.update(p.power_mw)
        found.update(p.vendor_shares)
    return sorted(found)


def timeline_chart(result: ProcurementResult, colors: dict[str, str]) -> go.Figure:
    """Each commitment as a bar from its start to its end period (sign-now solid)."""
    fig = go.Figure()
    rows: list[str] = []
    for c in result.commitments:
        label = f"{c.contract} @ p{c.sign_period}"
        if label not in rows:
            rows.append(label)
    vendor_of = _vendor_of(result)
    for c in result.commitments:
        vendor = vendor_of.get(c.contract, c.provider)
        who = "all scenarios" if c.sign_period == 0 else f"p={c.probability:.2f}"
        fig.add_trace(
            go.Bar(
                x=[c.end_period - c.start_period],
                base=[c.start_period],
                y=[f"{c.contract} @ p{c.sign_period}"],
                orientation="h",
                marker={
                    "color": colors.get(vendor, charts.PALETTE[0]),
                    "opacity": 1.0 if c.sign_period == 0 else max(0.25, c.probability),
                },
                name=charts.safe(vendor),
                showlegend=False,
                hovertext=charts.safe(
                    f"{c.contract}: {c.chips:,} {c.chip} chips from {c.provider}, periods "
                    f"{c.start_period}-{c.end_period}, signed at {c.sign_period} ({who}), "
                    f"{charts.usd(c.committed_usd)} committed"
                ),
                hoverinfo="text",
            )
        )
    fig.update_yaxes(categoryorder="array", categoryarray=[charts.safe(r) for r in rows[::-1]])
    fig.update_xaxes(title_text="period", range=[0, len(result.periods)])
    fig.update_layout(barmode="overlay", bargap=0.35)
    height = max(260, 90 + 34 * len(rows))
    return charts._layout(fig, "Commitments (later signings shaded by probability)", height)


def _vendor_of(result: ProcurementResult) -> dict[str, str]:
    """The share-by label of each contract (from the per-period committed chips)."""
    out: dict[str, str] = {}
    for c in result.commitments:
        for p in result.periods:
            for vendor, chips in p.committed_chips.items():
                if c.chip in chips:
                    out.setdefault(c.contract, vendor)
    return out


def capacity_chart(result: ProcurementResult, colors: dict[str, str]) -> go.Figure:
    """Expected committed chips by vendor (stacked) and on-demand, against the p5-p95 fan of
    the chips the demand needs (each workload on its best chip)."""
    fig = go.Figure()
    periods = [p.period for p in result.periods]
    for vendor in _vendors(result):
        values = [sum(p.committed_chips.get(vendor, {}).values()) for p in result.periods]
        if any(v > 0 for v in values):
            fig.add_trace(
                go.Scatter(
                    x=periods, y=values, name=charts.safe(vendor), stackgroup="committed",
                    line={"color": colors.get(vendor, charts.PALETTE[0]), "width": 0.5},
                )
            )  # fmt: skip
    on_demand = [sum(p.on_demand_chips.values()) for p in result.periods]
    if any(v > 0 for v in on_demand):
        fig.add_trace(
            go.Scatter(
                x=periods, y=on_demand, name="on-demand (expected)", stackgroup="committed",
                line={"color": "#94a3b8", "width": 0.5},
            )
        )  # fmt: skip
    lo = [p.chips_needed.get("p5", 0.0) for p in result.periods]
    mid = [p.chips_needed.get("p50", 0.0) for p in result.periods]
    hi = [p.chips_needed.get("p95", 0.0) for p in result.periods]
    fig.add_trace(
        go.Scatter(x=periods, y=hi, name="needed p95", line={"color": "#0f172a", "dash": "dot"})
    )
    fig.add_trace(
        go.Scatter(x=periods, y=lo, name="needed p5-p95", fill="tonexty",
                   fillcolor="rgba(15,23,42,0.10)", line={"color": "#0f172a", "dash": "dot"})
    )  # fmt: skip
    fig.add_trace(go.Scatter(x=periods, y=mid, name="needed p50", line={"color": "#0f172a"}))
    fig.update_xaxes(title_text="period")
    fig.update_yaxes(title_text="chips")
    return charts._layout(fig, "Capacity against the demand fan", 420)


def cost_chart(result: ProcurementResult) -> go.Figure:
    """Cost of every scenario (sorted), bar width by nothing, hover shows the probability."""
    ordered = sorted(result.scenarios, key=lambda s: s.cost_usd)
    fig = go.Figure(
        go.Bar(
            x=[charts.safe(s.name) for s in ordered],
            y=[s.cost_usd for s in ordered],
            marker={"color": "#2563eb"},
            hovertext=[
                charts.safe(
                    f"{s.name}: {charts.usd(s.cost_usd)} (p={s.probability:.3f}), "
                    f"on-demand {charts.usd(s.on_demand_usd)}"
                )
                for s in ordered
            ],
            hoverinfo="text",
            name="cost",
        )
    )
    fig.add_hline(y=result.expected_cost_usd, line_dash="dash", line_color="#16a34a",
                  annotation_text="expected")  # fmt: skip
    fig.add_hline(y=result.cvar_95_usd, line_dash="dot", line_color="#dc2626",
                  annotation_text="CVaR 95%")  # fmt: skip
    fig.update_xaxes(title_text="scenario (sorted by cost)", showticklabels=len(ordered) <= 40)
    fig.update_yaxes(title_text="USD")
    return charts._layout(fig, "Cost by scenario", 380)


def power_chart(result: ProcurementResult, colors: dict[str, str]) -> go.Figure:
    """Expected facility MW by vendor per period (stacked)."""
    fig = go.Figure()
    periods = [p.period for p in result.periods]
    for vendor in _vendors(result):
        values = [p.power_mw.get(vendor, 0.0) for p in result.periods]
        if any(v > 0 for v in values):
            fig.add_trace(
                go.Scatter(
                    x=periods, y=values, name=charts.safe(vendor), stackgroup="mw",
                    line={"color": colors.get(vendor, charts.PALETTE[0]), "width": 0.5},
                )
            )  # fmt: skip
    title = f"Megawatts by vendor (expected, PUE {result.pue:g})"
    if result.peak_mw is None:
        title = "Megawatts by vendor: not shown (a chip's watts are unknown)"
    fig.update_xaxes(title_text="period")
    fig.update_yaxes(title_text="MW")
    return charts._layout(fig, title, 380)


def _cards(result: ProcurementResult) -> str:
    now = result.sign_now
    items = [
        ("Expected cost", _money(result.expected_cost_usd), f"{result.status}, gap "
         + ("—" if result.gap is None else f"{100 * result.gap:.2f}%")),
        ("CVaR 95%", _money(result.cvar_95_usd), "mean of the worst 5% of futures"),
        ("Sign now", f"{len(now)}", _money(sum(c.committed_usd for c in now)) + " committed"),
        ("Value of the stochastic solution", _money(result.vss_usd), "vs planning on the mean"),
        ("Value of perfect information", _money(result.evpi_usd), "what knowing the future is "
         "worth"),
        ("Peak power", "—" if result.peak_mw is None else f"{result.peak_mw:,.1f} MW",
         f"PUE {result.pue:g}"),
    ]  # fmt: skip
    cards = "".join(
        f'<div class="card"><div class="label">{_esc(a)}</div><div class="value">{_esc(b)}'
        f'</div><div class="sub">{_esc(c)}</div></div>'
        for a, b, c in items
    )
    return f'<div class="cards">{cards}</div>'


def _table(head: Sequence[str], rows: Sequence[Sequence[object]], numeric: set[int]) -> str:
    th = "".join(f"<th>{_esc(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_esc(v)}</td>' if i in numeric else f"<td>{_esc(v)}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _commitment_table(result: ProcurementResult) -> str:
    n = len(result.scenarios)
    rows = [
        (
            c.contract, c.provider, c.chip, "now" if c.sign_period == 0 else f"p{c.sign_period}",
            f"{c.start_period}-{c.end_period}",
            "all" if len(c.scenarios) == n else f"{len(c.scenarios)} (p={c.probability:.2f})",
            f"{c.chips:,}", f"${c.usd_per_chip_hour:,.3f}", charts.usd(c.committed_usd),
        )
        for c in result.commitments
    ]  # fmt: skip
    head = ("contract", "provider", "chip", "sign", "periods", "scenarios", "chips",
            "$/chip-h", "committed")  # fmt: skip
    return _table(head, rows, {6, 7, 8})


def _negotiation(result: ProcurementResult) -> str:
    if not result.negotiation:
        return ""
    rows = [
        (
            n.contract, f"${n.usd_per_chip_hour:,.3f}", _money(n.value_usd),
            "—" if n.break_even_usd_per_chip_hour is None
            else f"${n.break_even_usd_per_chip_hour:,.3f}",
            "—" if n.shorter_term_periods is None else f"{n.shorter_term_periods} periods",
            _money(n.shorter_term_value_usd), "; ".join(n.notes),
        )
        for n in result.negotiation
    ]  # fmt: skip
    head = ("contract", "price", "value", "break-even price", "shorter term",
            "value of the shorter term", "notes")  # fmt: skip
    return _section(
        "Negotiation",
        "Value: expected cost without the contract minus with it. Break-even: the highest "
        "price at which the plan still signs it. Shorter term: expected cost with the term "
        "minus with the shorter one at the same price (what flexibility is worth).",
        _table(head, rows, {1, 2, 3, 5}),
        "negotiation",
    )


def _sampling(result: ProcurementResult) -> str:
    s = result.sampling
    if not s:
        return ""
    rows = [
        ("scenarios in the sample", f"{s['scenarios']:,}"),
        ("in-sample objective", _money(s["in_sample_usd"])),
        (f"out-of-sample ({s['out_of_sample_scenarios']:,} scenarios)",
         _money(s["out_of_sample_usd"])),
        ("statistical gap", _money(s["gap_usd"])),
        ("standard error", _money(s["std_error_usd"])),
    ]  # fmt: skip
    return _section(
        "Sample average approximation",
        "The sign-now decision re-costed on an independent sample from the same generator.",
        _table(("figure", "value"), rows, {1}),
        "sampling",
    )


def render_procurement_report(result: ProcurementResult, title: str, source: str) -> str:
    """The whole report as one HTML string (Plotly's JavaScript inlined)."""
    colors = charts.vendor_colors(_vendors(result))
    notes = "".join(f'<p class="warning" role="status">{_esc(n)}</p>' for n in result.notes)
    sections = [
        notes,
        _cards(result),
        _section(
            "Commitments",
            "What to sign and when; later signings apply only in the futures where the plan "
            "makes them (shaded by their probability).",
            _figure_html(timeline_chart(result, colors), "chart-timeline")
            + _commitment_table(result),
            "commitments",
        ),
        _section(
            "Capacity against demand",
            "Expected chips held (committed by vendor, then on-demand) against the chips the "
            "demand needs with each workload on its best chip (median and 5-95% band).",
            _figure_html(capacity_chart(result, colors), "chart-capacity"),
            "capacity",
        ),
        _section(
            "Cost by scenario",
            "Total cost of every future with the plan, against its expectation and CVaR.",
            _figure_html(cost_chart(result), "chart-costs"),
            "costs",
        ),
        _section(
            "Power",
            "Facility megawatts of the chips held: watts per chip (chip registry or the file) "
            "times PUE.",
            _figure_html(power_chart(result, colors), "chart-power"),
            "power",
        ),
        _negotiation(result),
        _sampling(result),
    ]
    plotly_js = plotly.offline.get_plotlyjs()
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{CSS}</style>"
        f'<script type="text/javascript">{plotly_js}</script></head><body>'
        f"<header><h1>{_esc(title)}</h1><p>{_esc(source)}</p></header>"
        f"<main>{''.join(sections)}</main>"
        "<footer>Generated by chipfolio procure. Charts are interactive: hover for figures."
        "</footer></body></html>\n"
    )


def write_procurement_report(result: ProcurementResult, name: str, source: str, out: Path) -> Path:
    """Render and write the report; a file that cannot be written is an input error."""
    text = render_procurement_report(result, f"chipfolio procurement — {name}", source)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot write the report: {exc.strerror or exc}", file=str(out), field="--html"
        ) from exc
    return out
