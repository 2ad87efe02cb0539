"""Reads the JSON written by ``chipfolio simulate`` for the report, validating it at the edge.

Expected shape (extra keys are ignored; ``samples`` and ``comparison`` — ``{"baseline":
"cheapest", "strategies": {"n1": {"median_cost_premium_fraction": 0.09}}}`` — are optional)::

    {"scenarios": 500, "seed": 1,
     "strategies": {"cheapest": {"cost_usd": {"p50":..,"p95":..,"p99":..,"mean":..},
                                 "unserved_fraction": {...}, "slo_attainment": {...},
                                 "deadline_miss_rate": 0.02,
                                 "samples": {"cost_usd": [...], "unserved_fraction": [...]}}}}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chipfolio.errors import FieldIssue, InputError, SchemaError
from chipfolio.textfile import read_text_file

MAX_BYTES = 64 * 1024 * 1024
MAX_SAMPLES = 1_000_000


class _Percentiles(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    p50: float
    p95: float
    p99: float
    mean: float

    @field_validator("p50", "p95", "p99", "mean")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class _Samples(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    cost_usd: list[float] = Field(default_factory=list, max_length=MAX_SAMPLES)
    unserved_fraction: list[float] = Field(default_factory=list, max_length=MAX_SAMPLES)

    @field_validator("cost_usd", "unserved_fraction")
    @classmethod
    def _finite(cls, v: list[float]) -> list[float]:
        if not all(math.isfinite(x) for x in v):
            raise ValueError("samples must be finite numbers")
        return v


class _Strategy(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    cost_usd: _Percentiles
    unserved_fraction: _Percentiles
    slo_attainment: _Percentiles
    deadline_miss_rate: float = Field(ge=0.0, le=1.0)
    samples: _Samples | None = None


class _Premium(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    median_cost_premium_fraction: float

    @field_validator("median_cost_premium_fraction")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class _Comparison(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    baseline: str
    strategies: dict[str, _Premium] = Field(default_factory=dict)


class _Simulation(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    scenarios: int = Field(ge=1)
    seed: int
    strategies: dict[str, _Strategy] = Field(min_length=1)
    comparison: _Comparison | None = None


@dataclass(frozen=True, slots=True)
class Percentiles:
    """A metric's distribution summary."""

    p50: float
    p95: float
    p99: float
    mean: float


@dataclass(frozen=True, slots=True)
class StrategyOutcome:
    """One strategy across all scenarios."""

    cost_usd: Percentiles
    unserved_fraction: Percentiles
    slo_attainment: Percentiles
    deadline_miss_rate: float
    samples: Mapping[str, tuple[float, ...]] | None

    def metric(self, name: str) -> Percentiles:
        value: Percentiles = getattr(self, name)
        return value


@dataclass(frozen=True, slots=True)
class SimulationSummary:
    """What the report shows of a simulation run."""

    scenarios: int
    seed: int
    strategies: Mapping[str, StrategyOutcome]
    premiums: Mapping[tuple[str, str], float] = field(default_factory=dict)

    def median_cost_premium(self, strategy: str = "n1", base: str = "cheapest") -> float | None:
        """Median cost premium of ``strategy`` over ``base``, as a fraction (None if absent).

        Taken from the file's ``comparison`` when it has the pair; otherwise, when both
        strategies carry per-scenario samples of the same futures, the median of the paired
        differences over the base's median; otherwise from the p50 summaries.
        """
        if (strategy, base) in self.premiums:
            return self.premiums[(strategy, base)]
        if strategy not in self.strategies or base not in self.strategies:
            return None
        ours, theirs = self.strategies[strategy], self.strategies[base]
        mine = ours.samples.get("cost_usd", ()) if ours.samples else ()
        other = theirs.samples.get("cost_usd", ()) if theirs.samples else ()
        base_median = _median(other)
        if mine and len(mine) == len(other) and base_median:
            diff = _median(tuple(a - b for a, b in zip(mine, other, strict=True)))
            return None if diff is None else diff / base_median
        if theirs.cost_usd.p50 <= 0.0:
            return None
        return ours.cost_usd.p50 / theirs.cost_usd.p50 - 1.0


def _median(values: tuple[float, ...]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


def _percentiles(p: _Percentiles) -> Percentiles:
    return Percentiles(p.p50, p.p95, p.p99, p.mean)


def _convert(model: _Simulation) -> SimulationSummary:
    strategies: dict[str, StrategyOutcome] = {}
    for name, s in model.strategies.items():
        samples = None
        if s.samples is not None:
            samples = {
                "cost_usd": tuple(s.samples.cost_usd),
                "unserved_fraction": tuple(s.samples.unserved_fraction),
            }
        strategies[name] = StrategyOutcome(
            cost_usd=_percentiles(s.cost_usd),
            unserved_fraction=_percentiles(s.unserved_fraction),
            slo_attainment=_percentiles(s.slo_attainment),
            deadline_miss_rate=s.deadline_miss_rate,
            samples=samples,
        )
    premiums: dict[tuple[str, str], float] = {}
    if model.comparison is not None:
        base = model.comparison.baseline
        for name, entry in model.comparison.strategies.items():
            premiums[(name, base)] = entry.median_cost_premium_fraction
    return SimulationSummary(model.scenarios, model.seed, strategies, premiums)


def parse_simulation(data: Any, file: str) -> SimulationSummary:
    """Validate an already-decoded simulation JSON value."""
    if not isinstance(data, dict):
        raise InputError(
            "expected a JSON object with 'scenarios', 'seed' and 'strategies'", file=file
        )
    try:
        return _convert(_Simulation.model_validate(data))
    except ValidationError as exc:
        issues = [
            FieldIssue(".".join(str(p) for p in err["loc"]) or "(root)", err["msg"])
            for err in exc.errors()
        ]
        raise SchemaError(file, issues) from exc


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def load_simulation(path: Path) -> SimulationSummary:
    """Read and validate a simulation JSON file; every failure is one InputError line."""
    file = str(path)
    text = read_text_file(path, limit=MAX_BYTES, kind="a simulation JSON file")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc) or "too deep"
        raise InputError(f"invalid JSON: {message}", file=file, line=line) from exc
    return parse_simulation(data, file)
