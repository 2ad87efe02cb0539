"""The performance model's public functions: estimates, capabilities and calibration.

Every function validates its arguments (a bad value raises InputError naming the field),
accepts a model or chip by object or by name, and uses the shipped calibration unless one
is passed. Capability functions are cached per (arguments, calibration object), because the
planner asks them for every workload and chip pair.
"""

from __future__ import annotations

import math
from dataclasses import replace

from chipfolio.catalog.chips import registry
from chipfolio.domain import Chip, Precision
from chipfolio.errors import InputError
from chipfolio.perfmodel.calibration import fit_calibration
from chipfolio.perfmodel.efficiency import Calibration, default_calibration
from chipfolio.perfmodel.inference import (
    InferenceEstimate,
    ReplicaCapability,
    ServingRequest,
    estimate_serving,
    inference_capability_cached,
)
from chipfolio.perfmodel.measurements import load_results_csv
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
) -> InferenceEstimate:
    """Serving ``model`` on ``count`` chips: fit, TTFT, TPOT, batch and output tokens/s.

    Throughput is of the whole system: under the SLO when one is given, at maximum load
    otherwise.
    """
    arch, hw = _model(model), _chip(chip)
    request = ServingRequest(
        arch,
        hw,
        _positive_int(count, "count"),
        _precision(precision),
        _positive_int(input_tokens, "input_tokens"),
        _positive_int(output_tokens, "output_tokens"),
        _positive(ttft_ms, "ttft_ms"),
        _positive(tpot_ms, "tpot_ms"),
        calibration or default_calibration(),
    )
    est = estimate_serving(request)
    if input_tokens + output_tokens > arch.max_context:
        total = input_tokens + output_tokens
        note = f"{total} tokens exceed {arch.name}'s context of {arch.max_context}"
        return _with_note(est, note)
    return est


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
    """The most cost-effective replica for serving on ``chip`` (None: no fit or SLO unmet)."""
    return inference_capability_cached(
        _model(model),
        _chip(chip),
        _precision(precision),
        _positive_int(input_tokens, "input_tokens"),
        _positive_int(output_tokens, "output_tokens"),
        _positive(ttft_ms, "ttft_ms"),
        _positive(tpot_ms, "tpot_ms"),
        calibration or default_calibration(),
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
