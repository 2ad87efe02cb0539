"""Reading `chipfolio simulate` JSON for the report: valid shapes and hostile files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_fixtures import simulation_json, write_simulation

from chipfolio.errors import InputError
from chipfolio.interfaces.report import simulation as sim_module
from chipfolio.interfaces.report.simulation import load_simulation


def test_reads_strategies_and_samples(tmp_path: Path) -> None:
    summary = load_simulation(write_simulation(tmp_path, simulation_json()))
    assert list(summary.strategies) == ["cheapest", "capped", "n1"]
    n1 = summary.strategies["n1"]
    assert n1.samples is not None and len(n1.samples["cost_usd"]) == 60
    assert n1.cost_usd.p50 == 111.0


def test_median_premium_from_samples_and_from_percentiles(tmp_path: Path) -> None:
    with_samples = load_simulation(write_simulation(tmp_path, simulation_json()))
    premium = with_samples.median_cost_premium()
    assert premium is not None and 0.05 < premium < 0.16
    bare = load_simulation(write_simulation(tmp_path, simulation_json(samples=False)))
    assert bare.strategies["n1"].samples is None
    assert bare.median_cost_premium() == pytest.approx(111.0 / 100.0 - 1.0)
    assert bare.median_cost_premium("n1", "absent") is None


def test_comparison_block_wins_and_samples_are_paired(tmp_path: Path) -> None:
    data = simulation_json()
    paired = load_simulation(write_simulation(tmp_path, data))
    n1 = paired.strategies["n1"].samples
    cheap = paired.strategies["cheapest"].samples
    assert n1 is not None and cheap is not None
    diffs = sorted(a - b for a, b in zip(n1["cost_usd"], cheap["cost_usd"], strict=True))
    base = sorted(cheap["cost_usd"])
    expected = (diffs[29] + diffs[30]) / 2 / ((base[29] + base[30]) / 2)
    assert paired.median_cost_premium() == pytest.approx(expected)
    data["comparison"] = {
        "baseline": "cheapest",
        "strategies": {"n1": {"median_cost_premium_fraction": 0.25, "p95_unserved": 0.1}},
    }
    assert load_simulation(write_simulation(tmp_path, data)).median_cost_premium() == 0.25
    data["comparison"] = {"strategies": {}}
    with pytest.raises(InputError, match="baseline"):
        load_simulation(write_simulation(tmp_path, data))


def test_extra_keys_are_ignored(tmp_path: Path) -> None:
    data = simulation_json()
    data["events"] = {"whatever": 1}
    data["strategies"]["n1"]["extra"] = [1, 2]  # type: ignore[index]
    assert load_simulation(write_simulation(tmp_path, data)).scenarios == 60


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.pop("strategies"), "strategies"),
        (lambda d: d.update(strategies={}), "strategies"),
        (lambda d: d["strategies"]["n1"]["cost_usd"].update(p50="cheap"), "p50"),
        (lambda d: d["strategies"]["n1"].update(deadline_miss_rate=2.5), "deadline_miss_rate"),
        (lambda d: d.update(scenarios=-1), "scenarios"),
    ],
    ids=["no-strategies", "empty", "wrong-type", "out-of-range", "negative"],
)
def test_schema_errors_name_the_field(tmp_path: Path, mutate: object, needle: str) -> None:
    data = simulation_json()
    mutate(data)  # type: ignore[operator]
    with pytest.raises(InputError) as info:
        load_simulation(write_simulation(tmp_path, data))
    assert needle in str(info.value) and "sim.json" in str(info.value)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe\x00binary", "UTF-8"),
        (b"[1, 2, 3]", "JSON object"),
        (b'{"scenarios": NaN}', "invalid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "sim.json"),
    ],
    ids=["broken", "binary", "array", "nan", "deep"],
)
def test_hostile_files(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "sim.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        load_simulation(path)
    assert needle in str(info.value)


def test_nan_samples_and_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = simulation_json()
    text = json.dumps(data).replace(
        '"samples": {"cost_usd": [', '"samples": {"cost_usd": [1e999, ', 1
    )
    path = tmp_path / "sim.json"
    path.write_text(text)
    with pytest.raises(InputError, match="finite"):
        load_simulation(path)
    monkeypatch.setattr(sim_module, "MAX_BYTES", 100)
    with pytest.raises(InputError, match="limit"):
        load_simulation(write_simulation(tmp_path, simulation_json()))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_simulation(tmp_path / "absent.json")
