"""Tiny portfolios for the simulation tests, built directly as planner Problems."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chipfolio.planner.problem import OfferTable, Policy, Problem, ShareBy, WorkloadTable


def tiny_problem(
    *,
    horizon_hours: float = 240.0,
    n_minus_1: float = 0.6,
    with_training: bool = True,
) -> Problem:
    """Three providers; 'chat' (critical) and 'batch' inference; optionally a training job.

    aws is cheapest for chat, so the cheapest plan puts chat entirely on aws.
    """
    offers = OfferTable(
        ids=["aws-a", "gcp-b", "lam-c", "aws-res"],
        providers=["aws", "gcp", "lambda", "aws"],
        vendors=["nvidia", "google", "nvidia", "aws"],
        chips=["h100-sxm", "tpu-v6e", "h100-sxm", "trainium2"],
        regions=["us-east-1", "us-central1", "us-west", "us-east-1"],
        pricing=["on_demand", "on_demand", "spot", "reserved"],
        chips_per_instance=[8, 4, 8, 16],
        usd_per_chip_hour=[2.0, 2.6, 2.4, 1.5],
        capacity_chips=[math.inf, math.inf, 512, 256],
        take_or_pay_chips=[0, 0, 0, 0],
        available_from_hour=[0, 0, 0, 48],
        available_until_hour=[math.inf] * 4,
    )
    names = ["chat", "batch"] + (["pretrain"] if with_training else [])
    kinds = ["inference", "inference"] + (["training"] if with_training else [])
    demand = [40_000.0, 10_000.0] + ([20_000.0] if with_training else [])
    workloads = WorkloadTable(
        names=names,
        kinds=kinds,
        demand_tokens_per_s=demand,
        critical=[True, False] + ([False] if with_training else []),
        gang=[False, False] + ([False] if with_training else []),
        deadline_hours=[math.inf, math.inf] + ([200.0] if with_training else []),
        weight=[1.0] * len(names),
    )
    tput = np.array(
        [
            [1000.0, 900.0, 1000.0, 0.0],
            [1000.0, 900.0, 1000.0, 0.0],
            [500.0, 450.0, 500.0, 400.0],
        ]
    )[: len(names)]
    return Problem(
        offers=offers,
        workloads=workloads,
        tokens_per_s_per_chip=tput,
        allowed=np.ones_like(tput, dtype=bool),
        policy=Policy(max_share=0.7, share_by=ShareBy.PROVIDER, min_vendors=2, n_minus_1=n_minus_1),
        horizon_hours=horizon_hours,
    )


@pytest.fixture
def problem() -> Problem:
    return tiny_problem()
