"""Inference demand over the horizon: growth plus bursts shaped by a real request-rate trace.

A workload's planned demand is its mean rate. Over a scenario the rate drifts by a sampled
monthly growth and, now and then, bursts above it. How high a burst goes is drawn from a
request-rate profile: the per-minute output-token rate of an Azure LLM inference trace,
rescaled to a mean of 1 (so it applies to any workload's mean) and smoothed over a short
window; the window peaks above 1 are the burst magnitudes. A bursty trace (the code trace)
therefore gives taller bursts than a smooth one (the conversation trace).

The bundled profiles are derived from the Azure LLM inference trace 2023 (CC-BY 4.0, cite
Patel et al., "Splitwise", ISCA 2024); see ``data/azure_llm_trace_2023_profile.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

PROFILE_RESOURCE = "azure_llm_trace_2023_profile.json"
DEFAULT_PROFILE = "conv"
HOURS_PER_MONTH = 720.0


@dataclass(frozen=True, slots=True)
class RateProfile:
    """A request-rate profile: output tokens per time bin, with where it came from."""

    name: str
    source: str
    bin_minutes: float
    tokens_per_bin: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.tokens_per_bin) < 2:
            raise ValueError(f"profile '{self.name}' needs at least 2 bins")
        values = np.asarray(self.tokens_per_bin, dtype=np.float64)
        if not (np.isfinite(values).all() and (values >= 0).all() and values.sum() > 0):
            raise ValueError(f"profile '{self.name}' needs finite, non-negative, non-zero bins")
        if not (math.isfinite(self.bin_minutes) and self.bin_minutes > 0):
            raise ValueError(f"profile '{self.name}' needs bin_minutes > 0")

    def ratios(self) -> FloatArray:
        """Each bin's rate over the mean rate (mean 1): the trace rescaled to any workload."""
        values = np.asarray(self.tokens_per_bin, dtype=np.float64)
        ratios: FloatArray = values / values.mean()
        return ratios

    def smoothed(self, window_minutes: float) -> FloatArray:
        """Rolling means of the ratios over ``window_minutes`` (at least one bin)."""
        width = max(1, round(window_minutes / self.bin_minutes))
        ratios = self.ratios()
        width = min(width, ratios.shape[0])
        kernel = np.full(width, 1.0 / width)
        smooth: FloatArray = np.convolve(ratios, kernel, mode="valid")
        return smooth

    def burst_multipliers(self, window_minutes: float) -> FloatArray:
        """Sorted window peaks above the mean: the magnitudes bursts are drawn from."""
        smooth = self.smoothed(window_minutes)
        peaks: FloatArray = np.sort(smooth[smooth > 1.0])
        if peaks.shape[0] == 0:
            return np.ones(1)
        return peaks

    def coefficient_of_variation(self) -> float:
        return float(self.ratios().std())


@cache
def bundled_profiles() -> Mapping[str, RateProfile]:
    """The profiles shipped with chipfolio, by name ("code", "conv")."""
    text = resources.files("chipfolio.simulation.data").joinpath(PROFILE_RESOURCE).read_text()
    raw = json.loads(text)
    return {
        name: RateProfile(
            name=name,
            source=f"{raw['source']} File {body['file']}.",
            bin_minutes=float(raw["bin_minutes"]),
            tokens_per_bin=tuple(float(v) for v in body["generated_tokens_per_bin"]),
        )
        for name, body in raw["profiles"].items()
    }


def profile_from_rates(
    name: str, source: str, bin_minutes: float, rates: Sequence[float]
) -> RateProfile:
    """A profile from any per-bin rate series (e.g. one read from the user's own trace)."""
    return RateProfile(name, source, bin_minutes, tuple(float(r) for r in rates))


@dataclass(frozen=True, slots=True)
class DemandAssumptions:
    """How inference demand moves over a scenario (documented defaults; all configurable).

    Growth: each inference workload draws a monthly growth rate from
    Normal(``growth_mean_per_month``, ``growth_sd_per_month``), compounded continuously.
    Bursts: Poisson with ``bursts_per_month`` per inference workload, exponential durations
    with mean ``burst_mean_hours``, magnitudes drawn from the workload's profile smoothed over
    ``burst_window_minutes``.
    """

    growth_mean_per_month: float = 0.03
    growth_sd_per_month: float = 0.04
    bursts_per_month: float = 4.0
    burst_mean_hours: float = 4.0
    burst_window_minutes: float = 5.0

    def __post_init__(self) -> None:
        checks = {
            "growth_sd_per_month": self.growth_sd_per_month >= 0,
            "bursts_per_month": self.bursts_per_month >= 0,
            "burst_mean_hours": self.burst_mean_hours > 0,
            "burst_window_minutes": self.burst_window_minutes > 0,
            "growth_mean_per_month": self.growth_mean_per_month > -1,
        }
        for name, ok in checks.items():
            value = getattr(self, name)
            if not (ok and math.isfinite(value)):
                raise ValueError(f"demand assumption {name} is out of range: {value}")


@dataclass(frozen=True, slots=True)
class DemandPath:
    """Sampled demand of one scenario, per workload and time step (multipliers of the mean).

    ``level[w, t]`` is the slow component (growth) a planner can react to; ``burst[w, t]`` is
    the short excursion on top (>= 1, time-averaged over the step). Training rows stay at 1.
    """

    level: FloatArray
    burst: FloatArray
    bursts: int

    @property
    def multiplier(self) -> FloatArray:
        total: FloatArray = self.level * self.burst
        return total


def sample_demand(
    rng: np.random.Generator,
    inference: Sequence[bool],
    profiles: Sequence[RateProfile],
    step_hours: float,
    n_steps: int,
    assumptions: DemandAssumptions,
) -> DemandPath:
    """Sample growth and bursts for every workload (``inference[w]`` False -> flat)."""
    n_workloads = len(inference)
    level = np.ones((n_workloads, n_steps))
    burst = np.ones((n_workloads, n_steps))
    mid_hours = (np.arange(n_steps) + 0.5) * step_hours
    horizon = n_steps * step_hours
    count = 0
    for w in range(n_workloads):
        growth = rng.normal(assumptions.growth_mean_per_month, assumptions.growth_sd_per_month)
        if not inference[w]:
            continue
        rate = math.log1p(max(growth, -0.95)) / HOURS_PER_MONTH
        level[w] = np.exp(rate * mid_hours)
        expected = assumptions.bursts_per_month * horizon / HOURS_PER_MONTH
        n_bursts = int(rng.poisson(expected))
        peaks = profiles[w].burst_multipliers(assumptions.burst_window_minutes)
        for _ in range(n_bursts):
            start = rng.uniform(0.0, horizon)
            duration = rng.exponential(assumptions.burst_mean_hours)
            magnitude = float(peaks[rng.integers(peaks.shape[0])])
            covered = step_overlap(start, start + duration, step_hours, n_steps)
            burst[w] = np.maximum(burst[w], 1.0 + (magnitude - 1.0) * covered)
        count += n_bursts
    return DemandPath(level=level, burst=burst, bursts=count)


def step_overlap(start: float, end: float, step_hours: float, n_steps: int) -> FloatArray:
    """Fraction of each step ``[k*dt, (k+1)*dt)`` covered by ``[start, end)``."""
    lo = np.arange(n_steps) * step_hours
    hi = lo + step_hours
    covered: FloatArray = np.clip(np.minimum(hi, end) - np.maximum(lo, start), 0.0, None)
    return covered / step_hours
