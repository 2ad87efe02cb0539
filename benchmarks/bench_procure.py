"""Procurement speed: how the stochastic MILP scales with periods x scenarios x contracts.

Run: ``.venv/bin/python benchmarks/bench_procure.py [--periods 36 --scenarios 200 --contracts 30
--workloads 5 --gap 0.01 --time-limit 120] [--method auto|direct|benders] [--sweep]``. Prints
build and solve time (wall and CPU, with the load average), the model's size, the method and
the proven gap; asserts nothing about time.

The problem is synthetic and seeded: demand per workload grows by a lognormal factor each
quarter (a sampled scenario tree: every scenario draws its own path, so the scenarios part
after the first quarter; sample average approximation), contracts of 12 to 36 months on
eight chips from eight providers can be signed at the start of each year, on-demand offers
exist for every chip, and the policy caps any provider at 40% of each period's spend. Prices
are made up (the benchmark measures the solver, not a market).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

from chipfolio.planner import SolveOptions
from chipfolio.procurement import build_model, procurement_from_data, solve_procurement

CHIPS = ["maia-200", "h100-sxm", "b300", "gb300", "trainium3", "tpu7x", "mi355x", "h200"]
PROVIDERS = ["azure", "lambda", "coreweave", "nebius", "aws", "gcp", "oracle", "crusoe"]


def synthetic(
    periods: int, scenarios: int, contracts: int, workloads: int, seed: int = 0
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    names = [f"w{i}" for i in range(workloads)]
    base = rng.uniform(2_000, 20_000, size=workloads)
    quarters = (periods + 2) // 3
    scen = []
    for s in range(scenarios):
        growth = np.exp(rng.normal(0.12, 0.15, size=(workloads, quarters)))
        path = base[:, None] * np.cumprod(growth, axis=1) / growth[:, :1]
        demand = {
            n: [round(float(path[i, t // 3]), 1) for t in range(periods)]
            for i, n in enumerate(names)
        }
        scen.append({"name": f"s{s}", "probability": 1.0 / scenarios, "demand": demand})
    work = []
    for n in names:
        chips = rng.choice(len(CHIPS), size=4, replace=False)
        work.append({"name": n, "throughput": {CHIPS[c]: float(rng.uniform(5, 40)) for c in chips}})
    con = []
    for k in range(contracts):
        c = k % len(CHIPS)
        term = int(rng.choice([12, 24, 36]))
        con.append(
            {
                "id": f"c{k}",
                "provider": PROVIDERS[c],
                "chip": CHIPS[c],
                "usd_per_chip_hour": round(float(rng.uniform(1.5, 4.0)), 2),
                "term_periods": term,
                "lead_periods": int(rng.integers(0, 4)),
                "sign_periods": [p for p in (0, 12, 24) if p < periods],
                "chips_per_instance": int(rng.choice([1, 8])),
                "take_or_pay": 1.0 if k % 3 else 0.8,
            }
        )
    od = [
        {"id": f"od-{c}", "provider": PROVIDERS[i], "chip": c, "usd_per_chip_hour": 6.0}
        for i, c in enumerate(CHIPS)
    ]
    return {
        "periods": periods,
        "scenarios": scen,
        "workloads": work,
        "contracts": con,
        "on_demand": od,
        "policy": {"max_share": 0.4},
    }


def run(
    periods: int,
    scenarios: int,
    contracts: int,
    workloads: int,
    gap: float,
    limit: float,
    method: str = "auto",
) -> None:
    data = synthetic(periods, scenarios, contracts, workloads)
    proc = procurement_from_data(data, "<bench>")
    started = time.perf_counter()
    model = build_model(proc)
    build = time.perf_counter() - started
    form = model.formulation
    options = SolveOptions(time_limit_s=limit, mip_gap=gap)
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    result = solve_procurement(proc, options, values=False, method=method)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    s = result.solver
    shown = "—" if result.gap is None else f"{result.gap:.3%}"
    print(
        f"T={periods:3d} S={scenarios:4d} K={contracts:3d} W={workloads}: "
        f"{form.n_cols:>9,} cols ({int(form.integrality.sum()):,} int) {form.n_rows:>9,} rows "
        f"{model.tree.n_rec:>6,} nodes | build {build:6.2f} s, solve {s['seconds']:7.2f} s "
        f"(all {wall:.2f} s wall, {cpu:.2f} s CPU, load {load:.2f}) | {s['method']}: "
        f"{result.status} gap {shown} [{s['status']}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--periods", type=int, default=36)
    parser.add_argument("--scenarios", type=int, default=200)
    parser.add_argument("--contracts", type=int, default=30)
    parser.add_argument("--workloads", type=int, default=5)
    parser.add_argument("--gap", type=float, default=0.01)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--sweep", action="store_true", help="a small grid of sizes first")
    parser.add_argument("--method", choices=("auto", "direct", "benders"), default="auto")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if args.sweep:
        for t, s, k in [(12, 10, 10), (24, 50, 10), (36, 50, 30), (36, 100, 30)]:
            run(t, s, k, args.workloads, args.gap, args.time_limit, args.method)
    run(
        args.periods, args.scenarios, args.contracts, args.workloads, args.gap,
        args.time_limit, args.method,
    )  # fmt: skip


if __name__ == "__main__":
    main()
