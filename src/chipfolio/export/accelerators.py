"""What each chip and cloud is called by the launchers: SkyPilot names, Kubernetes resources.

Every table here is a statement about another project's naming, kept in one place so the docs
(docs/export.md) and the tests can check it:

* SkyPilot accelerator names as they appear in SkyPilot's catalogs (``H100``, ``MI300X``,
  ``Trainium2``) and TPU slice names (``tpu-v6e-8``; v4 and v5p slice names count TensorCores,
  two per chip).
* Kubernetes extended resources of the vendors' device plugins (``nvidia.com/gpu``,
  ``amd.com/gpu``, ``google.com/tpu``, ``aws.amazon.com/neuron``, ``habana.ai/gaudi``).
* Node labels: GKE's ``cloud.google.com/gke-accelerator`` (GPUs) and
  ``cloud.google.com/gke-tpu-accelerator`` / ``cloud.google.com/gke-tpu-topology`` (TPUs), the
  well-known ``node.kubernetes.io/instance-type`` (EKS, Karpenter, AKS) and
  ``topology.kubernetes.io/region``. Where no platform label is known the exporter uses
  ``chipfolio.dev/accelerator``, which the operator must put on the nodes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from chipfolio.catalog.regions import is_region_code
from chipfolio.export.model import dns_name

# Clouds SkyPilot 0.14 launches on by name (sky.skylet.constants.ALL_CLOUDS, less kubernetes,
# ssh and slurm, which are not providers a plan names).
SKYPILOT_CLOUDS: frozenset[str] = frozenset(
    {
        "aws",
        "azure",
        "gcp",
        "ibm",
        "lambda",
        "scp",
        "oci",
        "runpod",
        "vast",
        "vsphere",
        "cudo",
        "fluidstack",
        "paperspace",
        "primeintellect",
        "do",
        "nebius",
        "hyperbolic",
        "seeweb",
        "shadeform",
        "yotta",
        "mithril",
        "verda",
    }
)

# chipfolio chip id -> SkyPilot accelerator name (GPUs and AWS silicon; counted per node).
SKYPILOT_ACCELERATORS: Mapping[str, str] = {
    "a100-40gb": "A100",
    "a100-80gb": "A100-80GB",
    "a100-80gb-pcie": "A100-80GB",
    "h100-pcie": "H100",
    "h100-nvl": "H100-NVL",
    "gh200": "GH200",
    "h100-sxm": "H100",
    "h200": "H200",
    "b200": "B200",
    "gb200": "GB200",
    "l4": "L4",
    "l40s": "L40S",
    "mi300x": "MI300X",
    "mi325x": "MI325X",
    "mi355x": "MI355X",
    "trainium1": "Trainium",
    "trainium2": "Trainium2",
    "inferentia2": "Inferentia2",
}

# Where a cloud's SkyPilot catalog names a part differently (Azure lists its H100 NVL sizes
# under "H100"; SkyPilot matches the instance type, which names the exact part).
SKYPILOT_CLOUD_NAMES: Mapping[tuple[str, str], str] = {("azure", "h100-nvl"): "H100"}

# Chips whose SkyPilot name also covers other parts: only an instance type pins the part, so
# a task without one is not emitted (it could land on the wrong chip).
SKYPILOT_NEEDS_INSTANCE_TYPE: frozenset[str] = frozenset(
    {"a100-40gb", "a100-80gb-pcie", "h100-pcie", "h100-nvl"}
)

# Instance types whose rows in SkyPilot's catalog name no accelerator (the wide Azure file's
# GB200 and ND96is MI300X sizes; see shared/data/skypilot-catalog-wide/SOURCE.md): a task that
# asks for "MI300X:8" finds no row, so it names the instance type alone, which pins the part.
SKYPILOT_UNNAMED_INSTANCE_TYPES: frozenset[tuple[str, str]] = frozenset(
    {
        ("azure", "Standard_ND96is_MI300X_v5"),
        ("azure", "Standard_ND128isr_NDR_GB200_v6"),
    }
)

# Host families whose GPUs SkyPilot 0.14.1's GCP catalog names differently from the chip's own
# name (sky/catalog/gcp_catalog.py: H100-MEGA is attached to a3-megagpu-8g only), by prefix.
SKYPILOT_HOST_NAMES: Mapping[tuple[str, str], str] = {("gcp", "a3-megagpu-"): "H100-MEGA"}

# Host families SkyPilot 0.14.1 prices but cannot attach GPUs to, by prefix, and why.
SKYPILOT_UNLAUNCHABLE_HOSTS: Mapping[tuple[str, str], str] = {
    ("gcp", "a3-edgegpu-"): (
        "SkyPilot 0.14.1 attaches H100 on GCP only to a3-highgpu and a3-megagpu hosts, not to "
        "the a3-edgegpu host this offer priced; use the kueue or ray export on GKE"
    ),
}

# (provider, chip) that SkyPilot 0.14.1 cannot launch although it names the chip, and why;
# these go through the Kubernetes exports instead.
SKYPILOT_UNLAUNCHABLE: Mapping[tuple[str, str], str] = {
    ("aws", "trainium2"): (
        "SkyPilot 0.14.1's AWS catalog lists trn2.48xlarge with no accelerator, so Trainium2 "
        "has no feasible resource; launch it with the kueue or ray export (EKS with the Neuron "
        "device plugin, resource aws.amazon.com/neuron)"
    ),
}

# TPU chip id -> (SkyPilot slice prefix, TensorCores counted per chip in the slice name).
SKYPILOT_TPU_SLICES: Mapping[str, tuple[str, int]] = {
    "tpu-v4": ("tpu-v4", 2),
    "tpu-v5e": ("tpu-v5litepod", 1),
    "tpu-v5p": ("tpu-v5p", 2),
    "tpu-v6e": ("tpu-v6e", 1),
}

# Device-plugin resource by silicon vendor (one unit = one chip; for AWS, one Neuron device).
DEVICE_RESOURCES: Mapping[str, str] = {
    "nvidia": "nvidia.com/gpu",
    "amd": "amd.com/gpu",
    "google": "google.com/tpu",
    "aws": "aws.amazon.com/neuron",
    "intel": "habana.ai/gaudi",
}

# GKE node label values for GPUs (cloud.google.com/gke-accelerator).
GKE_GPU_LABELS: Mapping[str, str] = {
    "a100-40gb": "nvidia-tesla-a100",
    "a100-80gb": "nvidia-a100-80gb",
    "h100-sxm": "nvidia-h100-80gb",
    "h200": "nvidia-h200-141gb",
    "b200": "nvidia-b200",
    "l4": "nvidia-l4",
}

# GKE TPU node label values (cloud.google.com/gke-tpu-accelerator).
GKE_TPU_LABELS: Mapping[str, str] = {
    "tpu-v4": "tpu-v4-podslice",
    "tpu-v5e": "tpu-v5-lite-podslice",
    "tpu-v5p": "tpu-v5p-slice",
    "tpu-v6e": "tpu-v6e-slice",
}

# Single-host TPU topologies (cloud.google.com/gke-tpu-topology) by chips on the node.
GKE_TPU_TOPOLOGIES: Mapping[str, Mapping[int, str]] = {
    "tpu-v5e": {1: "1x1", 4: "2x2", 8: "2x4"},
    "tpu-v6e": {1: "1x1", 4: "2x2", 8: "2x4"},
    "tpu-v5p": {4: "2x2x1"},
    "tpu-v4": {4: "2x2x1"},
}

# AWS instance type by (chip, chips per instance), for offers that do not name one.
AWS_INSTANCE_TYPES: Mapping[tuple[str, int], str] = {
    ("trainium2", 16): "trn2.48xlarge",
    ("trainium1", 16): "trn1.32xlarge",
    ("trainium1", 1): "trn1.2xlarge",
    ("inferentia2", 12): "inf2.48xlarge",
    ("inferentia2", 6): "inf2.24xlarge",
    ("h100-sxm", 8): "p5.48xlarge",
    ("h200", 8): "p5en.48xlarge",
    ("b200", 8): "p6-b200.48xlarge",
    ("a100-80gb", 8): "p4de.24xlarge",
    ("a100-40gb", 8): "p4d.24xlarge",
}

_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
# Node labels (and, on AKS, the taint) that mark spot capacity on each managed platform.
SPOT_LABELS: Mapping[str, tuple[str, str]] = {
    "gcp": ("cloud.google.com/gke-spot", "true"),
    "aws": ("eks.amazonaws.com/capacityType", "SPOT"),
    "azure": ("kubernetes.azure.com/scalesetpriority", "spot"),
}
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
REGION_LABEL = "topology.kubernetes.io/region"
FALLBACK_LABEL = "chipfolio.dev/accelerator"


def skypilot_accelerator(chip: str, chips_per_instance: int, provider: str = "") -> str | None:
    """``H100:8``, ``Trainium2:16`` or ``tpu-v6e-8``; None when SkyPilot has no name for it.

    ``provider``: the cloud, where its catalog names the part differently.
    """
    tpu = SKYPILOT_TPU_SLICES.get(chip)
    if tpu is not None:
        prefix, cores = tpu
        return f"{prefix}-{chips_per_instance * cores}"
    name = SKYPILOT_CLOUD_NAMES.get((provider, chip)) or SKYPILOT_ACCELERATORS.get(chip)
    return None if name is None else f"{name}:{chips_per_instance}"


def _by_prefix(
    table: Mapping[tuple[str, str], str], provider: str, instance_type: str
) -> str | None:
    for (cloud, prefix), value in table.items():
        if cloud == provider and instance_type.startswith(prefix):
            return value
    return None


def skypilot_host_name(provider: str, instance_type: str | None) -> str | None:
    """SkyPilot's accelerator name on this host family, where it differs from the chip's."""
    return _by_prefix(SKYPILOT_HOST_NAMES, provider, instance_type or "")


def skypilot_unlaunchable(provider: str, chip: str, instance_type: str | None) -> str | None:
    """Why SkyPilot cannot launch this chip or host although it names it, or None."""
    reason = SKYPILOT_UNLAUNCHABLE.get((provider, chip))
    return reason or _by_prefix(SKYPILOT_UNLAUNCHABLE_HOSTS, provider, instance_type or "")


def launch_region(provider: str, region: str) -> bool:
    """Whether ``region`` can be a launch target: one of the provider's region codes, not an
    area that a price source gave (such offers carry ``region_approximate``). Providers whose
    region form is not known here are trusted."""
    return is_region_code(provider, region) is not False


@dataclass(frozen=True, slots=True)
class NodeTarget:
    """How a Kubernetes pod asks for a chip and which nodes carry it."""

    resource: str
    labels: Mapping[str, str]
    tolerations: tuple[Mapping[str, str], ...]
    operator_labels: tuple[str, ...]  # labels the operator must put on the nodes


def node_target(
    provider: str,
    vendor: str,
    chip: str,
    region: str,
    chips_per_instance: int,
    instance_type: str | None,
    spot: bool = False,
) -> NodeTarget | None:
    """Device resource, node labels and tolerations; None when no device plugin is known.

    ``spot``: the plan priced spot capacity, so the pods go to the platform's spot nodes.
    """
    resource = DEVICE_RESOURCES.get(vendor)
    if resource is None:
        return None
    labels: dict[str, str] = {}
    operator: list[str] = []
    if provider == "aws" and instance_type is None:
        instance_type = AWS_INSTANCE_TYPES.get((chip, chips_per_instance))
    if instance_type is not None and not _LABEL_VALUE.match(instance_type):
        instance_type = None  # not a label value: it cannot be a Kubernetes node's type
    if provider == "gcp" and chip in GKE_TPU_LABELS:
        labels["cloud.google.com/gke-tpu-accelerator"] = GKE_TPU_LABELS[chip]
        topology = GKE_TPU_TOPOLOGIES.get(chip, {}).get(chips_per_instance)
        if topology is not None:
            labels["cloud.google.com/gke-tpu-topology"] = topology
    elif provider == "gcp" and chip in GKE_GPU_LABELS:
        mega = chip == "h100-sxm" and (instance_type or "").startswith("a3-megagpu")
        labels["cloud.google.com/gke-accelerator"] = (
            "nvidia-h100-mega-80gb" if mega else GKE_GPU_LABELS[chip]
        )
    elif provider in ("aws", "azure") and instance_type is not None:
        labels[INSTANCE_TYPE_LABEL] = instance_type
    else:
        value = chip if _LABEL_VALUE.match(chip) else dns_name(chip)
        labels[FALLBACK_LABEL] = value
        operator.append(f"{FALLBACK_LABEL}={value}")
    if provider in ("aws", "gcp", "azure") and _LABEL_VALUE.match(region):
        if launch_region(provider, region):
            labels[REGION_LABEL] = region  # set by the cloud's own node controller
        else:
            operator.append(
                f"the cluster's real {provider} region: the plan priced the area '{region}' "
                "(no region label is set, so nodes of any region match)"
            )
    tolerations = [{"key": resource, "operator": "Exists", "effect": "NoSchedule"}]
    if spot and provider in SPOT_LABELS:
        key, value = SPOT_LABELS[provider]
        labels[key] = value
        if provider == "azure":  # AKS taints spot node pools
            tolerations.append(
                {"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}
            )
    elif spot:
        operator.append("your spot nodes' label (the plan priced spot capacity)")
    return NodeTarget(resource, labels, tuple(tolerations), tuple(operator))
