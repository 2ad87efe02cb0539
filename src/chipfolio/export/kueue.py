"""Kueue export: flavors, queues with the plan's quotas, and one workload object per allocation.

Per cluster (one per provider and region), ``kueue/<cluster>/00-queues.yaml`` holds the
namespace, a ResourceFlavor per (provider, chip) with the nodes' labels and the device taint
toleration, a ClusterQueue per workload in one Cohort whose nominal quota is the most chips the
plan gives that workload there at once, and a LocalQueue per workload. Each allocation then
gets its own file: a batch/v1 Job (one instance), a JobSet (several instances, one pod each) or
a Deployment (inference replicas), labelled with its LocalQueue. Pods carry their flavor's node
labels as a node selector, so Kueue can only admit them to that flavor (two chips behind the
same device resource, such as H100 and H200 behind ``nvidia.com/gpu``, stay apart).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from chipfolio.export import k8s
from chipfolio.export.accelerators import SPOT_LABELS
from chipfolio.export.model import (
    ExportFile,
    ExportResult,
    LaunchInfo,
    OfferDetail,
    PlanView,
    Skip,
    active,
    allocation_header,
    dns_name,
    hours,
    peak_chips,
    short_hash,
    unique_name,
)

# v1beta2: Kueue v0.19 marks v1beta1 deprecated ("Use v1beta2 instead"); a v1beta2 ClusterQueue
# names its cohort with spec.cohortName.
KUEUE_API = "kueue.x-k8s.io/v1beta2"
JOBSET_API = "jobset.x-k8s.io/v1alpha2"


def _flavor_key(p: k8s.Placed) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    a = p.allocation
    return (a.provider, a.chip, tuple(sorted(p.target.labels.items())))


def _flavor_names(placed: list[k8s.Placed]) -> dict[tuple[Any, ...], str]:
    """``<provider>-<chip>`` (``-spot`` on spot nodes), numbered where labels still differ."""
    spot_keys = {key for key, _ in SPOT_LABELS.values()}
    keys = sorted({_flavor_key(p) for p in placed})

    def base(key: tuple[str, str, tuple[tuple[str, str], ...]]) -> str:
        provider, chip, labels = key
        spot = any(name in spot_keys for name, _ in labels)
        return dns_name(provider, chip, "spot" if spot else "")

    counts = Counter(base(k) for k in keys)
    seen: Counter[str] = Counter()
    names: dict[tuple[Any, ...], str] = {}
    for key in keys:
        name = base(key)
        seen[name] += 1
        names[key] = dns_name(name, str(seen[name])) if counts[name] > 1 else name
    return names


def _flavor(name: str, p: k8s.Placed) -> dict[str, Any]:
    return {
        "apiVersion": KUEUE_API,
        "kind": "ResourceFlavor",
        "metadata": {"name": name},
        "spec": {
            "nodeLabels": dict(p.target.labels),
            "tolerations": [dict(t) for t in p.target.tolerations],
        },
    }


def _cluster_queue(queue: str, quotas: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    """``quotas``: resource -> flavor -> nominal quota (chips)."""
    groups = [
        {
            "coveredResources": [resource],
            "flavors": [
                {"name": flavor, "resources": [{"name": resource, "nominalQuota": quota}]}
                for flavor, quota in sorted(by_flavor.items())
            ],
        }
        for resource, by_flavor in sorted(quotas.items())
    ]
    return {
        "apiVersion": KUEUE_API,
        "kind": "ClusterQueue",
        "metadata": {"name": queue},
        "spec": {
            "cohortName": k8s.COHORT,
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": k8s.NAMESPACE},
            },
            "queueingStrategy": "BestEffortFIFO",
            "resourceGroups": groups,
        },
    }


def _local_queue(queue: str) -> dict[str, Any]:
    return {
        "apiVersion": KUEUE_API,
        "kind": "LocalQueue",
        "metadata": {"name": queue, "namespace": k8s.NAMESPACE},
        "spec": {"clusterQueue": queue},
    }


def queue_names(workloads: set[str]) -> dict[str, str]:
    """A queue name per workload; names that would collide (``Chat``, ``chat``) get a hash."""
    plain = {w: dns_name(w) for w in workloads}
    clashes = Counter(plain.values())
    return {
        w: name if clashes[name] == 1 else dns_name(name, short_hash(w), limit=63)
        for w, name in plain.items()
    }


def _queues_file(cluster: str, placed: list[k8s.Placed], queues: Mapping[str, str]) -> ExportFile:
    names = _flavor_names(placed)
    flavors: dict[str, dict[str, Any]] = {}
    by_queue: dict[str, dict[tuple[str, str], list[k8s.Placed]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for p in placed:
        flavor = names[_flavor_key(p)]
        flavors.setdefault(flavor, _flavor(flavor, p))
        queue = queues[p.allocation.workload or ""]
        by_queue[queue][(p.target.resource, flavor)].append(p)
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": k8s.NAMESPACE},
        }
    ]
    docs.extend(flavors[name] for name in sorted(flavors))
    for queue in sorted(by_queue):
        quotas: dict[str, dict[str, int]] = defaultdict(dict)
        for (resource, flavor), group in by_queue[queue].items():
            quotas[resource][flavor] = peak_chips([p.allocation for p in group])
        docs.append(_cluster_queue(queue, quotas))
    docs.extend(_local_queue(queue) for queue in sorted(by_queue))
    header = (
        f"chipfolio export: Kueue queues for cluster {cluster}",
        "nominal quotas = the most chips the plan gives each workload here at once;",
        f"queues share cohort '{k8s.COHORT}', so idle quota can be borrowed",
        "kubectl apply --server-side -f this file before the workload files",
    )
    return ExportFile(f"kueue/{cluster}/00-queues.yaml", header, tuple(docs))


def _training(name: str, p: k8s.Placed, launch: LaunchInfo, queue: str) -> dict[str, Any]:
    a = p.allocation
    pod = {
        "metadata": {"labels": {k8s.NAME_LABEL: name}},
        "spec": k8s.pod_spec(
            [k8s.container("main", a, launch, p.target.resource)], "Never", p.target
        ),
    }
    labels = {k8s.QUEUE_LABEL: queue, k8s.NAME_LABEL: name}
    if a.instances == 1:
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": k8s.metadata(name, a, labels),
            "spec": {"suspend": True, "backoffLimit": 0, "template": pod},
        }
    job = {
        "parallelism": a.instances,
        "completions": a.instances,
        "completionMode": "Indexed",
        "backoffLimit": 0,
        "template": pod,
    }
    return {
        "apiVersion": JOBSET_API,
        "kind": "JobSet",
        "metadata": k8s.metadata(name, a, labels),
        "spec": {
            "suspend": True,
            "network": {"enableDNSHostnames": True},
            "replicatedJobs": [{"name": "workers", "replicas": 1, "template": {"spec": job}}],
        },
    }


def _inference(name: str, p: k8s.Placed, launch: LaunchInfo, queue: str) -> dict[str, Any]:
    a = p.allocation
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": k8s.metadata(name, a, {k8s.QUEUE_LABEL: queue, k8s.NAME_LABEL: name}),
        "spec": {
            "replicas": a.instances,
            "selector": {"matchLabels": {k8s.NAME_LABEL: name}},
            "template": {
                "metadata": {"labels": {k8s.NAME_LABEL: name}},
                "spec": k8s.pod_spec(
                    [k8s.container("server", a, launch, p.target.resource)], "Always", p.target
                ),
            },
        },
    }


def export_kueue(
    plan: PlanView,
    launch: Mapping[str, LaunchInfo],
    details: Mapping[str, OfferDetail],
) -> ExportResult:
    skipped: list[Skip] = []
    placed = k8s.place(active(plan, skipped), details, skipped)
    clusters: dict[str, list[k8s.Placed]] = defaultdict(list)
    for p in placed:
        clusters[p.cluster].append(p)
    queues = queue_names({p.allocation.workload or "" for p in placed})
    files: list[ExportFile] = []
    for cluster in sorted(clusters):
        files.append(_queues_file(cluster, clusters[cluster], queues))
        used: set[str] = set()
        for p in clusters[cluster]:
            a = p.allocation
            name = unique_name(dns_name(a.workload or "", a.chip, hours(a), limit=52), used)
            info = launch.get(a.workload or "", LaunchInfo())
            build = _inference if a.kind == "inference" else _training
            doc = build(name, p, info, queues[a.workload or ""])
            chips = f"{a.instances} x {a.chips_per_instance} {p.target.resource}"
            header = (
                *allocation_header(a, chips),
                f"{doc['kind']} queued by Kueue: kubectl apply --server-side -f <this file>",
            )
            path = f"kueue/{cluster}/{name}.yaml"
            files.append(ExportFile(path, header, (doc,), fill_in=tuple(k8s.fill_ins(p, info))))
    return ExportResult("kueue", tuple(files), tuple(skipped))
