"""Training estimates: FLOPs accounting, layouts, memory fit and time to train."""

from __future__ import annotations

import pytest

from chipfolio.catalog.chips import registry
from chipfolio.domain import Precision
from chipfolio.errors import InputError
from chipfolio.perfmodel import LayoutHint, estimate_training, get_model, training_capability
from chipfolio.perfmodel.efficiency import default_calibration
from chipfolio.perfmodel.training import make_job


def test_model_flops_are_six_n_plus_attention() -> None:
    model = get_model("llama-2-70b")
    job = make_job(model, registry().get("h100"), Precision.BF16, default_calibration(), 4096, None)
    six_n = 6 * model.matmul_params_per_token
    attention = 12 * model.n_layers * 4096 * model.n_heads * model.head_dim
    assert job.model_flops_per_token() == pytest.approx(six_n + attention)


def test_moe_training_counts_active_parameters() -> None:
    model = get_model("mixtral-8x7b")
    job = make_job(model, registry().get("h100"), Precision.BF16, default_calibration(), 4096, None)
    assert job.model_flops_per_token() < 3 * 2 * model.total_params


def test_estimate_fills_the_contract_and_is_consistent() -> None:
    est = estimate_training("llama-2-70b", "tpu-v5p", 128, "bf16", 1e12)
    data = est.to_json()
    assert {"tokens_per_s", "model_tflops_per_chip", "mfu", "days", "chip_hours"} <= set(data)
    assert est.fits and 0.2 < est.mfu < 1.0
    assert est.days == pytest.approx(1e12 / est.tokens_per_s / 86400)
    assert est.chip_hours == pytest.approx(est.days * 24 * 128)
    assert est.model_tflops_per_chip == pytest.approx(est.mfu * 459, rel=1e-6)
    assert est.layout is not None and est.layout.chips == 128


def test_a_big_model_does_not_fit_on_one_chip() -> None:
    est = estimate_training("llama-2-70b", "h100-sxm", 1, "bf16", 1e9)
    assert not est.fits and est.days is None and est.tokens_per_s == 0
    assert training_capability("llama-2-70b", "h100-sxm", "bf16", 1) is None


def test_more_chips_train_faster_but_not_superlinearly() -> None:
    small = estimate_training("llama-3.1-8b", "h100-sxm", 8, "bf16", 1e11)
    large = estimate_training("llama-3.1-8b", "h100-sxm", 64, "bf16", 1e11)
    assert small.fits and large.fits
    assert small.tokens_per_s < large.tokens_per_s <= 8.05 * small.tokens_per_s


def test_fp8_trains_faster_than_bf16_on_hopper_but_not_twice() -> None:
    bf16 = estimate_training("llama-3.1-70b", "h100-sxm", 64, "bf16", 1e12)
    fp8 = estimate_training("llama-3.1-70b", "h100-sxm", 64, "fp8", 1e12)
    assert 1.1 < fp8.tokens_per_s / bf16.tokens_per_s < 2.0


def test_a_fixed_layout_is_respected() -> None:
    est = estimate_training(
        "llama-2-70b",
        "h100-sxm",
        64,
        "bf16",
        1e12,
        layout=LayoutHint(tensor_parallel=8, pipeline_parallel=2),
    )
    assert est.layout is not None
    assert (est.layout.tensor_parallel, est.layout.pipeline_parallel) == (8, 2)
    assert est.layout.data_parallel == 4


def test_capability_matches_the_estimate_per_chip() -> None:
    per_chip = training_capability("llama-3.1-8b", "gaudi3", "bf16", 16)
    est = estimate_training("llama-3.1-8b", "gaudi3", 16, "bf16", 1e11)
    assert per_chip == pytest.approx(est.tokens_per_s_per_chip)


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"count": 0}, "count"), ({"tokens": -1.0}, "tokens")]
)
def test_bad_arguments(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = dict(
        model="llama-3.1-8b", chip="h100", count=8, precision="bf16", tokens=1e9
    )
    args.update(kwargs)
    with pytest.raises(InputError) as info:
        estimate_training(**args)  # type: ignore[arg-type]
    assert info.value.location.field == field
