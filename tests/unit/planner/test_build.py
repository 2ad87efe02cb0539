"""Portfolio -> Problem: offers, discounts, compatibility, regions, terms, traces, perf model."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chipfolio.catalog.offers import Catalog
from chipfolio.catalog.sources.private import parse_private_offers
from chipfolio.domain import Chip, Precision
from chipfolio.errors import InfeasibleError, InputError
from chipfolio.planner import SolveOptions, solve_problem
from chipfolio.planner.build import build_problem
from chipfolio.workloads.spec import Portfolio, parse_portfolio_text

ROOT = Path(__file__).resolve().parents[3]
TRACE = ROOT / "examples" / "data" / "AzureLLMInferenceTrace_conv.csv"


def _offer(id: str, provider: str, chip: str, region: str, price: float, k: int) -> dict[str, Any]:
    return {"id": id, "provider": provider, "chip": chip, "region": region,
            "usd_per_chip_hour": price, "chips_per_instance": k}  # fmt: skip


OFFERS = [
    _offer("maia", "azure", "maia-200", "eastus", 2.0, 4),
    _offer("trn2", "aws", "trainium2", "us-east-1", 1.6, 16),
    _offer("h100", "lambda", "h100-sxm", "us-west-1", 2.5, 8),
    _offer("tpu", "gcp", "tpu-v6e", "us-east5", 2.7, 8),
]
TABLE = {"maia-200": 900, "trainium2": 600, "h100": 700, "tpu-v6e": 500}


def inference(**fields: Any) -> dict[str, Any]:
    """An inference workload 'w' (explicit table, 1,000 tok/s unless overridden)."""
    return {
        "name": "w",
        "kind": "inference",
        "demand_tokens_per_s": 1000,
        "throughput": TABLE,
    } | fields


def portfolio(
    *workloads: dict[str, Any], catalog: Any = "none", base: Path | None = None, **top: Any
) -> Portfolio:
    text = json.dumps({"catalog": catalog, "offers": OFFERS, "workloads": list(workloads), **top})
    return parse_portfolio_text(text, "p.yaml", base)


def test_explicit_throughput_maps_chip_aliases_to_offers() -> None:
    p = build_problem(portfolio(inference()))
    assert list(p.tokens_per_s_per_chip[0]) == [900, 600, 700, 500]
    assert p.catalog_snapshot == "none"


def test_frameworks_limit_the_chips() -> None:
    p = build_problem(portfolio(inference(frameworks=["jax"])))
    # jax runs on cuda, rocm and xla: not on Maia or Trainium
    assert list(p.tokens_per_s_per_chip[0] > 0) == [False, False, True, True]
    p = build_problem(portfolio(inference(stacks=["neuron"])))
    assert list(p.tokens_per_s_per_chip[0] > 0) == [False, True, False, False]


def test_region_and_provider_allow_lists() -> None:
    p = build_problem(portfolio(inference(regions=["EastUS", "us-east5"])))
    assert list(p.allowed[0]) == [True, False, False, True]
    p = build_problem(portfolio(inference(providers=["aws"])))
    assert list(p.allowed[0]) == [False, True, False, False]


def test_workload_that_can_run_nowhere_is_explained() -> None:
    with pytest.raises(InfeasibleError, match=r"allow .* chips it can use run maia"):
        build_problem(portfolio(inference(throughput={"maia-200": 9}, frameworks=["jax"])))
    with pytest.raises(InfeasibleError, match="none of the offered chips"):
        build_problem(portfolio(inference(throughput={"mi300x": 9})))


def test_training_demand_and_gang() -> None:
    gang = {"name": "t", "kind": "training", "tokens": 3.6e9, "deadline_hours": 50}
    split = {"name": "s", "kind": "training", "tokens": 3.6e9, "splittable": True}
    jobs = [job | {"throughput": TABLE} for job in (gang, split)]
    p = build_problem(portfolio(*jobs, horizon_hours=100))
    assert list(p.workloads.demand_tokens_per_s) == pytest.approx([20_000, 10_000])
    assert list(p.workloads.gang) == [True, False]
    assert list(p.workloads.deadline_hours) == [50, 100]


def test_traffic_and_trace_demand(tmp_path: Path) -> None:
    traffic = {"requests_per_s": 10, "input_tokens": 500, "output_tokens": 200}
    p = build_problem(portfolio(inference(demand_tokens_per_s=None, traffic=traffic)))
    assert p.workloads.demand_tokens_per_s[0] == pytest.approx(2000)
    trace = {"file": TRACE.name, "scale": 10, "rate": "mean"}
    w = inference(demand_tokens_per_s=None, trace=trace)
    p = build_problem(portfolio(w, base=TRACE.parent))
    # conversation trace: 19,366 requests over ~3,502 s, mean 211.1 output tokens
    assert p.workloads.demand_tokens_per_s[0] == pytest.approx(
        10 * 19366 / 3501.721937 * 211.12594, rel=1e-4
    )


def test_bad_trace_file_is_located(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00,5,x\n"
    )
    w = inference(demand_tokens_per_s=None, trace={"file": "t.csv"})
    with pytest.raises(InputError) as err:
        build_problem(portfolio(w, base=tmp_path))
    assert "workloads[0].trace.file" in str(err.value) and "GeneratedTokens" in str(err.value)


def test_terms_become_availability_windows() -> None:
    text = """
catalog: none
start_date: 2026-01-01
horizon_hours: 2000
offers:
  - {id: late, provider: aws, chip: trainium2, region: r, usd_per_chip_hour: 1.0,
     term_start: 2026-01-11, term_end: 2026-02-10}
  - {id: now, provider: azure, chip: maia-200, region: r, usd_per_chip_hour: 3.0}
workloads:
  - {name: w, kind: inference, demand_tokens_per_s: 100,
     throughput: {trainium2: 10, maia-200: 10}}
"""
    p = build_problem(parse_portfolio_text(text, "p.yaml"))
    assert list(p.offers.available_from_hour) == [240, 0]
    assert list(p.offers.available_until_hour) == [960, math.inf]
    plan = solve_problem(p, SolveOptions(mip_gap=0))
    windows = sorted((a.offer, a.from_hour, a.to_hour) for a in plan.allocations)
    assert windows == [("late", 240, 960), ("now", 0, 240), ("now", 960, 2000)]


def test_terms_need_a_start_date() -> None:
    offer = _offer("x", "p", "h100", "r", 1.0, 1) | {"term_start": "2026-01-01"}
    text = json.dumps({"catalog": "none", "offers": [offer], "workloads": [inference()]})
    with pytest.raises(InputError, match="start_date"):
        build_problem(parse_portfolio_text(text, "p.yaml"))


def _catalog() -> Catalog:
    items = [
        {
            "id": "c-aws",
            "provider": "aws",
            "chip": "h100",
            "region": "us-east-1",
            "usd_per_chip_hour": 4.0,
            "pricing": "on_demand",
        },
        {
            "id": "c-aws-spot",
            "provider": "aws",
            "chip": "h100",
            "region": "us-east-1",
            "usd_per_chip_hour": 1.0,
            "pricing": "spot",
        },
        {
            "id": "c-gcp",
            "provider": "gcp",
            "chip": "tpu-v6e",
            "region": "us-east5",
            "usd_per_chip_hour": 2.7,
            "pricing": "on_demand",
        },
        {
            "id": "c-lam",
            "provider": "lambda",
            "chip": "b200",
            "region": "us-west-1",
            "usd_per_chip_hour": 5.0,
            "pricing": "on_demand",
        },
    ]
    return Catalog("snap-1", tuple(parse_private_offers(items, "cat", "snap-1")))  # type: ignore[arg-type]


def test_catalog_filters_and_discounts() -> None:
    w = inference(throughput={"h100": 700, "tpu-v6e": 500, "b200": 900})
    spec = {"exclude_providers": ["lambda"], "discounts": {"AWS": 0.25}}
    p = build_problem(portfolio(w, catalog=spec), catalog=_catalog())
    ids = list(p.offers.ids)
    assert "c-aws-spot" not in ids and "c-lam" not in ids  # spot excluded by default
    assert p.offers.usd_per_chip_hour[ids.index("c-aws")] == pytest.approx(3.0)
    assert p.catalog_snapshot == "snap-1"
    assert "maia" in ids  # private offers are added to the catalog's


def test_catalog_discount_for_an_unknown_provider() -> None:
    w = inference(throughput={"h100": 700})
    with pytest.raises(InputError, match="unknown provider 'amazon'"):
        build_problem(portfolio(w, catalog={"discounts": {"amazon": 0.1}}), catalog=_catalog())


class FakePerf:
    """A performance model with fixed answers per chip (and a call log)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def inference(
        self, model: str, chip: Chip, precision: Precision, input_tokens: int, output_tokens: int,
        ttft_ms: float | None, tpot_ms: float | None,
    ) -> tuple[int, float] | None:  # fmt: skip
        self.calls.append(("inference", chip.id))
        return {"maia-200": (8, 1000.0), "trainium2": (4, 300.0), "h100-sxm": (2, 500.0)}.get(
            chip.id
        )

    def training(self, model: str, chip: Chip, precision: Precision, chips: int) -> float | None:
        self.calls.append(("training", chip.id))
        return 2000.0 if chip.id == "h100-sxm" else None


def test_perf_model_replicas_become_serving_units() -> None:
    traffic = {"requests_per_s": 10, "input_tokens": 500, "output_tokens": 200}
    w = inference(demand_tokens_per_s=None, throughput=None, model="llama-3.1-70b", traffic=traffic)
    perf = FakePerf()
    p = build_problem(portfolio(w), perf=perf)
    # maia: 8 chips per replica on 4-chip instances -> 2 instances per unit
    assert list(p.units[0]) == [2, 1, 1, 1]
    assert list(p.tokens_per_s_per_chip[0]) == [1000, 300 * 4 / 16 * 4, 500, 0]
    assert ("inference", "tpu-v6e") in perf.calls


def test_perf_model_training_and_unknown_model() -> None:
    job = {"name": "t", "kind": "training", "model": "llama-3.1-8b", "tokens": 1e9}
    p = build_problem(portfolio(job | {"deadline_hours": 10}), perf=FakePerf())
    assert list(p.tokens_per_s_per_chip[0] > 0) == [False, False, True, False]
    with pytest.raises(InputError) as err:
        build_problem(portfolio(job | {"model": "llama-9-9000b"}), perf=FakePerf())
    assert "workloads[0].model" in str(err.value) and "llama-9-9000b" in str(err.value)


def test_default_perf_model_is_used_for_model_workloads() -> None:
    traffic = {"requests_per_s": 5, "input_tokens": 500, "output_tokens": 100}
    w = inference(demand_tokens_per_s=None, throughput=None, model="llama-3.1-8b")
    p = build_problem(
        portfolio(w | {"precision": "fp8", "traffic": traffic, "slo": {"tpot_ms": 50}})
    )
    assert (p.tokens_per_s_per_chip[0] > 0).sum() >= 2
    assert np.isfinite(p.tokens_per_s_per_chip).all()
