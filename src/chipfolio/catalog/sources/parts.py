"""Which exact part a price-catalog row sells: instance-type tables and name variants.

A catalog's accelerator name is not always the part: SkyPilot's Azure catalog calls the H100 NVL
of ``Standard_NC40ads_H100_v5`` ``H100``, Lambda's ``gpu_1x_h100_pcie`` and ``gpu_1x_h100_sxm5``
are both ``H100``, and some rows name no accelerator at all (Azure's GB200 and MI300X VMs, AWS
``trn2.48xlarge``). A row is mapped here to the exact part, or left to the importer to skip with
a named reason; it is never mapped to a different chip.

Three tables, each a statement about a provider's documented instance types:

* :data:`INSTANCE_PARTS`: (provider, instance type) -> part id and accelerators per instance.
* :data:`GCP_HOST_FAMILIES`: GCP accelerator-optimized host families -> the accelerator row that
  prices their GPUs and the part.
* :data:`NAME_VARIANTS`: accelerator names that cover several parts (``H100``: SXM, PCIe or NVL)
  and the word in an instance type that tells them apart.

Part ids that are not in the chip registry (``a100-40gb-pcie``) are named on purpose: the
importer skips such rows as "chip variant not in the registry" with the part named.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Part:
    """The part an instance type carries and how many per instance."""

    chip: str
    count: int


def _table(provider: str, rows: Mapping[str, tuple[str, int]]) -> dict[tuple[str, str], Part]:
    return {(provider, name.lower()): Part(chip, n) for name, (chip, n) in rows.items()}


# AWS EC2 accelerated-computing instance specifications
# (https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html): P4d = 8x A100 40 GB SXM4,
# P4de = 8x A100 80 GB, P5 = H100 SXM (1 or 8), P5e/P5en = 8x H200, P6-B200 = 8x B200,
# P6-B300 = 8x B300, Trn1 = Trainium (1 or 16), Trn2 = 16x Trainium2, Inf2 = Inferentia2.
_AWS: Mapping[str, tuple[str, int]] = {
    "trn2.48xlarge": ("trainium2", 16),
    "trn2u.48xlarge": ("trainium2", 16),
    "trn1.2xlarge": ("trainium1", 1),
    "trn1.32xlarge": ("trainium1", 16),
    "trn1n.32xlarge": ("trainium1", 16),
    "inf2.xlarge": ("inferentia2", 1),
    "inf2.8xlarge": ("inferentia2", 1),
    "inf2.24xlarge": ("inferentia2", 6),
    "inf2.48xlarge": ("inferentia2", 12),
    "p4d.24xlarge": ("a100-40gb", 8),
    "p4de.24xlarge": ("a100-80gb", 8),
    "p5.4xlarge": ("h100-sxm", 1),
    "p5.48xlarge": ("h100-sxm", 8),
    "p5e.48xlarge": ("h200", 8),
    "p5en.48xlarge": ("h200", 8),
    "p6-b200.48xlarge": ("b200", 8),
    "p6-b300.48xlarge": ("b300", 8),
}

# Azure VM sizes (https://learn.microsoft.com/azure/virtual-machines/sizes/gpu-accelerated/):
# NC A100 v4 = A100 80 GB PCIe; ND A100 v4 = 8x A100 40 GB SXM4; NDm A100 v4 = 8x A100 80 GB
# SXM4; NCads H100 v5 and NCCads H100 v5 = H100 NVL (94 GB, PCIe); ND H100 v5 = 8x H100 SXM;
# ND H200 v5 = 8x H200; ND MI300X v5 = 8x MI300X; ND GB200 v6 = 4 Blackwell GPUs of two GB200
# superchips per VM.
_AZURE: Mapping[str, tuple[str, int]] = {
    "Standard_NC24ads_A100_v4": ("a100-80gb-pcie", 1),
    "Standard_NC48ads_A100_v4": ("a100-80gb-pcie", 2),
    "Standard_NC96ads_A100_v4": ("a100-80gb-pcie", 4),
    "Standard_ND96asr_v4": ("a100-40gb", 8),
    "Standard_ND96amsr_A100_v4": ("a100-80gb", 8),
    "Standard_NC40ads_H100_v5": ("h100-nvl", 1),
    "Standard_NC80adis_H100_v5": ("h100-nvl", 2),
    "Standard_NCC40ads_H100_v5": ("h100-nvl", 1),
    "Standard_ND96isr_H100_v5": ("h100-sxm", 8),
    "Standard_ND96isr_H200_v5": ("h200", 8),
    "Standard_ND96isr_MI300X_v5": ("mi300x", 8),
    "Standard_ND96is_MI300X_v5": ("mi300x", 8),
    "Standard_ND128isr_NDR_GB200_v6": ("gb200", 4),
}

# Lambda instance types (https://lambda.ai/service/gpu-cloud, "1x A100 (40 GB PCIe)" and
# "1x A100 (40 GB SXM4)"): the plain gpu_Nx_a100 types are PCIe cards.
_LAMBDA: Mapping[str, tuple[str, int]] = {
    "gpu_1x_a100": ("a100-40gb-pcie", 1),
    "gpu_2x_a100": ("a100-40gb-pcie", 2),
    "gpu_4x_a100": ("a100-40gb-pcie", 4),
    "gpu_8x_a100": ("a100-40gb-pcie", 8),
    "gpu_1x_a100_sxm4": ("a100-40gb", 1),
    "gpu_8x_a100_80gb_sxm4": ("a100-80gb", 8),
    "gpu_1x_gh200": ("gh200", 1),
}

INSTANCE_PARTS: Mapping[tuple[str, str], Part] = {
    **_table("aws", _AWS),
    **_table("azure", _AZURE),
    **_table("lambda", _LAMBDA),
}

# Instance types that carry an accelerator by the provider's naming, for rows whose accelerator
# name is empty: Azure's N family is its GPU/FPGA family (the NV V710, NG V620 and NP sizes are
# left unmapped and counted as such).
ACCELERATOR_FAMILIES: Mapping[str, re.Pattern[str]] = {"azure": re.compile(r"^Standard_N")}


def accelerator_family(provider: str, instance_type: str) -> bool:
    """Whether the provider's naming says ``instance_type`` carries an accelerator."""
    pattern = ACCELERATOR_FAMILIES.get(provider)
    return pattern is not None and pattern.match(instance_type) is not None


# AWS instance types by name, for sources that only name the instance (price tables).
AWS_INSTANCE_CHIPS: Mapping[str, tuple[str, int]] = dict(_AWS)


@dataclass(frozen=True, slots=True)
class GcpHost:
    """A GCP GPU host family: the accelerator row that prices its GPUs and their part."""

    accelerator: str
    chip: str


# GCP accelerator-optimized machine families (https://cloud.google.com/compute/docs/gpus):
# A2 Standard = A100 40 GB, A2 Ultra = A100 80 GB, A3 High/Edge/Mega = H100 80 GB SXM,
# A3 Ultra = H200, A4 = B200, G2 = L4. The GPU count is the name's "-<n>g" suffix, except G2,
# whose count is per machine type (G2_L4_COUNTS).
GCP_HOST_FAMILIES: Mapping[str, GcpHost] = {
    "a2-highgpu": GcpHost("A100", "a100-40gb"),
    "a2-megagpu": GcpHost("A100", "a100-40gb"),
    "a2-ultragpu": GcpHost("A100-80GB", "a100-80gb"),
    "a3-highgpu": GcpHost("H100", "h100-sxm"),
    "a3-edgegpu": GcpHost("H100", "h100-sxm"),
    "a3-megagpu": GcpHost("H100-MEGA", "h100-sxm"),
    "a3-ultragpu": GcpHost("H200", "h200"),
    "a4-highgpu": GcpHost("B200", "b200"),
    "g2-standard": GcpHost("L4", "l4"),
}
# G2 machine types (https://cloud.google.com/compute/docs/gpus#l4-gpus): 1 L4 up to
# g2-standard-32, then 2, 4 and 8.
G2_L4_COUNTS: Mapping[int, int] = {4: 1, 8: 1, 12: 1, 16: 1, 32: 1, 24: 2, 48: 4, 96: 8}
_GCP_HOST = re.compile(
    r"^(?P<family>a2-highgpu|a2-megagpu|a2-ultragpu|a3-highgpu|a3-edgegpu|a3-megagpu|"
    r"a3-ultragpu|a4-highgpu)-(?P<n>\d+)g$|^(?P<g2>g2-standard)-(?P<vcpus>\d+)$"
)


def gcp_host(instance_type: str) -> tuple[GcpHost, int] | None:
    """The GPU family and GPU count of a GCP host machine type, or None for other hosts."""
    match = _GCP_HOST.match(instance_type)
    if match is None:
        return None
    if match["g2"]:
        count = G2_L4_COUNTS.get(int(match["vcpus"]))
        return None if count is None else (GCP_HOST_FAMILIES["g2-standard"], count)
    return GCP_HOST_FAMILIES[match["family"]], int(match["n"])


# Accelerator names that cover several parts, by the word in the instance type that tells
# them apart; "" is what the name means when no word does (None: it cannot be told).
NAME_VARIANTS: Mapping[str, Mapping[str, str | None]] = {
    "h100": {"sxm": "h100-sxm", "nvl": "h100-nvl", "pcie": "h100-pcie", "": None},
    "a100": {"sxm": "a100-40gb", "pcie": "a100-40gb-pcie", "": None},
    "a100-80gb": {"sxm": "a100-80gb", "pcie": "a100-80gb-pcie", "": None},
    "h200": {"sxm": "h200", "nvl": "h200-nvl", "": None},
}
_WORDS = re.compile(r"(sxm|nvl|pcie)", re.IGNORECASE)


def instance_part(provider: str, instance_type: str) -> Part | None:
    """The part a provider's instance type carries, if a table here names it."""
    return INSTANCE_PARTS.get((provider, instance_type.lower()))


@dataclass(frozen=True, slots=True)
class Variant:
    """How an accelerator name reads for one instance type."""

    chip: str | None  # the part, or None when the name covers several and nothing tells
    parts: tuple[str, ...] = ()  # the parts the name may mean (for the skip detail)


def name_variant(name: str, instance_type: str) -> Variant | None:
    """The part an ambiguous accelerator name means on ``instance_type``; None if the name
    is not one that covers several parts (the registry resolves it as it is)."""
    variants = NAME_VARIANTS.get(re.sub(r"[\s_]+", "-", name.strip().lower()))
    if variants is None:
        return None
    words = {w.lower() for w in _WORDS.findall(instance_type)}
    chosen = [variants[w] for w in sorted(words) if w in variants]
    parts = tuple(p for p in variants.values() if p is not None)
    if len(set(chosen)) == 1:
        return Variant(chosen[0], parts)
    return Variant(variants[""] if not chosen else None, parts)
