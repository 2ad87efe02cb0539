"""The procurement report: every section and chart present, input text escaped, in a real
headless browser the charts render without errors or network (skipped without chromium)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from chipfolio.interfaces.browser import CHROMIUM_ARGS, chromium_path
from chipfolio.interfaces.cli.app import main
from chipfolio.interfaces.report.procurement import CHART_IDS, render_procurement_report
from chipfolio.planner import SolveOptions
from chipfolio.procurement import ProcurementResult, procurement_from_data, solve_procurement

ROOT = Path(__file__).resolve().parents[3]
MINIMAL = ROOT / "examples" / "procurement-minimal.yaml"
HOSTILE = "<img src=x onerror=alert(1)>'\"&"


def _data() -> dict[str, Any]:
    data = dict(yaml.safe_load(MINIMAL.read_text(encoding="utf-8")))
    data["name"] = HOSTILE
    data["contracts"][0]["provider"] = HOSTILE
    data["power"] = {"pue": 1.3}
    data["negotiate"] = [{"contract": "maia-2y", "shorter_term_periods": 12}]
    data["contracts"][0]["sign_periods"] = [0, 12]
    return data


@pytest.fixture(scope="module")
def result() -> ProcurementResult:
    proc = procurement_from_data(_data(), "<test>")
    return solve_procurement(proc, SolveOptions(time_limit_s=60, mip_gap=1e-6), values=True)


@pytest.fixture(scope="module")
def page(result: ProcurementResult) -> str:
    return render_procurement_report(result, f"report {HOSTILE}", "f.yaml")


def test_every_section_and_chart_is_there(page: str) -> None:
    for chart in CHART_IDS:
        assert f'id="{chart}"' in page
    for section in ("commitments", "capacity", "costs", "power", "negotiation"):
        assert f'<section id="{section}">' in page
    assert "<script src=" not in page  # Plotly inlined: no network


def test_input_text_is_escaped(page: str) -> None:
    assert HOSTILE not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_cli_writes_the_report_and_refuses_a_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.html"
    assert main(["procure", str(MINIMAL), "--no-values", "--html", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    code = main(["procure", str(MINIMAL), "--html", str(tmp_path / "no" / "p.html")])
    err = capsys.readouterr().err
    assert code == 2 and "--html" in err and "does not exist" in err


def _playwright() -> Any:
    in_ci = os.environ.get("CI") == "true"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if in_ci:
            pytest.fail("playwright is not installed (pip install -e '.[dev]')")
        pytest.skip("playwright is not installed")
    if chromium_path() is None:
        if in_ci:
            pytest.fail("Debian's chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return sync_playwright


@pytest.mark.browser
def test_procurement_charts_render_in_a_browser(page: str, tmp_path: Path) -> None:
    sync_playwright = _playwright()
    path = tmp_path / "procurement.html"
    path.write_text(page, encoding="utf-8")
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium_path()), args=list(CHROMIUM_ARGS))
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            tab.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
            tab.on("request", lambda r: requests.append(r.url))
            tab.goto(path.as_uri())
            tab.wait_for_load_state("load")
            tab.wait_for_function(
                "ids => ids.every(id => document.querySelector('#' + id + ' .main-svg'))",
                arg=list(CHART_IDS),
                timeout=20_000,
            )
            bars = tab.locator("#chart-timeline .point").count()
            cost_bars = tab.locator("#chart-costs .point").count()
            traces = tab.locator("#chart-capacity .scatterlayer .trace").count()
            mw = tab.locator("#chart-power .scatterlayer .trace").count()
            text = tab.inner_text("body")
        finally:
            browser.close()
    assert not problems, problems
    assert bars >= 1 and cost_bars == 2 and traces >= 4 and mw >= 1
    assert [r for r in requests if not r.startswith("file://")] == []
    assert HOSTILE.split(">")[0] in text  # shown as text, never run as markup
