"""The performance model's public functions: estimates, capabilities and calibration.

Every function validates its arguments (a bad value raises InputError naming the field),
accepts a model or chip by object or by name, and uses the shipped calibration unless one
is passed. Capability functions are cached per (arguments, calibration object), because the
planner asks them for every workload and chip pair.
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace

from chipfolio.catalog.chips import registry
from chipfolio.domain import Chip, Precision
from chipfolio.errors import InputError
from chipfolio.perfmodel.calibration import fit_calibration
from chipfolio.perfmodel.efficiency import Calibration, default_calibration
from chipfolio.perfmodel.hardware import GIB, chip_rates
from chipfolio.perfmodel.inference import InferenceEstimate, ReplicaCapability
from chipfolio.perfmodel.measurements import load_results_csv
from chipfolio.perfmodel.serving import ServingParams, serving_hbm_bytes
from chipfolio.perfmodel.serving_estimate import (
    Request,
    ServingEstimate,
    min_chips,
    shipped_serving_params,
)
from chipfolio.perfmodel.serving_estimate import estimate as serve
from chipfolio.perfmodel.training import (
    LayoutHint,
    TrainingEstimate,
    estimate_training_job,
    make_job,
    training_capability_cached,
)
from chipfolio.workloads.models import ModelArch, get_model, load_models_yaml

__all__ = [
    "default_calibration",
    "estimate_inference",
    "estimate_training",
    "fit_calibration",
    "get_model",
    "inference_capability",
    "load_models_yaml",
    "load_results_csv",
    "training_capability",
]


def _model(model: ModelArch | str) -> ModelArch:
    return get_model(model) if isinstance(model, str) else model


def _chip(chip: Chip | str) -> Chip:
    return registry().get(chip) if isinstance(chip, str) else chip


def _precision(precision: Precision | str) -> Precision:
    if isinstance(precision, Precision):
        return precision
    try:
        return Precision(str(precision).strip().lower())
    except ValueError as exc:
        known = ", ".join(p.value for p in Precision)
        raise InputError(f"unknown precision '{precision}'; expected one of {known}",
                         field="precision") from exc  # fmt: skip


def _positive_int(value: int, name: str, maximum: int = 10_000_000) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InputError(f"must be a whole number from 1 to {maximum}, got {value!r}", field=name)
    return value


def _positive(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise InputError(f"must be a positive number, got {value!r}", field=name)
    return float(value)


def estimate_inference(
    model: ModelArch | str,
    chip: Chip | str,
    count: int,
    precision: Precision | str,
    input_tokens: int,
    output_tokens: int,
    ttft_ms: float | None = None,
    tpot_ms: float | None = None,
    calibration: Calibration | None = None,
    *,
    concurrency: float | None = None,
    framework: str | None = None,
    mtp: bool = False,
) -> InferenceEstimate:
    """Serving ``model`` on ``count`` chips: fit, TTFT, TPOT, concurrency and output tokens/s.

    At ``concurrency`` (sequences in flight on all the chips) when given; otherwise the most
    output tokens/s per chip whose TPOT and TTFT meet the targets (at any load when none is
    given). ``framework`` (sglang, trt, vllm, atom; dynamo-*/mori-* for disaggregated
    prefill/decode) picks that engine's calibration; ``mtp`` allows MTP speculative decoding.
    """
    arch, hw = _model(model), _chip(chip)
    n = _positive_int(count, "count")
    prec = _precision(precision)
    isl = _positive_int(input_tokens, "input_tokens")
    osl = _positive_int(output_tokens, "output_tokens")
    ttft, tpot = _positive(ttft_ms, "ttft_ms"), _positive(tpot_ms, "tpot_ms")
    conc = _positive(concurrency, "concurrency")
    if framework is not None and not isinstance(framework, str):
        raise InputError(f"must be a framework name, got {framework!r}", field="framework")
    cal = calibration or default_calibration()
    params = cal.serving or shipped_serving_params()
    req = Request(arch, hw, n, prec, isl, osl, conc, tpot, ttft, framework, mtp)
    est = _as_inference_estimate(serve(req, params), req, params)
    if isl + osl > arch.max_context:
        note = f"{isl + osl} tokens exceed {arch.name}'s context of {arch.max_context}"
        return _with_note(est, note)
    return est


def _as_inference_estimate(
    s: ServingEstimate, req: Request, params: ServingParams
) -> InferenceEstimate:
    rates = chip_rates(req.chip, req.precision)
    notes = (*rates.notes_for(req.count), *s.notes)
    per_replica = s.concurrency / s.replicas if s.replicas else 0.0
    return InferenceEstimate(
        model=s.model, chip=s.chip, count=s.count, precision=s.precision,
        input_tokens=s.input_tokens, output_tokens=s.output_tokens, fits=s.fits,
        meets_slo=s.meets_slo, throughput_tokens_per_s=s.throughput_tokens_per_s,
        ttft_ms=s.ttft_ms, tpot_ms=s.tpot_ms, batch=max(round(per_replica), 1) if s.fits else 0,
        hbm_gib_per_chip=s.hbm_gib_per_chip, hbm_gib_capacity=serving_hbm_bytes(req.chip) / GIB,
        tensor_parallel=s.chips_per_replica, pipeline_parallel=1 if s.fits else 0,
        replicas=s.replicas, estimated=rates.estimated_for(s.chips_per_replica or req.count),
        calibrated_stack=params.is_calibrated(req.chip.stack), notes=notes,
        ttft_slo_ms=req.ttft_ms, tpot_slo_ms=req.tpot_ms,
        tokens_per_s_per_chip_low=s.low if s.fits else None,
        tokens_per_s_per_chip_high=s.high if s.fits else None,
        concurrency=s.concurrency if s.fits else None, deployment=s.deployment,
        framework=s.framework, calibration_tier=s.tier,
    )  # fmt: skip


def _with_note(est: InferenceEstimate, note: str) -> InferenceEstimate:
    return replace(est, notes=(*est.notes, note))


def estimate_training(
    model: ModelArch | str,
    chip: Chip | str,
    count: int,
    precision: Precision | str,
    tokens: float,
    calibration: Calibration | None = None,
    *,
    seq_len: int | None = None,
    global_batch_tokens: float | None = None,
    layout: LayoutHint | None = None,
) -> TrainingEstimate:
    """Training ``model`` on ``count`` chips for ``tokens`` tokens with the best layout found."""
    arch, hw = _model(model), _chip(chip)
    n = _positive_int(count, "count")
    budget = _positive(tokens, "tokens")
    if seq_len is not None:
        _positive_int(seq_len, "seq_len", 10_000_000)
    job = make_job(
        arch,
        hw,
        _precision(precision),
        calibration or default_calibration(),
        seq_len,
        _positive(global_batch_tokens, "global_batch_tokens"),
    )
    return estimate_training_job(job, hw, n, budget or 0.0, layout or LayoutHint())


def inference_capability(
    model: ModelArch | str,
    chip: Chip | str,
    precision: Precision | str,
    input_tokens: int,
    output_tokens: int,
    ttft_ms: float | None,
    tpot_ms: float | None,
    calibration: Calibration | None = None,
) -> ReplicaCapability | None:
    """The most output tokens/s per chip for serving on ``chip`` (None: no fit or SLO unmet).

    Deployments up to the chip's scale-up domain are searched (wider only when the model
    needs more chips to fit); the capability names the engine-instance size that won.
    """
    cal = calibration or default_calibration()
    return _capability(
        _model(model),
        _chip(chip),
        _precision(precision),
        _positive_int(input_tokens, "input_tokens"),
        _positive_int(output_tokens, "output_tokens"),
        _positive(ttft_ms, "ttft_ms"),
        _positive(tpot_ms, "tpot_ms"),
        cal.serving or shipped_serving_params(),
    )


@functools.lru_cache(maxsize=8192)
def _capability(
    arch: ModelArch, hw: Chip, prec: Precision, isl: int, osl: int, ttft: float | None,
    tpot: float | None, params: ServingParams,
) -> ReplicaCapability | None:  # fmt: skip
    rates = chip_rates(hw, prec)
    probe = Request(arch, hw, 1, prec, isl, osl)
    needed = min_chips(probe, params)
    if needed is None:
        return None
    count = max(rates.max_tensor_parallel, needed)
    est = serve(Request(arch, hw, count, prec, isl, osl, None, tpot, ttft), params)
    if not est.fits or not est.meets_slo or est.tokens_per_s_per_chip <= 0:
        return None
    return ReplicaCapability(
        chips_per_replica=est.chips_per_replica,
        tokens_per_s_per_chip=est.tokens_per_s_per_chip,
        estimated=rates.estimated_for(est.chips_per_replica),
        tensor_parallel=est.chips_per_replica,
        pipeline_parallel=1,
        batch=max(round(est.concurrency / max(est.replicas, 1)), 1),
        ttft_ms=est.ttft_ms or 0.0,
        tpot_ms=est.tpot_ms or 0.0,
        tokens_per_s_per_chip_low=est.low,
        calibrated=est.calibrated,
    )


def training_capability(
    model: ModelArch | str,
    chip: Chip | str,
    precision: Precision | str,
    chips: int,
    calibration: Calibration | None = None,
) -> float | None:
    """Training tokens/s per chip on ``chips`` chips (None when the model does not fit)."""
    return training_capability_cached(
        _model(model),
        _chip(chip),
        _precision(precision),
        _positive_int(chips, "chips"),
        calibration or default_calibration(),
    )
