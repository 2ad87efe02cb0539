"""Serving estimates: batching, latency targets, replica shapes and the JSON contract."""

from __future__ import annotations

import pytest

from chipfolio.catalog.chips import registry
from chipfolio.domain import Precision
from chipfolio.errors import InputError, UnknownNameError
from chipfolio.perfmodel import (
    default_calibration,
    estimate_inference,
    get_model,
    inference_capability,
)
from chipfolio.perfmodel.inference import build_replica

P = Precision
CONTRACT_KEYS = {
    "fits",
    "throughput_tokens_per_s",
    "ttft_ms",
    "tpot_ms",
    "batch",
    "hbm_gib_per_chip",
    "estimated",
}


def replica(model: str, chip: str, tp: int, precision: Precision = P.FP8):  # type: ignore[no-untyped-def]
    return build_replica(
        get_model(model), registry().get(chip), precision, default_calibration(), tp, 1, 1000, 1000
    )


def test_decode_time_and_throughput_grow_with_batch() -> None:
    r = replica("llama-3.1-70b", "h200", 1)
    points = [r.point(b) for b in (1, 8, 64, r.max_batch)]
    tpots = [p.tpot_s for p in points]
    rates = [p.tokens_per_s for p in points]
    assert tpots == sorted(tpots) and rates == sorted(rates)
    assert rates[-1] > 20 * rates[0]


def test_batch_one_decode_is_bounded_by_reading_the_weights() -> None:
    r = replica("llama-3.1-70b", "h200", 1)
    weights_s = r.memory.weights_bytes_per_chip / (4.8e12)
    assert r.decode_latency_s(1) > weights_s  # no faster than the HBM roofline
    assert r.decode_latency_s(1) < 3 * weights_s


def test_tensor_parallelism_lowers_latency() -> None:
    tpots = [replica("llama-3.1-70b", "h100-sxm", tp).decode_latency_s(1) for tp in (2, 4, 8)]
    assert tpots == sorted(tpots, reverse=True)


def test_prefill_is_compute_bound_and_grows_with_the_prompt() -> None:
    r = replica("llama-3.1-8b", "h100-sxm", 1)
    short, long = r.group.prefill_s(1000), r.group.prefill_s(8000)
    assert 6 < long / short < 12  # linear in tokens plus quadratic attention


def test_moe_decode_reads_only_routed_experts() -> None:
    moe = replica("mixtral-8x7b", "h100-sxm", 1)
    assert moe.group.weight_read_bytes(1) < 0.5 * moe.group.weight_read_bytes(1000)


def test_max_throughput_estimate_fills_the_contract() -> None:
    est = estimate_inference("llama-2-70b", "h100-sxm", 8, "fp8", 2048, 128)
    data = est.to_json()
    assert set(data) >= CONTRACT_KEYS
    assert data["fits"] is True and data["estimated"] is False
    assert est.throughput_tokens_per_s > 0 and est.batch >= 1
    assert est.hbm_gib_per_chip <= est.hbm_gib_capacity
    assert est.replicas * est.chips_per_replica <= 8


def test_a_latency_target_trades_throughput_for_latency() -> None:
    # 2048/128 saturates on prefill at a modest load (about 1 s TTFT, 43 ms TPOT), so
    # targets tighter than that bind.
    free = estimate_inference("llama-2-70b", "h100-sxm", 8, "fp8", 2048, 128)
    slo = estimate_inference("llama-2-70b", "h100-sxm", 8, "fp8", 2048, 128, 500, 20)
    assert slo.meets_slo and slo.tpot_ms is not None and slo.tpot_ms <= 20
    assert slo.ttft_ms is not None and slo.ttft_ms <= 500
    assert slo.throughput_tokens_per_s < free.throughput_tokens_per_s
    assert (slo.concurrency or 0) < (free.concurrency or 0)


def test_an_impossible_target_reports_zero_throughput() -> None:
    est = estimate_inference("llama-2-70b", "h100-sxm", 8, "fp8", 2048, 128, tpot_ms=0.01)
    assert est.fits and not est.meets_slo and est.throughput_tokens_per_s == 0
    assert any("latency targets" in n for n in est.notes)


def test_a_model_that_does_not_fit_says_what_would() -> None:
    est = estimate_inference("llama-3.1-405b", "h100-sxm", 8, "bf16", 1000, 1000)
    assert not est.fits and est.throughput_tokens_per_s == 0
    assert any("needs >= 16 chips of h100-sxm at bf16" in n for n in est.notes)
    bigger = estimate_inference("llama-3.1-405b", "h100-sxm", 16, "bf16", 1000, 1000)
    assert bigger.fits and bigger.chips_per_replica == 16  # one instance over two nodes


def test_more_chips_serve_more_tokens() -> None:
    small = estimate_inference("llama-3.1-8b", "l40s", 1, "fp8", 512, 256)
    large = estimate_inference("llama-3.1-8b", "l40s", 4, "fp8", 512, 256)
    assert large.throughput_tokens_per_s == pytest.approx(
        4 * small.throughput_tokens_per_s, rel=0.2
    )


def test_derived_specs_flag_the_estimate() -> None:
    maia = estimate_inference("llama-3.1-70b", "maia-200", 1, "bf16", 1000, 1000)
    assert maia.estimated and any("fp8/2" in n for n in maia.notes)
    assert any("no measurements for the maia stack" in n for n in maia.notes)


def test_fp8_on_a_chip_without_fp8_still_halves_the_weights() -> None:
    bf16 = estimate_inference("llama-3.1-8b", "a100-80gb", 1, "bf16", 1000, 1000)
    fp8 = estimate_inference("llama-3.1-8b", "a100-80gb", 1, "fp8", 1000, 1000)
    assert fp8.estimated and not bf16.estimated
    assert fp8.throughput_tokens_per_s > bf16.throughput_tokens_per_s


def test_capability_picks_a_replica_and_meets_the_target() -> None:
    cap = inference_capability("llama-3.1-70b", "h100-sxm", "fp8", 1000, 200, 2000.0, 40.0)
    assert cap is not None and cap.chips_per_replica >= 1
    assert cap.tpot_ms <= 40 and cap.ttft_ms <= 2000 and cap.tokens_per_s_per_chip > 0
    tight = inference_capability("llama-3.1-70b", "h100-sxm", "fp8", 1000, 200, None, 0.05)
    assert tight is None
    none_fit = inference_capability("deepseek-v3", "l4", "bf16", 1000, 200, None, None)
    assert none_fit is None or none_fit.chips_per_replica >= 64


def test_capability_agrees_with_the_estimate_for_whole_replicas() -> None:
    cap = inference_capability("llama-3.1-8b", "h200", "fp8", 1000, 1000, None, 30.0)
    assert cap is not None
    est = estimate_inference(
        "llama-3.1-8b", "h200", cap.chips_per_replica * 3, "fp8", 1000, 1000, tpot_ms=30.0
    )
    assert est.tokens_per_s_per_chip == pytest.approx(cap.tokens_per_s_per_chip, rel=0.02)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"count": 0}, "count"),
        ({"count": -3}, "count"),
        ({"input_tokens": 0}, "input_tokens"),
        ({"ttft_ms": -1.0}, "ttft_ms"),
        ({"tpot_ms": float("nan")}, "tpot_ms"),
        ({"precision": "fp3"}, "precision"),
    ],
)
def test_bad_arguments_name_their_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = dict(
        model="llama-3.1-8b",
        chip="h100",
        count=1,
        precision="fp8",
        input_tokens=100,
        output_tokens=100,
    )
    args.update(kwargs)
    with pytest.raises(InputError) as info:
        estimate_inference(**args)  # type: ignore[arg-type]
    assert info.value.location.field == field


def test_unknown_names_suggest() -> None:
    with pytest.raises(UnknownNameError, match="did you mean"):
        estimate_inference("llama-3.1-8b", "h1000", 1, "fp8", 100, 100)
