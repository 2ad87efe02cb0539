"""Serving estimates: what fits, TTFT, TPOT and throughput, at maximum load or under an SLO.

A replica is tp x pp chips. Serving uses continuous batching with chunked prefill: each
decode step advances every sequence in the batch by one token, and new prompts are
prefilled inside the running steps. In steady state a batch of B sequences with I input and
O output tokens has, per step, B/O prompts to prefill, so the average time between output
tokens is ``decode(B) + (B/O) x prefill_work(I)`` and the replica emits B tokens per such
interval. Decode reads the KV cache at the average context I + O/2. Throughput grows with B
until memory (KV cache) or the engine's batch limit stops it; under an SLO the largest B
whose TPOT and TTFT meet the targets is used.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from chipfolio.domain import Chip, Precision
from chipfolio.perfmodel.efficiency import Calibration
from chipfolio.perfmodel.hardware import ChipRates, chip_rates
from chipfolio.perfmodel.memory import InferenceMemory, activation_reserve_bytes, inference_memory
from chipfolio.perfmodel.roofline import Group
from chipfolio.workloads.models import ModelArch

MAX_BATCH = 1024
"""Largest number of sequences an engine schedules at once (a common engine limit)."""

MAX_PIPELINE = 64
GIB = 1024**3


@dataclass(frozen=True, slots=True)
class ServingPoint:
    """One operating point of a replica."""

    batch: int
    tpot_s: float
    ttft_s: float
    tokens_per_s: float
    bytes_per_chip: float


class Replica:
    """A replica shape serving one request shape; evaluates operating points."""

    def __init__(
        self,
        group: Group,
        pipeline_parallel: int,
        input_tokens: int,
        output_tokens: int,
        memory: InferenceMemory,
    ) -> None:
        self.group = group
        self.pp = pipeline_parallel
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.memory = memory
        self.context = input_tokens + output_tokens / 2.0
        self._prefill_latency = group.prefill_s(input_tokens)
        self._prefill_work = group.prefill_work_s(input_tokens) / pipeline_parallel

    @property
    def chips(self) -> int:
        return self.group.tp * self.pp

    @property
    def max_batch(self) -> int:
        return min(self.memory.max_sequences, MAX_BATCH)

    def decode_latency_s(self, batch: float) -> float:
        """Time for one token of a sequence when ``batch`` sequences are in flight."""
        micro = max(batch / self.pp, 1.0)
        hops = self.group.stage_hops_s(self.pp, micro)
        return self.group.decode_s(micro, self.context) + hops

    def point(self, batch: int) -> ServingPoint:
        decode = self.decode_latency_s(batch)
        per_token_prefill = self._prefill_work / self.output_tokens
        interval = decode + batch * per_token_prefill
        tpot = decode + max(batch - 1, 0) * per_token_prefill
        kv = batch * self.memory.kv_bytes_per_sequence_per_chip
        used = self.memory.weights_bytes_per_chip + kv
        used += activation_reserve_bytes(self.group.model, self.group.tp)
        return ServingPoint(
            batch=batch,
            tpot_s=tpot,
            ttft_s=self._prefill_latency + decode,
            tokens_per_s=batch / interval,
            bytes_per_chip=used,
        )

    def best(self, ttft_s: float | None, tpot_s: float | None) -> ServingPoint | None:
        """The highest-throughput point that meets the targets (None if even batch 1 fails)."""

        def ok(p: ServingPoint) -> bool:
            return (ttft_s is None or p.ttft_s <= ttft_s) and (tpot_s is None or p.tpot_s <= tpot_s)

        top = self.max_batch
        if top < 1:
            return None
        best = self.point(top)
        if ok(best):
            return best
        if not ok(self.point(1)):
            return None
        lo, hi = 1, top  # ok(lo) holds, ok(hi) fails; both TTFT and TPOT grow with batch
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ok(self.point(mid)):
                lo = mid
            else:
                hi = mid
        return self.point(lo)


def tensor_parallel_options(rates: ChipRates, limit: int) -> list[int]:
    """Tensor-parallel sizes to try: powers of two and the whole fast domain, up to limit."""
    top = min(rates.max_tensor_parallel, limit)
    options = {1 << k for k in range(0, 16) if (1 << k) <= top}
    options.add(top)
    return sorted(options)


def build_replica(
    model: ModelArch,
    chip: Chip,
    precision: Precision,
    cal: Calibration,
    tp: int,
    pp: int,
    input_tokens: int,
    output_tokens: int,
) -> Replica:
    """A replica of ``tp`` x ``pp`` chips (fit or not; check ``memory.fits``)."""
    rates = chip_rates(chip, precision)
    group = Group(model, rates, cal.for_stack(chip.stack), cal, precision, tp)
    memory = inference_memory(model, rates, precision, tp, pp, input_tokens + output_tokens)
    return Replica(group, pp, input_tokens, output_tokens, memory)


def candidate_replicas(
    model: ModelArch,
    chip: Chip,
    precision: Precision,
    cal: Calibration,
    input_tokens: int,
    output_tokens: int,
    max_chips: int | None,
) -> list[Replica]:
    """Replica shapes that fit: every tensor-parallel size, then pipeline stages if needed."""
    rates = chip_rates(chip, precision)
    limit = max_chips if max_chips is not None else 1 << 30
    shapes: list[Replica] = []
    widest = 1
    for tp in tensor_parallel_options(rates, limit):
        widest = tp
        replica = build_replica(model, chip, precision, cal, tp, 1, input_tokens, output_tokens)
        if replica.memory.fits:
            shapes.append(replica)
    if shapes:
        return shapes
    for pp in range(2, MAX_PIPELINE + 1):
        if widest * pp > limit:
            break
        replica = build_replica(
            model, chip, precision, cal, widest, pp, input_tokens, output_tokens
        )
        if replica.memory.fits:
            return [replica]
    return []


def min_chips_to_fit(
    model: ModelArch,
    chip: Chip,
    precision: Precision,
    cal: Calibration,
    input_tokens: int,
    output_tokens: int,
) -> int | None:
    """The fewest chips whose memory holds the weights and one sequence's KV cache."""
    shapes = candidate_replicas(model, chip, precision, cal, input_tokens, output_tokens, None)
    return min((r.chips for r in shapes), default=None)


@dataclass(frozen=True, slots=True)
class ReplicaCapability:
    """The best replica shape for serving a request shape on one chip type."""

    chips_per_replica: int
    tokens_per_s_per_chip: float
    estimated: bool
    tensor_parallel: int
    pipeline_parallel: int
    batch: int
    ttft_ms: float
    tpot_ms: float
    tokens_per_s_per_chip_low: float = 0.0  # 10th percentile (the 80% interval's low end)
    calibrated: bool = True  # False: the chip's stack has no serving measurements for this


def _slo_seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000.0


@functools.lru_cache(maxsize=8192)
def inference_capability_cached(
    model: ModelArch,
    chip: Chip,
    precision: Precision,
    input_tokens: int,
    output_tokens: int,
    ttft_ms: float | None,
    tpot_ms: float | None,
    cal: Calibration,
) -> ReplicaCapability | None:
    """Best output tokens/s per chip over replica shapes that fit and meet the SLO."""
    best: ReplicaCapability | None = None
    shapes = candidate_replicas(model, chip, precision, cal, input_tokens, output_tokens, None)
    for replica in shapes:
        point = replica.best(_slo_seconds(ttft_ms), _slo_seconds(tpot_ms))
        if point is None:
            continue
        per_chip = point.tokens_per_s / replica.chips
        # A larger replica must beat the smaller one by 1% to be worth its coarser grain.
        if best is None or per_chip > best.tokens_per_s_per_chip * 1.01:
            best = ReplicaCapability(
                chips_per_replica=replica.chips,
                tokens_per_s_per_chip=per_chip,
                estimated=replica.group.rates.estimated_for(replica.chips),
                tensor_parallel=replica.group.tp,
                pipeline_parallel=replica.pp,
                batch=point.batch,
                ttft_ms=point.ttft_s * 1000.0,
                tpot_ms=point.tpot_s * 1000.0,
            )
    return best


@dataclass(frozen=True, slots=True)
class InferenceEstimate:
    """Serving ``count`` chips' worth of one model at one request shape."""

    model: str
    chip: str
    count: int
    precision: Precision
    input_tokens: int
    output_tokens: int
    fits: bool
    meets_slo: bool
    throughput_tokens_per_s: float
    ttft_ms: float | None
    tpot_ms: float | None
    batch: int  # sequences in flight per replica
    hbm_gib_per_chip: float
    hbm_gib_capacity: float
    tensor_parallel: int
    pipeline_parallel: int
    replicas: int
    estimated: bool
    calibrated_stack: bool
    notes: tuple[str, ...]
    ttft_slo_ms: float | None = None
    tpot_slo_ms: float | None = None
    tokens_per_s_per_chip_low: float | None = None  # the 80% interval of tokens/s per chip
    tokens_per_s_per_chip_high: float | None = None
    concurrency: float | None = None  # sequences in flight on all the chips
    deployment: str = ""
    framework: str | None = None
    calibration_tier: str = ""

    @property
    def chips_per_replica(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel

    @property
    def tokens_per_s_per_chip(self) -> float:
        return self.throughput_tokens_per_s / self.count if self.count else 0.0

    def to_json(self) -> dict[str, object]:
        """The CLI contract of ``chipfolio estimate inference --json``."""

        def rnd(x: float | None, digits: int = 3) -> float | None:
            return None if x is None else round(x, digits)

        return {
            "model": self.model,
            "chip": self.chip,
            "count": self.count,
            "precision": str(self.precision),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "fits": self.fits,
            "meets_slo": self.meets_slo,
            "throughput_tokens_per_s": rnd(self.throughput_tokens_per_s, 1),
            "tokens_per_s_per_chip": rnd(self.tokens_per_s_per_chip, 1),
            "ttft_ms": rnd(self.ttft_ms, 2),
            "tpot_ms": rnd(self.tpot_ms, 3),
            "ttft_slo_ms": self.ttft_slo_ms,
            "tpot_slo_ms": self.tpot_slo_ms,
            "batch": self.batch,
            "concurrent_sequences": self.batch * self.replicas,
            "hbm_gib_per_chip": rnd(self.hbm_gib_per_chip, 2),
            "hbm_gib_capacity": rnd(self.hbm_gib_capacity, 2),
            "tensor_parallel": self.tensor_parallel,
            "pipeline_parallel": self.pipeline_parallel,
            "chips_per_replica": self.chips_per_replica,
            "replicas": self.replicas,
            "estimated": self.estimated,
            "calibrated_stack": self.calibrated_stack,
            "notes": list(self.notes),
            "tokens_per_s_per_chip_low": rnd(self.tokens_per_s_per_chip_low, 1),
            "tokens_per_s_per_chip_high": rnd(self.tokens_per_s_per_chip_high, 1),
            "concurrency": rnd(self.concurrency, 1),
            "deployment": self.deployment,
            "framework": self.framework,
            "calibration_tier": self.calibration_tier,
        }


def _does_not_fit(
    model: ModelArch,
    chip: Chip,
    count: int,
    precision: Precision,
    cal: Calibration,
    input_tokens: int,
    output_tokens: int,
) -> str:
    needed = min_chips_to_fit(model, chip, precision, cal, input_tokens, output_tokens)
    if needed is None:
        return f"{model.name} does not fit on any replica of {chip.id} at {precision}"
    return (
        f"{model.name} does not fit on {count} x {chip.id} at {precision}: "
        f"needs >= {needed} chips of {chip.id} at {precision}"
    )


@dataclass(frozen=True, slots=True)
class ServingRequest:
    """What is asked of a serving estimate."""

    model: ModelArch
    chip: Chip
    count: int
    precision: Precision
    input_tokens: int
    output_tokens: int
    ttft_ms: float | None
    tpot_ms: float | None
    cal: Calibration


def _placement(
    req: ServingRequest, shapes: list[Replica]
) -> tuple[Replica, ServingPoint, int] | None:
    """The replica shape and operating point with the most total throughput on the chips."""
    chosen: tuple[Replica, ServingPoint, int] | None = None
    for replica in shapes:
        point = replica.best(_slo_seconds(req.ttft_ms), _slo_seconds(req.tpot_ms))
        if point is None:
            continue
        replicas = req.count // replica.chips
        total = point.tokens_per_s * replicas
        if chosen is None or total > chosen[1].tokens_per_s * chosen[2] * 1.01:
            chosen = (replica, point, replicas)
    return chosen


def _result(
    req: ServingRequest,
    notes: list[str],
    served: tuple[Replica, ServingPoint, int] | None,
    meets: bool,
) -> InferenceEstimate:
    rates = chip_rates(req.chip, req.precision)
    replica, point, replicas = served if served else (None, None, 0)
    return InferenceEstimate(
        model=req.model.name, chip=req.chip.id, count=req.count, precision=req.precision,
        input_tokens=req.input_tokens, output_tokens=req.output_tokens,
        fits=replica is not None, meets_slo=meets,
        throughput_tokens_per_s=point.tokens_per_s * replicas if point and meets else 0.0,
        ttft_ms=point.ttft_s * 1000.0 if point else None,
        tpot_ms=point.tpot_s * 1000.0 if point else None,
        batch=point.batch if point else 0,
        hbm_gib_per_chip=point.bytes_per_chip / GIB if point else 0.0,
        hbm_gib_capacity=rates.hbm_bytes / GIB,
        tensor_parallel=replica.group.tp if replica else 0,
        pipeline_parallel=replica.pp if replica else 0, replicas=replicas,
        estimated=rates.estimated_for(replica.chips if replica else req.count),
        calibrated_stack=req.cal.is_calibrated(req.chip.stack), notes=tuple(notes),
        ttft_slo_ms=req.ttft_ms, tpot_slo_ms=req.tpot_ms,
    )  # fmt: skip


def estimate_serving(req: ServingRequest) -> InferenceEstimate:
    """Best use of ``req.count`` chips: replica shape, replicas and operating point."""
    rates = chip_rates(req.chip, req.precision)
    notes = list(rates.notes_for(req.count))
    if not req.cal.is_calibrated(req.chip.stack):
        notes.append(
            f"no measurements for the {req.chip.stack} stack: cross-stack default efficiency"
        )
    if req.model.attention.value == "mla":
        notes.append("MLA cache assumed served with data-parallel attention (split by sequence)")
    shapes = candidate_replicas(req.model, req.chip, req.precision, req.cal,
                                req.input_tokens, req.output_tokens, req.count)  # fmt: skip
    if not shapes:
        notes.append(_does_not_fit(req.model, req.chip, req.count, req.precision, req.cal,
                                   req.input_tokens, req.output_tokens))  # fmt: skip
        return _result(req, notes, None, False)
    served = _placement(req, shapes)
    meets = served is not None
    if served is None:
        notes.append("fits, but no batch size meets the latency targets on this many chips")
        served = (shapes[-1], shapes[-1].point(1), req.count // shapes[-1].chips)
    chips = served[0].chips
    if req.count % chips:
        notes.append(f"{req.count % chips} chip(s) idle: replicas use {chips} chips")
    return _result(req, notes, served, meets)
