"""Chip rates with derived gaps, and the memory fit of inference and training."""

from __future__ import annotations

import pytest

from chipfolio.catalog.chips import registry
from chipfolio.domain import Precision
from chipfolio.perfmodel.hardware import GIB, chip_rates
from chipfolio.perfmodel.memory import (
    Recompute,
    inference_memory,
    kv_shards,
    training_bytes_per_chip,
    weight_bytes,
)
from chipfolio.workloads.models import get_model

P = Precision


def rates(chip: str, precision: Precision = P.BF16):  # type: ignore[no-untyped-def]
    return chip_rates(registry().get(chip), precision)


def test_published_peaks_are_used_as_is_and_not_flagged() -> None:
    r = rates("h100-sxm", P.FP8)
    assert r.matmul_flops == pytest.approx(1979e12) and r.bf16_flops == pytest.approx(989e12)
    assert not r.peak_estimated and r.notes == ()
    # TPU v5e publishes fp8 at the bf16 rate: no speed-up, but nothing derived either.
    v5e = rates("tpu-v5e", P.FP8)
    assert v5e.matmul_flops == pytest.approx(197e12) and not v5e.peak_estimated


def test_maia_200_bf16_is_derived_from_fp8_and_flagged() -> None:
    r = rates("maia-200", P.BF16)
    assert r.matmul_flops == pytest.approx(2500e12)
    assert r.peak_estimated and "fp8/2" in r.notes[0]
    assert rates("maia-200", P.FP8).bf16_flops == pytest.approx(2500e12)


def test_gaudi2_fp8_is_derived_as_twice_bf16() -> None:
    r = rates("gaudi2", P.FP8)
    assert r.matmul_flops == pytest.approx(864e12) and r.peak_estimated


def test_missing_low_precision_falls_back_to_a_wider_rate() -> None:
    a100 = rates("a100-80gb", P.FP8)
    assert a100.matmul_flops == pytest.approx(312e12) and a100.peak_estimated
    h100_fp4 = rates("h100-sxm", P.FP4)
    assert h100_fp4.matmul_flops == pytest.approx(1979e12) and "fp8" in h100_fp4.notes[0]


def test_unpublished_link_is_flagged_only_when_links_are_used() -> None:
    r = rates("inferentia2")
    assert r.link_estimated and not r.estimated_for(1) and r.estimated_for(12)


def test_full_mesh_groups_get_a_share_of_the_links() -> None:
    gaudi3 = rates("gaudi3")
    assert gaudi3.group_bytes_per_s(2) == pytest.approx(gaudi3.link_bytes_per_s / 7)
    assert gaudi3.group_bytes_per_s(8) == pytest.approx(gaudi3.link_bytes_per_s)
    h100 = rates("h100-sxm")
    assert h100.group_bytes_per_s(2) == pytest.approx(h100.link_bytes_per_s)
    # Past the scale-up domain a group is limited by the scale-out network.
    assert h100.group_bytes_per_s(16) == pytest.approx(h100.scaleout_bytes_per_s)


def test_weight_bytes_per_precision() -> None:
    m = get_model("llama-2-70b")
    bf16, fp8, fp4 = (weight_bytes(m, p) for p in (P.BF16, P.FP8, P.FP4))
    assert bf16 == pytest.approx(2 * m.total_params)
    assert fp4 < fp8 < bf16 and fp8 == pytest.approx(m.total_params, rel=0.01)


def test_kv_shards_stop_at_the_kv_head_count() -> None:
    llama = get_model("llama-2-70b")
    assert [kv_shards(llama, tp) for tp in (1, 4, 8, 16)] == [1, 4, 8, 8]
    assert kv_shards(get_model("deepseek-v3"), 16) == 16


def test_inference_fit_grows_with_tensor_parallelism() -> None:
    model, r = get_model("llama-3.1-70b"), rates("h100-sxm", P.BF16)
    one = inference_memory(model, r, P.BF16, 1, 1, 2048)
    assert not one.fits  # 141 GB of bf16 weights on one 80 GB chip
    sizes = [inference_memory(model, r, P.BF16, tp, 1, 2048).max_sequences for tp in (2, 4, 8)]
    assert 0 < sizes[0] < sizes[1] < sizes[2]


def test_longer_context_fits_fewer_sequences() -> None:
    model, r = get_model("llama-3.1-8b"), rates("h100-sxm", P.FP8)
    short = inference_memory(model, r, P.FP8, 1, 1, 1024).max_sequences
    long = inference_memory(model, r, P.FP8, 1, 1, 8192).max_sequences
    assert long < short and long * 8 == pytest.approx(short, rel=0.02)


def test_training_state_shrinks_with_sharding_and_recompute() -> None:
    m = get_model("llama-2-70b")
    kw = dict(tensor_parallel=4, pipeline_parallel=4, seq_len=4096, micro_batch=1)
    zero1 = training_bytes_per_chip(
        m, data_parallel=8, zero_stage=1, recompute=Recompute.SELECTIVE, **kw
    )
    zero3 = training_bytes_per_chip(
        m, data_parallel=8, zero_stage=3, recompute=Recompute.SELECTIVE, **kw
    )
    full = training_bytes_per_chip(m, data_parallel=8, zero_stage=1, recompute=Recompute.FULL, **kw)
    assert zero3 < zero1 and full < zero1
    # 16 bytes per parameter sharded 16 ways is the floor of ZeRO-1's state.
    assert zero1 > 4 * m.total_params / 16
    assert zero1 / GIB < 80
