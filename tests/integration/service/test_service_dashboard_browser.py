"""The dashboard in a real headless browser (Debian's chromium driven by Playwright), end to
end against a real ``chipfolio serve``: sign in, upload, plan, compare, leverage, simulate,
browse the catalog.

Skipped when chromium or Playwright is missing, unless CI=true (then missing tools fail).
Playwright never downloads a browser: it launches /usr/bin/chromium. With
``CHIPFOLIO_DASHBOARD_SCREENSHOTS=DIR`` the test also saves the screenshots used in the docs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from service_fixtures import ADMIN, IN_CI, MINIMAL, Server, start_server

from chipfolio.interfaces.browser import CHROMIUM_ARGS, chromium_path

SCREENSHOTS = os.environ.get("CHIPFOLIO_DASHBOARD_SCREENSHOTS")
# names that would run script if the page put them in as markup (plain ones for the docs)
HOSTILE = "" if SCREENSHOTS else " <img src=x onerror=alert(1)>"
# the flow signs in with a wrong token (401) and uploads a bad portfolio (422) on purpose
EXPECTED_REFUSAL = re.compile(r"status of (401|422)")

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if IN_CI:
            pytest.fail("playwright is not installed (pip install -e '.[dev]')")
        pytest.skip("playwright is not installed")
    if chromium_path() is None:
        if IN_CI:
            pytest.fail("Debian's chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return sync_playwright


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("dashboard")
    running = start_server(f"sqlite:///{tmp / 'service.db'}", tmp)
    yield running
    running.stop()


def _planner_token(server: Server) -> str:
    r = httpx.post(
        server.url + "/api/v1/tokens",
        json={"name": f"dashboard{HOSTILE}", "role": "planner"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def _shot(page: Any, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / f"dashboard-{name}.png"), full_page=True)


def _wait_chart(page: Any, chart: str, timeout_ms: int = 30_000) -> None:
    page.wait_for_selector(f"#{chart} .main-svg", timeout=timeout_ms)


def _flow(page: Any, url: str, token: str) -> dict[str, Any]:
    from playwright.sync_api import expect

    page.goto(url)
    page.fill("#token", "wrong-token-0123456789")
    page.click("#signin-form button")
    expect(page.locator("#signin-error")).not_to_be_empty()
    page.fill("#token", token)
    page.click("#signin-form button")
    page.wait_for_selector("#nav:not([hidden])")
    seen: dict[str, Any] = {"who": page.inner_text("#who")}

    # a bad portfolio: every bad field is listed
    page.fill("#pf-text", MINIMAL.read_text().replace("horizon_hours: 730", "horizon_hours: -1"))
    page.click("#upload")
    page.wait_for_selector("#upload-errors li")
    seen["upload_errors"] = page.inner_text("#upload-errors")

    # upload from a file, plan it
    page.set_input_files("#pf-file", str(MINIMAL))
    expect(page.locator("#pf-text")).to_have_value(re.compile("workloads"))
    page.fill("#pf-name", f"lab{HOSTILE}")
    page.click("#upload")
    expect(page.locator("#plan-state")).to_contain_text("version 1")
    page.click("#run-plan")
    expect(page.locator("#plan-state")).to_contain_text("#1 done")
    for chart in ("chart-allocation", "chart-shares"):
        _wait_chart(page, chart)
    seen["n1_rows"] = page.locator("#n1-table tr").count()
    seen["alloc_rows"] = page.locator("#alloc-table tr").count()
    _shot(page, "plan")

    # a second version with more demand, planned too, then compared
    busier = MINIMAL.read_text().replace("500000", "650000")
    page.fill("#pf-text", busier)
    page.click("#upload")
    expect(page.locator("#plan-state")).to_contain_text("version 2")
    page.click("#run-plan")
    expect(page.locator("#plan-state")).to_contain_text("#2 done")
    page.click("nav button[data-view=compare]")
    expect(page.locator("#cmp-a option")).to_have_count(2)
    page.click("#cmp-run")
    _wait_chart(page, "chart-compare")
    seen["compare"] = (page.inner_text("#cmp-left h3"), page.inner_text("#cmp-right h3"))
    _shot(page, "compare")

    page.click("nav button[data-view=leverage]")
    page.click("#lev-run")
    _wait_chart(page, "chart-leverage", 90_000)
    _wait_chart(page, "chart-frontier")
    seen["leverage_rows"] = page.locator("#lev-table tr").count()
    seen["leverage_bars"] = page.locator("#chart-leverage .point").count()
    _shot(page, "leverage")

    page.click("nav button[data-view=simulate]")
    page.fill("#sim-scenarios", "12")
    page.click("#sim-run")
    _wait_chart(page, "chart-sim-cost", 90_000)
    _wait_chart(page, "chart-sim-unserved")
    expect(page.locator("#sim-state")).to_contain_text("scenarios done")
    bar = page.locator("#sim-progress")
    seen["progress"] = [bar.get_attribute("value"), bar.get_attribute("max")]
    _shot(page, "simulate")

    page.click("nav button[data-view=catalog]")
    expect(page.locator("#cat-table tr")).to_have_count(26)
    seen["catalog_first"] = page.locator("#cat-table tr").count()
    page.fill("#cat-chip", "h100")
    page.click("#cat-form button")
    first_chip = page.locator("#cat-table tr:nth-child(2) td:nth-child(3)")
    expect(first_chip).to_have_text("h100-sxm")
    page.click("#cat-next")
    expect(page.locator("#cat-state")).to_contain_text("showing 26–")
    seen["catalog_chips"] = set(page.locator("#cat-table td:nth-child(3)").all_inner_texts())
    _shot(page, "catalog")
    seen["body"] = page.inner_text("body")
    return seen


def test_dashboard_end_to_end(server: Server) -> None:
    sync_playwright = _playwright()
    token = _planner_token(server)
    executable = str(chromium_path())
    problems: list[str] = []
    hosts: set[str] = set()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}")
                    if m.type == "error" and not EXPECTED_REFUSAL.search(m.text)
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
            page.on("request", lambda r: hosts.add(urlparse(r.url).hostname or r.url))
            seen = _flow(page, server.url, token)
        finally:
            browser.close()
    assert not problems, problems
    assert hosts == {"127.0.0.1"}  # no CDN, no network beyond the service
    assert seen["who"] == f"dashboard{HOSTILE} (planner)"  # shown as text, never markup
    assert "horizon_hours" in seen["upload_errors"]
    assert seen["n1_rows"] >= 3 and seen["alloc_rows"] >= 3
    assert seen["compare"][0] != seen["compare"][1]
    assert seen["leverage_bars"] >= 2 and seen["leverage_rows"] == 3
    assert seen["progress"] == ["12", "12"]
    assert seen["catalog_first"] == 26
    assert seen["catalog_chips"] == {"h100-sxm"}
