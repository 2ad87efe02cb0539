"""Assembles the self-contained HTML report: one file, Plotly's JavaScript inlined, no network.

Sections: headline figures and per-vendor takeaways; where the money goes (Sankey); cost,
share and leverage by vendor; N-1 resilience; the cost-versus-concentration frontier; shadow
prices; scenario distributions when a simulation is given; the assumptions behind it all.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field

import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline

from chipfolio.analysis.leverage import LeverageReport, VendorLeverage
from chipfolio.interfaces.report import charts, tables
from chipfolio.interfaces.report.simulation import SimulationSummary

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

CSS = """
:root { --ink:#0f172a; --muted:#64748b; --line:#e2e8f0; --bg:#f8fafc; --ok:#15803d; --bad:#b91c1c; }
* { box-sizing: border-box; }
body { margin:0; font-family: Inter, "Segoe UI", Helvetica, Arial, sans-serif; color:var(--ink);
       background:var(--bg); line-height:1.45; }
header { background:#0f172a; color:#f8fafc; padding:28px 40px 24px; }
header h1 { margin:0 0 4px; font-size:26px; }
header p { margin:0; color:#cbd5e1; }
main { max-width:1280px; margin:0 auto; padding:24px 40px 60px; }
section { background:#fff; border:1px solid var(--line); border-radius:10px; padding:20px 24px;
          margin:0 0 22px; }
section h2 { margin:0 0 6px; font-size:19px; }
section > p.lead { margin:0 0 14px; color:var(--muted); }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(190px,1fr)); gap:14px;
         margin:0 0 22px; }
.warning { background:#fff4e5; border:1px solid #f0b36b; border-radius:8px; padding:10px 14px;
  font-weight:600; }
.card { background:#fff; border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
.card .label { color:var(--muted); font-size:13px; }
.card .value { font-size:24px; font-weight:650; margin-top:2px; }
.card .sub { color:var(--muted); font-size:12.5px; }
.grid2 { display:grid; grid-template-columns:1fr 1fr; gap:18px; }
@media (max-width: 1000px) { .grid2 { grid-template-columns:1fr; } }
table { border-collapse:collapse; width:100%; font-size:13.5px; margin-top:10px; }
th, td { padding:7px 10px; border-bottom:1px solid var(--line); text-align:left;
         vertical-align:top; }
th { background:#f1f5f9; font-weight:600; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.strong { font-weight:650; }
td.ok { color:var(--ok); } td.bad { color:var(--bad); font-weight:650; }
.muted { color:var(--muted); }
ul.takeaways { margin:8px 0 0 18px; padding:0; } ul.takeaways li { margin:3px 0; }
dl { display:grid; grid-template-columns:max-content 1fr; gap:6px 18px; margin:0; font-size:14px; }
dt { color:var(--muted); } dd { margin:0; word-break:break-word; }
details summary { cursor:pointer; color:#2563eb; margin-top:10px; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:10px; }
"""


@dataclass(frozen=True, slots=True)
class ReportInput:
    """What the report shows: the leverage analysis (with its plan) and its context."""

    title: str
    source: str
    leverage: LeverageReport
    assumptions: Mapping[str, str] = field(default_factory=dict)
    simulation: SimulationSummary | None = None


def _figure_html(fig: go.Figure, div_id: str) -> str:
    height = fig.layout.height or 420
    body: str = pio.to_html(
        fig,
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        config=PLOTLY_CONFIG,
        default_height=f"{height}px",
        validate=True,
    )
    return f'<div class="chart" data-chart="{div_id}">{body}</div>'


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _cards(report: LeverageReport) -> str:
    plan = report.plan
    used = [v for v in report.vendors if v.cost_usd > 0]
    c = report.concentration
    equiv = (
        f"as concentrated as {c.equivalent_vendors:.1f} equal vendors"
        if c.equivalent_vendors
        else ""
    )
    policy_usd = report.policy_cost_usd
    policy_pct = (policy_usd or 0.0) / report.plan_cost_usd if report.plan_cost_usd else 0.0
    exposed = [
        v
        for v in used
        if v.leverage_usd is not None and charts.settled(v.leverage_usd, report.plan_cost_usd) > 0
    ]
    riskiest = max(exposed, key=lambda v: v.leverage_usd or 0.0, default=None)
    items = [
        (
            "Plan cost",
            charts.usd(report.plan_cost_usd),
            f"{plan.status.value}, {plan.horizon_hours:g} h horizon",
        ),
        ("Vendors used", str(len(used)), f"grouped by {plan.share_by}"),
        ("Concentration (HHI)", f"{c.hhi:,.0f}", equiv),
        (
            "Cost of the policy",
            "unknown" if policy_usd is None else charts.usd(policy_usd),
            "the time limit came first"
            if policy_usd is None
            else f"{100 * policy_pct:.1f}% of the plan",
        ),
    ]
    if riskiest is not None and riskiest.leverage_usd is not None:
        items.append(
            (
                "Costliest to lose",
                riskiest.vendor,
                f"+{charts.usd(riskiest.leverage_usd)} without it",
            )
        )
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="label">{_esc(a)}</div>'
            f'<div class="value">{_esc(b)}</div><div class="sub">{_esc(s)}</div></div>'
            for a, b, s in items
        )
        + "</div>"
    )


def _takeaway(v: VendorLeverage, plan_cost_usd: float) -> str:
    head = (
        f"<b>{_esc(v.vendor)}</b>: {100 * v.share:.1f}% of spend ({_esc(charts.usd(v.cost_usd))})"
    )
    if v.walk_away_multiplier is not None:
        m = v.walk_away_multiplier
        price = v.walk_away_usd_per_chip_hour
        at = f" (about ${price:,.2f} per chip-hour)" if price is not None else ""
        bound_only = v.search_method == "at_least"
        if bound_only and v.cost_usd > 0 and m <= 1.0 + 1e-6:
            walk = (
                "; walk-away price not pinned down: the search's solve budget ended "
                "before it could prove a rise worth paying"
            )
        else:
            if v.cost_usd <= 0:
                verb = "would win business below" if not bound_only else "would win business at"
            elif m < 1.0:
                verb = "costs more than it saves today; worth it only below"
            else:
                verb = (
                    "still worth buying up to" if not bound_only else "worth buying at least up to"
                )
            walk = f"; {verb} ×{m:.2f} of today's prices{_esc(at)}"
    else:
        walk = f"; no walk-away price — {_esc(v.reason or 'needed at any price')}"
    if v.leverage_usd is not None and v.cost_usd > 0:
        lose = f"; losing it {_esc(charts.loss_text(v.leverage_usd, plan_cost_usd))}"
    elif v.cost_usd > 0:
        lose = "; the plan cannot do without it"
    else:
        lose = ""
    return f"<li>{head}{walk}{lose}.</li>"


def _section(title: str, lead: str, body: str, section_id: str) -> str:
    return (
        f'<section id="{section_id}"><h2>{_esc(title)}</h2>'
        f'<p class="lead">{_esc(lead)}</p>{body}</section>'
    )


def _simulation_section(sim: SimulationSummary) -> str:
    figs = charts.simulation_distributions(sim)
    premium = sim.median_cost_premium("n1", "cheapest")
    if premium is not None:
        line = (
            f"Protection against losing a vendor (strategy n1) costs a median "
            f"{100 * premium:+.1f}% over the cheapest plan."
        )
    else:
        line = "The n1 and cheapest strategies are not both present, so no premium is shown."
    capped = sim.median_cost_premium("capped", "cheapest")
    if capped is not None:
        line += f" Capping vendor shares alone costs a median {100 * capped:+.1f}%."
    body = (
        f"<p><b>{_esc(line)}</b></p>"
        f'<div class="grid2">{_figure_html(figs[0], "chart-sim-cost")}'
        f"{_figure_html(figs[1], 'chart-sim-unserved')}</div>" + tables.simulation_table(sim)
    )
    lead = f"{sim.scenarios} sampled futures (seed {sim.seed}); every strategy faces the same ones."
    return _section("Scenarios", lead, body, "scenarios")


def render_report(data: ReportInput) -> str:
    """The whole report as one HTML string (about 5 MB: Plotly's JavaScript is inlined)."""
    report, plan = data.leverage, data.leverage.plan
    colors = charts.vendor_colors([v.vendor for v in report.vendors])
    takeaways = "".join(_takeaway(v, report.plan_cost_usd) for v in report.vendors)
    sankey = charts.allocation_sankey(plan, colors)
    warnings = "".join(f'<p class="warning" role="alert">{_esc(w)}</p>' for w in plan.warnings())
    sections = [
        warnings,
        _cards(report),
        _section(
            "Per vendor at a glance",
            "Share of spend, the walk-away price (the highest uniform price rise at which the "
            "plan still buys from the vendor) and what losing the vendor would cost.",
            f'<ul class="takeaways">{takeaways}</ul>',
            "takeaways",
        ),
        _section(
            "Where the money goes",
            "Spend flowing from each workload to the chips it runs on and the vendor selling them.",
            _figure_html(sankey, "chart-sankey")
            + "<details><summary>All allocations</summary>"
            + tables.allocation_table(plan)
            + "</details>",
            "allocation",
        ),
        _section(
            "Vendors: spend and leverage",
            "Left: each vendor's share of spend against the policy cap. Right: the extra cost "
            "of a plan without that vendor — your exposure, and the value of the relationship.",
            '<div class="grid2">'
            + _figure_html(
                charts.vendor_spend(report.vendors, colors, plan.policy.max_share), "chart-spend"
            )
            + _figure_html(
                charts.leverage_bars(report.vendors, colors, report.plan_cost_usd), "chart-leverage"
            )
            + "</div>"
            + tables.leverage_table(report),
            "leverage",
        ),
        _section(
            "N-1: losing one vendor",
            f"Share of each critical workload's demand still served if a vendor disappears "
            f"(policy asks for {100 * plan.policy.n_minus_1:.0f}%).",
            tables.n_minus_1_table(plan),
            "n-minus-1",
        ),
        _section(
            "Cost versus concentration",
            "Plan cost as the cap on any vendor's share of spend tightens, down to the tightest "
            "cap that still has a plan (the star).",
            _figure_html(
                charts.frontier_chart(report.frontier, plan.policy.max_share), "chart-frontier"
            ),
            "frontier",
        ),
        _section(
            "Shadow prices of capacity",
            "What one more chip-hour of a capacity-limited offer would save, net of its price.",
            tables.shadow_table(report),
            "shadow-prices",
        ),
    ]
    if data.simulation is not None:
        sections.append(_simulation_section(data.simulation))
    sections.append(
        _section(
            "Assumptions",
            "Where the numbers come from.",
            tables.definition_list(data.assumptions),
            "assumptions",
        )
    )
    plotly_js = plotly.offline.get_plotlyjs()
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(data.title)}</title><style>{CSS}</style>"
        f'<script type="text/javascript">{plotly_js}</script></head><body>'
        f"<header><h1>{_esc(data.title)}</h1><p>{_esc(data.source)}</p></header>"
        f"<main>{''.join(sections)}</main>"
        "<footer>Generated by chipfolio. Charts are interactive: hover for figures.</footer>"
        "</body></html>\n"
    )
