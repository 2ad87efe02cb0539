"""Time of one forward pass of a transformer on a tensor-parallel group (operator roofline).

Each operator class takes the longer of its memory time and its compute time, and the
classes run one after another:

* matmuls read the weights they touch (all of a dense model; for a mixture of experts the
  experts a batch routes to) at the stack's achieved HBM bandwidth, and compute
  2 x (matmul parameters) FLOPs per token at the precision's peak times the stack's matmul
  efficiency;
* attention reads the KV cache of every sequence in the batch and computes its score and
  value products at the bf16 rate;
* tensor parallelism adds two all-reduces of the hidden state per layer;
* every layer and every pass pay the stack's fixed overheads.

Latencies here are of the whole model: pipeline stages run one after another for a given
token, so splitting layers over stages shortens nothing (it only frees memory).
"""

from __future__ import annotations

from dataclasses import dataclass

from chipfolio.domain import Precision
from chipfolio.perfmodel.comms import all_reduce_bandwidth_s, all_reduce_s, send_s
from chipfolio.perfmodel.efficiency import Calibration, StackEfficiency
from chipfolio.perfmodel.hardware import KV_BYTES, WEIGHT_BYTES, ChipRates
from chipfolio.perfmodel.memory import EMBEDDING_BYTES, kv_shards
from chipfolio.workloads.models import ModelArch

ACTIVATION_BYTES = 2.0
"""Hidden states travel between chips in bf16."""


@dataclass(frozen=True, slots=True)
class Group:
    """One tensor-parallel group of a chip at a precision, with its calibration."""

    model: ModelArch
    rates: ChipRates
    eff: StackEfficiency
    cal: Calibration
    precision: Precision
    tp: int

    def weight_read_bytes(self, tokens: float) -> float:
        """Weight bytes one chip reads in a pass over ``tokens`` tokens."""
        m = self.model
        touched = m.weight_params_touched(tokens) - m.embedding_params - m.lm_head_params
        output_head = m.vocab_size * m.d_model * EMBEDDING_BYTES
        return (touched * WEIGHT_BYTES[self.precision] + output_head) / self.tp

    def matmul_flops(self, tokens: float) -> float:
        """Matmul FLOPs one chip performs in a pass over ``tokens`` tokens."""
        return 2.0 * self.model.matmul_params_per_token * tokens / self.tp

    @property
    def matmul_rate(self) -> float:
        """Achieved matmul FLOP/s at the group's precision."""
        return (
            self.cal.matmul_efficiency(self.rates.stack, self.precision) * self.rates.matmul_flops
        )

    def matmul_s(self, tokens: float) -> float:
        memory = self.weight_read_bytes(tokens) / (self.eff.hbm * self.rates.hbm_bytes_per_s)
        return max(memory, self.matmul_flops(tokens) / self.matmul_rate)

    def attention_s(self, queries: float, attended_context: float, kv_bytes: float) -> float:
        """Attention of ``queries`` tokens, each over ``attended_context`` cached tokens."""
        flops = queries * self.model.attention_flops_per_token(attended_context) / self.tp
        compute = flops / (self.eff.matmul * self.rates.bf16_flops)
        memory = kv_bytes / (self.eff.hbm * self.rates.hbm_bytes_per_s)
        return max(memory, compute)

    def kv_read_bytes(self, sequences: float, context: float) -> float:
        """KV-cache bytes one chip reads for ``sequences`` sequences at ``context`` tokens."""
        whole = self.model.kv_cache_bytes(context, KV_BYTES[self.precision])
        return sequences * whole / kv_shards(self.model, self.tp)

    def tp_comm_s(self, tokens: float) -> float:
        """Two all-reduces of the hidden state per layer."""
        nbytes = tokens * self.model.d_model * ACTIVATION_BYTES
        return 2 * self.model.n_layers * all_reduce_s(nbytes, self.tp, self.rates, self.cal)

    def overhead_s(self, sequences: float) -> float:
        """Fixed costs of one pass: per layer, per pass and per sequence in the batch."""
        eff = self.eff
        fixed = self.model.n_layers * eff.layer_overhead_us + eff.step_overhead_us
        return (fixed + sequences * eff.sequence_overhead_us) * 1e-6

    def decode_s(self, batch: float, context: float) -> float:
        """One decode step: ``batch`` sequences each add a token at ``context`` tokens."""
        return (
            self.matmul_s(batch)
            + self.attention_s(batch, context, self.kv_read_bytes(batch, context))
            + self.tp_comm_s(batch)
            + self.overhead_s(batch)
        )

    def prefill_s(self, input_tokens: float) -> float:
        """Latency of prefilling one prompt of ``input_tokens`` tokens on an idle group."""
        kv_written = self.kv_read_bytes(1, input_tokens)
        return (
            self.matmul_s(input_tokens)
            + self.attention_s(input_tokens, input_tokens / 2.0, kv_written)
            + self.tp_comm_s(input_tokens)
            + self.overhead_s(1)
        )

    def prefill_work_s(self, input_tokens: float) -> float:
        """Marginal time a prompt adds to a running batch (its compute and traffic only).

        Weight reads and fixed overheads are shared with the decode step the prompt joins
        (chunked prefill), so only FLOPs and all-reduce bytes count.
        """
        matmul = self.matmul_flops(input_tokens) / self.matmul_rate
        attn_flops = input_tokens * self.model.attention_flops_per_token(input_tokens / 2.0)
        attention = attn_flops / self.tp / (self.eff.matmul * self.rates.bf16_flops)
        nbytes = input_tokens * self.model.d_model * ACTIVATION_BYTES
        comm = (
            2 * self.model.n_layers * all_reduce_bandwidth_s(nbytes, self.tp, self.rates, self.cal)
        )
        return matmul + attention + comm

    def stage_hops_s(self, pipeline_parallel: int, tokens: float) -> float:
        """Hand-offs of the hidden state between consecutive pipeline stages."""
        if pipeline_parallel <= 1:
            return 0.0
        nbytes = tokens * self.model.d_model * ACTIVATION_BYTES / self.tp
        group = self.tp * pipeline_parallel
        return (pipeline_parallel - 1) * send_s(nbytes, group, self.rates, self.cal)
