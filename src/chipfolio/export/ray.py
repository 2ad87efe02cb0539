"""Ray export: a KubeRay RayJob per training allocation, a RayCluster per inference one.

Each spec has a CPU-only head (``num-cpus: 0`` so no work lands on it) and one worker group of
``instances`` pods, each asking for the instance's chips through the device-plugin resource and
pinned to the chips' nodes by node selector and toleration. Files go to
``ray/<cluster>/<name>.yaml``, one cluster per provider and region.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

import yaml

from chipfolio.export import k8s
from chipfolio.export.model import (
    ExportFile,
    ExportResult,
    LaunchInfo,
    OfferDetail,
    PlannedAllocation,
    PlanView,
    Skip,
    active,
    allocation_header,
    dns_name,
    hours,
    unique_name,
)

RAY_API = "ray.io/v1"
HEAD_PORTS = (("gcs", 6379), ("dashboard", 8265), ("client", 10001))


def entrypoint(workload: str, launch: LaunchInfo) -> str:
    """The job's shell command; setup (if any) runs first, on the head."""
    script = "\n".join(part.strip("\n") for part in (launch.setup, launch.run) if part)
    if not launch.run:
        script = (script + "\n" if script else "") + (
            f"echo {shlex.quote(f'chipfolio: no launch.run for workload {workload}')} >&2; exit 1"
        )
    if "\n" not in script:
        return script
    return "bash -c " + shlex.quote(script)


def _head(a: PlannedAllocation, launch: LaunchInfo) -> dict[str, Any]:
    head = k8s.container("ray-head", a, launch, None, runs_launch=False)
    head["ports"] = [{"name": n, "containerPort": port} for n, port in HEAD_PORTS]
    head["resources"] = {"requests": {"cpu": "2", "memory": "8Gi"}}
    return {
        "rayStartParams": {"num-cpus": "0", "dashboard-host": "0.0.0.0"},
        "template": {"spec": k8s.pod_spec([head], "Always", None)},
    }


def _cluster_spec(p: k8s.Placed, launch: LaunchInfo) -> dict[str, Any]:
    a = p.allocation
    worker = k8s.container("ray-worker", a, launch, p.target.resource, runs_launch=False)
    group = {
        "groupName": dns_name(a.chip, limit=40),
        "replicas": a.instances,
        "minReplicas": a.instances,
        "maxReplicas": a.instances,
        "rayStartParams": {},
        "template": {"spec": k8s.pod_spec([worker], "Always", p.target)},
    }
    return {"headGroupSpec": _head(a, launch), "workerGroupSpecs": [group]}


def _doc(name: str, p: k8s.Placed, launch: LaunchInfo) -> dict[str, Any]:
    a = p.allocation
    meta = k8s.metadata(name, a, {k8s.NAME_LABEL: name})
    if a.kind == "inference":
        return {
            "apiVersion": RAY_API,
            "kind": "RayCluster",
            "metadata": meta,
            "spec": _cluster_spec(p, launch),
        }
    spec: dict[str, Any] = {"entrypoint": entrypoint(a.workload or "", launch)}
    if launch.envs:
        env = {"env_vars": dict(sorted(launch.envs.items()))}
        spec["runtimeEnvYAML"] = yaml.safe_dump(env, sort_keys=False)
    spec["shutdownAfterJobFinishes"] = True
    spec["ttlSecondsAfterFinished"] = 600
    spec["rayClusterSpec"] = _cluster_spec(p, launch)
    return {"apiVersion": RAY_API, "kind": "RayJob", "metadata": meta, "spec": spec}


def export_ray(
    plan: PlanView,
    launch: Mapping[str, LaunchInfo],
    details: Mapping[str, OfferDetail],
) -> ExportResult:
    skipped: list[Skip] = []
    files: list[ExportFile] = []
    used: set[str] = set()
    for p in k8s.place(active(plan, skipped), details, skipped):
        a = p.allocation
        name = unique_name(dns_name(a.workload or "", a.chip, a.provider, hours(a), limit=40), used)
        info = launch.get(a.workload or "", LaunchInfo())
        doc = _doc(name, p, info)
        if a.kind == "inference":
            how = (
                "RayCluster for serving: kubectl apply -f <this file>, then "
                f"ray job submit --address http://{name}-head-svc:8265 -- serve run <app>"
            )
        else:
            how = "RayJob: kubectl apply -f <this file> (KubeRay submits the entrypoint)"
        chips = f"{a.instances} workers x {a.chips_per_instance} {p.target.resource}"
        header = (*allocation_header(a, chips), how)
        fill = [*k8s.fill_ins(p, info), "an image with Ray installed (KubeRay starts ray in it)"]
        path = f"ray/{p.cluster}/{name}.yaml"
        files.append(ExportFile(path, header, (doc,), fill_in=tuple(fill)))
    return ExportResult("ray", tuple(files), tuple(skipped))
