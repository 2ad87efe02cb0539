"""Training estimates: layout search, step time, tokens/s, MFU, days and chip-hours.

FLOPs per token are 6 x (matmul parameters a token uses; active ones for a mixture of
experts) plus attention; model FLOPs follow the Megatron/PaLM convention (non-causal
attention, 12·L·s·d per token, no recomputation). The time per step is

    compute x (1 + pipeline bubble) + tensor-parallel all-reduces + exposed data-parallel
    gradient traffic + expert all-to-all + per-layer overheads,

where compute runs matmuls at the precision's peak and attention at the bf16 peak, both times
the stack's matmul efficiency times the training factor. The layout search tries tensor,
pipeline and data parallel sizes, ZeRO-1 versus fully sharded (ZeRO-3/FSDP) state and
selective versus full recomputation, keeps layouts that fit in HBM and returns the fastest.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

from chipfolio.domain import Chip, Precision
from chipfolio.perfmodel.comms import all_reduce_s, gather_s, send_s
from chipfolio.perfmodel.efficiency import Calibration
from chipfolio.perfmodel.hardware import ChipRates, chip_rates
from chipfolio.perfmodel.memory import Recompute, training_bytes_per_chip, training_fits
from chipfolio.workloads.models import ModelArch

DEFAULT_SEQ_LEN = 4096
DEFAULT_GLOBAL_BATCH_TOKENS = 4 * 1024 * 1024
"""About 4M tokens per step: the batch Llama 2 and most large pre-training runs use."""

MAX_TRAIN_TP = 16
GIB = 1024**3
SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Layout:
    """How a training job is split over its chips."""

    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    data_parallel: int = 1
    context_parallel: int = 1
    zero_stage: int = 1
    recompute: Recompute = Recompute.SELECTIVE
    virtual_stages: int = 1
    micro_batch: int = 1

    @property
    def chips(self) -> int:
        return (
            self.tensor_parallel
            * self.pipeline_parallel
            * self.data_parallel
            * self.context_parallel
        )

    def to_json(self) -> dict[str, object]:
        return {
            "tensor_parallel": self.tensor_parallel,
            "pipeline_parallel": self.pipeline_parallel,
            "data_parallel": self.data_parallel,
            "context_parallel": self.context_parallel,
            "zero_stage": self.zero_stage,
            "recompute": str(self.recompute),
            "virtual_stages": self.virtual_stages,
            "micro_batch": self.micro_batch,
        }


@dataclass(frozen=True, slots=True)
class StepTime:
    """One training step and its parts, in seconds."""

    total_s: float
    compute_s: float
    bubble_s: float
    tensor_comm_s: float
    data_comm_exposed_s: float
    expert_comm_s: float
    overhead_s: float


@dataclass(frozen=True)
class TrainingJob:
    """What is trained, on what, with which batch."""

    model: ModelArch
    rates: ChipRates
    cal: Calibration
    seq_len: int
    global_batch_tokens: float

    def model_flops_per_token(self) -> float:
        """Model FLOPs per token (Megatron/PaLM convention, non-causal attention)."""
        m = self.model
        return 3.0 * (2.0 * m.matmul_params_per_token + m.attention_flops_per_token(self.seq_len))

    def compute_s(self, layout: Layout, tokens_per_chip: float) -> float:
        rates, cal = self.rates, self.cal
        train = cal.training_matmul_factor
        matmul_rate = (
            cal.matmul_efficiency(rates.stack, rates.precision) * train * rates.matmul_flops
        )
        bf16_rate = cal.for_stack(rates.stack).matmul * train * rates.bf16_flops
        passes = 4.0 if layout.recompute is Recompute.FULL else 3.0
        matmul = passes * 2.0 * self.model.matmul_params_per_token / matmul_rate
        # Causal attention does half the non-causal work; it runs at the bf16 rate.
        attn = passes * self.model.attention_flops_per_token(self.seq_len / 2.0) / bf16_rate
        return tokens_per_chip * (matmul + attn)

    def step(self, layout: Layout) -> StepTime:
        m, rates, cal = self.model, self.rates, self.cal
        eff = cal.for_stack(rates.stack)
        tp, pp, dp = layout.tensor_parallel, layout.pipeline_parallel, layout.data_parallel
        tokens_per_chip = self.global_batch_tokens / layout.chips
        compute = self.compute_s(layout, tokens_per_chip)
        micro_tokens = self.seq_len * layout.micro_batch / layout.context_parallel
        # Micro-batches each pipeline runs per step: its share of sequences / micro-batch.
        sequences = self.global_batch_tokens / (dp * self.seq_len)
        micro_batches = max(sequences / layout.micro_batch, 1.0)
        bubble = compute * (pp - 1) / (micro_batches * layout.virtual_stages) if pp > 1 else 0.0
        layers = m.n_layers / pp
        hidden_bytes = micro_tokens * m.d_model * 2.0
        ar_per_layer = 6 if layout.recompute is Recompute.FULL else 4
        tensor = micro_batches * layers * ar_per_layer * all_reduce_s(hidden_bytes, tp, rates, cal)
        if pp > 1:
            # Hand-offs overlap steady-state compute; only pipeline fill and drain wait.
            sends = 2 * (pp - 1) * layout.virtual_stages
            tensor += sends * send_s(hidden_bytes / tp, tp * pp, rates, cal)
        data = self._data_comm_s(layout)
        grad_window = compute if layout.zero_stage >= 3 else compute * 2.0 / 3.0
        data_exposed = max(0.0, data - grad_window)
        # Routed tokens travel while attention and shared/dense layers compute.
        expert = max(
            0.0, self._expert_comm_s(layout, tokens_per_chip) - compute * self._shared_share()
        )
        overhead = (
            3 * layers * micro_batches * eff.layer_overhead_us + eff.step_overhead_us
        ) * 1e-6
        total = compute + bubble + tensor + data_exposed + expert + overhead
        return StepTime(total, compute, bubble, tensor, data_exposed, expert, overhead)

    def _data_comm_s(self, layout: Layout) -> float:
        """Gradient (and, fully sharded, weight) traffic per step over the data group."""
        group = layout.data_parallel * layout.context_parallel
        if group <= 1:
            return 0.0
        params = self.model.total_params / (layout.tensor_parallel * layout.pipeline_parallel)
        nbytes = params * 2.0
        span = layout.chips  # the group's members sit one model replica apart
        if layout.zero_stage >= 3:
            return 3.0 * gather_s(nbytes, group, self.rates, self.cal, span)
        return all_reduce_s(nbytes, group, self.rates, self.cal, span)

    def _expert_comm_s(self, layout: Layout, tokens_per_chip: float) -> float:
        """Dispatch and combine all-to-alls of routed tokens (forward and backward)."""
        m = self.model
        if not m.is_moe:
            return 0.0
        group = min(m.n_experts, layout.tensor_parallel * layout.data_parallel)
        if group <= 1:
            return 0.0
        # Dispatch at the training precision (bf16 or fp8), combine in bf16; both ways.
        dispatch = 1.0 if self.rates.precision is not Precision.BF16 else 2.0
        hops = 2.0 * m.experts_per_token * m.d_model * (dispatch + 2.0)
        per_token = hops * (group - 1) / group
        # Each chip routes its share of tokens through the MoE layers of its own stage.
        nbytes = tokens_per_chip * per_token * m.n_moe_layers
        bandwidth = self.rates.group_bytes_per_s(layout.chips) * self.cal.comm_efficiency
        return nbytes / bandwidth

    @functools.cached_property
    def _shared(self) -> float:
        return self._shared_share()

    def _shared_share(self) -> float:
        """Share of a token's FLOPs outside the routed experts (what can hide the all-to-all)."""
        m = self.model
        routed = 2.0 * m.n_moe_layers * m.experts_per_token * m.expert_params
        total = 2.0 * m.matmul_params_per_token + m.attention_flops_per_token(self.seq_len / 2)
        return max(0.0, 1.0 - routed / total)


def _powers_of_two(limit: int) -> list[int]:
    return [1 << k for k in range(0, 20) if (1 << k) <= limit]


@dataclass(frozen=True, slots=True)
class LayoutHint:
    """Parts of a layout fixed by the caller (None = searched)."""

    tensor_parallel: int | None = None
    pipeline_parallel: int | None = None
    context_parallel: int | None = None
    zero_stage: int | None = None
    virtual_stages: int | None = None
    micro_batch: int | None = None


MAX_VIRTUAL_STAGES = 8


def _interleave(model: ModelArch, pp: int) -> int:
    """Virtual stages per pipeline rank (interleaved 1F1B): as many as the layers allow, up
    to 8; each cuts the bubble and adds one more hand-off per micro-batch."""
    if pp <= 1:
        return 1
    v = 1
    while v * 2 <= MAX_VIRTUAL_STAGES and v * 2 * pp <= model.n_layers:
        v *= 2
    return v


LONG_SEQUENCE = 8192
"""From this sequence length on, the search also splits sequences over 2 chips (context
parallelism), as long-context pre-training does to fit activations."""


def candidate_layouts(
    model: ModelArch, rates: ChipRates, count: int, hint: LayoutHint, seq_len: int = 0
) -> list[Layout]:
    """Layouts to try: the parts fixed by ``hint`` and every choice for the rest."""
    tp_max = min(MAX_TRAIN_TP, rates.max_tensor_parallel, count)
    tps = [hint.tensor_parallel] if hint.tensor_parallel else _powers_of_two(tp_max)
    pps = (
        [hint.pipeline_parallel]
        if hint.pipeline_parallel
        else [p for p in _powers_of_two(count) if p <= model.n_layers]
    )
    if hint.context_parallel:
        cps = [hint.context_parallel]
    else:
        cps = [1, 2] if seq_len >= LONG_SEQUENCE else [1]
    zeros = [hint.zero_stage] if hint.zero_stage is not None else [1, 3]
    layouts: list[Layout] = []
    for tp, pp, cp, zero in itertools.product(tps, pps, cps, zeros):
        if count % (tp * pp * cp):
            continue
        dp = count // (tp * pp * cp)
        if zero >= 3 and dp * cp == 1 and hint.zero_stage is None:
            continue
        for rec in (Recompute.SELECTIVE, Recompute.FULL):
            layouts.append(
                Layout(
                    tensor_parallel=tp,
                    pipeline_parallel=pp,
                    data_parallel=dp,
                    context_parallel=cp,
                    zero_stage=zero,
                    recompute=rec,
                    virtual_stages=hint.virtual_stages or _interleave(model, pp),
                    micro_batch=hint.micro_batch or 1,
                )
            )
    return layouts


def layout_bytes_per_chip(job: TrainingJob, layout: Layout) -> float:
    return training_bytes_per_chip(
        job.model,
        tensor_parallel=layout.tensor_parallel,
        pipeline_parallel=layout.pipeline_parallel,
        data_parallel=layout.data_parallel * layout.context_parallel,
        zero_stage=layout.zero_stage,
        recompute=layout.recompute,
        seq_len=job.seq_len // layout.context_parallel,
        micro_batch=layout.micro_batch,
    )


@dataclass(frozen=True, slots=True)
class LayoutChoice:
    layout: Layout
    step: StepTime
    bytes_per_chip: float


def best_layout(
    job: TrainingJob, count: int, hint: LayoutHint, require_fit: bool = True
) -> LayoutChoice | None:
    """The fastest layout that fits in HBM (any layout if not ``require_fit``), or None."""
    best: LayoutChoice | None = None
    selective_fits: set[tuple[int, int, int, int]] = set()
    for layout in candidate_layouts(job.model, job.rates, count, hint, job.seq_len):
        key = (layout.tensor_parallel, layout.pipeline_parallel, layout.context_parallel,
               layout.zero_stage)  # fmt: skip
        if layout.recompute is Recompute.FULL and key in selective_fits:
            continue  # recomputing everything is only slower when the cheaper policy fits
        nbytes = layout_bytes_per_chip(job, layout)
        fits = training_fits(nbytes, job.rates)
        if fits and layout.recompute is Recompute.SELECTIVE:
            selective_fits.add(key)
        if require_fit and not fits:
            continue
        step = job.step(layout)
        if best is None or step.total_s < best.step.total_s:
            best = LayoutChoice(layout, step, nbytes)
    return best


@dataclass(frozen=True, slots=True)
class TrainingEstimate:
    """Training one model on ``count`` chips for ``tokens`` tokens."""

    model: str
    chip: str
    count: int
    precision: Precision
    tokens: float
    fits: bool
    tokens_per_s: float
    model_tflops_per_chip: float
    mfu: float
    days: float | None
    chip_hours: float | None
    layout: Layout | None
    step: StepTime | None
    hbm_gib_per_chip: float
    seq_len: int
    global_batch_tokens: float
    estimated: bool
    calibrated_stack: bool
    notes: tuple[str, ...]

    @property
    def tokens_per_s_per_chip(self) -> float:
        return self.tokens_per_s / self.count if self.count else 0.0

    def to_json(self) -> dict[str, object]:
        """The CLI contract of ``chipfolio estimate training --json``."""
        step = self.step
        return {
            "model": self.model,
            "chip": self.chip,
            "count": self.count,
            "precision": str(self.precision),
            "tokens": self.tokens,
            "fits": self.fits,
            "tokens_per_s": round(self.tokens_per_s, 1),
            "tokens_per_s_per_chip": round(self.tokens_per_s_per_chip, 2),
            "model_tflops_per_chip": round(self.model_tflops_per_chip, 2),
            "mfu": round(self.mfu, 4),
            "days": None if self.days is None else round(self.days, 3),
            "chip_hours": None if self.chip_hours is None else round(self.chip_hours, 1),
            "layout": self.layout.to_json() if self.layout else None,
            "step_time_s": None if step is None else round(step.total_s, 4),
            "hbm_gib_per_chip": round(self.hbm_gib_per_chip, 2),
            "seq_len": self.seq_len,
            "global_batch_tokens": self.global_batch_tokens,
            "estimated": self.estimated,
            "calibrated_stack": self.calibrated_stack,
            "notes": list(self.notes),
        }


def make_job(
    model: ModelArch,
    chip: Chip,
    precision: Precision,
    cal: Calibration,
    seq_len: int | None,
    global_batch_tokens: float | None,
) -> TrainingJob:
    seq = seq_len or min(DEFAULT_SEQ_LEN, model.max_context)
    batch = global_batch_tokens or DEFAULT_GLOBAL_BATCH_TOKENS
    return TrainingJob(model, chip_rates(chip, precision), cal, seq, float(batch))


MAX_CHIPS_SEARCHED = 1 << 17


def _does_not_fit(job: TrainingJob, chip: Chip, count: int) -> str:
    """Says how many chips would hold the model (searching powers of two above ``count``)."""
    head = f"{job.model.name} does not fit on {count} x {chip.id} in any layout tried"
    n = 1 << max(count - 1, 0).bit_length()
    while n <= MAX_CHIPS_SEARCHED:
        if n > count and best_layout(job, n, LayoutHint()) is not None:
            return f"{head}: needs >= {n} chips of {chip.id} at {job.rates.precision}"
        n *= 2
    return head


def estimate_training_job(
    job: TrainingJob,
    chip: Chip,
    count: int,
    tokens: float,
    hint: LayoutHint,
    require_fit: bool = True,
    explain_misfit: bool = True,
) -> TrainingEstimate:
    """Pick the best layout for ``job`` on ``count`` chips and report its speed."""
    rates, cal = job.rates, job.cal
    notes = list(rates.notes_for(count))
    if not cal.is_calibrated(chip.stack):
        notes.append(f"no measurements for the {chip.stack} stack: cross-stack default efficiency")
    choice = best_layout(job, count, hint, require_fit)
    common = dict(
        model=job.model.name, chip=chip.id, count=count, precision=rates.precision,
        tokens=tokens, seq_len=job.seq_len, global_batch_tokens=job.global_batch_tokens,
        estimated=rates.estimated_for(count), calibrated_stack=cal.is_calibrated(chip.stack),
    )  # fmt: skip
    if choice is None:
        head = f"{job.model.name} does not fit on {count} x {chip.id} in any layout tried"
        notes.append(_does_not_fit(job, chip, count) if explain_misfit else head)
        return TrainingEstimate(
            fits=False, tokens_per_s=0.0, model_tflops_per_chip=0.0, mfu=0.0, days=None,
            chip_hours=None, layout=None, step=None, hbm_gib_per_chip=0.0,
            notes=tuple(notes), **common,  # type: ignore[arg-type]
        )  # fmt: skip
    tokens_per_s = job.global_batch_tokens / choice.step.total_s
    per_chip_flops = tokens_per_s / count * job.model_flops_per_token()
    seconds = tokens / tokens_per_s if tokens > 0 else 0.0
    return TrainingEstimate(
        fits=True, tokens_per_s=tokens_per_s, model_tflops_per_chip=per_chip_flops / 1e12,
        mfu=per_chip_flops / rates.matmul_flops, days=seconds / SECONDS_PER_DAY,
        chip_hours=seconds / 3600.0 * count, layout=choice.layout, step=choice.step,
        hbm_gib_per_chip=choice.bytes_per_chip / GIB, notes=tuple(notes),
        **common,  # type: ignore[arg-type]
    )  # fmt: skip


@functools.lru_cache(maxsize=8192)
def training_capability_cached(
    model: ModelArch, chip: Chip, precision: Precision, chips: int, cal: Calibration
) -> float | None:
    """Tokens/s per chip of the best layout on ``chips`` chips (None if nothing fits)."""
    job = make_job(model, chip, precision, cal, None, None)
    choice = best_layout(job, chips, LayoutHint())
    if choice is None:
        return None
    return job.global_batch_tokens / choice.step.total_s / chips
