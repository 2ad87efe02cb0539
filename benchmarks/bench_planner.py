"""Planner scale benchmark: generated explicit portfolios, then the bundled examples.

Generates a lab-sized explicit-throughput portfolio (default 1,000 workloads x 2,000 offers
over 10 providers and 17 chips, with share caps, min_vendors and N-1), runs it through the
portfolio loader, the problem build, the MILP build and HiGHS, and prints where the time
goes, the proven gap and the gap to the LP relaxation. Then times the bundled examples.

    .venv/bin/python benchmarks/bench_planner.py [--workloads 1000] [--offers 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from chipfolio.planner import SolveOptions, solve_problem
from chipfolio.planner.build import build_problem
from chipfolio.planner.colgen import column_generation
from chipfolio.planner.solve import build as build_model
from chipfolio.planner.solve import get_solver
from chipfolio.workloads.spec import LineIndex, load_portfolio, portfolio_from_data

ROOT = Path(__file__).resolve().parents[1]

# Illustrative list prices in USD per chip-hour for the generator (not a price source).
CHIP_USD = {
    "a100-80gb": 1.8, "h100-sxm": 3.0, "h200": 3.8, "b200": 5.5, "gb200": 6.5, "l4": 0.7,
    "l40s": 1.6, "mi300x": 2.8, "mi325x": 3.3, "tpu-v5e": 1.2, "tpu-v5p": 4.2,
    "tpu-v6e": 2.7, "trainium1": 1.3, "trainium2": 2.2, "inferentia2": 0.8, "maia-200": 3.0,
    "gaudi3": 2.5,
}  # fmt: skip
# Relative serving speed per chip (H100 = 1), a rough generator assumption.
CHIP_SPEED = {
    "a100-80gb": 0.45, "h100-sxm": 1.0, "h200": 1.3, "b200": 2.2, "gb200": 2.5, "l4": 0.15,
    "l40s": 0.4, "mi300x": 1.15, "mi325x": 1.35, "tpu-v5e": 0.3, "tpu-v5p": 0.8,
    "tpu-v6e": 0.85, "trainium1": 0.35, "trainium2": 0.8, "inferentia2": 0.25,
    "maia-200": 1.4, "gaudi3": 1.0,
}  # fmt: skip
STACK = {
    "tpu-v5e": "xla", "tpu-v5p": "xla", "tpu-v6e": "xla", "trainium1": "neuron",
    "trainium2": "neuron", "inferentia2": "neuron", "maia-200": "maia", "gaudi3": "synapse",
    "mi300x": "rocm", "mi325x": "rocm",
}  # fmt: skip
PROVIDERS: dict[str, tuple[float, int, tuple[str, ...]]] = {
    "aws": (1.2, 12, ("h100-sxm", "h200", "b200", "a100-80gb", "trainium2", "trainium1",
                      "inferentia2", "l4")),
    "gcp": (1.15, 10, ("h100-sxm", "h200", "a100-80gb", "tpu-v5e", "tpu-v5p", "tpu-v6e", "l4")),
    "azure": (1.2, 10, ("h100-sxm", "h200", "mi300x", "maia-200", "a100-80gb")),
    "oracle": (1.0, 6, ("h100-sxm", "h200", "mi300x", "b200")),
    "lambda": (0.85, 8, ("h100-sxm", "b200", "a100-80gb", "gb200")),
    "nebius": (0.9, 4, ("h100-sxm", "h200", "b200", "l40s")),
    "coreweave": (0.95, 6, ("h100-sxm", "h200", "b200", "gb200", "l40s")),
    "crusoe": (0.9, 4, ("h100-sxm", "h200", "mi300x")),
    "ibm": (1.1, 4, ("gaudi3", "h100-sxm")),
    "vultr": (0.95, 6, ("mi325x", "mi300x", "h100-sxm")),
}  # fmt: skip
STACK_SETS = [
    ("cuda", "rocm", "xla", "neuron", "maia", "synapse"),
    ("cuda", "rocm"),
    ("cuda",),
    ("cuda", "xla"),
]


def _offers(rng: np.random.Generator, n_offers: int) -> list[dict[str, Any]]:
    combos = [
        (p, chip, f"{p}-r{r}", pricing, k)
        for p, (_, regions, chips) in PROVIDERS.items()
        for chip in chips
        for r in range(regions)
        for pricing in ("on_demand", "reserved")
        for k in (8, 4, 1)
    ]
    pick = rng.choice(len(combos), size=min(n_offers, len(combos)), replace=False)
    out = []
    for i, index in enumerate(sorted(pick.tolist())):
        provider, chip, region, pricing, k = combos[index]
        factor = PROVIDERS[provider][0] * (1.05 if k < 8 else 1.0)
        factor *= float(rng.choice([1.0, 1.0, 1.0, 1.0, 1.05, 1.1, 1.2]))
        factor *= 0.65 if pricing == "reserved" else 1.0
        finite = pricing == "reserved" or rng.random() < 0.4
        offer = {
            "id": f"o{i}-{provider}-{chip}-{region}-{pricing}-{k}",
            "provider": provider,
            "chip": chip,
            "region": region,
            "usd_per_chip_hour": round(CHIP_USD[chip] * factor, 4),
            "chips_per_instance": k,
            "pricing": pricing,
        }
        if finite:
            offer["capacity_chips"] = int(k * rng.integers(16, 512))
        out.append(offer)
    return out


def _workloads(
    rng: np.random.Generator, n: int, horizon: float, chips: tuple[float, float]
) -> list[dict[str, Any]]:
    out = []
    for j in range(n):
        stacks = STACK_SETS[int(rng.choice(4, p=[0.5, 0.25, 0.15, 0.10]))]
        base = float(rng.choice([300.0, 1000.0, 3000.0]))  # tokens/s per H100 by model size
        table = {
            chip: round(base * speed * float(rng.uniform(0.85, 1.15)), 1)
            for chip, speed in CHIP_SPEED.items()
            if STACK.get(chip, "cuda") in stacks
        }
        chips_needed = float(np.exp(rng.uniform(np.log(chips[0]), np.log(chips[1]))))
        w: dict[str, Any] = {"name": f"w{j}", "throughput": table, "stacks": list(stacks)}
        if j % 20 < 13:
            w |= {"kind": "inference", "demand_tokens_per_s": round(base * chips_needed, 1)}
            w["critical"] = bool(rng.random() < 0.4)
        else:
            deadline = float(rng.choice([168.0, 336.0, 504.0, horizon]))
            w |= {
                "kind": "training",
                "tokens": round(base * chips_needed * deadline * 3600),
                "deadline_hours": deadline,
                "splittable": bool(j % 2),
            }
        out.append(w)
    return out


def generate_portfolio(
    n_workloads: int, n_offers: int, seed: int, chips: tuple[float, float] = (8, 1024)
) -> dict[str, Any]:
    """A lab-like explicit portfolio; each workload needs ``chips`` H100-equivalents
    (log-uniform between the two bounds)."""
    rng = np.random.default_rng(seed)
    horizon = 730.0
    return {
        "name": f"generated-{n_workloads}x{n_offers}-seed{seed}",
        "horizon_hours": horizon,
        "catalog": "none",
        "policy": {"max_share": 0.35, "share_by": "provider", "min_vendors": 2, "n_minus_1": 0.5},
        "offers": _offers(rng, n_offers),
        "workloads": _workloads(rng, n_workloads, horizon, chips),
    }


def run_generated(
    n_workloads: int,
    n_offers: int,
    seed: int,
    time_limit: float,
    gap: float,
    chips: tuple[float, float],
) -> bool:
    data = generate_portfolio(n_workloads, n_offers, seed, chips)
    started = time.perf_counter()
    portfolio = portfolio_from_data(data, "<generated>", ROOT, LineIndex())
    problem = build_problem(portfolio)
    problem_s = time.perf_counter() - started
    built = build_model(problem)
    form = built.formulation
    print(
        f"generated portfolio: {n_workloads} workloads x {len(problem.offers)} offers "
        f"(seed {seed}), workloads of {chips[0]:g}-{chips[1]:g} H100-equivalent chips"
    )
    print("  policy: max_share 0.35 by provider, min_vendors 2, n_minus_1 0.5")
    print(f"  runnable pairs {int(problem.runnable.sum()):,}, pruned {built.pruned_pairs:,}")
    print(
        f"  model: {form.n_cols:,} variables ({int(form.integrality.sum()):,} integer), "
        f"{form.n_rows:,} constraints, {form.A.nnz:,} nonzeros"
    )
    print(f"  build: portfolio->problem {problem_s:.2f} s, problem->MILP {built.seconds:.2f} s")
    options = SolveOptions(time_limit_s=time_limit, mip_gap=gap)
    started = time.perf_counter()
    cpu_started = time.process_time()
    plan = solve_problem(problem, options)
    total_s = time.perf_counter() - started
    total_cpu_s = time.process_time() - cpu_started
    lp_started = time.perf_counter()
    lp = column_generation(form, built.structure, options, get_solver(), lp_started + 120)
    lp_s = time.perf_counter() - lp_started
    s = plan.solver
    lp_gap = (plan.total_cost_usd - (lp.objective or math.nan)) / plan.total_cost_usd
    end_to_end = problem_s + total_s
    print(
        f"  solve: {s.seconds:.2f} s ({s.status}); build + solve {total_s:.2f} s "
        f"(CPU {total_cpu_s:.2f} s); end to end with the portfolio load {end_to_end:.2f} s"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    print(f"  machine: {os.cpu_count()} CPUs, load average {load:.2f} while measuring")
    print(
        f"  total cost ${plan.total_cost_usd:,.0f}; proven gap {s.gap:.3%}; "
        f"gap to LP relaxation {lp_gap:.3%} (LP alone by column generation: {lp_s:.2f} s)"
    )
    ok = s.gap is not None and s.gap <= gap + 1e-12 and end_to_end <= time_limit
    print(f"  target gap <= {gap:.1%} within {time_limit:g} s: {'met' if ok else 'NOT met'}")
    return ok


def run_examples() -> None:
    for name in ("minimal.yaml", "frontier-lab.yaml"):
        path = ROOT / "examples" / name
        if not path.exists():
            continue
        started = time.perf_counter()
        plan = solve_problem(build_problem(load_portfolio(path)))
        elapsed = time.perf_counter() - started
        print(
            f"example {name}: {elapsed:.2f} s end to end (solve {plan.solver.seconds:.2f} s, "
            f"gap {plan.solver.gap or 0:.3%}, {plan.solver.columns:,} variables), "
            f"total ${plan.total_cost_usd:,.0f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workloads", type=int, default=1000)
    parser.add_argument("--offers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--gap", type=float, default=0.005)
    parser.add_argument("--min-chips", type=float, default=8.0, help="smallest workload")
    parser.add_argument("--max-chips", type=float, default=1024.0, help="largest workload")
    parser.add_argument("--skip-examples", action="store_true")
    args = parser.parse_args(argv)
    chips = (args.min_chips, args.max_chips)
    ok = run_generated(args.workloads, args.offers, args.seed, args.time_limit, args.gap, chips)
    if not args.skip_examples:
        run_examples()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
