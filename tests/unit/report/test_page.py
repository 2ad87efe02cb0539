"""The HTML report as text: every section, no external resources, hostile names kept inert."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from report_fixtures import (
    HOSTILE_NAME,
    analyzed,
    portfolio_file,
    simulation_json,
    write_simulation,
)

from chipfolio.analysis.leverage import LeverageReport
from chipfolio.interfaces.cli.app import main
from chipfolio.interfaces.report import ReportInput, load_simulation, render_report
from chipfolio.planner import PlanStatus

CHARTS = ("chart-sankey", "chart-spend", "chart-leverage", "chart-frontier")
SIM_CHARTS = ("chart-sim-cost", "chart-sim-unserved")


def render(report: LeverageReport, sim: Path | None = None) -> str:
    summary = load_simulation(sim) if sim is not None else None
    data = ReportInput("t", "src", report, {"catalog snapshot": "none"}, summary)
    return render_report(data)


def test_every_section_and_chart(leverage_report: LeverageReport) -> None:
    html = render(leverage_report)
    for chart in CHARTS:
        assert f'id="{chart}"' in html
    for chart in SIM_CHARTS:
        assert chart not in html
    for section in ("takeaways", "allocation", "leverage", "n-minus-1", "frontier", "assumptions"):
        assert f'<section id="{section}">' in html
    for v in leverage_report.vendors:
        assert f"<td>{v.vendor}</td>" in html


def test_self_contained(leverage_report: LeverageReport) -> None:
    html = render(leverage_report)
    assert html.count("<script") >= 1 + len(CHARTS)
    assert not re.search(r"<script[^>]*\bsrc=", html)
    markup = re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.S)
    assert not re.search(r"<link[^>]*href=", markup)
    assert not re.search(r"""(src|href)=["']?https?:""", markup)
    assert "Plotly.newPlot" in html


def test_leverage_figures_are_readable(leverage_report: LeverageReport) -> None:
    html = render(leverage_report)
    for v in leverage_report.vendors:
        if v.walk_away_multiplier is not None:
            assert f"×{v.walk_away_multiplier:.3f}" in html
    assert "cost of losing it" in html and "walk-away price" in html


def test_simulation_adds_distributions_and_the_premium(
    leverage_report: LeverageReport, tmp_path: Path
) -> None:
    html = render(leverage_report, write_simulation(tmp_path, simulation_json()))
    for chart in SIM_CHARTS:
        assert f'id="{chart}"' in html
    assert '"type":"box"' in html
    premium = re.search(r"costs a median ([+-]\d+\.\d)% over the cheapest plan", html)
    assert premium is not None and 5.0 < float(premium.group(1)) < 16.0


def test_simulation_without_samples_uses_percentiles(
    leverage_report: LeverageReport, tmp_path: Path
) -> None:
    html = render(leverage_report, write_simulation(tmp_path, simulation_json(samples=False)))
    assert '"type":"box"' not in html and '"type":"bar"' in html
    assert "+11.0% over the cheapest plan" in html


def test_hostile_provider_name_is_inert(tmp_path: Path) -> None:
    report = analyzed(tmp_path, HOSTILE_NAME)
    assert HOSTILE_NAME in [v.vendor for v in report.vendors]
    html = render(report)
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_report_command_writes_one_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    sim = write_simulation(tmp_path, simulation_json())
    code = main(
        ["report", str(portfolio_file(tmp_path)), "--html", str(out), "--simulation", str(sim)]
    )
    assert code == 0, capsys.readouterr().err
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "three clouds" in html
    assert "performance model" in html and "not used" in html
    assert "60 scenarios, seed 7" in html


def test_report_command_bad_simulation_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "sim.json"
    bad.write_text("{]")
    out = tmp_path / "r.html"
    code = main(
        ["report", str(portfolio_file(tmp_path)), "--html", str(out), "--simulation", str(bad)]
    )
    err = capsys.readouterr().err
    assert code == 2 and "sim.json" in err and "Traceback" not in err
    assert not out.exists()


def test_report_command_unwritable_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no-such-dir" / "r.html"
    assert main(["report", str(portfolio_file(tmp_path)), "--html", str(out)]) == 2
    assert "r.html" in capsys.readouterr().err


def test_loss_wording_ignores_solver_noise() -> None:
    from chipfolio.interfaces.report.charts import loss_text

    assert loss_text(-2.0, 6_877_187.0) == "costs nothing"
    assert loss_text(None, 1.0) == "cannot be replaced"
    assert loss_text(1_250_000.0, 6_877_187.0) == "costs $1.25M"
    assert loss_text(-4_197_078.0, 6_877_187.0) == "saves $4.2M"


def test_a_plan_not_proven_within_its_gap_is_flagged(leverage_report: LeverageReport) -> None:
    import dataclasses

    plan = leverage_report.plan
    short = dataclasses.replace(
        plan,
        status=PlanStatus.FEASIBLE,
        solver=dataclasses.replace(plan.solver, gap=0.25, requested_gap=0.001),
    )
    assert short.warnings() and "25.0% cheaper may exist" in short.warnings()[0]
    html = render_report(
        ReportInput("t", "src", dataclasses.replace(leverage_report, plan=short), {}, None)
    )
    assert 'class="warning"' in html and "25.0% cheaper may exist" in html
    assert 'class="warning"' not in render(leverage_report)
