"""Kubernetes building blocks shared by the Kueue and Ray exports: clusters, pods, metadata.

A plan spans clouds and regions; each (provider, region) is one Kubernetes cluster here, and
its objects go to their own directory. Pods ask only for the chips' device-plugin resource
(requests default to limits for extended resources), so a ClusterQueue that covers that
resource covers the whole pod.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chipfolio.export.accelerators import NodeTarget, node_target
from chipfolio.export.model import (
    LaunchInfo,
    OfferDetail,
    PlannedAllocation,
    Skip,
    dns_name,
)

NAMESPACE = "chipfolio"
COHORT = "chipfolio"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
NAME_LABEL = "app.kubernetes.io/name"
WORKLOAD_LABEL = "chipfolio.dev/workload"


def placeholder_image(workload: str) -> str:
    """An image reference that cannot pull (``.invalid`` is a reserved domain): fill it in."""
    return f"fill-in.invalid/{dns_name(workload)}:latest"


@dataclass(frozen=True, slots=True)
class Placed:
    """An allocation with its cluster directory and how its pods find the chips."""

    allocation: PlannedAllocation
    cluster: str
    target: NodeTarget


def place(
    allocations: Sequence[PlannedAllocation],
    details: Mapping[str, OfferDetail],
    skipped: list[Skip],
) -> list[Placed]:
    out = []
    for a in allocations:
        detail = details.get(a.offer, OfferDetail())
        target = node_target(
            a.provider,
            a.vendor,
            a.chip,
            a.region,
            a.chips_per_instance,
            detail.instance_type,
            spot=a.pricing == "spot",
        )
        if target is None:
            reason = f"chip '{a.chip}' ({a.vendor}) has no known Kubernetes device-plugin resource"
            skipped.append(Skip.of(a, reason))
            continue
        out.append(Placed(a, dns_name(a.provider, a.region), target))
    return out


def allocation_annotations(a: PlannedAllocation) -> dict[str, str]:
    return {
        "chipfolio.dev/offer": a.offer,
        "chipfolio.dev/hours": f"{a.from_hour:g}-{a.to_hour:g}",
        "chipfolio.dev/chips": str(a.chips),
        "chipfolio.dev/pricing": a.pricing or "unknown",
    }


def metadata(name: str, a: PlannedAllocation, labels: Mapping[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": NAMESPACE,
        "labels": {WORKLOAD_LABEL: dns_name(a.workload or ""), **labels},
        "annotations": allocation_annotations(a),
    }


def command(launch: LaunchInfo) -> list[str] | None:
    script = "\n".join(part.rstrip("\n") for part in (launch.setup, launch.run) if part)
    return ["/bin/sh", "-c", script + "\n"] if script else None


def container(
    name: str,
    a: PlannedAllocation,
    launch: LaunchInfo,
    resource: str | None,
    runs_launch: bool = True,
) -> dict[str, Any]:
    """A container of ``a``'s image; ``runs_launch`` False (Ray pods, where KubeRay starts Ray)
    leaves out the launch command and the serving port."""
    spec: dict[str, Any] = {
        "name": name,
        "image": launch.image or placeholder_image(a.workload or ""),
    }
    cmd = command(launch) if runs_launch else None
    if cmd is not None:
        spec["command"] = cmd
    if launch.envs:
        spec["env"] = [{"name": k, "value": v} for k, v in sorted(launch.envs.items())]
    if a.kind == "inference" and runs_launch:
        spec["ports"] = [{"name": "http", "containerPort": launch.serving_port}]
    if resource is not None:
        spec["resources"] = {"limits": {resource: str(a.chips_per_instance)}}
    return spec


def pod_spec(
    containers: list[dict[str, Any]],
    restart: str,
    target: NodeTarget | None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"restartPolicy": restart, "containers": containers}
    if target is not None:
        spec["nodeSelector"] = dict(target.labels)
        spec["tolerations"] = [dict(t) for t in target.tolerations]
    return spec


def fill_ins(p: Placed, launch: LaunchInfo) -> list[str]:
    a = p.allocation
    out = []
    if not launch.image:
        out.append(f"container image of workload '{a.workload}' (launch.image)")
    if not launch.run:
        out.append(f"command of workload '{a.workload}' (launch.run; else the image's own)")
    out.extend(
        f"node label {label} on {a.chip} nodes" if "=" in label else label
        for label in p.target.operator_labels
    )
    return out
