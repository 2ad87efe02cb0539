"""Small hand-built planning problems with answers that can be worked out on paper."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chipfolio.planner.problem import OfferTable, Policy, Problem, WorkloadTable

INF = float("inf")


@dataclass(frozen=True)
class Q:
    """An offer: provider (= vendor label), price per chip-hour, capacity in chips."""

    provider: str
    price: float
    capacity: float = INF
    chips_per_instance: int = 1
    take_or_pay: float = 0.0
    silicon: str = "nvidia"


def problem(
    offers: Sequence[Q],
    demands: Sequence[float] = (1000.0,),
    tokens_per_s_per_chip: float | Sequence[Sequence[float]] = 100.0,
    *,
    policy: Policy | None = None,
    critical: Sequence[bool] | None = None,
    horizon_hours: float = 10.0,
) -> Problem:
    """Inference workloads ``w0, w1, ...`` over offers ``<provider>-<i>``."""
    n_o, n_w = len(offers), len(demands)
    ids = [f"{o.provider}-{i}" for i, o in enumerate(offers)]
    table = OfferTable(
        ids=np.array(ids),
        providers=np.array([o.provider for o in offers]),
        vendors=np.array([o.silicon for o in offers]),
        chips=np.array(["h100-sxm"] * n_o),
        regions=np.array(["r"] * n_o),
        pricing=np.array(["on_demand"] * n_o),
        chips_per_instance=np.array([o.chips_per_instance for o in offers]),
        usd_per_chip_hour=np.array([o.price for o in offers]),
        capacity_chips=np.array([o.capacity for o in offers]),
        take_or_pay_chips=np.array([o.take_or_pay for o in offers]),
        available_from_hour=np.zeros(n_o),
        available_until_hour=np.full(n_o, INF),
    )
    workloads = WorkloadTable(
        names=np.array([f"w{i}" for i in range(n_w)]),
        kinds=np.array(["inference"] * n_w),
        demand_tokens_per_s=np.array(demands, dtype=float),
        critical=np.array(critical if critical is not None else [True] * n_w),
        gang=np.zeros(n_w, dtype=bool),
        deadline_hours=np.full(n_w, INF),
        weight=np.ones(n_w),
    )
    tput = np.broadcast_to(np.asarray(tokens_per_s_per_chip, dtype=float), (n_w, n_o))
    return Problem(
        offers=table,
        workloads=workloads,
        tokens_per_s_per_chip=tput,
        allowed=np.ones((n_w, n_o), dtype=bool),
        policy=policy or Policy(),
        horizon_hours=horizon_hours,
    )
