"""Planner robustness benchmark: hard inputs unlike bench_planner.py's, under 10 s and 60 s limits.

Families (benchmarks/robustness_cases.py): many serving workloads with N-1; many small jobs;
capacity binding everywhere; few huge gang jobs; training with deadlines on offers with
windows; and the wide real catalog (the shared SkyPilot extracts plus the full GCP and Azure
files, planned for examples/frontier-lab.yaml) when ../shared/data is present.

For each family and limit it prints the wall time from the parsed portfolio to the plan, the
status, the proven gap, and the cost against the best known plan, where the reference is
HiGHS alone on the direct formulation under a long limit (--reference-limit) together with
the best of the runs; the reference's own proven gap is printed beside it.

    .venv/bin/python benchmarks/bench_robustness.py [--limits 10 60] [--reference-limit 120]
        [--families serving small_jobs ...] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from chipfolio.catalog.snapshots import load_catalog
from chipfolio.planner import Problem, SolveOptions, get_solver, solve_problem
from chipfolio.planner.build import build_problem
from chipfolio.planner.solve import build as build_model
from chipfolio.workloads.spec import LineIndex, load_portfolio, portfolio_from_data

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(Path(__file__).resolve().parent))
import robustness_cases  # noqa: E402


def _wide_problem(seed: int) -> Problem | None:
    narrow = SHARED / "skypilot-catalog" / "v8"
    wide = SHARED / "skypilot-catalog-wide" / "v8"
    if not narrow.is_dir() or not wide.is_dir():
        return None
    import contextlib
    import io
    import json

    from chipfolio.interfaces.cli.app import main as cli

    tmp = Path(tempfile.mkdtemp(prefix="chipfolio-wide-"))
    try:
        root = tmp / "v8"
        shutil.copytree(narrow, root)
        for provider in ("gcp", "azure"):
            shutil.rmtree(root / provider, ignore_errors=True)
            (root / provider).mkdir()
            shutil.copy(wide / provider / "vms.csv", root / provider / "vms.csv")
        os.environ["CHIPFOLIO_HOME"] = str(tmp / "home")
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            cli(["catalog", "refresh", "--from", str(root), "--json"])
        snapshot = json.loads(printed.getvalue())["id"]
        catalog = load_catalog(snapshot, home=tmp / "home" / "catalogs")
        portfolio = load_portfolio(ROOT / "examples" / "frontier-lab.yaml")
        return build_problem(portfolio, catalog)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def problem_of(family: str, seed: int) -> Problem | None:
    if family == "wide_catalog":
        return _wide_problem(seed)
    data = robustness_cases.FAMILIES[family](seed)
    return build_problem(portfolio_from_data(data, "<generated>", ROOT, LineIndex()))


def reference(problem: Problem, limit: float) -> tuple[float | None, float | None, float]:
    """HiGHS alone on the direct (unpruned) formulation: (cost, proven bound, seconds)."""
    built = build_model(problem, prune_pairs=False)
    options = SolveOptions(time_limit_s=limit)
    started = time.perf_counter()
    result = get_solver().solve(built.formulation, options)
    return result.objective, result.dual_bound, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limits", type=float, nargs="+", default=[10.0, 60.0])
    parser.add_argument("--reference-limit", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--families", nargs="+", default=[*robustness_cases.FAMILIES, "wide_catalog"]
    )
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f} at the start")
    header = (
        f"{'family':<15} {'limit':>6} {'wall s':>7} {'promise':>8} {'status':<9} "
        f"{'gap':>7} {'vs best':>8} {'ref gap':>8} {'ref s':>6}"
    )
    print(header)
    print("-" * len(header))
    for family in args.families:
        problem = problem_of(family, args.seed)
        if problem is None:
            print(f"{family:<15} skipped: ../shared/data not present")
            continue
        runs = []
        for limit in args.limits:
            started = time.perf_counter()
            plan = solve_problem(problem, SolveOptions(time_limit_s=limit))
            runs.append((limit, time.perf_counter() - started, plan))
        ref_cost, ref_bound, ref_s = reference(problem, args.reference_limit)
        costs = [p.total_cost_usd for _, _, p in runs] + ([ref_cost] if ref_cost else [])
        best = min(costs)
        bounds = [b for b in [ref_bound, *(p.bound_usd for _, _, p in runs)] if b is not None]
        ref_gap = None if ref_cost is None or ref_bound is None else 1 - ref_bound / ref_cost
        for limit, wall, plan in runs:
            kept = wall <= limit * 1.1 + 2
            gap = "—" if plan.gap is None else f"{plan.gap:.2%}"
            print(
                f"{family:<15} {limit:>6g} {wall:>7.2f} {'kept' if kept else 'BROKEN':>8} "
                f"{plan.status.value:<9} {gap:>7} {plan.total_cost_usd / best - 1:>8.2%} "
                f"{'—' if ref_gap is None else f'{ref_gap:.2%}':>8} {ref_s:>6.0f}"
            )
        if bounds:
            print(f"{'':<15} best known ${best:,.0f}; best proven bound ${max(bounds):,.0f}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
