"""Leverage analysis speed: the bundled example end to end, per phase, with 1 and 2 workers.

Run: .venv/bin/python benchmarks/bench_leverage.py [PORTFOLIO ...]
Prints the solve count and seconds per phase (base plan, per-vendor searches, shadow prices,
policy cost, frontier) and the whole analysis, for each portfolio given (default: the bundled
examples). The issue asks for the bundled example's full analysis "well under a minute".
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

from chipfolio.analysis.leverage import LeverageOptions, LeverageReport, analyze_leverage
from chipfolio.interfaces.cli.leverage_cmd import load_problem
from chipfolio.planner.problem import Problem

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = [ROOT / "examples" / "frontier-lab.yaml", ROOT / "examples" / "minimal.yaml"]
BUDGET_S = 60.0


def _run(problem: Problem, workers: int) -> LeverageReport:
    options = dataclasses.replace(LeverageOptions(), workers=workers)
    return analyze_leverage(problem, options)


def _describe(report: LeverageReport, label: str) -> None:
    phases = ", ".join(f"{k} {v:.2f}s" for k, v in report.phase_seconds.items())
    print(f"  {label}: {report.seconds:6.2f} s, {report.solves} solves ({phases})")


def bench(path: Path) -> float:
    started = time.perf_counter()
    _, problem = load_problem(path)
    build_s = time.perf_counter() - started
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(
        f"\n{shown}: {len(problem.offers)} offers, "
        f"{len(problem.workloads)} workloads, built in {build_s:.2f} s"
    )
    one = _run(problem, 1)
    _describe(one, "1 worker ")
    for v in one.vendors:
        walk = "—" if v.walk_away_multiplier is None else f"x{v.walk_away_multiplier:.3f}"
        print(
            f"    {v.vendor:<12} share {v.share:6.1%}  walk-away {walk:>8}  "
            f"{v.reason_code or v.search_method:<18} {v.solves} solves"
        )
    two = _run(problem, 2)
    _describe(two, "2 workers")
    same = [v.walk_away_multiplier for v in one.vendors] == [
        v.walk_away_multiplier for v in two.vendors
    ]
    print(f"  same answers with 2 workers: {same}")
    best = min(one.seconds, two.seconds)
    verdict = "OK" if best < BUDGET_S else "TOO SLOW"
    print(f"  full analysis: best {best:.2f} s (budget {BUDGET_S:.0f} s) {verdict}")
    return best


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or [p for p in DEFAULT if p.exists()]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    worst = max((bench(p) for p in paths), default=0.0)
    return 0 if worst < BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
