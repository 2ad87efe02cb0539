"""Shared fixtures of the performance-model tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from chipfolio.perfmodel.measurements import ResultsFile, read_results_csv

PUBLISHED = (
    Path(__file__).resolve().parents[3].parent
    / "shared"
    / "data"
    / "perf"
    / ("published_results.csv")
)


@pytest.fixture(scope="session")
def published() -> ResultsFile:
    if not PUBLISHED.is_file():
        pytest.skip(f"published results not found at {PUBLISHED}")
    return read_results_csv(PUBLISHED)
