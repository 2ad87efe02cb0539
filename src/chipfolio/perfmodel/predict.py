"""Predict what a measurement measured, with the same code paths the estimates use.

Each metric maps to one model quantity: system output tokens/s at the stated (or maximum)
batch, TTFT and TPOT at the stated batch, training tokens/s, model TFLOP/s per chip or MFU
with the stated layout (searched where the row does not say), and for microbenchmark rows
the achieved matmul rate or memory bandwidth.
"""

from __future__ import annotations

from chipfolio.perfmodel.efficiency import Calibration
from chipfolio.perfmodel.hardware import chip_rates
from chipfolio.perfmodel.inference import Replica, build_replica
from chipfolio.perfmodel.measurements import Measurement, Metric
from chipfolio.perfmodel.roofline import Group
from chipfolio.perfmodel.training import LayoutHint, estimate_training_job, make_job
from chipfolio.workloads.models import ModelArch

DEFAULT_CONTEXT = 2048
"""Context assumed for a decode-latency row that states no lengths (weights dominate)."""


class CannotPredict(Exception):
    """The row lacks what its prediction needs (e.g. a TTFT without an input length)."""


def _model(m: Measurement) -> ModelArch:
    if m.model is None:
        raise CannotPredict("the row names no model")
    return m.model


def _replica(m: Measurement, cal: Calibration) -> Replica:
    s = m.setup
    tp = min(s.tensor_parallel or m.count, m.count)
    pp = max(1, min(s.pipeline_parallel or 1, m.count // tp))
    if s.input_tokens is not None:
        inp, out = s.input_tokens, s.output_tokens or 1
    else:
        context = s.context_tokens or DEFAULT_CONTEXT
        inp, out = context // 2, context - context // 2
    return build_replica(_model(m), m.chip, m.precision, cal, tp, pp, inp, out)


def _throughput(m: Measurement, cal: Calibration) -> float:
    replica = _replica(m, cal)
    replicas = max(m.count // replica.chips, 1)
    batch = m.setup.batch or max(replica.max_batch, 1)
    if m.setup.input_tokens is None:
        # Only a context is known: the rate of decode steps (prefill not amortised).
        return replicas * batch / replica.decode_latency_s(batch)
    return replicas * replica.point(batch).tokens_per_s


def _micro_batch(per_device_batch: float | None) -> int | None:
    """A stated per-chip batch runs as one micro-batch (no gradient accumulation)."""
    if per_device_batch is None or per_device_batch < 1:
        return None
    return int(per_device_batch)


def _training(m: Measurement, cal: Calibration) -> float:
    s = m.setup
    seq = s.seq_len
    tokens: float | None = None
    if s.global_batch_sequences and seq:
        tokens = float(s.global_batch_sequences * seq)
    elif s.per_device_batch and seq:
        tokens = s.per_device_batch * m.count * seq
    job = make_job(_model(m), m.chip, m.precision, cal, seq, tokens)
    hint = LayoutHint(
        tensor_parallel=s.tensor_parallel,
        pipeline_parallel=s.pipeline_parallel,
        context_parallel=s.context_parallel,
        zero_stage=s.zero_stage,
        virtual_stages=s.virtual_stages,
        micro_batch=_micro_batch(s.per_device_batch),
    )
    est = estimate_training_job(job, m.chip, m.count, 0.0, hint, explain_misfit=False)
    if not est.fits:
        # The run happened, so our memory model is too strict: time the stated layout anyway.
        est = estimate_training_job(job, m.chip, m.count, 0.0, hint, require_fit=False)
    if m.metric is Metric.MFU:
        return est.mfu
    if m.metric is Metric.TRAIN_TFLOPS_PER_CHIP:
        return est.model_tflops_per_chip
    if m.metric is Metric.TRAIN_TOKENS_PER_S_PER_CHIP:
        return est.tokens_per_s_per_chip
    return est.tokens_per_s


def _layer(m: Measurement, cal: Calibration) -> float:
    rates = chip_rates(m.chip, m.precision)
    group = Group(_model(m), rates, cal.for_stack(m.chip.stack), cal, m.precision, 1)
    s = m.setup
    if m.metric is Metric.LAYER_PREFILL_MS:
        tokens = s.input_tokens or DEFAULT_CONTEXT
        return group.prefill_s(tokens) * 1000.0 * (s.batch or 1)
    context = s.context_tokens or s.input_tokens or DEFAULT_CONTEXT
    return group.decode_s(s.batch or 1, context) * 1000.0


def predict(m: Measurement, cal: Calibration) -> float:
    """The model's value for what ``m`` measured, in the same canonical unit."""
    metric = m.metric
    if metric is Metric.OUTPUT_TOKENS_PER_S:
        return _throughput(m, cal)
    if metric is Metric.TTFT_MS:
        if m.setup.input_tokens is None:
            raise CannotPredict("a TTFT row must state its input length")
        replica = _replica(m, cal)
        return replica.point(m.setup.batch or 1).ttft_s * 1000.0
    if metric is Metric.TPOT_MS:
        replica = _replica(m, cal)
        batch = m.setup.batch or 1
        if batch == 1:
            return replica.decode_latency_s(1) * 1000.0
        return replica.point(batch).tpot_s * 1000.0
    if metric.is_training:
        return _training(m, cal)
    if metric is Metric.MATMUL_TFLOPS:
        peak = chip_rates(m.chip, m.precision).matmul_flops
        return cal.for_stack(m.chip.stack).matmul * peak / 1e12
    if metric is Metric.HBM_GBPS:
        bandwidth = chip_rates(m.chip, m.precision).hbm_bytes_per_s
        return cal.for_stack(m.chip.stack).hbm * bandwidth / 1e9
    return _layer(m, cal)
