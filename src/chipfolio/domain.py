"""Small immutable value types shared by every layer: chips, offers and their enums.

Types that belong to one layer only (estimates, plans) live in that layer's package; this
module holds what the catalog produces and everything above consumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class SiliconVendor(StrEnum):
    """Who designed the chip."""

    NVIDIA = "nvidia"
    AMD = "amd"
    GOOGLE = "google"
    AWS = "aws"
    MICROSOFT = "microsoft"
    INTEL = "intel"


class SoftwareStack(StrEnum):
    """The software stack a chip runs; workloads declare which they can use."""

    CUDA = "cuda"
    ROCM = "rocm"
    XLA = "xla"
    NEURON = "neuron"
    MAIA = "maia"
    SYNAPSE = "synapse"


class Precision(StrEnum):
    """Numeric precision of the matrix units used by a workload."""

    BF16 = "bf16"
    FP8 = "fp8"
    FP4 = "fp4"
    INT8 = "int8"


class PricingModel(StrEnum):
    """How an offer is paid for."""

    ON_DEMAND = "on_demand"
    SPOT = "spot"
    RESERVED = "reserved"
    COMMITTED = "committed"


@dataclass(frozen=True, slots=True)
class Chip:
    """One accelerator model with its published specifications and their source.

    Peak figures are dense (no structured sparsity) in TFLOP/s (TOP/s for int8); ``None``
    means the vendor has not disclosed the figure — never a guess.
    """

    id: str
    name: str
    vendor: SiliconVendor
    year: int
    bf16_tflops: float | None
    fp8_tflops: float | None
    fp4_tflops: float | None
    int8_tflops: float | None
    hbm_gib: float
    hbm_tbps: float
    scaleup_domain: int
    scaleup_gbps: float | None
    chips_per_node: int
    stack: SoftwareStack
    tdp_w: float | None
    provenance: str
    source: str
    aliases: tuple[str, ...] = ()
    notes: str = ""

    def peak_tflops(self, precision: Precision) -> float | None:
        """The dense peak for ``precision`` as published, or None when not disclosed."""
        return {
            Precision.BF16: self.bf16_tflops,
            Precision.FP8: self.fp8_tflops,
            Precision.FP4: self.fp4_tflops,
            Precision.INT8: self.int8_tflops,
        }[precision]


@dataclass(frozen=True, slots=True)
class Offer:
    """Something that can be bought: instances of one chip at one place and price.

    ``capacity_chips`` None means unlimited (or unknown). Contracts carry a term and an
    optional take-or-pay minimum in chips that is paid whether used or not.
    """

    id: str
    provider: str
    vendor: SiliconVendor
    chip: str
    instance_type: str
    chips_per_instance: int
    region: str
    zone: str | None
    pricing: PricingModel
    usd_per_instance_hour: float
    source: str
    snapshot_id: str
    capacity_chips: int | None = None
    term_start: date | None = None
    term_end: date | None = None
    take_or_pay_chips: int | None = None
    flags: tuple[str, ...] = field(default=())

    @property
    def usd_per_chip_hour(self) -> float:
        return self.usd_per_instance_hour / self.chips_per_instance
