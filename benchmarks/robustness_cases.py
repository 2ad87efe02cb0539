"""Generators of hard planning inputs for the robustness benchmark (unlike bench_planner.py's).

Each family stresses one way a planner goes wrong on inputs it was not tuned on:

* ``serving``: many inference workloads over many offers, share caps, N-1 on a third of them,
  capacities from 256 to 16,384 chips and 1-16 chips per instance;
* ``small_jobs``: hundreds of tiny workloads (1-64 chips) where integrality dominates the cost;
* ``capacity_bound``: demand close to the total capacity, so capacity binds on every offer;
* ``huge_gangs``: a few gang training jobs that each fill most of an offer;
* ``deadlines``: training jobs with deadlines on offers that start and stop during the horizon.

Prices and speeds are generator assumptions (not a price source).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np

PROVIDERS = ("aws", "gcp", "azure", "oracle", "lambda", "nebius")
CHIPS: dict[str, tuple[float, float, str]] = {  # usd per chip-hour, speed vs H100, stack
    "h100-sxm": (3.0, 1.0, "cuda"),
    "h200": (3.8, 1.3, "cuda"),
    "b200": (5.5, 2.2, "cuda"),
    "a100-80gb": (1.8, 0.45, "cuda"),
    "mi300x": (2.8, 1.15, "rocm"),
    "tpu-v6e": (2.7, 0.85, "xla"),
    "trainium2": (2.2, 0.8, "neuron"),
    "maia-200": (3.0, 1.4, "maia"),
}
SIZES = (1, 2, 4, 8, 16)
START = date(2026, 1, 5)


def _offers(
    rng: np.random.Generator,
    n: int,
    capacity: tuple[int, int],
    *,
    windows: bool = False,
    horizon: float = 730.0,
) -> list[dict[str, Any]]:
    out = []
    chips = list(CHIPS)
    for i in range(n):
        provider = PROVIDERS[i % len(PROVIDERS)]
        chip = chips[int(rng.integers(len(chips)))]
        k = int(rng.choice(SIZES))
        price = CHIPS[chip][0] * float(rng.uniform(0.8, 1.25))
        cap = float(np.exp(rng.uniform(np.log(capacity[0]), np.log(capacity[1]))))
        offer: dict[str, Any] = {
            "id": f"o{i}-{provider}-{chip}-{k}",
            "provider": provider,
            "chip": chip,
            "region": f"{provider}-r{int(rng.integers(4))}",
            "usd_per_chip_hour": round(price, 4),
            "chips_per_instance": k,
            "capacity_chips": max(k, int(cap) // k * k),
        }
        if windows and rng.random() < 0.4:
            days = int(horizon // 24)
            start = int(rng.choice([0, days // 4, days // 2]))
            offer["term_start"] = (START + timedelta(days=start)).isoformat()
            offer["term_end"] = (START + timedelta(days=min(days, start + days // 2))).isoformat()
        out.append(offer)
    return out


def _table(rng: np.random.Generator, base: float) -> dict[str, float]:
    return {c: round(base * v[1] * float(rng.uniform(0.85, 1.15)), 1) for c, v in CHIPS.items()}


def _portfolio(name: str, policy: dict[str, Any], offers: list[Any], workloads: list[Any]) -> Any:
    return {
        "name": name,
        "horizon_hours": 730.0,
        "start_date": START.isoformat(),
        "catalog": "none",
        "policy": policy,
        "offers": offers,
        "workloads": workloads,
    }


def _inference(
    rng: np.random.Generator, n: int, chips: tuple[float, float], critical: float
) -> list[dict[str, Any]]:
    """``n`` inference workloads of log-uniform size in ``chips`` H100-equivalents."""
    out = []
    for j in range(n):
        base = float(rng.choice([300.0, 1000.0, 3000.0]))
        size = float(np.exp(rng.uniform(np.log(chips[0]), np.log(chips[1]))))
        out.append(
            {
                "name": f"w{j}",
                "kind": "inference",
                "demand_tokens_per_s": round(base * size, 1),
                "critical": bool(rng.random() < critical),
                "throughput": _table(rng, base),
            }
        )
    return out


def serving(seed: int, n_workloads: int = 300, n_offers: int = 600) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    workloads = _inference(rng, n_workloads, (8, 512), 0.3)
    policy = {"max_share": 0.35, "share_by": "provider", "n_minus_1": 0.5}
    return _portfolio(f"serving-{seed}", policy, _offers(rng, n_offers, (256, 16_384)), workloads)


def small_jobs(seed: int, n_workloads: int = 500, n_offers: int = 400) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    workloads = _inference(rng, n_workloads, (1, 64), 0.3)
    policy = {"max_share": 0.3, "share_by": "provider", "min_vendors": 2}
    return _portfolio(f"small-jobs-{seed}", policy, _offers(rng, n_offers, (64, 4096)), workloads)


def capacity_bound(seed: int, n_workloads: int = 150, n_offers: int = 200) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    offers = _offers(rng, n_offers, (64, 1024))
    supply = sum(o["capacity_chips"] * CHIPS[o["chip"]][1] for o in offers)
    workloads = []
    weights = rng.dirichlet(np.ones(n_workloads))
    for j in range(n_workloads):
        base = float(rng.choice([300.0, 1000.0, 3000.0]))
        chips = 0.8 * supply * float(weights[j])  # 80% of all capacity is needed
        workloads.append(
            {
                "name": f"w{j}",
                "kind": "inference",
                "demand_tokens_per_s": round(base * chips, 1),
                "critical": bool(rng.random() < 0.2),
                "throughput": _table(rng, base),
            }
        )
    policy = {"max_share": 0.4, "share_by": "provider", "n_minus_1": 0.3}
    return _portfolio(f"capacity-bound-{seed}", policy, offers, workloads)


def huge_gangs(seed: int, n_jobs: int = 6, n_offers: int = 120) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    offers = _offers(rng, n_offers, (1024, 16_384))
    workloads = []
    for j in range(n_jobs):
        base = float(rng.choice([300.0, 1000.0]))
        chips = float(rng.uniform(1024, 6144))
        deadline = float(rng.choice([336.0, 504.0, 730.0]))
        workloads.append(
            {
                "name": f"gang{j}",
                "kind": "training",
                "tokens": round(base * chips * deadline * 3600),
                "deadline_hours": deadline,
                "splittable": False,
                "throughput": _table(rng, base),
            }
        )
    for j in range(40):
        base = float(rng.choice([300.0, 1000.0, 3000.0]))
        workloads.append(
            {
                "name": f"serve{j}",
                "kind": "inference",
                "demand_tokens_per_s": round(base * float(rng.uniform(16, 256)), 1),
                "critical": bool(j % 3 == 0),
                "throughput": _table(rng, base),
            }
        )
    policy = {"max_share": 0.45, "share_by": "provider", "min_vendors": 2, "n_minus_1": 0.5}
    return _portfolio(f"huge-gangs-{seed}", policy, offers, workloads)


def deadlines(seed: int, n_workloads: int = 120, n_offers: int = 300) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    offers = _offers(rng, n_offers, (256, 8192), windows=True)
    workloads = []
    for j in range(n_workloads):
        base = float(rng.choice([300.0, 1000.0, 3000.0]))
        chips = float(np.exp(rng.uniform(np.log(8), np.log(1024))))
        deadline = float(rng.choice([168.0, 336.0, 504.0, 730.0]))
        workloads.append(
            {
                "name": f"t{j}",
                "kind": "training",
                "tokens": round(base * chips * deadline * 3600),
                "deadline_hours": deadline,
                "splittable": bool(rng.random() < 0.6),
                "throughput": _table(rng, base),
            }
        )
    policy = {"max_share": 0.35, "share_by": "provider"}
    return _portfolio(f"deadlines-{seed}", policy, offers, workloads)


FAMILIES = {
    "serving": serving,
    "small_jobs": small_jobs,
    "capacity_bound": capacity_bound,
    "huge_gangs": huge_gangs,
    "deadlines": deadlines,
}
