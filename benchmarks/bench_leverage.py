"""Leverage analysis speed: the bundled example end to end, per phase, with 1 and 2 workers.

Run: .venv/bin/python benchmarks/bench_leverage.py [PORTFOLIO ...]
Prints the solve count and seconds per phase (base plan, per-vendor searches, shadow prices,
policy cost, frontier) and the whole analysis, for each portfolio given (default: the bundled
examples), the CPU seconds it used (this process and its workers), the machine load, how
many vendors got an exact walk-away breakpoint, and whether the JSON (less its timings) is
the same with 1 and 2 workers and with 2 workers beside a CPU-burning process (answers stop
on work limits, not the clock, so they must be). Target for the bundled example: every
vendor exact in <= 10 s of wall time on 2 cores.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
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
BUDGET_S = 10.0


def _burn(stop: float) -> None:
    x = 0
    while time.perf_counter() < stop:
        x += 1


def _cpu() -> float:
    own = os.times()
    return own.user + own.system + own.children_user + own.children_system


def _run(problem: Problem, workers: int, stress: bool = False) -> tuple[LeverageReport, float]:
    options = dataclasses.replace(LeverageOptions(), workers=workers)
    burners = []
    if stress:
        stop = time.perf_counter() + 600.0
        burners = [multiprocessing.Process(target=_burn, args=(stop,)) for _ in range(2)]
        for b in burners:
            b.start()
    cpu = _cpu()
    try:
        report = analyze_leverage(problem, options)
    finally:
        for b in burners:
            b.terminate()
            b.join()
    return report, _cpu() - cpu


def _answers(report: LeverageReport) -> str:
    data = report.to_json()
    data.pop("analysis")
    return json.dumps(data, sort_keys=True)


def _describe(report: LeverageReport, cpu: float, label: str) -> None:
    phases = ", ".join(f"{k} {v:.2f}s" for k, v in report.phase_seconds.items())
    load = os.getloadavg()[0]
    print(
        f"  {label}: {report.seconds:6.2f} s wall, {cpu:6.2f} s CPU, load {load:.2f}, "
        f"{report.solves} solves ({phases})"
    )


def bench(path: Path) -> float:
    started = time.perf_counter()
    _, problem = load_problem(path)
    build_s = time.perf_counter() - started
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(
        f"\n{shown}: {len(problem.offers)} offers, "
        f"{len(problem.workloads)} workloads, built in {build_s:.2f} s"
    )
    one, cpu = _run(problem, 1)
    _describe(one, cpu, "1 worker ")
    exact = 0
    for v in one.vendors:
        walk = "—" if v.walk_away_multiplier is None else f"x{v.walk_away_multiplier:.4f}"
        named = v.walk_away_multiplier is None and v.reason_code is not None
        exact += int(named or v.to_json()["walk_away_exact"] is True)
        print(
            f"    {v.vendor:<12} share {v.share:6.1%}  walk-away {walk:>9}  "
            f"{v.reason_code or v.search_method:<18} {v.solves} solves"
        )
    print(f"  exact breakpoint or named reason: {exact} of {len(one.vendors)} vendors")
    two, cpu = _run(problem, 2)
    _describe(two, cpu, "2 workers")
    print(f"  same JSON with 2 workers: {_answers(one) == _answers(two)}")
    stressed, cpu = _run(problem, 2, stress=True)
    _describe(stressed, cpu, "2 workers, 2 CPU burners beside")
    print(f"  same JSON under CPU stress: {_answers(one) == _answers(stressed)}")
    best = min(one.seconds, two.seconds)
    verdict = "OK" if best <= BUDGET_S else "TOO SLOW"
    print(f"  full analysis: best {best:.2f} s (target {BUDGET_S:.0f} s) {verdict}")
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
