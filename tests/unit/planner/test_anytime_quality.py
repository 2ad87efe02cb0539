"""Anytime quality: good plans on inputs the planner was not tuned on, and no needless units.

The wide-catalog case is the one that once returned a plan 56x too expensive as a success
(thousands of near-identical regional offers per workload, gang jobs on take-or-pay offers).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from chipfolio.interfaces.cli.app import main
from chipfolio.planner import SolveOptions, solve_problem
from chipfolio.planner.build import build_problem
from chipfolio.workloads.spec import LineIndex, portfolio_from_data

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared" / "data"
NARROW = SHARED / "skypilot-catalog" / "v8"
WIDE = SHARED / "skypilot-catalog-wide" / "v8"
sys.path.insert(0, str(REPO / "benchmarks"))
import robustness_cases  # noqa: E402


def needless_units(doc: dict[str, Any]) -> list[str]:
    """Non-critical single-window inference workloads served above twice their demand where
    one instance fewer of some allocation would still meet the demand (a smaller cover)."""
    found = []
    for w in doc["workloads"]:
        if w["kind"] != "inference" or w["critical"] or w["served_fraction"] <= 2.0:
            continue
        allocations = [a for a in doc["allocations"] if a["workload"] == w["name"]]
        for a in allocations:
            one = a["tokens_per_s"] / max(a["instances"], 1)
            if w["served_tokens_per_s"] - one >= w["demand_tokens_per_s"] * (1 + 1e-9):
                found.append(f"{w['name']}: {a['offer']} x{a['instances']}")
    return found


@pytest.mark.parametrize("family", ["serving", "small_jobs"])
def test_generated_plans_hold_no_needless_units(family: str) -> None:
    data = robustness_cases.FAMILIES[family](1, 60, 80)
    problem = build_problem(portfolio_from_data(data, "<generated>", REPO, LineIndex()))
    plan = solve_problem(problem, SolveOptions(time_limit_s=20))
    assert needless_units(plan.to_json()) == []


def _wide_catalog(tmp: Path) -> Path:
    """The shared extracts with the full GCP and Azure files in place of theirs."""
    root = tmp / "v8"
    shutil.copytree(NARROW, root)
    for provider in ("gcp", "azure"):
        target = root / provider
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        shutil.copy(WIDE / provider / "vms.csv", target / "vms.csv")
    return root


@pytest.mark.skipif(not WIDE.is_dir() or not NARROW.is_dir(), reason="shared data not present")
def test_the_wide_real_catalog_plans_near_optimum_with_default_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHIPFOLIO_HOME", str(tmp_path / "home"))
    assert main(["catalog", "refresh", "--from", str(_wide_catalog(tmp_path)), "--json"]) == 0
    snapshot = json.loads(capsys.readouterr().out)["id"]
    example = (REPO / "examples" / "frontier-lab.yaml").read_text(encoding="utf-8")
    example = example.replace("file: data/", f"file: {REPO / 'examples' / 'data'}/")
    example = example.replace("\ncatalog:\n", f"\ncatalog:\n  snapshot: {snapshot}\n", 1)
    portfolio = tmp_path / "wide.yaml"
    portfolio.write_text(example, encoding="utf-8")
    out = tmp_path / "plan.json"
    assert main(["plan", str(portfolio), "--json", str(out), "--require-gap", "0.01"]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["catalog_snapshot"] == snapshot
    assert doc["gap"] is not None and doc["gap"] <= 0.01
    assert doc["bound_usd"] <= doc["total_cost_usd"] <= doc["bound_usd"] / (1 - 0.01)
    for w in doc["workloads"]:
        assert w["served_fraction"] <= 2.0, w
