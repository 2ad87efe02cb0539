"""What one chip offers a workload at one precision: peaks, bandwidths and derived gaps.

The registry holds what vendors publish and leaves undisclosed figures empty. The model
needs a number for every precision, so this module fills gaps by explicit, named rules and
marks the result ``estimated``:

* Maia 200 publishes no bf16 peak: bf16 = fp8 / 2 (the fp8:bf16 ratio of every chip in the
  registry with a native fp8 rate above its bf16 rate).
* Gaudi 2 runs fp8 in its matrix engine but its fp8 peak is not in our sources: fp8 = 2 x bf16
  by the same ratio.
* Any other missing low-precision peak (A100 or TPU v4 at fp8, fp4 on chips without an fp4
  mode): the weights are stored at that precision but the matmuls run at the next wider
  precision the chip does publish (weight-only quantization).
* Inferentia2 publishes no per-chip NeuronLink bandwidth: we use Trainium1's 384 GB/s
  (the same NeuronLink-v2 generation).

Topology matters for groups smaller than a node. NVLink/NVSwitch and switched fabrics give
every chip its full bandwidth to any peer; a full mesh (AMD Infinity Fabric, Gaudi's
all-to-all RoCE, Maia 100's point-to-point links; accelerators.csv) splits a chip's links
evenly over its n - 1 peers, so a group of g chips reaches (g - 1) / (n - 1) of it.

Scale-out (between nodes) is not a chip property; we assume one 400 Gb/s NIC per chip
(50 GB/s each way), the usual design of accelerator clusters (e.g. 8 x 400G per DGX H100).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from chipfolio.domain import Chip, Precision, SoftwareStack
from chipfolio.errors import ModelError

TERA = 1e12
GIB = 1024**3

SCALEOUT_BYTES_PER_S = 50e9
"""Assumed per-chip scale-out bandwidth, one direction (one 400 Gb/s NIC per chip)."""

NEURONLINK_V2_GBPS = 384.0
"""Trainium1's published per-chip NeuronLink-v2 bandwidth, used for Inferentia2."""

# Precisions from narrowest to widest: a missing peak falls back to the next wider one.
_WIDER: dict[Precision, tuple[Precision, ...]] = {
    Precision.FP4: (Precision.FP8, Precision.BF16),
    Precision.FP8: (Precision.BF16,),
    Precision.INT8: (Precision.FP8, Precision.BF16),
    Precision.BF16: (),
}

# Chips whose scale-up links form a full mesh inside the node (accelerators.csv interconnects).
FULL_MESH_CHIPS = frozenset({"mi300x", "mi325x", "mi355x", "gaudi2", "gaudi3", "maia-100"})

# Chips whose hardware has a native mode faster than bf16 for which no peak is published.
_NATIVE_UNPUBLISHED: dict[tuple[str, Precision], float] = {("gaudi2", Precision.FP8): 2.0}

WEIGHT_BYTES: dict[Precision, float] = {
    Precision.BF16: 2.0,
    Precision.FP8: 1.0,
    Precision.INT8: 1.0,
    # 4-bit values plus one 8-bit scale per 16 values (NVFP4 block layout).
    Precision.FP4: 0.5 + 1.0 / 16.0,
}
"""Bytes per weight at each precision (block scales included)."""

KV_BYTES: dict[Precision, float] = {
    Precision.BF16: 2.0,
    Precision.FP8: 1.0,
    Precision.INT8: 1.0,
    Precision.FP4: 1.0,
}
"""Bytes per KV-cache element: 8-bit for every quantized precision, else 16-bit."""


@dataclass(frozen=True, slots=True)
class ChipRates:
    """The figures the roofline needs for one chip at one precision, in SI units."""

    chip_id: str
    stack: SoftwareStack
    precision: Precision
    matmul_flops: float
    bf16_flops: float
    hbm_bytes: float
    hbm_bytes_per_s: float
    link_bytes_per_s: float
    scaleout_bytes_per_s: float
    scaleup_domain: int
    max_tensor_parallel: int
    mesh_size: int  # chips in a full-mesh node; 0 for switched fabrics
    peak_estimated: bool
    link_estimated: bool
    notes: tuple[str, ...]
    link_notes: tuple[str, ...]

    def estimated_for(self, chips: int) -> bool:
        """Whether a result on ``chips`` chips rests on a derived figure."""
        return self.peak_estimated or (self.link_estimated and chips > 1)

    def notes_for(self, chips: int) -> tuple[str, ...]:
        return self.notes + (self.link_notes if chips > 1 else ())

    def group_bytes_per_s(self, group_chips: int) -> float:
        """Per-chip one-way bandwidth of a collective over ``group_chips`` chips."""
        if group_chips <= 1:
            return self.link_bytes_per_s
        if group_chips > max(self.scaleup_domain, 1):
            return min(self.link_bytes_per_s, self.scaleout_bytes_per_s)
        if self.mesh_size > 1:
            share = min(1.0, (group_chips - 1) / (self.mesh_size - 1))
            return self.link_bytes_per_s * share
        return self.link_bytes_per_s


def _bf16_peak(chip: Chip, notes: list[str]) -> float:
    if chip.bf16_tflops is not None:
        return chip.bf16_tflops
    if chip.fp8_tflops is not None:
        notes.append(
            f"{chip.id}: bf16 peak not disclosed; derived as fp8/2 = {chip.fp8_tflops / 2:g} "
            "TFLOP/s"
        )
        return chip.fp8_tflops / 2.0
    raise ModelError(f"chip '{chip.id}' publishes neither a bf16 nor an fp8 peak")


def _precision_peak(chip: Chip, precision: Precision, notes: list[str]) -> float:
    bf16 = _bf16_peak(chip, notes)
    if precision is Precision.BF16:
        return bf16
    published = chip.peak_tflops(precision)
    if published is not None:
        return published
    factor = _NATIVE_UNPUBLISHED.get((chip.id, precision))
    if factor is not None:
        notes.append(
            f"{chip.id}: {precision} peak not disclosed; derived as {factor:g} x bf16 = "
            f"{factor * bf16:g} TFLOP/s"
        )
        return factor * bf16
    for wider in _WIDER[precision]:
        peak = bf16 if wider is Precision.BF16 else chip.peak_tflops(wider)
        if peak is not None:
            notes.append(
                f"{chip.id}: no {precision} peak published; {precision} weights with "
                f"{wider} matmuls ({peak:g} TFLOP/s)"
            )
            return peak
    return bf16  # unreachable: bf16 always resolves above


def _link_gbps(chip: Chip, notes: list[str]) -> float:
    if chip.scaleup_gbps is not None:
        return chip.scaleup_gbps
    if chip.stack is SoftwareStack.NEURON:
        notes.append(
            f"{chip.id}: scale-up bandwidth not published; using Trainium1's "
            f"{NEURONLINK_V2_GBPS:g} GB/s (NeuronLink-v2)"
        )
        return NEURONLINK_V2_GBPS
    notes.append(f"{chip.id}: scale-up bandwidth not published; assuming the scale-out NIC")
    return 2 * SCALEOUT_BYTES_PER_S / 1e9


@functools.lru_cache(maxsize=512)
def chip_rates(chip: Chip, precision: Precision) -> ChipRates:
    """Peaks and bandwidths of ``chip`` at ``precision``, gaps filled and flagged."""
    notes: list[str] = []
    matmul = _precision_peak(chip, precision, notes)
    bf16 = _bf16_peak(chip, [])
    link_notes: list[str] = []
    link_gbps = _link_gbps(chip, link_notes)
    # Tensor parallelism needs a fast fabric: NVLink/ICI/NeuronLink domain, or one PCIe host.
    max_tp = max(chip.scaleup_domain, 1) if chip.scaleup_domain > 1 else chip.chips_per_node
    return ChipRates(
        chip_id=chip.id,
        stack=chip.stack,
        precision=precision,
        matmul_flops=matmul * TERA,
        bf16_flops=bf16 * TERA,
        hbm_bytes=chip.hbm_gib * GIB,
        hbm_bytes_per_s=chip.hbm_tbps * TERA,
        # Registry figures are bidirectional per chip; collectives move data one way.
        link_bytes_per_s=link_gbps * 1e9 / 2.0,
        scaleout_bytes_per_s=SCALEOUT_BYTES_PER_S,
        scaleup_domain=max(chip.scaleup_domain, 1),
        max_tensor_parallel=max(max_tp, 1),
        mesh_size=chip.chips_per_node if chip.id in FULL_MESH_CHIPS else 0,
        peak_estimated=bool(notes),
        link_estimated=bool(link_notes),
        notes=tuple(notes),
        link_notes=tuple(link_notes),
    )
