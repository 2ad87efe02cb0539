"""Serving as it runs: step time, TPOT, TTFT and tokens/s of an engine at a concurrency.

One engine instance spans ``gpus`` chips and holds ``concurrency`` sequences (continuous
batching). Per decode step every sequence advances by one token (by the accepted length with
multi-token-prediction speculative decoding), and in an aggregated deployment the prompts
that keep the batch full are prefilled in the same time (chunked prefill steals decode
time): with I input and O output tokens per request, ``B x accepted / O`` prompts of I
tokens join every step. The step processes T tokens on each instance and costs, per chip:

* weights: the dense and attention weights it holds plus the experts its tokens route to
  (``1 - (1 - k/E)^T`` of them, uniform routing) read at the stack's achieved HBM bandwidth,
  or the matmul FLOPs at the achieved peak, whichever is longer (operator roofline);
* attention: the KV cache of its sequences (an MLA latent cache is replicated over tensor
  ranks and split only by data-parallel attention; GQA heads split up to the KV-head count);
* communication: all-reduces of the hidden state for tensor-parallel attention and dense
  FFNs, a dispatch (8-bit) and combine (16-bit) all-to-all per MoE layer with expert
  parallelism, each over the scale-up domain when the instance fits in it (NVL72 racks)
  and hierarchically past it (only the share bound for other domains crosses the
  scale-out network), with a latency per round, log2(chips) rounds;
* fixed costs per layer, per MoE layer, per step and per sequence (the engine's own; the
  per-layer and per-sequence ones shrink on a chip with more compute units, read from its
  dense bf16 peak, to a fitted power: they are small kernels, partly launch latency).

A stack whose MoE kernel needs static shapes (Gaudi) runs every local expert each step:
it streams all expert weights and counts every token through every local expert.

TPOT is the step over the accepted length; TTFT is the engine's fixed time to first token,
the prompt's own prefill, and queueing (for a prefill slot, and for KV-cache room when the
concurrency exceeds what memory holds). Closed-loop clients give the throughput:
``concurrency x O / (TTFT + O x TPOT)``. A disaggregated deployment runs decode without
prefill on its decode pool and is capped by what its prefill pool can prefill.

Everything is vectorised over points (numpy arrays), so a calibration fit over thousands
of measured rows and a sweep over configurations and concurrencies are both cheap.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from chipfolio.domain import Chip, Precision, SoftwareStack
from chipfolio.errors import InputError
from chipfolio.perfmodel.hardware import GIB, KV_BYTES, WEIGHT_BYTES, chip_rates
from chipfolio.perfmodel.memory import EMBEDDING_BYTES
from chipfolio.workloads.models import AttentionKind, ModelArch

Array = npt.NDArray[np.float64]

MTP_DRAFT_TOKENS = 3
"""Draft tokens verified per step with MTP (SGLang's DeepSeek recipe: 3 steps, 4 tokens)."""

SERVING_HBM_FRACTION = 0.95
"""Share of HBM an engine gives weights plus KV cache (TensorRT-LLM sizes the cache from
what the weights leave; SGLang's mem_fraction_static reaches 0.9-0.95 on large GPUs)."""

PREFILL_CHUNK_TOKENS = 8192
"""Activation workspace of one prefill chunk (SGLang/TensorRT-LLM default token budget)."""

STATIC_SHAPE_MOE_STACKS = frozenset({"synapse"})
"""Stacks whose MoE kernel runs every local expert each step, whatever the routing.

Gaudi's graph compiler wants static shapes, and vLLM on Gaudi hands the fused MoE op
(``torch.ops.hpu.mixture_of_experts``) the weights of every local expert with the routing
table (vllm-project/vllm-gaudi, ``vllm_gaudi/extension/ops.py``, ``VllmMixtureOfExpertsOp``):
the model streams all local expert weights every step and counts every token through every
local expert (dense GEMMs; the routing weights zero the unrouted ones) instead of gathering
each expert's tokens. The Gaudi 3 GLM-4.7 rows agree: TPOT is 53 ms at one sequence and
60 ms at eight, where reading every local expert (about 84 GB a chip) at 3.7 TB/s alone
takes 23 ms and the routed share a few."""

ROCE_SCALEUP_STACKS = frozenset({"synapse"})
"""Stacks whose chips scale up over Ethernet: Gaudi 2 and 3 link the chips of a node through
their integrated RoCE v2 ports (21 of Gaudi 3's 24 x 200 GbE; Intel Hot Chips 2024 deck via
the registry's source, docs.habana.ai Network Configuration) with HCCL, where NVLink and
Infinity Fabric are load/store fabrics. Every collective pays ``roce_us`` more latency
(fitted: the Gaudi 2 rows, 27 ms a token for Llama-2-70B on 8 chips at batch 1, carry it
to a Gaudi held out)."""

ENGINES = ("sglang", "trt", "vllm", "atom")
"""Serving engines the model knows by name; others fall back to the vendor stack's values."""

_ENGINE_WORDS = (
    ("tensorrt", "trt"),
    ("trt", "trt"),
    ("sglang", "sglang"),
    ("vllm", "vllm"),
    ("atom", "atom"),
)
_DISAGG_WORDS = ("dynamo", "mori", "disagg")


def parse_framework(text: str | None) -> tuple[str | None, bool]:
    """(engine, disaggregated) from a framework name such as 'dynamo-trt' or 'SGLang'."""
    if text is None or not text.strip():
        return None, False
    low = text.strip().lower()
    disagg = any(word in low for word in _DISAGG_WORDS)
    engine = next((e for word, e in _ENGINE_WORDS if word in low), None)
    return engine, disagg


# ------------------------------------------------------------------------------ parameters

STACK_FIELDS = (
    "mm_eff",
    "hbm_eff",
    "layer_us",
    "moe_layer_us",
    "step_us",
    "seq_us",
    "comm_eff",
    "ttft_ms",
    "ttft_queue",
    "prefill_eff",
    "moe_eff",
    "mtp_accept",
)
"""Parameters each stack (and each engine on a stack) may move from the cross-stack value."""

GLOBAL_FIELDS = ("collective_us", "fp4_factor", "fixed_pow", "roce_us")

FRACTIONS = frozenset(
    {"mm_eff", "hbm_eff", "comm_eff", "prefill_eff", "moe_eff", "fp4_factor", "fixed_pow"}
)

PRIOR: dict[str, float] = {
    "mm_eff": 0.5,
    "hbm_eff": 0.75,
    "layer_us": 40.0,
    "moe_layer_us": 40.0,
    "step_us": 1500.0,
    "seq_us": 15.0,
    "comm_eff": 0.6,
    "ttft_ms": 100.0,
    "ttft_queue": 0.5,
    "prefill_eff": 0.5,
    "moe_eff": 0.5,
    "collective_us": 15.0,
    "mtp_accept": 2.0,
    "fp4_factor": 0.7,
    "fixed_pow": 0.5,
    "roce_us": 15.0,
}
"""Round textbook values: the prior centre of every fit and the values of an unfitted model."""


def encode(name: str, value: float) -> float:
    """Fitting coordinate of a parameter: logit for fractions, log otherwise."""
    if name in FRACTIONS:
        p = min(max(value, 1e-6), 1 - 1e-6)
        return math.log(p / (1 - p))
    return math.log(max(value, 1e-6))


def decode_array(name: str, x: Array) -> Array:
    if name in FRACTIONS:
        return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)
    return np.asarray(np.exp(x), dtype=np.float64)


KERNEL_TARGET: Mapping[str, str] = {
    "a100-40gb": "sm_80", "a100-80gb": "sm_80", "a100-80gb-pcie": "sm_80",
    "l4": "sm_89", "l40s": "sm_89",
    "h100-sxm": "sm_90", "h100-pcie": "sm_90", "h100-nvl": "sm_90", "h200": "sm_90",
    "gh200": "sm_90",
    "b200": "sm_100", "gb200": "sm_100",
    "b300": "sm_103", "gb300": "sm_103",
    "mi300x": "gfx942", "mi325x": "gfx942",
    "mi355x": "gfx950",
}  # fmt: skip
"""The instruction-set target a chip's kernels are compiled for: chips that share one run
the same kernel binaries. NVIDIA: the compute capability (developer.nvidia.com/cuda-gpus:
8.0 A100, 8.9 L4/L40S, 9.0 H100/H200/GH200, 10.0 B200/GB200, 10.3 B300/GB300); AMD: the
LLVM target (ROCm documentation, "GPU hardware specifications": gfx942 MI300X/MI325X,
gfx950 MI355X). A chip missing here shares with none."""


@dataclass(frozen=True, slots=True, eq=False)
class ServingParams:
    """Fitted serving parameters in fitting coordinates, with what they were fitted on.

    ``base`` holds the cross-stack value of every field; ``stacks`` a deviation per software
    stack with measurements; ``engines`` a further deviation per ``stack:engine``. A stack or
    engine without measurements has no entry and uses the level above. ``intervals`` holds
    the 10th and 90th percentiles of log(measured / predicted) of out-of-sample predictions
    per tier (``measured_chip``, ``unmeasured_chip``, ``unmeasured_stack``).
    """

    base: Mapping[str, float]
    stacks: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    engines: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    chips: tuple[str, ...] = ()
    intervals: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    rows: int = 0
    label: str = "prior (before fitting)"
    moe_stacks: tuple[str, ...] = ()  # stacks with mixture-of-experts measurements
    chip_devs: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def is_calibrated(self, stack: SoftwareStack | str) -> bool:
        return str(stack) in self.stacks

    def engine_calibrated(self, stack: SoftwareStack | str, engine: str | None) -> bool:
        return engine is not None and f"{stack}:{engine}" in self.engines

    def coords(self, stack: str, engine: str | None, chip: str | None = None) -> dict[str, float]:
        """Fitting coordinates for a stack and engine.

        An engine without measurements on the stack (or none named) gets the stack's typical
        engine: the mean of the deviations of the engines measured on it. A stack without
        measurements gets the typical measured stack (the mean of their own typical values),
        not the textbook prior. A measured chip adds its own deviation (what its rows show
        beyond its stack and engine); a chip without rows adds none.
        """
        values = dict(self.base)
        if stack in self.stacks:
            offsets = self._stack_offsets(stack, engine)
        elif self.stacks:
            each = [self._stack_offsets(s, None) for s in self.stacks]
            offsets = {n: sum(e.get(n, 0.0) for e in each) / len(each) for n in values}
        else:
            offsets = {}
        for name, dev in offsets.items():
            values[name] += dev
        for name, dev in self.chip_deviation(chip).items():
            values[name] += dev
        return values

    def chip_deviation(self, chip: str | None) -> dict[str, float]:
        """What a chip departs from its stack and engine in (fitting coordinates).

        A measured chip: its own fitted deviation. A chip without rows: the mean deviation of
        the measured chips that run the same kernel binaries (:data:`KERNEL_TARGET`: B200
        and GB200 are both sm_100, the MI300X and MI325X both gfx942), since the engines'
        kernels, not the silicon's spec sheet, are what a chip's deviation mostly records.
        A chip with neither: none.
        """
        if not chip:
            return {}
        own = self.chip_devs.get(chip)
        if own is not None:
            return dict(own)
        target = KERNEL_TARGET.get(chip)
        same = [d for c, d in self.chip_devs.items() if target and KERNEL_TARGET.get(c) == target]
        if not same:
            return {}
        names = {n for d in same for n in d}
        return {n: sum(d.get(n, 0.0) for d in same) / len(same) for n in names}

    def _stack_offsets(self, stack: str, engine: str | None) -> dict[str, float]:
        out = dict(self.stacks.get(stack, {}))
        own = self.engines.get(f"{stack}:{engine}") if engine is not None else None
        measured = [v for k, v in self.engines.items() if k.split(":")[0] == stack]
        if own is not None:
            engine_dev = dict(own)
        elif measured:
            names = {n for m in measured for n in m}
            engine_dev = {n: sum(m.get(n, 0.0) for m in measured) / len(measured) for n in names}
        else:
            engine_dev = {}
        for name, dev in engine_dev.items():
            out[name] = out.get(name, 0.0) + dev
        return out

    def value(self, name: str, stack: str, engine: str | None = None) -> float:
        """One parameter in its natural unit for a stack and engine."""
        x = np.array([self.coords(stack, engine)[name]])
        return float(decode_array(name, x)[0])

    def tier(self, chip: str, stack: str, moe: bool = False) -> str:
        """How far an estimate is from measurements (picks its interval).

        A stack measured only on dense models counts as unmeasured for a mixture of experts.
        """
        if not self.is_calibrated(stack) or (moe and stack not in self.moe_stacks):
            return "unmeasured_stack"
        return "measured_chip" if chip in self.chips else "unmeasured_chip"

    def interval(self, tier: str, stack: str | None = None) -> tuple[float, float]:
        """Multiplicative 80% band (low, high) around a prediction for a tier.

        A stack's own band for the tier (``unmeasured_chip:rocm``: how far its chips were
        off when each was held out) is used where the calibration has one.
        """
        default = {"measured_chip": (-0.2, 0.2), "unmeasured_chip": (-0.35, 0.35)}
        own = self.intervals.get(f"{tier}:{stack}") if stack is not None else None
        lo, hi = own or self.intervals.get(tier, default.get(tier, (-0.7, 0.5)))
        return math.exp(lo), math.exp(hi)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "rows": self.rows,
            "chips": list(self.chips),
            "moe_stacks": list(self.moe_stacks),
            "chip_devs": {k: dict(v) for k, v in sorted(self.chip_devs.items())},
            "base": dict(self.base),
            "stacks": {k: dict(v) for k, v in sorted(self.stacks.items())},
            "engines": {k: dict(v) for k, v in sorted(self.engines.items())},
            "intervals": {k: list(v) for k, v in sorted(self.intervals.items())},
            "natural": self.natural(),
        }

    def natural(self) -> dict[str, dict[str, float]]:
        """Every calibrated level in natural units (for reading, not for loading)."""
        out: dict[str, dict[str, float]] = {}
        levels: list[tuple[str, str, str | None]] = [("default", "", None)]
        levels += [(s, s, None) for s in sorted(self.stacks)]
        levels += [(k, k.split(":")[0], k.split(":")[1]) for k in sorted(self.engines)]
        for label, stack, engine in levels:
            out[label] = {
                n: round(self.value(n, stack, engine), 4) for n in (*STACK_FIELDS, *GLOBAL_FIELDS)
            }
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], file: str = "<serving>") -> ServingParams:
        try:
            base = {str(k): float(v) for k, v in dict(data["base"]).items()}
            missing = [f for f in (*STACK_FIELDS, *GLOBAL_FIELDS) if f not in base]
            if missing:
                raise KeyError(f"base lacks {', '.join(missing)}")
            return cls(
                base=base,
                stacks={str(s): _floats(v) for s, v in dict(data.get("stacks", {})).items()},
                engines={str(s): _floats(v) for s, v in dict(data.get("engines", {})).items()},
                chips=tuple(str(c) for c in data.get("chips", ())),
                intervals={
                    str(k): (float(v[0]), float(v[1]))
                    for k, v in dict(data.get("intervals", {})).items()
                },
                rows=int(data.get("rows", 0)),
                label=str(data.get("label", "serving calibration")),
                moe_stacks=tuple(str(c) for c in data.get("moe_stacks", ())),
                chip_devs={str(c): _floats(v) for c, v in dict(data.get("chip_devs", {})).items()},
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InputError(f"not a serving calibration: {exc}", file=file) from exc


def _floats(data: object) -> dict[str, float]:
    if not isinstance(data, Mapping):
        raise TypeError("expected a mapping of parameter deviations")
    return {str(k): float(v) for k, v in data.items()}


def prior_params() -> ServingParams:
    return ServingParams(base={n: encode(n, v) for n, v in PRIOR.items()})


# ------------------------------------------------------------------------------ model shape


@dataclass(frozen=True, slots=True)
class ModelShape:
    """What the serving model needs of an architecture at a precision (bytes, FLOPs)."""

    n_layers: int
    n_moe_layers: int
    d_model: int
    n_experts: int
    experts_per_token: int
    attn_bytes: float
    dense_bytes: float  # dense FFNs, shared experts, routers and the output head
    expert_bytes: float  # every routed expert of every layer
    dense_flops: float  # per token, everything but routed experts and attention products
    expert_flops: float  # per token, the routed experts a token uses
    mla: bool
    kv_heads: int
    kv_bytes_per_token: float  # one token in every layer's cache (full-attention layers)
    window_kv_bytes_per_token: float  # windowed layers
    window: int
    attn_flops_decode: float  # per query per cached position, summed over layers
    attn_flops_prefill: float
    windowed_layers_share: float

    def kv_bytes(self, context: Array | float) -> Array:
        """KV-cache bytes of one sequence at ``context`` tokens."""
        ctx = np.asarray(context, dtype=np.float64)
        windowed = np.minimum(ctx, self.window) if self.window else ctx
        return np.asarray(
            self.kv_bytes_per_token * ctx + self.window_kv_bytes_per_token * windowed,
            dtype=np.float64,
        )

    def attended(self, context: Array | float) -> Array:
        """Positions attended per query, as a share-weighted mean over layers."""
        ctx = np.asarray(context, dtype=np.float64)
        windowed = np.minimum(ctx, self.window) if self.window else ctx
        share = self.windowed_layers_share
        return np.asarray((1 - share) * ctx + share * windowed, dtype=np.float64)


@functools.lru_cache(maxsize=256)
def model_shape(model: ModelArch, precision: Precision) -> ModelShape:
    wb = WEIGHT_BYTES[precision]
    kvb = KV_BYTES[precision]
    moe_layers = model.n_moe_layers
    dense_layers = model.n_layers - moe_layers
    router = model.d_model * model.n_experts
    shared = model.shared_experts * model.expert_params
    attn = model.n_layers * model.attn_params_per_layer
    dense_params = dense_layers * model.dense_ffn_params + moe_layers * (shared + router)
    head = model.vocab_size * model.d_model
    experts = moe_layers * model.n_experts * model.expert_params
    per_layer = model.kv_elements_per_token_layer() * kvb
    windowed = model.sliding_window_layers if model.sliding_window else 0
    if model.attention is AttentionKind.MLA:
        # Absorbed MLA decode: scores over the latent plus rope key, values over the latent.
        rank = model.kv_lora_rank
        decode = 2 * model.n_heads * (2 * rank + model.qk_rope_head_dim)
    else:
        decode = 2 * model.n_heads * (model.qk_head_dim + model.value_head_dim)
    prefill = 2 * model.n_heads * (model.qk_head_dim + model.value_head_dim)
    return ModelShape(
        n_layers=model.n_layers,
        n_moe_layers=moe_layers,
        d_model=model.d_model,
        n_experts=model.n_experts,
        experts_per_token=model.experts_per_token,
        attn_bytes=attn * wb,
        dense_bytes=dense_params * wb + head * EMBEDDING_BYTES,
        expert_bytes=experts * wb,
        dense_flops=2.0 * (attn + dense_params + head),
        expert_flops=2.0 * moe_layers * model.experts_per_token * model.expert_params,
        mla=model.attention is AttentionKind.MLA,
        kv_heads=model.n_kv_heads,
        kv_bytes_per_token=per_layer * (model.n_layers - windowed),
        window_kv_bytes_per_token=per_layer * windowed,
        window=model.sliding_window,
        attn_flops_decode=decode * model.n_layers,
        attn_flops_prefill=prefill * model.n_layers,
        windowed_layers_share=windowed / model.n_layers,
    )


# ------------------------------------------------------------------------------ deployments


@dataclass(frozen=True, slots=True)
class Deployment:
    """How an engine instance is laid out over its chips.

    ``gpus``: chips of one instance; ``dp_attention``: attention runs data-parallel (each
    chip its own sequences) instead of tensor-parallel; ``expert_parallel``: experts are
    spread over the chips with all-to-all instead of tensor-sliced; ``mtp``: speculative
    decoding with the model's multi-token-prediction head. A disaggregated deployment has
    ``prefill_gpus`` chips of prefill in instances of ``prefill_instance_gpus`` chips.
    """

    gpus: int
    dp_attention: bool = False
    expert_parallel: bool = False
    mtp: bool = False
    prefill_gpus: int = 0
    prefill_instance_gpus: int = 0

    @property
    def disaggregated(self) -> bool:
        return self.prefill_gpus > 0

    def label(self) -> str:
        parts = [f"TP{self.gpus}" if not self.dp_attention else f"DP{self.gpus}-attention"]
        if self.expert_parallel:
            parts.append(f"EP{self.gpus}")
        if self.mtp:
            parts.append("MTP")
        if self.disaggregated:
            parts.append(f"disaggregated ({self.prefill_gpus} prefill chips)")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Point:
    """One question for the model: a chip, a model, a deployment and a load."""

    chip: Chip
    shape: ModelShape
    precision: Precision
    deployment: Deployment
    concurrency: float  # sequences in flight on one (decode) instance
    input_tokens: float
    output_tokens: float
    engine: str | None = None
    instances: int = 1  # decode instances sharing the prefill pool (disaggregated)


_POINT_FIELDS = (
    "hbm_bw", "peak", "bf16", "hbm_cap", "link", "link_pf", "n", "dp", "tpa", "ep",
    "mtp", "disagg", "fp4", "conc", "isl", "osl", "attn_b", "dense_b", "expert_b", "experts",
    "k", "layers", "moe_layers", "d", "dense_fl", "expert_fl", "kv_ctx", "kv_full", "kvshard",
    "att_dec", "att_pre", "npf", "pf_gpus", "instances", "moe_all", "roce",
    "link_out", "domain",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Points:
    """Points as arrays (one entry per point) plus their parameter coordinates."""

    arrays: Mapping[str, Array]
    stacks: tuple[str, ...]
    engines: tuple[str | None, ...]
    chips: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.stacks)


GB_PER_GIB = GIB / 1e9


def serving_hbm_bytes(chip: Chip) -> float:
    """HBM bytes of a chip for the memory fit, its vendor's capacity figure read as GiB.

    DRAM is built in binary sizes: an HBM3 stack of eight 16 Gb dies holds 16 GiB, and the
    "80 GB" H100 has 80 GiB (nvidia-smi: 81,559 MiB), the "141 GB" H200 140.4 GiB (143,771
    MiB), the "186 GB" GB200 185 GiB (189,471 MiB), the "192 GB" MI300X and "288 GB" MI355X
    192 and 288 GiB (ROCm's GPU specification table). The registry stores a vendor figure
    quoted in GB as decimal (``hbm_gib`` = GB / 1.074), 7.4% less than the chip holds, and
    with it a 4-GPU data-parallel-attention DeepSeek-R1 fp8 instance on GB200, which the
    InferenceX rows serve dozens of 8k-token sequences on, "did not fit" by 0.4 GB. A
    capacity that is a whole number of GB after that conversion is read back as that many
    GiB; one stored as GiB (TPU v4, Trainium) is taken as it is.
    """
    gib = chip.hbm_gib
    vendor_gb = gib * GB_PER_GIB
    if abs(vendor_gb - round(vendor_gb)) < 0.01 and abs(gib - round(gib)) > 0.01:
        gib = float(round(vendor_gb))
    return gib * GIB


@functools.lru_cache(maxsize=4096)
def _static(
    chip: Chip,
    precision: Precision,
    s: ModelShape,
    dep: Deployment,
    isl: float,
    osl: float,
    instances: int,
) -> tuple[float, ...]:
    """Every point field but the concurrency, for one chip, model, deployment and lengths."""
    rates = chip_rates(chip, precision)
    n = dep.gpus
    dp = n if dep.dp_attention else 1
    tpa = n // dp
    ctx = isl + osl / 2.0
    kvshard = dp if s.mla else dp * max(1, min(tpa, s.kv_heads))
    npf = dep.prefill_instance_gpus or n
    domain = max(rates.scaleup_domain, 1)
    row = {
        "hbm_bw": rates.hbm_bytes_per_s, "peak": rates.matmul_flops,
        "bf16": rates.bf16_flops, "hbm_cap": serving_hbm_bytes(chip) * SERVING_HBM_FRACTION,
        "link": rates.group_bytes_per_s(min(n, domain)),
        "link_pf": rates.group_bytes_per_s(min(npf, domain)),
        "link_out": min(rates.link_bytes_per_s, rates.scaleout_bytes_per_s), "domain": domain,
        "n": n, "dp": dp, "tpa": tpa, "ep": float(dep.expert_parallel and n > 1),
        "mtp": float(dep.mtp), "disagg": float(dep.disaggregated),
        "fp4": float(precision is Precision.FP4), "conc": 0.0,
        "isl": isl, "osl": osl, "attn_b": s.attn_bytes,
        "dense_b": s.dense_bytes, "expert_b": s.expert_bytes, "experts": s.n_experts,
        "k": s.experts_per_token, "layers": s.n_layers, "moe_layers": s.n_moe_layers,
        "d": s.d_model, "dense_fl": s.dense_flops, "expert_fl": s.expert_flops,
        "kv_ctx": float(s.kv_bytes(ctx)), "kv_full": float(s.kv_bytes(ctx + osl / 2)),
        "kvshard": kvshard, "att_dec": s.attn_flops_decode * float(s.attended(ctx)),
        "att_pre": s.attn_flops_prefill * float(s.attended(isl / 2.0)),
        "npf": npf, "pf_gpus": dep.prefill_gpus, "instances": instances,
        "moe_all": float(str(chip.stack) in STATIC_SHAPE_MOE_STACKS and s.n_experts > 0),
        "roce": float(str(chip.stack) in ROCE_SCALEUP_STACKS),
    }  # fmt: skip
    return tuple(float(row[name]) for name in _POINT_FIELDS)


_CONC = _POINT_FIELDS.index("conc")


def build_points(points: Sequence[Point]) -> Points:
    """The arrays of ``points`` (fields shared by points of one deployment computed once)."""
    table = np.empty((len(points), len(_POINT_FIELDS)), dtype=np.float64)
    for i, p in enumerate(points):
        table[i] = _static(p.chip, p.precision, p.shape, p.deployment, p.input_tokens,
                           p.output_tokens, p.instances)  # fmt: skip
        table[i, _CONC] = p.concurrency
    arrays = {name: table[:, j] for j, name in enumerate(_POINT_FIELDS)}
    return Points(
        arrays,
        tuple(str(p.chip.stack) for p in points),
        tuple(p.engine for p in points),
        tuple(p.chip.id for p in points),
    )


def point_params(points: Points, params: ServingParams) -> dict[str, Array]:
    """Each parameter in natural units, one value per point."""
    cache: dict[tuple[str, str | None, str], dict[str, float]] = {}
    columns: dict[str, list[float]] = {n: [] for n in (*STACK_FIELDS, *GLOBAL_FIELDS)}
    chips = points.chips or ("",) * len(points)
    for stack, engine, chip in zip(points.stacks, points.engines, chips, strict=True):
        key = (stack, engine, chip)
        if key not in cache:
            cache[key] = params.coords(stack, engine, chip)
        for name, value in cache[key].items():
            if name in columns:
                columns[name].append(value)
    return {n: decode_array(n, np.asarray(v, dtype=np.float64)) for n, v in columns.items()}


# ------------------------------------------------------------------------------ the model


@dataclass(frozen=True, slots=True)
class Outcome:
    """The model's answer per point (arrays)."""

    tpot_s: Array
    ttft_s: Array
    tokens_per_s_per_gpu: Array  # output tokens/s per chip (per decode chip if disaggregated)
    fits: npt.NDArray[np.bool_]
    max_sequences: Array
    bytes_per_gpu: Array


def _weights_per_gpu(a: Mapping[str, Array]) -> Array:
    return np.asarray(
        a["attn_b"] / a["tpa"] + (a["dense_b"] + a["expert_b"]) / a["n"], dtype=np.float64
    )


def _allreduce(
    nbytes: Array, group: Array, domain: Array, bw: Array, bw_out: Array, lat: Array
) -> Array:
    """All-reduce of ``nbytes`` over ``group`` chips, hierarchical past the scale-up domain.

    Inside one domain: a ring (2 (g - 1) / g of the bytes over the scale-up links). A group
    spanning ``m`` domains (H100 nodes of 8 for a 16-chip instance) reduce-scatters inside
    each domain, all-reduces its 1/l shard across the domains over the scale-out network,
    and all-gathers inside again (NCCL's tree/NVLS-SHARP and RCCL's hierarchical
    collectives): only the shard crosses the slow network, not every byte.
    """
    local = np.minimum(group, domain)
    inside = 2.0 * (local - 1.0) / np.maximum(local, 1.0) * nbytes / bw
    m = group / np.maximum(local, 1.0)
    across = np.where(m > 1, 2.0 * (m - 1.0) / m * nbytes / np.maximum(local, 1.0) / bw_out, 0.0)
    t = lat * _rounds(group) + inside + across
    return np.asarray(np.where(group > 1, t, 0.0), dtype=np.float64)


REFERENCE_GROUP = 8.0
"""Chips of the collective at which the fitted per-collective latency ``collective_us`` is
quoted (one 8-GPU node)."""


def _rounds(group: Array) -> Array:
    """Latency rounds of a collective over ``group`` chips, relative to REFERENCE_GROUP.

    Small-message collectives are latency-bound, and the latency-optimal algorithms
    (recursive doubling and tree all-reduce, Bruck's all-to-all) take log2(g) rounds of
    messages (the alpha term of the alpha-beta model, Thakur, Rabenseifner and Gropp,
    "Optimization of collective communication operations in MPICH", 2005). A fixed latency
    per collective instead made a 2-chip tensor-parallel step pay as much as a 72-chip
    expert-parallel one."""
    return np.asarray(np.log2(np.maximum(group, 2.0)) / np.log2(REFERENCE_GROUP))


def _all_to_all(nbytes: Array, group: Array, domain: Array, bw: Array, bw_out: Array) -> Array:
    """Transfer time of an all-to-all sending ``nbytes`` from each chip to the others.

    A chip's tokens go to the experts of every other chip alike: the share bound for chips
    outside its scale-up domain, (g - d) / (g - 1), crosses the scale-out network and the
    rest the scale-up links, both at once (DeepEP and MoRI drive NVLink/xGMI and RDMA side
    by side).
    """
    remote = np.where(group > domain, (group - domain) / np.maximum(group - 1.0, 1.0), 0.0)
    t = np.maximum(remote * nbytes / bw_out, (1.0 - remote) * nbytes / bw)
    return np.asarray(t, dtype=np.float64)


ROOFLINE_SHARPNESS = 3.0
"""Memory and compute overlap imperfectly near the ridge: (m^p + c^p)^(1/p), not max(m, c)."""


def _softmax(memory: Array, compute: Array) -> Array:
    p = ROOFLINE_SHARPNESS
    return np.asarray((memory**p + compute**p) ** (1.0 / p), dtype=np.float64)


def _expert_flops(a: Mapping[str, Array], q: Mapping[str, Array]) -> Array:
    """Matmul FLOPs per token of the routed experts, as dense-GEMM equivalents.

    Routed-expert GEMMs (grouped, few tokens per expert) reach ``moe_eff`` of a dense GEMM.
    A stack that runs every local expert on every token does E/k times the work, but as
    plain dense GEMMs.
    """
    ratio = a["experts"] / np.maximum(a["k"], 1.0)
    every = a["expert_fl"] * ratio
    return np.asarray(
        np.where(a["moe_all"] > 0, every, a["expert_fl"] / q["moe_eff"]), dtype=np.float64
    )


def _moe_layer_s(a: Mapping[str, Array], q: Mapping[str, Array]) -> Array:
    """Fixed time of one MoE layer on the chip."""
    slots = a["k"] / REFERENCE_EXPERTS_PER_TOKEN
    return np.asarray(q["moe_layer_us"] * slots * _fixed_scale(a, q) * 1e-6)


REFERENCE_EXPERTS_PER_TOKEN = 8.0
"""Routed experts a token visits at which the fixed per-MoE-layer cost is quoted (DeepSeek-R1's
8 of 256). That cost is the routing machinery around the expert GEMMs (top-k, the permutation
of tokens to experts and back, the per-expert groups of the grouped GEMM, the weighted sum of
the expert outputs), each of which works per routed slot of a token: gpt-oss-120b's 4 of 128
pay half of DeepSeek's. Quoted per layer alone, the DeepSeek rows set it and gpt-oss at low
load came out 30-55% slow on TensorRT-LLM (2.2 ms measured TPOT on 8 B200s, 5.3 predicted)."""

REFERENCE_BF16_FLOPS = 989e12
"""Dense bf16 peak at which the fixed per-layer and per-sequence costs are quoted (H200's)."""


def _fixed_scale(a: Mapping[str, Array], q: Mapping[str, Array]) -> Array:
    """How a chip's fixed per-layer and per-sequence costs compare with the reference chip's.

    Those costs are many small kernels (norms, rotary, activation quantisation, routing,
    top-k, kernel launches) that fill few of the chip's cores for a few microseconds each:
    they run at the pace of the compute units (count x clock), which the dense bf16 peak
    measures, not at the pace of HBM, and shrink with it to the fitted power ``fixed_pow``
    (0: pure launch latency). The InferenceX rows say so: gpt-oss-120b on vLLM has the same
    TPOT on H100 and H200 (same compute units, 1.43x the HBM bandwidth) at every tensor
    parallelism and concurrency measured (3.6-3.7 ms at TP8 and 4 sequences; 10.0 and 9.7 ms
    at TP4 and 64), and scaled by HBM bandwidth the held-out H200 came out 25% optimistic
    and H100 10% pessimistic."""
    return np.asarray(np.power(REFERENCE_BF16_FLOPS / a["bf16"], q["fixed_pow"]))


def _step(a: Mapping[str, Array], q: Mapping[str, Array], batch: Array, prefill_tokens: Array,
          draft: Array) -> Array:  # fmt: skip
    """Time of one step of an instance holding ``batch`` sequences."""
    n, dp, tpa = a["n"], a["dp"], a["tpa"]
    peak = a["peak"] * np.where(a["fp4"] > 0, q["fp4_factor"], 1.0)
    hbm = q["hbm_eff"] * a["hbm_bw"]
    decode_tokens = batch * draft
    tokens = decode_tokens + prefill_tokens
    experts = np.maximum(a["experts"], 1.0)
    touched = np.where(
        a["experts"] > 0, 1.0 - np.power(1.0 - a["k"] / experts, np.maximum(tokens, 0.0)), 0.0
    )
    touched = np.where(a["moe_all"] > 0, 1.0, touched)
    weight_bytes = a["attn_b"] / tpa + a["dense_b"] / n + a["expert_b"] * touched / n
    flops = a["dense_fl"] + _expert_flops(a, q)
    compute = (decode_tokens / q["mm_eff"] + prefill_tokens / q["prefill_eff"]) * flops / (n * peak)
    t_weights = _softmax(weight_bytes / hbm, compute)
    # Data-parallel attention ranks step together: the busiest rank (sequences land at
    # random) sets the pace, and an idle rank still runs the step.
    load = batch / dp
    busiest = np.where(dp > 1, np.maximum(load + np.sqrt(load), 1.0), load)
    kv = busiest * a["kv_ctx"] * dp / a["kvshard"]
    attn_flops = (decode_tokens * a["att_dec"] + prefill_tokens * a["att_pre"]) / n
    t_attn = _softmax(kv / hbm, attn_flops / (q["mm_eff"] * a["bf16"]))
    bw = q["comm_eff"] * a["link"]
    bw_out = q["comm_eff"] * a["link_out"]
    dom = a["domain"]
    lat = (q["collective_us"] + a["roce"] * q["roce_us"]) * 1e-6
    hidden = a["d"] * 2.0
    attn_ar = a["layers"] * _allreduce(tokens / dp * hidden, tpa, dom, bw, bw_out, lat)
    ffn_layers = np.where(a["ep"] > 0, a["layers"] - a["moe_layers"], a["layers"])
    ffn_ar = ffn_layers * _allreduce(tokens * hidden, n, dom, bw, bw_out, lat)
    a2a_bytes = tokens / n * a["k"] * a["d"] * 3.0 * (n - 1.0) / n
    a2a_s = _all_to_all(a2a_bytes, n, dom, bw, bw_out)
    a2a = np.where(a["ep"] > 0, a["moe_layers"] * (2.0 * lat * _rounds(n) + a2a_s), 0.0)
    per_layer = (a["layers"] * q["layer_us"] + busiest * q["seq_us"]) * _fixed_scale(a, q)
    fixed = (per_layer + q["step_us"]) * 1e-6
    fixed = fixed + a["moe_layers"] * _moe_layer_s(a, q)
    return np.asarray(t_weights + t_attn + attn_ar + ffn_ar + a2a + fixed, dtype=np.float64)


def _prefill(
    a: Mapping[str, Array], q: Mapping[str, Array], gpus: Array, link: Array
) -> tuple[Array, Array]:
    """(latency of one prompt alone, chip-seconds it needs in a busy pool) on ``gpus`` chips."""
    peak = a["peak"] * np.where(a["fp4"] > 0, q["fp4_factor"], 1.0)
    isl = a["isl"]
    flops = isl * (a["dense_fl"] + _expert_flops(a, q)) / (q["prefill_eff"] * peak)
    attn = isl * a["att_pre"] / (q["mm_eff"] * a["bf16"])
    weights = (a["attn_b"] + a["dense_b"] + a["expert_b"]) / (q["hbm_eff"] * a["hbm_bw"])
    bw = q["comm_eff"] * link
    bw_out = q["comm_eff"] * a["link_out"]
    lat = (q["collective_us"] + a["roce"] * q["roce_us"]) * 1e-6
    comm = 2.0 * a["layers"] * _allreduce(isl * a["d"] * 2.0, gpus, a["domain"], bw, bw_out, lat)
    layer_s = a["layers"] * q["layer_us"] * _fixed_scale(a, q) * 1e-6
    fixed = layer_s + a["moe_layers"] * _moe_layer_s(a, q)
    work = flops + attn
    latency = np.maximum(weights / gpus, work / gpus) + comm + fixed
    # A prefill pass pays its fixed costs and collectives once for every prompt in it (as
    # many as fit in one chunk), on all of its chips: chip-seconds a prompt needs too.
    per_pass = np.maximum(np.floor(PREFILL_CHUNK_TOKENS / np.maximum(isl, 1.0)), 1.0)
    work = work + (comm + fixed) * gpus / per_pass
    return np.asarray(latency, dtype=np.float64), np.asarray(work, dtype=np.float64)


def evaluate(points: Points, params: ServingParams) -> Outcome:
    """TPOT, TTFT and output tokens/s per chip at every point."""
    return evaluate_with(points.arrays, point_params(points, params))


def evaluate_with(a: Mapping[str, Array], q: Mapping[str, Array]) -> Outcome:
    """The model on point arrays ``a`` with per-point parameters ``q`` (natural units)."""
    weights = _weights_per_gpu(a)
    reserve = PREFILL_CHUNK_TOKENS * (4 * a["d"] + 2 * a["d"] * 4 / a["n"]) * 2.0
    free = a["hbm_cap"] - weights - reserve
    kv_per_seq = a["kv_full"] / a["kvshard"]
    max_seq = np.where(free > 0, np.floor(free / kv_per_seq), 0.0)
    fits = max_seq >= 1
    conc = a["conc"]
    batch = np.maximum(np.minimum(conc, max_seq), 1.0)
    accept = np.where(a["mtp"] > 0, q["mtp_accept"], 1.0)
    draft = np.where(a["mtp"] > 0, 1.0 + MTP_DRAFT_TOKENS, 1.0)
    disagg = a["disagg"] > 0
    prefill_tokens = np.where(disagg, 0.0, batch * accept * a["isl"] / a["osl"])
    # Chunked prefill: a prompt joins the batch as one chunk of up to PREFILL_CHUNK_TOKENS
    # (several prompts share a chunk when they arrive faster than one a step), so a share
    # of the steps carries a chunk and the rest decode alone. Spreading the prompt tokens
    # evenly over every step instead would make each step route them through experts and
    # read weights that a decode-only step never touches.
    chunk = np.maximum(np.minimum(a["isl"], PREFILL_CHUNK_TOKENS), prefill_tokens)
    share = np.where(prefill_tokens > 0, prefill_tokens / np.maximum(chunk, 1.0), 0.0)
    decode_only = _step(a, q, batch, np.zeros_like(batch), draft)
    with_chunk = _step(a, q, batch, chunk, draft)
    step = (1.0 - share) * decode_only + share * with_chunk
    tpot = step / accept
    pf_gpus_instance = np.where(disagg, a["npf"], a["n"])
    pf_link = np.where(disagg, a["link_pf"], a["link"])
    pf_latency, pf_work = _prefill(a, q, pf_gpus_instance, pf_link)
    # Prompts arrive in bursts (clients that started together finish together): a prompt
    # waits behind a share of the others' prefill on the chips that prefill it.
    pf_chips = np.where(disagg, a["pf_gpus"], a["n"])
    arriving = np.where(disagg, conc * a["instances"], conc)
    wait_prefill = q["ttft_queue"] * arriving * pf_work / pf_chips
    pf_capacity = pf_chips / np.maximum(pf_work, 1e-12)  # prompts/s the prefill side can do
    ttft = q["ttft_ms"] * 1e-3 + pf_latency + wait_prefill + np.where(disagg, 0.0, step)
    # Sequences beyond what memory holds wait for a finished one.
    kv_wait = np.maximum(conc / batch - 1.0, 0.0) * (a["osl"] * tpot + ttft)
    ttft = ttft + kv_wait
    per_instance = conc * a["osl"] / (ttft + a["osl"] * tpot)
    capped = np.where(disagg, np.minimum(per_instance * a["instances"], pf_capacity * a["osl"]),
                      per_instance)  # fmt: skip
    per_gpu = np.where(disagg, capped / (a["n"] * a["instances"]), capped / a["n"])
    used = weights + reserve + batch * kv_per_seq
    return Outcome(
        tpot_s=np.asarray(tpot, dtype=np.float64),
        ttft_s=np.asarray(ttft, dtype=np.float64),
        tokens_per_s_per_gpu=np.asarray(per_gpu, dtype=np.float64),
        fits=np.asarray(fits, dtype=np.bool_),
        max_sequences=np.asarray(max_seq, dtype=np.float64),
        bytes_per_gpu=np.asarray(used, dtype=np.float64),
    )
