"""The exporters' inputs and outputs: a checked view of the plan JSON, launch facts, files.

``read_plan`` turns the dict that ``chipfolio plan --json`` wrote into typed allocations and
raises :class:`InputError` naming the file and the field when the JSON is not a plan. What the
exporters produce is a list of :class:`ExportFile` (YAML documents or plain text, each with a
header comment) and a list of :class:`Skip` (an allocation left out, with the reason).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from chipfolio.domain import PricingModel
from chipfolio.errors import InputError
from chipfolio.planner import Allocation, Plan

MAX_ALLOCATIONS = 100_000
MAX_COUNT = 10_000_000
# chips in one instance: a TPU slice is one instance (tpu-v5p-12288 is 6,144 chips, the largest
# TPU7x slice 9,216), so the cap sits above those
MAX_PER_INSTANCE = 16_384
CATALOG_ID_PARTS = 5  # provider:instance_type:region:zone:pricing
PRICING_MODELS: tuple[str, ...] = tuple(p.value for p in PricingModel)
DEFAULT_PORT = 8000  # serving port of an inference workload whose launch section names none


@dataclass(frozen=True, slots=True)
class PlannedAllocation:
    """One allocation of the plan: ``instances`` of ``offer`` for ``workload`` over a window."""

    index: int
    workload: str | None
    kind: str | None
    offer: str
    provider: str
    vendor: str
    chip: str
    region: str
    instances: int
    chips: int
    chips_per_instance: int
    pricing: str | None
    from_hour: float
    to_hour: float
    instance_type: str | None = None  # the provider's instance type, where the plan names it
    zone: str | None = None

    @property
    def chip_hours(self) -> float:
        return self.chips * (self.to_hour - self.from_hour)

    @property
    def label(self) -> str:
        who = self.workload if self.workload is not None else "(unused commitment)"
        return f"{who} on {self.offer} h{self.from_hour:g}-{self.to_hour:g}"


@dataclass(frozen=True, slots=True)
class PlanView:
    """The parts of a plan JSON the exporters read."""

    source: str
    allocations: tuple[PlannedAllocation, ...]


@dataclass(frozen=True, slots=True)
class LaunchInfo:
    """How to start a workload: the portfolio's ``launch`` section (all parts optional)."""

    setup: str | None = None
    run: str | None = None
    image: str | None = None
    envs: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None

    @property
    def serving_port(self) -> int:
        return self.port or DEFAULT_PORT


@dataclass(frozen=True, slots=True)
class OfferDetail:
    """What the plan JSON does not say about an offer: its instance type and zone, if known."""

    instance_type: str | None = None
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class Skip:
    """An allocation an exporter left out, and why."""

    allocation: str
    reason: str
    chip_hours: float = 0.0

    @classmethod
    def of(cls, a: PlannedAllocation, reason: str) -> Skip:
        return cls(a.label, reason, a.chip_hours)


@dataclass(frozen=True, slots=True)
class ExportFile:
    """One file to write: YAML ``documents`` (or ``text``) under a ``header`` comment."""

    path: str
    header: tuple[str, ...]
    documents: tuple[Mapping[str, Any], ...] = ()
    text: str | None = None
    fill_in: tuple[str, ...] = ()

    def render(self) -> str:
        flat = [" ".join(line.splitlines()) for line in self.header]  # one comment line each
        lines = [
            f"#{line}" if line.startswith("!") else (f"# {line}" if line else "#") for line in flat
        ]
        head = "\n".join(lines) + ("\n" if lines else "")
        if self.text is not None:
            return head + self.text
        body = "---\n".join(dump_yaml(doc) for doc in self.documents)
        return head + body


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What one exporter produced from one plan."""

    target: str
    files: tuple[ExportFile, ...]
    skipped: tuple[Skip, ...]

    def skip_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for skip in self.skipped:
            counts[skip.reason] = counts.get(skip.reason, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def exported_share(self, plan: PlanView) -> float:
        """The share of the plan's workload chip-hours this export covers (1.0 = all)."""
        total = sum(a.chip_hours for a in plan.allocations if a.workload is not None)
        left = sum(s.chip_hours for s in self.skipped)
        return 1.0 if total <= 0 else max(0.0, 1.0 - left / total)

    def fill_ins(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for f in self.files:
            for item in f.fill_in:
                seen.setdefault(item, None)
        return tuple(seen)


# ----- YAML ---------------------------------------------------------------------------------


# libyaml's emitter when PyYAML was built with it (about 10x faster), else the Python one.
_BaseDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[valid-type,misc]
    """Block style, insertion order, multi-line strings as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump_yaml(doc: Mapping[str, Any]) -> str:
    text = yaml.dump(
        dict(doc), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100
    )
    return str(text)


# ----- names --------------------------------------------------------------------------------

_NOT_DNS = re.compile(r"[^a-z0-9-]+")


def dns_name(*parts: str, limit: int = 63) -> str:
    """A DNS-1123 label from ``parts``: lower case, dashes, at most ``limit`` characters.

    A name that had to be shortened ends with a short hash of the full name, so two long
    names that share a prefix stay distinct.
    """
    raw = "-".join(p for p in parts if p)
    name = _NOT_DNS.sub("-", raw.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name) or "x"
    if not name[0].isalpha():
        name = "x-" + name
    if len(name) <= limit:
        return name
    return name[: limit - 7].rstrip("-") + "-" + short_hash(raw)


def short_hash(text: str) -> str:
    """Six hex digits of the SHA-256 of ``text``: keeps shortened or folded names apart."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:6]


def unique_name(name: str, used: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3``... if taken; the result is added to ``used``."""
    base, n = name, 2
    while name in used:
        name, n = f"{base}-{n}", n + 1
    used.add(name)
    return name


def allocation_header(a: PlannedAllocation, chips: str) -> tuple[str, str]:
    """The first header lines of an allocation's file: workload and offer, then where, when
    and ``chips`` (how the exporter asks for them)."""
    return (
        f"chipfolio export: {a.workload} ({a.kind}) on offer {a.offer}",
        f"{a.provider} {a.chip} in {a.region}, plan hours {a.from_hour:g}-{a.to_hour:g}: {chips}",
    )


def hours(a: PlannedAllocation) -> str:
    return f"h{a.from_hour:g}-{a.to_hour:g}".replace(".", "p")


# ----- reading the plan JSON ------------------------------------------------------------------


def _fail(source: str, where: str, message: str) -> InputError:
    return InputError(message, file=source, field=where)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _text(value: str, field: str, source: str) -> str:
    if not value or len(value) > 500:
        raise _fail(source, field, "expected a non-empty string")
    if _CONTROL.search(value):
        raise _fail(source, field, "control characters are not allowed")
    return value


def _count(value: int, field: str, source: str) -> int:
    if not 0 <= value <= MAX_COUNT:
        raise _fail(source, field, f"expected an integer in [0, {MAX_COUNT}]")
    return value


def _pricing(a: Allocation, where: str, source: str) -> str | None:
    if a.pricing is None:
        parts = a.offer.split(":")
        if len(parts) == CATALOG_ID_PARTS:  # the pricing part may carry a suffix
            return next((p for p in PRICING_MODELS if parts[4].startswith(p)), None)
        return None
    if a.pricing not in PRICING_MODELS:
        raise _fail(source, f"{where}.pricing", f"expected one of {', '.join(PRICING_MODELS)}")
    return a.pricing


def _per_instance(a: Allocation, where: str, src: str) -> int:
    chips, instances, value = a.chips, a.instances, a.chips_per_instance
    if value is None:
        if instances == 0:
            return max(chips, 1)
        if chips % instances:
            raise _fail(
                src,
                f"{where}.chips_per_instance",
                f"missing, and {chips} chips do not split evenly over {instances} instances",
            )
        return max(chips // instances, 1)
    if not 1 <= value <= MAX_PER_INSTANCE:
        raise _fail(
            src, f"{where}.chips_per_instance", f"expected an integer in [1, {MAX_PER_INSTANCE}]"
        )
    if instances and value * instances != chips:
        raise _fail(
            src,
            f"{where}.chips",
            f"{chips} chips is not {instances} instances x {value} chips per instance",
        )
    return value


def _allocation(i: int, a: Allocation, kinds: Mapping[str, str], source: str) -> PlannedAllocation:
    """What an exporter needs of one allocation, checked for launching (names, counts)."""
    where = f"allocations[{i}]"
    if a.workload is not None:
        _text(a.workload, f"{where}.workload", source)
    if a.to_hour <= a.from_hour:
        raise _fail(source, f"{where}.to_hour", f"must be after from_hour ({a.from_hour:g})")
    for name in ("instance_type", "zone"):
        value = getattr(a, name)
        if value is not None:
            _text(value, f"{where}.{name}", source)
    return PlannedAllocation(
        index=i,
        workload=a.workload,
        kind=kinds.get(a.workload) if a.workload is not None else None,
        offer=_text(a.offer, f"{where}.offer", source),
        provider=_text(a.provider, f"{where}.provider", source).lower(),
        vendor=_text(a.vendor, f"{where}.vendor", source).lower(),
        chip=_text(a.chip, f"{where}.chip", source),
        region=_text(a.region, f"{where}.region", source),
        instances=_count(a.instances, f"{where}.instances", source),
        chips=_count(a.chips, f"{where}.chips", source),
        chips_per_instance=_per_instance(a, where, source),
        pricing=_pricing(a, where, source),
        from_hour=a.from_hour,
        to_hour=a.to_hour,
        instance_type=a.instance_type,
        zone=a.zone,
    )


def read_plan(data: object, source: str) -> PlanView:
    """Read the plan JSON (as parsed) with ``Plan.from_json``, the one reader of plan
    documents, and check what launching needs on top (names, counts, instance shapes)."""
    listed = data.get("allocations") if isinstance(data, dict) else None
    if isinstance(listed, list) and len(listed) > MAX_ALLOCATIONS:
        raise _fail(source, "allocations", f"more than {MAX_ALLOCATIONS} allocations")
    if isinstance(data, dict) and "allocations" not in data:
        raise _fail(source, "allocations", "expected a list (is this a plan JSON?)")
    plan = Plan.from_json(data, source)
    kinds = {w.name: w.kind for w in plan.workloads if w.kind}
    parsed = tuple(_allocation(i, a, kinds, source) for i, a in enumerate(plan.allocations))
    for a in parsed:
        if a.workload is not None and a.kind is None:
            raise _fail(
                source,
                f"allocations[{a.index}].workload",
                f"workload '{a.workload}' is not listed under 'workloads'",
            )
    return PlanView(source=source, allocations=parsed)


def active(plan: PlanView, skipped: list[Skip]) -> list[PlannedAllocation]:
    """The allocations that run something, in a stable order; idle commitments are skipped."""
    out = []
    for a in plan.allocations:
        if a.workload is None:
            # not workload chip-hours: no chip_hours, so it does not lower the exported share
            skipped.append(Skip(a.label, "unused commitment (no workload to launch)"))
        elif a.instances == 0:
            skipped.append(Skip.of(a, "no instances"))
        else:
            out.append(a)
    return sorted(out, key=lambda a: (a.workload or "", a.offer, a.from_hour, a.index))


def peak_chips(allocations: Sequence[PlannedAllocation]) -> int:
    """The most chips the allocations hold at the same time (windows are half-open)."""
    events: list[tuple[float, int]] = []
    for a in allocations:
        events.append((a.from_hour, a.chips))
        events.append((a.to_hour, -a.chips))
    best = current = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        current += delta
        best = max(best, current)
    return best
