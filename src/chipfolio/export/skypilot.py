"""SkyPilot export: one task YAML per allocation, plus a script of the launch commands.

Training allocations become tasks with ``num_nodes`` = instances (``sky launch``, or
``sky jobs launch`` on spot); inference allocations become SkyServe services with ``replicas``
= instances of one node each (``sky serve up``). Only what SkyPilot can launch is emitted:
allocations on clouds SkyPilot does not know, on chips it has no name for, on chips its catalog
cannot place (Trainium2: use the Kubernetes exports), or on parts its name does not pin without
an instance type, are skipped with the reason. TPU tasks name the slice only (SkyPilot refuses an
instance type for a TPU VM); an offer priced for an area rather than a region leaves the region
open and says so.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from chipfolio.export.accelerators import (
    SKYPILOT_CLOUDS,
    SKYPILOT_NEEDS_INSTANCE_TYPE,
    SKYPILOT_TPU_SLICES,
    SKYPILOT_UNNAMED_INSTANCE_TYPES,
    launch_region,
    skypilot_accelerator,
    skypilot_host_name,
    skypilot_unlaunchable,
)
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

READINESS_PATH = "/health"


def placeholder_run(workload: str) -> str:
    message = f"chipfolio: no launch.run for workload {workload} in the portfolio; write it here"
    return f"echo {shlex.quote(message)} >&2\nexit 1\n"


def _resources(
    a: PlannedAllocation, accelerator: str, detail: OfferDetail, launch: LaunchInfo
) -> dict[str, Any]:
    res: dict[str, Any] = {"cloud": a.provider}
    if launch_region(a.provider, a.region):
        res["region"] = a.region
        if detail.zone:
            res["zone"] = detail.zone
    if (a.provider, detail.instance_type or "") not in SKYPILOT_UNNAMED_INSTANCE_TYPES:
        res["accelerators"] = accelerator
    # a TPU VM takes no instance type in SkyPilot (the slice name is the accelerator)
    if detail.instance_type and a.chip not in SKYPILOT_TPU_SLICES:
        res["instance_type"] = detail.instance_type
    res["use_spot"] = a.pricing == "spot"
    if launch.image:
        res["image_id"] = f"docker:{launch.image}"
    if a.kind == "inference":
        res["ports"] = launch.serving_port
    return res


def _task(
    a: PlannedAllocation, name: str, accelerator: str, detail: OfferDetail, launch: LaunchInfo
) -> dict[str, Any]:
    workload = a.workload or ""
    task: dict[str, Any] = {"name": name}
    task["resources"] = _resources(a, accelerator, detail, launch)
    task["num_nodes"] = 1 if a.kind == "inference" else a.instances
    if a.kind == "inference":
        task["service"] = {"readiness_probe": READINESS_PATH, "replicas": a.instances}
    if launch.envs:
        task["envs"] = dict(sorted(launch.envs.items()))
    if launch.setup:
        task["setup"] = launch.setup
    task["run"] = launch.run or placeholder_run(workload)
    return task


def _header(a: PlannedAllocation, accelerator: str, name: str, path: str) -> tuple[str, ...]:
    lines = [*allocation_header(a, f"{a.chips} chips = {a.instances} x {accelerator}")]
    if a.pricing in ("reserved", "committed"):
        lines.append(
            f"pricing {a.pricing}: launch into your reservation (SkyPilot's "
            f"{a.provider}.specific_reservations in ~/.sky/config.yaml) or this runs on demand"
        )
    elif a.pricing is None:
        lines.append("pricing model not in the plan JSON: launched on demand")
    if not launch_region(a.provider, a.region):
        lines.append(
            f"region left open: the plan priced the area '{a.region}', not a {a.provider} "
            "region; set resources.region to the region you mean"
        )
    if a.kind == "inference":
        lines.append(f"sky serve up -n {name} {path}  (readiness probe {READINESS_PATH})")
    else:
        verb = "sky jobs launch" if a.pricing == "spot" else f"sky launch -c {name}"
        lines.append(f"{verb} {path}")
    return tuple(lines)


def _fill_ins(a: PlannedAllocation, launch: LaunchInfo) -> list[str]:
    out = [f"{a.provider} credentials for SkyPilot (sky check {a.provider})"]
    if not launch_region(a.provider, a.region):
        out.append(f"a real {a.provider} region for the area '{a.region}' (resources.region)")
    if not launch.run:
        out.append(f"run command of workload '{a.workload}' (launch.run)")
    if a.kind == "inference":
        out.append(f"readiness probe path of workload '{a.workload}' (default {READINESS_PATH})")
    return out


def export_skypilot(
    plan: PlanView,
    launch: Mapping[str, LaunchInfo],
    details: Mapping[str, OfferDetail],
) -> ExportResult:
    """Task YAMLs under ``skypilot/`` and ``skypilot/launch.sh`` listing the commands."""
    skipped: list[Skip] = []
    files: list[ExportFile] = []
    commands: list[str] = []
    used: set[str] = set()
    for a in active(plan, skipped):
        if a.provider not in SKYPILOT_CLOUDS:
            skipped.append(Skip.of(a, f"provider '{a.provider}' is not a SkyPilot cloud"))
            continue
        accelerator = skypilot_accelerator(a.chip, a.chips_per_instance, a.provider)
        if accelerator is None:
            skipped.append(Skip.of(a, f"chip '{a.chip}' has no SkyPilot accelerator name"))
            continue
        detail = details.get(a.offer, OfferDetail())
        reason = skypilot_unlaunchable(a.provider, a.chip, detail.instance_type)
        if reason is not None:
            skipped.append(Skip.of(a, reason))
            continue
        host_name = skypilot_host_name(a.provider, detail.instance_type)
        if host_name is not None:
            accelerator = f"{host_name}:{a.chips_per_instance}"
        if a.chip in SKYPILOT_NEEDS_INSTANCE_TYPE and not detail.instance_type:
            name_only = accelerator.split(":")[0]
            skipped.append(
                Skip.of(
                    a,
                    f"SkyPilot's name '{name_only}' also covers other parts than {a.chip} "
                    "and the offer names no instance type to pin it",
                )
            )
            continue
        workload = a.workload or ""
        name = unique_name(dns_name(workload, a.chip, a.provider, hours(a), limit=50), used)
        info = launch.get(workload, LaunchInfo())
        path = f"skypilot/{name}.yaml"
        task = _task(a, name, accelerator, detail, info)
        header = _header(a, accelerator, name, path)
        files.append(ExportFile(path, header, (task,), fill_in=tuple(_fill_ins(a, info))))
        quoted = shlex.quote(path)
        if a.kind == "inference":
            commands.append(f"sky serve up -y -n {name} {quoted}")
        elif a.pricing == "spot":
            commands.append(f"sky jobs launch -y -n {name} {quoted}")
        else:
            commands.append(f"sky launch -y -c {name} {quoted}")
    if commands:
        script = "set -euo pipefail\n" + "\n".join(commands) + "\n"
        script_header = (
            "!/usr/bin/env bash",
            f"chipfolio export: SkyPilot launch commands for {plan.source}",
            "run from the export directory, at each window's start hour (see each file)",
        )
        files.append(ExportFile("skypilot/launch.sh", script_header, text=script))
    return ExportResult("skypilot", tuple(files), tuple(skipped))
