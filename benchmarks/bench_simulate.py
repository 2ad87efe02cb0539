"""Simulation benchmark: scenarios/s per executor and the engine's events/s.

Runs N scenarios (default 1,000) of the bundled example with every strategy on the local
executor with 1 and 2 worker processes and on a local Ray cluster with 2 CPUs, checks that
all three give byte-identical JSON, and prints scenarios/s for each, plus:

* events/s of the whole simulator: scenario events (outages, late deliveries, price moves,
  preemptions, cuts, bursts) times strategies played through them, per wall-clock second;
* events/s of the engine alone, with re-planning switched off (a re-planner that never
  changes anything), i.e. what the event loop costs without the solver;
* the done-when figures: p95 unserved of n1 against cheapest and the median cost premium.

Wall-clock rates are what a user sees; on a shared machine they also depend on what else
runs, so each local run also prints the CPU seconds it used (this process and its worker
processes) and the load average around it.

    .venv/bin/python benchmarks/bench_simulate.py [FILE] [--scenarios 1000] [--seed 0]
        [--json OUT]   # the 1-worker results document, as `chipfolio simulate --json` writes it
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from chipfolio.planner.build import build_problem, catalog_choice
from chipfolio.simulation.engine import run_strategy
from chipfolio.simulation.inputs import workload_demand
from chipfolio.simulation.model import ReplanRequest, Schedule
from chipfolio.simulation.runners import Executor, LocalExecutor, RayExecutor
from chipfolio.simulation.scenario import draw_future
from chipfolio.simulation.study import Simulation, simulate
from chipfolio.workloads.spec import load_portfolio

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "examples" / "frontier-lab.yaml"


class NeverReplan:
    """A re-planner that keeps every allocation (measures the event loop alone)."""

    def replan(self, request: ReplanRequest) -> Schedule | None:
        return None


def load(path: Path) -> tuple[Any, Any]:
    portfolio = load_portfolio(path)
    wanted, snapshot = catalog_choice(portfolio)
    catalog = None
    if wanted:
        from chipfolio.catalog.snapshots import load_catalog

        catalog = load_catalog(snapshot)
    problem = build_problem(portfolio, catalog)
    return problem, workload_demand(portfolio, problem)


def run(
    problem: Any, demand: Any, n: int, seed: int, executor: Executor, name: str, file: str
) -> Simulation:
    before = os.times()
    sim = simulate(
        problem,
        scenarios=n,
        seed=seed,
        executor=executor,
        profiles=demand.profiles,
        mean_demand_tokens_per_s=demand.mean_tokens_per_s,
        portfolio=file,
    )
    after = os.times()
    cpu = sum(after[:4]) - sum(before[:4])
    pairs = sim.events * len(sim.setup.strategies)
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"  {name:<22} {sim.seconds:7.1f} s  {n / sim.seconds:7.1f} scenarios/s  "
        f"{pairs / sim.seconds:9.0f} events/s  {sim.replans / sim.seconds:7.0f} re-plans/s  "
        f"cpu {cpu:.0f} s = {cpu / n:.3f} s/scenario (initial plans included; "
        f"workers' cpu counted only for local processes); load {load}"
    )
    return sim


def engine_only(sim: Simulation, count: int) -> None:
    setup = sim.setup
    futures = [draw_future(setup, i) for i in range(count)]
    started = time.perf_counter()
    for future in futures:
        for strategy in setup.strategies:
            run_strategy(
                setup.model,
                setup.clock,
                future,
                NeverReplan(),
                strategy.initial,
                setup.reaction,
            )
    seconds = time.perf_counter() - started
    events = sum(f.n_events for f in futures) * len(setup.strategies)
    steps = count * len(setup.strategies) * setup.clock.n_steps
    print(
        f"  engine alone (no re-plans): {events / seconds:,.0f} events/s, "
        f"{steps / seconds:,.0f} steps/s over {count} scenarios x {len(setup.strategies)} "
        "strategies"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--scenarios", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="write the 1-worker results")
    args = parser.parse_args()
    if not args.file.exists():
        print(f"{args.file} not found", file=sys.stderr)
        return 1
    problem, demand = load(args.file)
    n = args.scenarios
    print(
        f"{args.file.name}: {len(problem.workloads)} workloads, {len(problem.offers)} offers, "
        f"{n} scenarios, seed {args.seed}"
    )
    docs: dict[str, str] = {}
    one = run(problem, demand, n, args.seed, LocalExecutor(1), "local, 1 worker", args.file.name)
    docs["local-1"] = json.dumps(one.to_json())
    if args.json is not None:
        args.json.write_text(json.dumps(one.to_json(), indent=2) + "\n", encoding="utf-8")
    two = run(problem, demand, n, args.seed, LocalExecutor(2), "local, 2 workers", args.file.name)
    docs["local-2"] = json.dumps(two.to_json())
    if not args.no_ray:
        ray_executor = RayExecutor(workers=2)
        started = time.perf_counter()
        ray_executor.map(abs, [-1])  # start the local cluster outside the timed run
        print(f"  (ray cluster start: {time.perf_counter() - started:.1f} s, not counted)")
        try:
            ray_sim = run(
                problem, demand, n, args.seed, ray_executor, "ray, 2 CPUs", args.file.name
            )
        finally:
            ray_executor.close()
        docs["ray-2"] = json.dumps(ray_sim.to_json())
    ray_speedup = ""
    if "ray-2" in docs:
        ray_speedup = f", Ray on 2 CPUs {one.seconds / ray_sim.seconds:.2f}x"
    print(
        f"  speed-up over 1 worker: 2 local workers {one.seconds / two.seconds:.2f}x"
        f"{ray_speedup} (wall clock of the scenario runs)"
    )
    per_1000 = two.seconds * 1000 / n
    print(
        f"  issue 16 target, 1,000 scenarios with 2 local workers in <= 60 s: "
        f"{per_1000:.0f} s at this rate ({'met' if per_1000 <= 60 else 'not met'}; load above)"
    )
    same = len(set(docs.values())) == 1
    print(f"  identical JSON across {', '.join(docs)}: {'yes' if same else 'NO'}")
    print(
        f"  initial plans: {one.plan_seconds:.2f} s; "
        f"{one.events:,} events, {one.replans:,} re-plans"
    )
    engine_only(one, min(n, 200))
    doc = one.to_json()
    for name, s in doc["strategies"].items():
        print(
            f"  {name:<9} cost p50 ${s['cost_usd']['p50']:,.0f}  unserved p95 "
            f"{s['unserved_fraction']['p95']:.3%}  SLO {s['slo_attainment']['mean']:.2%}  "
            f"deadline misses {s['deadline_miss_rate']:.1%}"
        )
    for name, c in (doc["comparison"] or {"strategies": {}})["strategies"].items():
        print(
            f"  {name} vs {doc['comparison']['baseline']}: median premium "
            f"${c['median_cost_premium_usd']:,.0f} ({c['median_cost_premium_fraction']:.1%}), "
            f"p95 unserved {c['p95_unserved']:.3%} vs {c['p95_unserved_baseline']:.3%}"
        )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
