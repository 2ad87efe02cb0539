"""Exporters: turn a plan JSON into launch specs for SkyPilot, Kueue or KubeRay — as files.

Nothing here launches, reads credentials or reaches a network: :func:`export_plan` builds plain
dicts (rendered as YAML by :class:`ExportFile`), and the caller writes them. The plan JSON of
``chipfolio plan --json`` carries every allocation's provider, chip, region, counts, pricing and
chips per instance; the portfolio adds how to start each workload (its ``launch`` section) and
the instance type of private offers that name one. See docs/export.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from chipfolio.errors import InputError
from chipfolio.export.accelerators import skypilot_accelerator
from chipfolio.export.kueue import export_kueue
from chipfolio.export.model import (
    ExportFile,
    ExportResult,
    LaunchInfo,
    OfferDetail,
    PlannedAllocation,
    PlanView,
    Skip,
    read_plan,
)
from chipfolio.export.ray import export_ray
from chipfolio.export.skypilot import export_skypilot
from chipfolio.workloads.spec import Portfolio

Exporter = Callable[[PlanView, Mapping[str, LaunchInfo], Mapping[str, OfferDetail]], ExportResult]

EXPORTERS: Mapping[str, Exporter] = {
    "skypilot": export_skypilot,
    "kueue": export_kueue,
    "ray": export_ray,
}
TARGETS: tuple[str, ...] = tuple(EXPORTERS)


def launch_infos(portfolio: Portfolio) -> dict[str, LaunchInfo]:
    """Each workload's ``launch`` section, by workload name (workloads without one omitted)."""
    out: dict[str, LaunchInfo] = {}
    for w in portfolio.spec.workloads:
        if w.launch is not None:
            spec = w.launch
            out[w.name] = LaunchInfo(spec.setup, spec.run, spec.image, dict(spec.envs), spec.port)
    return out


def offer_details(plan: PlanView, portfolio: Portfolio | None = None) -> dict[str, OfferDetail]:
    """Instance type and zone per offer: as the plan's allocations carry them, and from the
    portfolio's private offers where they name an instance type or zone."""
    details: dict[str, OfferDetail] = {}
    for a in plan.allocations:
        if a.instance_type:
            details[a.offer] = OfferDetail(instance_type=a.instance_type, zone=a.zone)
    if portfolio is not None:
        for raw in portfolio.spec.offers:
            offer_id = raw.get("id")
            instance_type, zone = raw.get("instance_type"), raw.get("zone")
            if isinstance(offer_id, str) and (instance_type or zone):
                details[offer_id] = OfferDetail(
                    instance_type=str(instance_type) if instance_type else None,
                    zone=str(zone) if zone else None,
                )
    return details


def export_plan(
    plan: PlanView,
    target: str,
    launch: Mapping[str, LaunchInfo] | None = None,
    details: Mapping[str, OfferDetail] | None = None,
) -> ExportResult:
    """The files (and skipped allocations) of one target: skypilot, kueue or ray."""
    exporter = EXPORTERS.get(target)
    if exporter is None:
        raise InputError(f"unknown target '{target}'; expected one of {', '.join(TARGETS)}")
    return exporter(plan, launch or {}, details if details is not None else offer_details(plan))


__all__ = [
    "EXPORTERS",
    "TARGETS",
    "ExportFile",
    "ExportResult",
    "LaunchInfo",
    "OfferDetail",
    "PlanView",
    "PlannedAllocation",
    "Skip",
    "export_plan",
    "launch_infos",
    "offer_details",
    "read_plan",
    "skypilot_accelerator",
]
