"""Plotly figures of the report: allocation Sankey, vendor spend, leverage, frontier, simulation.

Each function takes plain values and returns a ``plotly.graph_objects.Figure``; nothing here
writes files or HTML. Labels that come from user input are HTML-escaped because Plotly renders
a subset of HTML inside text.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from chipfolio.analysis.frontier import Frontier
from chipfolio.analysis.leverage import VendorLeverage
from chipfolio.interfaces.report.simulation import SimulationSummary
from chipfolio.planner.plan import Plan

PALETTE = (
    "#2563eb",
    "#f97316",
    "#16a34a",
    "#dc2626",
    "#9333ea",
    "#0891b2",
    "#ca8a04",
    "#db2777",
    "#4b5563",
    "#65a30d",
)
NODE_COLORS = {"workload": "#334155", "chip": "#64748b"}
TEMPLATE = "plotly_white"


def safe(label: object) -> str:
    """A user-supplied label made inert for Plotly's HTML-like text rendering."""
    return html.escape(str(label), quote=True)


def usd(value: float) -> str:
    """Compact dollars: $950, $12.3K, $4.56M, $1.20B."""
    sign = "-" if value < 0 else ""
    v = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if v >= limit:
            return (
                f"{sign}${v / limit:.3g}{suffix}"
                if v / limit < 100
                else f"{sign}${v / limit:.0f}{suffix}"
            )
    return f"{sign}${v:,.0f}"


def vendor_colors(vendors: Sequence[str]) -> dict[str, str]:
    """A stable color per vendor (by sorted name) so every chart agrees."""
    return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(sorted(vendors))}


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 16}},
        height=height,
        margin={"l": 60, "r": 30, "t": 60, "b": 50},
        font={"family": "Inter, Segoe UI, Helvetica, Arial, sans-serif", "size": 13},
    )
    return fig


def allocation_sankey(plan: Plan, colors: Mapping[str, str]) -> go.Figure:
    """Spend flowing workload -> chip -> vendor (the policy's share_by)."""
    vendor_key = "provider" if plan.share_by == "provider" else "vendor"
    flows_wc: dict[tuple[str, str], float] = {}
    flows_cv: dict[tuple[str, str], float] = {}
    for a in plan.allocations:
        workload = a.workload if a.workload is not None else "(idle commitment)"
        vendor = str(getattr(a, vendor_key))
        flows_wc[(workload, a.chip)] = flows_wc.get((workload, a.chip), 0.0) + a.cost_usd
        flows_cv[(a.chip, vendor)] = flows_cv.get((a.chip, vendor), 0.0) + a.cost_usd
    workloads = list(dict.fromkeys(w for w, _ in flows_wc))
    chips = list(dict.fromkeys(c for _, c in flows_wc))
    vendors = list(dict.fromkeys(v for _, v in flows_cv))
    nodes = [("workload", w) for w in workloads] + [("chip", c) for c in chips]
    nodes += [("vendor", v) for v in vendors]
    index = {node: i for i, node in enumerate(nodes)}
    source, target, value, link_color = [], [], [], []
    for (w, c), cost in flows_wc.items():
        source.append(index[("workload", w)])
        target.append(index[("chip", c)])
        value.append(cost)
        link_color.append("rgba(100,116,139,0.30)")
    for (c, v), cost in flows_cv.items():
        source.append(index[("chip", c)])
        target.append(index[("vendor", v)])
        value.append(cost)
        link_color.append(_rgba(colors.get(v, PALETTE[-2]), 0.40))
    node_color = [
        colors.get(name, PALETTE[-2]) if kind == "vendor" else NODE_COLORS[kind]
        for kind, name in nodes
    ]
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            valueformat="$,.0f",
            node={
                "label": [safe(name) for _, name in nodes],
                "color": node_color,
                "pad": 18,
                "thickness": 18,
                "customdata": [kind for kind, _ in nodes],
                "hovertemplate": "%{label} (%{customdata})<br>%{value}<extra></extra>",
            },
            link={"source": source, "target": target, "value": value, "color": link_color},
        )
    )
    height = max(380, 28 * max(len(workloads), len(chips), len(vendors)) + 120)
    return _layout(fig, f"Where the money goes: workload → chip → {plan.share_by}", height)


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def vendor_spend(
    vendors: Sequence[VendorLeverage], colors: Mapping[str, str], max_share: float
) -> go.Figure:
    """Share of spend per vendor as bars (cost in the label), with the policy's cap."""
    rows = sorted(vendors, key=lambda v: -v.cost_usd)
    names = [safe(v.vendor) for v in rows]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[100.0 * v.share for v in rows],
            marker_color=[colors[v.vendor] for v in rows],
            text=[f"{usd(v.cost_usd)} · {100 * v.share:.1f}%" for v in rows],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}<br>share %{y:.1f}%<extra></extra>",
            name="share of spend",
        )
    )
    if max_share < 1.0:
        fig.add_hline(
            y=100.0 * max_share,
            line_dash="dash",
            line_color="#dc2626",
            annotation_text=f"cap {100 * max_share:.0f}%",
            annotation_position="top right",
        )
    top = max([100.0 * v.share for v in rows] + [100.0 * min(max_share, 1.0)] + [1.0])
    fig.update_yaxes(title_text="share of spend (%)", range=[0, top * 1.2])
    return _layout(fig, "Cost and share by vendor", 420)


def settled(value: float, scale: float) -> float:
    """``value`` with solver noise (below a millionth of ``scale``, or a dollar) set to 0."""
    return 0.0 if abs(value) < max(1e-5 * abs(scale), 1.0) else value


def loss_text(leverage_usd: float | None, scale: float) -> str:
    """What losing a vendor does to the plan's cost, in words."""
    if leverage_usd is None:
        return "cannot be replaced"
    value = settled(leverage_usd, scale)
    if value > 0:
        return f"costs {usd(value)}"
    if value < 0:
        return f"saves {usd(-value)}"
    return "costs nothing"


def leverage_bars(
    vendors: Sequence[VendorLeverage], colors: Mapping[str, str], plan_cost_usd: float
) -> go.Figure:
    """Cost of losing each vendor the plan buys from, labelled with its walk-away multiplier."""
    rows = [v for v in vendors if v.cost_usd > 0]
    rows.sort(key=lambda v: -(v.leverage_usd if v.leverage_usd is not None else float("inf")))
    values, labels = [], []
    for v in rows:
        value = 0.0 if v.leverage_usd is None else settled(v.leverage_usd, plan_cost_usd)
        values.append(value)
        walk = (
            f"walk away above ×{v.walk_away_multiplier:.2f}"
            if v.walk_away_multiplier is not None
            else "no walk-away price"
        )
        labels.append(f"{loss_text(v.leverage_usd, plan_cost_usd)} · {walk}")
    fig = go.Figure(
        go.Bar(
            y=[safe(v.vendor) for v in rows],
            x=values,
            orientation="h",
            marker_color=[colors[v.vendor] for v in rows],
            text=labels,
            textposition=["inside" if x < 0 else "outside" for x in values],
            insidetextanchor="middle",
            cliponaxis=False,
            hovertemplate="%{y}: cost without it minus plan cost %{x:$,.0f}<extra></extra>",
        )
    )
    low, high = min([*values, 0.0]), max([*values, 0.0])
    span = max(high - low, 1.0)
    fig.update_xaxes(
        title_text="extra cost if the vendor is lost (USD)",
        range=[low - (0.1 * span if low < 0 else 0.0), high + 0.8 * span],
        tickformat="$,.3s",
    )
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "Cost of losing each vendor", max(300, 48 * len(rows) + 120))


def frontier_chart(frontier: Frontier, policy_cap: float) -> go.Figure:
    """Plan cost against the vendor-share cap, from 1.0 to the tightest feasible cap."""
    ok = [p for p in frontier.points if p.cost_usd is not None]
    bad = [p for p in frontier.points if p.cost_usd is None]
    fig = go.Figure(
        go.Scatter(
            x=[p.max_share for p in ok],
            y=[p.cost_usd for p in ok],
            mode="lines+markers",
            line={"color": "#2563eb", "width": 2, "shape": "linear"},
            marker={"size": 7},
            name="plan cost",
            customdata=[p.status.value for p in ok],
            hovertemplate="cap %{x:.3f}: %{y:$,.0f} (%{customdata})<extra></extra>",
        )
    )
    tight = [p for p in ok if p.tightest]
    if tight:
        fig.add_trace(
            go.Scatter(
                x=[tight[0].max_share],
                y=[tight[0].cost_usd],
                mode="markers",
                marker={"size": 14, "symbol": "star", "color": "#dc2626"},
                name=f"tightest feasible cap {tight[0].max_share:.3f}",
                hovertemplate="tightest feasible cap %{x:.3f}: %{y:$,.0f}<extra></extra>",
            )
        )
    if bad:
        floor = min(p.cost_usd for p in ok if p.cost_usd is not None) if ok else 0.0
        fig.add_trace(
            go.Scatter(
                x=[p.max_share for p in bad],
                y=[floor] * len(bad),
                mode="markers",
                marker={"size": 10, "symbol": "x", "color": "#9ca3af"},
                name="no feasible plan",
                customdata=[p.status.value for p in bad],
                hovertemplate="cap %{x:.3f}: %{customdata}<extra></extra>",
            )
        )
    if policy_cap < 1.0:
        fig.add_vline(
            x=policy_cap,
            line_dash="dot",
            line_color="#16a34a",
            annotation_text=f"your cap {policy_cap:g}",
        )
    fig.update_xaxes(title_text="max share of spend per vendor", autorange="reversed")
    fig.update_yaxes(title_text="plan cost (USD)", tickformat="$,.3s")
    fig.update_layout(legend={"orientation": "h", "y": -0.2})
    return _layout(fig, "Cost versus concentration", 440)


def simulation_distributions(summary: SimulationSummary) -> list[go.Figure]:
    """Cost and unserved-demand distributions per strategy (box plots, or percentiles)."""
    names = list(summary.strategies)
    colors = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
    figures = []
    for metric, title, fmt in (
        ("cost_usd", "Scenario cost by strategy", "$,.3s"),
        ("unserved_fraction", "Unserved inference demand by strategy", ".1%"),
    ):
        fig = go.Figure()
        for name in names:
            strategy = summary.strategies[name]
            samples = strategy.samples.get(metric) if strategy.samples else None
            if samples:
                fig.add_trace(
                    go.Box(y=samples, name=safe(name), marker_color=colors[name], boxmean=True)
                )
            else:
                stats = strategy.metric(metric)
                fig.add_trace(
                    go.Bar(
                        x=["p50", "p95", "p99", "mean"],
                        y=[stats.p50, stats.p95, stats.p99, stats.mean],
                        name=safe(name),
                        marker_color=colors[name],
                    )
                )
        fig.update_yaxes(tickformat=fmt)
        fig.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.15})
        figures.append(_layout(fig, title, 420))
    return figures
