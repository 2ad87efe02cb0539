"""Simulation inputs from files: each workload's demand profile, and an assumptions YAML.

Demand: an inference workload whose traffic comes from a trace file is simulated around the
trace's mean rate (times the file's ``scale``) with bursts drawn from that same trace's
profile; the plan itself was sized for the rate the file asked for (p90 by default), so the
headroom between the two is the plan's own. Every other workload fluctuates around its
stated demand with the bundled conversation-trace profile.

Assumptions: an optional YAML with sections ``events``, ``demand`` and ``reaction`` whose
keys are the fields of EventAssumptions, DemandAssumptions and Reaction, plus ``step_hours``
and ``replan`` (fast | exact). Every error names the file, line and field.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chipfolio.errors import InputError, UnknownNameError
from chipfolio.planner import Problem
from chipfolio.simulation.demand import (
    DEFAULT_PROFILE,
    DemandAssumptions,
    RateProfile,
    bundled_profiles,
    profile_from_rates,
)
from chipfolio.simulation.events import EventAssumptions
from chipfolio.simulation.model import Reaction
from chipfolio.simulation.strategies import ReplanMode
from chipfolio.textfile import read_text_file
from chipfolio.workloads.spec import InferenceSpec, LineIndex, Portfolio, parse_yaml
from chipfolio.workloads.traces import RateStatistic, TraceSummary, read_trace

SECTIONS: Mapping[str, type] = {
    "events": EventAssumptions,
    "demand": DemandAssumptions,
    "reaction": Reaction,
}
TOP_LEVEL = ("events", "demand", "reaction", "step_hours", "replan")
MAX_ASSUMPTIONS_BYTES = 256 * 1024


@dataclass(frozen=True, eq=False)
class WorkloadDemand:
    """Per workload (problem order): the rate profile and the mean simulated rate."""

    profiles: tuple[RateProfile, ...]
    mean_tokens_per_s: tuple[float, ...]


def _trace_of(portfolio: Portfolio, index: int, spec: InferenceSpec) -> TraceSummary:
    assert spec.trace is not None
    path = Path(spec.trace.file)
    path = path if path.is_absolute() else portfolio.base_dir / path
    try:
        return read_trace(path)
    except InputError as exc:
        raise portfolio.error(f"{exc}", "workloads", index, "trace", "file") from exc


def workload_demand(portfolio: Portfolio, problem: Problem) -> WorkloadDemand:
    """Profiles and mean rates for ``problem``'s workloads, matched by name."""
    default = bundled_profiles()[DEFAULT_PROFILE]
    by_name = {w.name: (i, w) for i, w in enumerate(portfolio.spec.workloads)}
    profiles: list[RateProfile] = []
    means: list[float] = []
    for name, planned in zip(
        problem.workloads.names.tolist(), problem.workloads.demand_tokens_per_s, strict=True
    ):
        index, spec = by_name[str(name)]
        if isinstance(spec, InferenceSpec) and spec.trace is not None:
            summary = _trace_of(portfolio, index, spec)
            profiles.append(
                profile_from_rates(
                    Path(summary.file).stem,
                    f"output tokens/s per {summary.bucket_s:g} s of {summary.file}",
                    summary.bucket_s / 60.0,
                    summary.output_tokens_per_s_profile.tolist(),
                )
            )
            means.append(summary.output_tokens_per_s(RateStatistic.MEAN) * spec.trace.scale)
        else:
            profiles.append(default)
            means.append(float(planned))
    return WorkloadDemand(tuple(profiles), tuple(means))


@dataclass(frozen=True, slots=True)
class Assumptions:
    """Everything an assumptions file can set (defaults where it is silent)."""

    events: EventAssumptions = field(default_factory=EventAssumptions)
    demand: DemandAssumptions = field(default_factory=DemandAssumptions)
    reaction: Reaction = field(default_factory=Reaction)
    step_hours: float = 6.0
    replan: ReplanMode = ReplanMode.FAST


def _number(value: object, file: str, line: int | None, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"expected a number, got {value!r:.40}", file=file, line=line, field=field)
    number = float(value)
    if not math.isfinite(number):
        raise InputError("expected a finite number", file=file, line=line, field=field)
    return number


def _section(kind: type, body: object, file: str, lines: LineIndex, name: str) -> Any:
    if not isinstance(body, dict):
        raise InputError(
            "expected a mapping of assumption names to values",
            file=file,
            line=lines.of((name,)),
            field=name,
        )
    fields = {f.name: f for f in dataclasses.fields(kind)}
    values: dict[str, Any] = {}
    for key, value in body.items():
        where = f"{name}.{key}"
        line = lines.of((name, str(key)))
        if key not in fields:
            raise UnknownNameError(
                f"{name} assumption", str(key), fields, file=file, line=line, field=where
            )
        default = getattr(kind(), str(key))
        if isinstance(default, tuple):
            if not isinstance(value, list) or len(value) != len(default):
                raise InputError(
                    f"expected a list of {len(default)} numbers", file=file, line=line, field=where
                )
            values[key] = tuple(_number(v, file, line, where) for v in value)
        else:
            values[key] = _number(value, file, line, where)
    try:
        return kind(**values)
    except ValueError as exc:
        raise InputError(str(exc), file=file, line=lines.of((name,)), field=name) from exc


def parse_assumptions(text: str, file: str) -> Assumptions:
    """Validate assumptions YAML text (see the module docstring)."""
    data, lines = parse_yaml(text, file)
    if not isinstance(data, dict):
        raise InputError(
            "expected a mapping with events/demand/reaction sections", file=file, line=1
        )
    for key in data:
        if key not in TOP_LEVEL:
            raise UnknownNameError(
                "assumption section",
                str(key),
                TOP_LEVEL,
                file=file,
                line=lines.of((str(key),)),
                field=str(key),
            )
    out = Assumptions()
    changes: dict[str, Any] = {}
    for name, kind in SECTIONS.items():
        if name in data:
            changes[name] = _section(kind, data[name], file, lines, name)
    if "step_hours" in data:
        changes["step_hours"] = _number(
            data["step_hours"], file, lines.of(("step_hours",)), "step_hours"
        )
    if "replan" in data:
        modes = [m.value for m in ReplanMode]
        if data["replan"] not in modes:
            raise UnknownNameError(
                "re-plan mode",
                str(data["replan"]),
                modes,
                file=file,
                line=lines.of(("replan",)),
                field="replan",
            )
        changes["replan"] = ReplanMode(data["replan"])
    return dataclasses.replace(out, **changes)


def load_assumptions(path: Path | str) -> Assumptions:
    """Read and validate an assumptions YAML file."""
    file = str(path)
    text = read_text_file(path, limit=MAX_ASSUMPTIONS_BYTES, kind="an assumptions YAML file")
    return parse_assumptions(text, file)
