"""Software compatibility: which chip software stacks each framework a workload uses can run on.

A workload lists the frameworks it has working ports for; it can run on a chip when ANY of
them supports the chip's stack (a lab with a PyTorch and a JAX port can use both families).
A workload may instead list ``stacks`` directly. With neither, every stack is allowed.

The table states support that exists publicly for production use, by the framework's or
the vendor's own distribution:

==================  =====  =====  ===  ======  ====  =======
framework           cuda   rocm   xla  neuron  maia  synapse
==================  =====  =====  ===  ======  ====  =======
pytorch             yes    yes    yes  yes     yes   yes
jax                 yes    yes    yes
tensorflow          yes    yes    yes
vllm                yes    yes    yes  yes           yes
sglang              yes    yes
tensorrt-llm        yes
megatron            yes    yes
maxtext             yes           yes
neuronx-distributed                    yes
==================  =====  =====  ===  ======  ====  =======

(PyTorch reaches TPUs through PyTorch/XLA, Trainium/Inferentia through torch-neuronx, Gaudi
through the Synapse PyTorch bridge and Maia through Microsoft's Maia SDK; vLLM has TPU,
Neuron and Gaudi backends.)
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from chipfolio.domain import SoftwareStack

S = SoftwareStack


class Framework(StrEnum):
    """Frameworks a workload may declare."""

    PYTORCH = "pytorch"
    JAX = "jax"
    TENSORFLOW = "tensorflow"
    VLLM = "vllm"
    SGLANG = "sglang"
    TENSORRT_LLM = "tensorrt-llm"
    MEGATRON = "megatron"
    MAXTEXT = "maxtext"
    NEURONX_DISTRIBUTED = "neuronx-distributed"


FRAMEWORK_STACKS: dict[Framework, frozenset[SoftwareStack]] = {
    Framework.PYTORCH: frozenset({S.CUDA, S.ROCM, S.XLA, S.NEURON, S.MAIA, S.SYNAPSE}),
    Framework.JAX: frozenset({S.CUDA, S.ROCM, S.XLA}),
    Framework.TENSORFLOW: frozenset({S.CUDA, S.ROCM, S.XLA}),
    Framework.VLLM: frozenset({S.CUDA, S.ROCM, S.XLA, S.NEURON, S.SYNAPSE}),
    Framework.SGLANG: frozenset({S.CUDA, S.ROCM}),
    Framework.TENSORRT_LLM: frozenset({S.CUDA}),
    Framework.MEGATRON: frozenset({S.CUDA, S.ROCM}),
    Framework.MAXTEXT: frozenset({S.CUDA, S.XLA}),
    Framework.NEURONX_DISTRIBUTED: frozenset({S.NEURON}),
}


def allowed_stacks(
    frameworks: Iterable[Framework] | None, stacks: Iterable[SoftwareStack] | None
) -> frozenset[SoftwareStack]:
    """The stacks a workload can run on (explicit stacks win; neither = all stacks)."""
    if stacks is not None:
        return frozenset(stacks)
    if frameworks is None:
        return frozenset(SoftwareStack)
    out: set[SoftwareStack] = set()
    for framework in frameworks:
        out |= FRAMEWORK_STACKS[Framework(framework)]
    return frozenset(out)
