"""`chipfolio leverage` end to end: the issue's known answers, JSON contract, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chipfolio.interfaces.cli.app import main

TWO_VENDORS = """
horizon_hours: 10
catalog: none
offers:
  - {id: a-h100, provider: a, chip: h100-sxm, region: r1, usd_per_chip_hour: 2.0%s}
  - {id: b-h100, provider: b, chip: h100-sxm, region: r1, usd_per_chip_hour: 3.0}
workloads:
  - {name: chat, kind: inference, demand_tokens_per_s: 1000, throughput: {h100-sxm: 100}}
"""


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_json(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["leverage", str(path), "--json", "-"]) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def test_known_answer_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(write(tmp_path, TWO_VENDORS % ""), capsys)
    assert data["plan_cost_usd"] == pytest.approx(200.0)
    vendors = {v["vendor"]: v for v in data["vendors"]}  # type: ignore[union-attr, index]
    a = vendors["a"]
    assert a["share"] == pytest.approx(1.0)
    assert a["walk_away_multiplier"] == pytest.approx(1.5)
    assert a["cost_without_usd"] == pytest.approx(1.5 * 200.0)
    assert a["leverage_usd"] == pytest.approx(100.0)
    assert a["reason"] is None
    assert data["hhi"] == pytest.approx(10_000.0)
    assert data["policy_cost_usd"] == pytest.approx(0.0)
    assert data["shadow_prices"] == []
    assert data["frontier"][0]["max_share"] == 1.0  # type: ignore[index]


def test_binding_capacity_has_a_dollar_shadow_price(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = run_json(write(tmp_path, TWO_VENDORS % ", capacity_chips: 4"), capsys)
    prices = data["shadow_prices"]
    assert [p["offer"] for p in prices] == ["a-h100"]  # type: ignore[union-attr, index]
    assert prices[0]["usd_per_chip_hour"] == pytest.approx(1.0, rel=1e-5)  # type: ignore[index]


def test_tables_for_people(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["leverage", str(write(tmp_path, TWO_VENDORS % ""))]) == 0
    out = capsys.readouterr().out
    assert "walk-away" in out and "x1.500" in out and "$300" in out


def test_json_file_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lev.json"
    assert main(["leverage", str(write(tmp_path, TWO_VENDORS % "")), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["plan_cost_usd"] == pytest.approx(200.0)


def test_policy_that_needs_both_vendors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = TWO_VENDORS % "" + "policy: {min_vendors: 2}\n"
    text = text.replace("throughput:", "critical: true, throughput:")
    data = run_json(write(tmp_path, text), capsys)
    for v in data["vendors"]:  # type: ignore[union-attr]
        assert v["walk_away_multiplier"] is None  # type: ignore[index]
        assert "min_vendors" in v["reason"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--gap", "-1"], "--gap"),
        (["--time-limit", "0"], "--time-limit"),
        (["--workers", "-2"], "--workers"),
    ],
)
def test_bad_options_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code = main(["leverage", str(write(tmp_path, TWO_VENDORS % "")), *args])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("horizon_hours: [\n", "p.yaml"),
        (TWO_VENDORS.replace("usd_per_chip_hour: 3.0", "usd_per_chip_hour: -3"), "p.yaml"),
        (TWO_VENDORS % "" + "budget_usd: 1000\n", "budget_usd"),
        (TWO_VENDORS.replace("h100-sxm: 100", "nochip: 100") % "", "nochip"),
        ("\x00\x01\x02binary", "p.yaml"),
    ],
    ids=["yaml", "negative-price", "budget-mode", "unknown-chip", "binary"],
)
def test_bad_portfolios_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, needle: str
) -> None:
    code = main(["leverage", str(write(tmp_path, text))])
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_file_and_infeasible(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["leverage", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err
    tiny = TWO_VENDORS.replace(
        "usd_per_chip_hour: 3.0}", "usd_per_chip_hour: 3.0, capacity_chips: 1}"
    )
    code = main(["leverage", str(write(tmp_path, tiny % ", capacity_chips: 1"))])
    err = capsys.readouterr().err
    assert code == 2 and "feasible" in err and "Traceback" not in err


def test_unwritable_json_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing-dir" / "out.json"
    code = main(["leverage", str(write(tmp_path, TWO_VENDORS % "")), "--json", str(target)])
    assert code == 2 and "out.json" in capsys.readouterr().err
