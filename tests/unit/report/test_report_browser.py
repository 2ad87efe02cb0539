"""The report in a real headless browser: Debian's chromium driven by Playwright.

Skipped when chromium or Playwright is missing, unless CI=true (then missing tools fail).
Playwright never downloads a browser here: it launches /usr/bin/chromium.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from report_fixtures import HOSTILE_NAME, analyzed, simulation_json, write_simulation

from chipfolio.interfaces.browser import CHROMIUM_ARGS, chromium_path
from chipfolio.interfaces.report import ReportInput, load_simulation, render_report

CHARTS = (
    "chart-sankey",
    "chart-spend",
    "chart-leverage",
    "chart-frontier",
    "chart-sim-cost",
    "chart-sim-unserved",
)

pytestmark = pytest.mark.browser


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


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    report = analyzed(tmp, HOSTILE_NAME)
    sim = load_simulation(write_simulation(tmp, simulation_json()))
    path = tmp / "report.html"
    path.write_text(render_report(ReportInput("t", "src", report, {"a": "b"}, sim)))
    return path


def test_charts_render_without_errors_or_network(report_file: Path) -> None:
    sync_playwright = _playwright()
    executable = str(chromium_path())
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report_file.as_uri())
            page.wait_for_load_state("load")
            page.wait_for_function(
                "ids => ids.every(id => document.querySelector('#' + id + ' .main-svg'))",
                arg=list(CHARTS),
                timeout=20_000,
            )
            counts = {chart: page.locator(f"#{chart} .main-svg").count() for chart in CHARTS}
            sankey_links = page.locator("#chart-sankey .sankey-link").count()
            bars = page.locator("#chart-leverage .point").count()
            text = page.inner_text("body")
        finally:
            browser.close()
    assert not problems, problems
    assert all(count >= 1 for count in counts.values()), counts
    assert sankey_links > 0 and bars > 0
    assert [r for r in requests if not r.startswith("file://")] == []
    assert HOSTILE_NAME.split(">")[0] in text  # shown as text, never run as markup
