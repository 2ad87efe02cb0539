"""Memory fit: weights, KV cache, activations and optimizer state per chip.

Inference holds the weights (sharded over the replica's chips), an activation workspace and
the KV cache of every sequence in flight; what is left after the weights bounds the batch.
Training holds weights, gradients and Adam state (16 bytes per parameter in mixed precision,
ZeRO paper, Rajbhandari et al. 2020) sharded by the layout, plus activations (Korthikanti et
al. 2022: 34·s·h bytes per layer per sequence with sequence parallelism and selective
recomputation, 2·s·h with full recomputation).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chipfolio.domain import Precision
from chipfolio.perfmodel.hardware import KV_BYTES, WEIGHT_BYTES, ChipRates
from chipfolio.workloads.models import AttentionKind, ModelArch

HBM_USABLE_FRACTION = 0.90
"""Share of HBM a runtime lets the model use (vLLM's gpu_memory_utilization default, 0.9)."""

EMBEDDING_BYTES = 2.0
"""Embeddings and the output projection stay in bf16 when the linear layers are quantized."""

PREFILL_CHUNK_TOKENS = 8192
"""Tokens per forward pass the activation workspace must hold (TensorRT-LLM max_num_tokens)."""

# Mixed-precision training state per parameter (ZeRO paper): bf16 weights and gradients ...
TRAIN_WEIGHT_GRAD_BYTES = 4.0
# ... and fp32 master weights plus Adam's two moments.
TRAIN_OPTIMIZER_BYTES = 12.0


def weight_bytes(model: ModelArch, precision: Precision) -> float:
    """Bytes of all weights at ``precision`` (embeddings and output head in bf16)."""
    head = model.embedding_params + model.lm_head_params
    return (model.total_params - head) * WEIGHT_BYTES[precision] + head * EMBEDDING_BYTES


def kv_shards(model: ModelArch, tensor_parallel: int) -> int:
    """Chips the KV cache is split over in a tensor-parallel group.

    Heads split across ranks until each holds one KV head; beyond that ranks hold copies.
    An MLA cache has no heads to split: we assume data-parallel attention (each rank serves
    its own sequences), the way DeepSeek-V3 is served, so it divides by the group size.
    """
    if model.attention is AttentionKind.MLA:
        return tensor_parallel
    return max(1, min(tensor_parallel, model.n_kv_heads))


def activation_reserve_bytes(model: ModelArch, tensor_parallel: int) -> float:
    """Workspace for one prefill chunk: hidden states plus the widest FFN activation."""
    ffn = max(model.ffn_hidden, model.expert_ffn_hidden * max(model.experts_per_token, 1))
    per_token = 4 * model.d_model + 2 * ffn / tensor_parallel
    return PREFILL_CHUNK_TOKENS * per_token * 2.0


@dataclass(frozen=True, slots=True)
class InferenceMemory:
    """Per-chip memory of one inference replica (tp x pp chips)."""

    weights_bytes_per_chip: float
    kv_bytes_per_sequence_per_chip: float
    free_bytes_per_chip: float
    max_sequences: int

    @property
    def fits(self) -> bool:
        return self.max_sequences >= 1


def inference_memory(
    model: ModelArch,
    rates: ChipRates,
    precision: Precision,
    tensor_parallel: int,
    pipeline_parallel: int,
    context_tokens: int,
) -> InferenceMemory:
    """How many sequences of ``context_tokens`` fit beside the weights on a replica."""
    chips = tensor_parallel * pipeline_parallel
    weights = weight_bytes(model, precision) / chips
    usable = rates.hbm_bytes * HBM_USABLE_FRACTION
    free = usable - weights - activation_reserve_bytes(model, tensor_parallel)
    kv_seq = model.kv_cache_bytes(context_tokens, KV_BYTES[precision]) / (
        kv_shards(model, tensor_parallel) * pipeline_parallel
    )
    max_seq = int(free // kv_seq) if free > 0 and kv_seq > 0 else 0
    return InferenceMemory(
        weights_bytes_per_chip=weights,
        kv_bytes_per_sequence_per_chip=kv_seq,
        free_bytes_per_chip=free,
        max_sequences=max(max_seq, 0),
    )


class Recompute(StrEnum):
    """Activation recomputation policy in training."""

    SELECTIVE = "selective"
    FULL = "full"


def training_bytes_per_chip(
    model: ModelArch,
    *,
    tensor_parallel: int,
    pipeline_parallel: int,
    data_parallel: int,
    zero_stage: int,
    recompute: Recompute,
    seq_len: int,
    micro_batch: int,
) -> float:
    """Peak bytes per chip of one training layout (first pipeline stage, the fullest)."""
    model_parallel = tensor_parallel * pipeline_parallel
    experts = model.n_moe_layers * (model.n_experts + model.shared_experts) * model.expert_params
    dense = model.total_params - experts
    # Experts shard over an expert-parallel group as wide as tp x dp allows.
    expert_shards = max(1, min(model.n_experts or 1, tensor_parallel * data_parallel))
    params = dense / model_parallel + experts / (pipeline_parallel * expert_shards)
    if zero_stage >= 3:
        state = params * (TRAIN_WEIGHT_GRAD_BYTES + TRAIN_OPTIMIZER_BYTES) / data_parallel
        # The layer being computed is gathered in full.
        state += TRAIN_WEIGHT_GRAD_BYTES * params / max(model.n_layers / pipeline_parallel, 1)
    else:
        state = params * (TRAIN_WEIGHT_GRAD_BYTES + TRAIN_OPTIMIZER_BYTES / data_parallel)
    layer_full = 34.0 * seq_len * micro_batch * model.d_model / tensor_parallel
    if recompute is Recompute.SELECTIVE:
        # 1F1B keeps pp micro-batches of L/pp layers in flight on the first stage.
        activations = model.n_layers * layer_full
    else:
        inputs = 2.0 * seq_len * micro_batch * model.d_model / tensor_parallel
        activations = model.n_layers * inputs + layer_full
    return state + activations


def training_fits(bytes_per_chip: float, rates: ChipRates) -> bool:
    return bytes_per_chip <= rates.hbm_bytes * HBM_USABLE_FRACTION
