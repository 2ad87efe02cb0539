"""`chipfolio simulate` end to end: output, JSON, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from chipfolio.interfaces.cli.app import main

PORTFOLIO = """\
horizon_hours: 240
catalog: none
policy: {max_share: 0.7, share_by: provider, min_vendors: 2, n_minus_1: 0.6}
offers:
  - {id: a, provider: aws, chip: h100-sxm, region: us-east-1, usd_per_chip_hour: 2.0,
     chips_per_instance: 8, pricing: on_demand}
  - {id: b, provider: gcp, chip: tpu-v6e, region: us-central1, usd_per_chip_hour: 2.6,
     chips_per_instance: 4, pricing: on_demand}
  - {id: c, provider: lambda, chip: h100-sxm, region: us-west, usd_per_chip_hour: 2.4,
     chips_per_instance: 8, capacity_chips: 512, pricing: on_demand}
workloads:
  - {name: chat, kind: inference, demand_tokens_per_s: 40000, critical: true,
     throughput: {h100-sxm: 1000, tpu-v6e: 900}}
  - {name: pretrain, kind: training, tokens: 1.44e10, deadline_hours: 200,
     splittable: true, throughput: {h100-sxm: 500, tpu-v6e: 450}}
"""


@pytest.fixture
def portfolio(tmp_path: Path) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(PORTFOLIO, encoding="utf-8")
    return path


def test_simulate_prints_the_comparison_and_writes_json(
    portfolio: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sim.json"
    code = main(["simulate", str(portfolio), "--scenarios", "6", "--seed", "4", "--json", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "cheapest" in text and "n1" in text and "median" in text
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["scenarios"] == 6 and doc["seed"] == 4 and doc["portfolio"] == "lab.yaml"
    assert set(doc["strategies"]) == {"cheapest", "capped", "n1"}


def test_json_to_stdout_is_pure_json_and_repeatable(
    portfolio: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["simulate", str(portfolio), "--scenarios", "4", "--strategies", "n1,cheapest"]
    assert main([*args, "--json", "-"]) == 0
    first = capsys.readouterr().out
    assert main([*args, "--json", "-"]) == 0
    second = capsys.readouterr().out
    doc = json.loads(first)
    assert list(doc["strategies"]) == ["n1", "cheapest"]
    assert first == second


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--scenarios", "0"], "--scenarios"),
        (["--seed", "-5"], "--seed"),
        (["--strategies", "cheapest,n2"], "did you mean 'n1'"),
        (["--strategies", "n1,n1"], "twice"),
        (["--workers", "-1"], "--workers"),
        (["--ray-address", "auto"], "--ray-address needs --executor ray"),
        (["--json", "/nonexistent-dir/x.json"], "cannot write results"),
    ],
)
def test_bad_options_fail_with_one_line_and_exit_2(
    portfolio: Path, extra: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["simulate", str(portfolio), "--scenarios", "2", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_files_fail_with_file_and_field(
    tmp_path: Path, portfolio: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", str(tmp_path / "missing.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text(PORTFOLIO.replace("demand_tokens_per_s: 40000", "demand_tokens_per_s: -1"))
    assert main(["simulate", str(broken), "--scenarios", "2"]) == 2
    err = capsys.readouterr().err
    assert "broken.yaml" in err and "demand_tokens_per_s" in err
    assumptions = tmp_path / "a.yaml"
    assumptions.write_text("events:\n  outages: 3\n", encoding="utf-8")
    code = main(["simulate", str(portfolio), "--assumptions", str(assumptions)])
    err = capsys.readouterr().err
    assert code == 2 and "a.yaml:2" in err and "events.outages" in err


TIGHT = """\
horizon_hours: 100
catalog: none
policy: {n_minus_1: 1.0}
offers:
  - {id: a, provider: aws, chip: h100-sxm, region: r, usd_per_chip_hour: 2, chips_per_instance: 8}
  - {id: b, provider: gcp, chip: h100-sxm, region: r, usd_per_chip_hour: 3, chips_per_instance: 8,
     capacity_chips: 8}
workloads:
  - {name: chat, kind: inference, demand_tokens_per_s: 40000, critical: true,
     throughput: {h100-sxm: 1000}}
"""


def test_an_infeasible_strategy_is_reported_not_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tight = tmp_path / "tight.yaml"
    tight.write_text(TIGHT, encoding="utf-8")
    code = main(["simulate", str(tight), "--scenarios", "2", "--strategies", "cheapest,n1"])
    err = capsys.readouterr().err
    assert code == 2 and "strategy 'n1'" in err and "Traceback" not in err


def test_auto_workers_use_the_cores_only_for_enough_scenarios() -> None:
    from chipfolio.interfaces.cli.simulate_cmd import SCENARIOS_PER_AUTO_WORKER, auto_workers

    assert auto_workers(3, 10) == 3  # an explicit count is kept
    assert auto_workers(0, 10) == 1  # a few scenarios run in this process
    many = auto_workers(0, 1000 * SCENARIOS_PER_AUTO_WORKER)
    assert many == (os.cpu_count() or 1)
