"""Demand: the bundled trace profiles, their burst magnitudes, and sampled demand paths."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from chipfolio.simulation.demand import (
    DemandAssumptions,
    RateProfile,
    bundled_profiles,
    profile_from_rates,
    sample_demand,
    step_overlap,
)

SHARED_TRACES = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "traces"
PROFILE_JSON = (
    Path(__file__).resolve().parents[3]
    / "src"
    / "chipfolio"
    / "simulation"
    / "data"
    / "azure_llm_trace_2023_profile.json"
)


def _minute_counts(path: Path) -> tuple[list[int], list[int]]:
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    stamps = [datetime.strptime(r["TIMESTAMP"][:26], "%Y-%m-%d %H:%M:%S.%f") for r in rows]
    first = stamps[0]
    minutes = int((stamps[-1] - first).total_seconds() // 60)
    requests, tokens = [0] * minutes, [0] * minutes
    for stamp, row in zip(stamps, rows, strict=True):
        m = int((stamp - first).total_seconds() // 60)
        if m < minutes:
            requests[m] += 1
            tokens[m] += int(row["GeneratedTokens"])
    return requests, tokens


@pytest.mark.skipif(not SHARED_TRACES.exists(), reason="../shared/data/traces not present")
@pytest.mark.parametrize("name", ["code", "conv"])
def test_bundled_profile_is_recomputed_exactly_from_the_trace(name: str) -> None:
    raw = json.loads(PROFILE_JSON.read_text(encoding="utf-8"))
    requests, tokens = _minute_counts(SHARED_TRACES / f"AzureLLMInferenceTrace_{name}.csv")
    assert raw["profiles"][name]["requests_per_bin"] == requests
    assert raw["profiles"][name]["generated_tokens_per_bin"] == tokens


def test_profiles_rescale_to_mean_one_and_code_is_burstier_than_conv() -> None:
    profiles = bundled_profiles()
    assert set(profiles) == {"code", "conv"}
    for profile in profiles.values():
        assert profile.ratios().mean() == pytest.approx(1.0)
        peaks = profile.burst_multipliers(5.0)
        assert (peaks > 1.0).all()
        assert (np.diff(peaks) >= 0).all()
        assert "CC-BY 4.0" in profile.source
    code, conv = profiles["code"], profiles["conv"]
    assert code.coefficient_of_variation() > 3 * conv.coefficient_of_variation()
    assert code.burst_multipliers(5.0).max() > conv.burst_multipliers(5.0).max()


def test_smoothing_window_lowers_peaks() -> None:
    code = bundled_profiles()["code"]
    assert code.smoothed(1.0).max() > code.smoothed(10.0).max()
    assert code.smoothed(1000.0).shape == (1,)  # window longer than the trace: one mean


def test_a_flat_profile_has_no_bursts_above_one() -> None:
    flat = profile_from_rates("flat", "test", 1.0, [5.0] * 10)
    assert flat.burst_multipliers(5.0).tolist() == [1.0]


@pytest.mark.parametrize("rates", [[1.0], [-1.0, 2.0], [0.0, 0.0], [float("nan"), 1.0]])
def test_bad_profiles_are_rejected(rates: list[float]) -> None:
    with pytest.raises(ValueError):
        RateProfile("bad", "test", 1.0, tuple(rates))


def test_step_overlap_counts_fractions_of_steps() -> None:
    covered = step_overlap(3.0, 15.0, 6.0, 4)
    assert covered.tolist() == [0.5, 1.0, 0.5, 0.0]
    assert step_overlap(30.0, 40.0, 6.0, 4).sum() == 0.0


def _sample(seed: int, assumptions: DemandAssumptions) -> tuple[np.ndarray, np.ndarray, int]:
    conv = bundled_profiles()["conv"]
    path = sample_demand(
        np.random.default_rng(seed), [True, False], [conv, conv], 6.0, 40, assumptions
    )
    return path.level, path.burst, path.bursts


def test_sampling_is_a_function_of_the_generator_only() -> None:
    a = _sample(7, DemandAssumptions())
    b = _sample(7, DemandAssumptions())
    c = _sample(8, DemandAssumptions())
    assert all(np.array_equal(x, y) for x, y in zip(a[:2], b[:2], strict=True))
    assert not np.array_equal(a[0], c[0])


def test_training_rows_stay_flat_and_bursts_only_go_up() -> None:
    level, burst, _ = _sample(3, DemandAssumptions(bursts_per_month=50.0))
    assert (level[1] == 1.0).all() and (burst[1] == 1.0).all()
    assert (burst[0] >= 1.0).all() and (burst[0] > 1.0).any()
    assert burst[0].max() <= bundled_profiles()["conv"].burst_multipliers(5.0).max() + 1e-12


def test_no_growth_and_no_bursts_give_a_flat_path() -> None:
    calm = DemandAssumptions(growth_mean_per_month=0.0, growth_sd_per_month=0.0, bursts_per_month=0)
    level, burst, bursts = _sample(1, calm)
    assert (level == 1.0).all() and (burst == 1.0).all() and bursts == 0


def test_growth_compounds_monthly() -> None:
    steady = DemandAssumptions(growth_mean_per_month=0.10, growth_sd_per_month=0.0)
    conv = bundled_profiles()["conv"]
    path = sample_demand(np.random.default_rng(0), [True], [conv], 720.0, 2, steady)
    # mid-points of two 30-day steps: half a month and one and a half months of growth
    assert path.level[0].tolist() == pytest.approx([1.1**0.5, 1.1**1.5])


@pytest.mark.parametrize(
    "bad",
    [
        {"growth_sd_per_month": -0.1},
        {"bursts_per_month": -1.0},
        {"burst_mean_hours": 0.0},
        {"growth_mean_per_month": -1.5},
        {"burst_window_minutes": float("inf")},
    ],
)
def test_demand_assumptions_are_validated(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        DemandAssumptions(**bad)
