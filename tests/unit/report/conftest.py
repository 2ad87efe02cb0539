"""Fixtures of the report tests (data builders live in report_fixtures.py)."""

from __future__ import annotations

import pytest
from report_fixtures import analyzed

from chipfolio.analysis.leverage import LeverageReport


@pytest.fixture(scope="session")
def leverage_report(tmp_path_factory: pytest.TempPathFactory) -> LeverageReport:
    return analyzed(tmp_path_factory.mktemp("portfolio"))
