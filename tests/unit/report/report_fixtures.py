"""Shared test data: a small three-provider portfolio, its leverage analysis, a simulation."""

from __future__ import annotations

import json
import random
from pathlib import Path

from chipfolio.analysis.leverage import LeverageOptions, LeverageReport
from chipfolio.interfaces.cli.leverage_cmd import analyze_file

PORTFOLIO = """
name: three clouds
horizon_hours: 100
catalog: none
policy: {max_share: 0.5, min_vendors: 2, n_minus_1: 0.5}
offers:
  - {id: aws-h100, provider: aws, chip: h100-sxm, region: us-east-1, usd_per_chip_hour: 2.0,
     capacity_chips: 6}
  - {id: gcp-v6e, provider: gcp, chip: tpu-v6e, region: us-central1, usd_per_chip_hour: 1.4}
  - {id: az-maia, provider: "%s", chip: maia-200, region: eastus, usd_per_chip_hour: 2.5}
workloads:
  - {name: chat, kind: inference, demand_tokens_per_s: 1000, critical: true,
     throughput: {h100-sxm: 100, tpu-v6e: 60, maia-200: 110}}
  - {name: batch, kind: inference, demand_tokens_per_s: 400,
     throughput: {h100-sxm: 100, tpu-v6e: 80}}
"""

HOSTILE_NAME = "<img src=x onerror=alert(1)>'\"&"


def portfolio_file(tmp_path: Path, provider: str = "azure") -> Path:
    """The portfolio with the Azure offer's provider named ``provider``."""
    path = tmp_path / "three.yaml"
    path.write_text(PORTFOLIO % provider.replace('"', '\\"'), encoding="utf-8")
    return path


def analyzed(tmp_path: Path, provider: str = "azure") -> LeverageReport:
    return analyze_file(portfolio_file(tmp_path, provider), LeverageOptions())[1]


def simulation_json(samples: bool = True, scenarios: int = 60) -> dict[str, object]:
    """A simulate-shaped result with distinct distributions per strategy."""
    rng = random.Random(7)
    strategies: dict[str, object] = {}
    for name, cost, unserved in (
        ("cheapest", 100.0, 0.06),
        ("capped", 104.0, 0.03),
        ("n1", 111.0, 0.01),
    ):
        entry: dict[str, object] = {
            "cost_usd": {"p50": cost, "p95": cost * 1.1, "p99": cost * 1.2, "mean": cost},
            "unserved_fraction": {
                "p50": unserved,
                "p95": 2 * unserved,
                "p99": 3 * unserved,
                "mean": unserved,
            },
            "slo_attainment": {"p50": 0.99, "p95": 0.95, "p99": 0.9, "mean": 0.97},
            "deadline_miss_rate": 0.05,
        }
        if samples:
            entry["samples"] = {
                "cost_usd": [cost * (1 + rng.gauss(0, 0.04)) for _ in range(scenarios)],
                "unserved_fraction": [
                    max(0.0, rng.gauss(unserved, unserved / 2)) for _ in range(scenarios)
                ],
            }
        strategies[name] = entry
    return {"scenarios": scenarios, "seed": 7, "strategies": strategies}


def write_simulation(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "sim.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
