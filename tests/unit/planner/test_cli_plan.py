"""`chipfolio plan` end to end: the issue's minimal file, JSON contract, and every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chipfolio.interfaces.cli.app import main

ROOT = Path(__file__).resolve().parents[3]
MINIMAL = ROOT / "examples" / "minimal.yaml"

# The minimal portfolio exactly as written in the issue (kept verbatim in a data file).
ISSUE_YAML = (Path(__file__).parent / "data" / "issue-minimal.yaml").read_text(encoding="utf-8")
W = "workloads:\n  - {name: a, kind: inference, throughput: {h100: 3}, "
# a "billion laughs" alias bomb: 2 x 8^6 list items once expanded
BOMB = (
    "a: &a [1, 2]\n"
    + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 8)}]\n" for p, n in zip("abcde", "bcdef", strict=True)
    )
    + "g: [*f, *f, *f, *f, *f, *f, *f, *f]\n"
)
NEGATIVE_PRICE = (
    "catalog: none\noffers: [{id: x, provider: p, chip: h100, region: r, usd_per_chip_hour: -1}]\n"
)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["plan", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_minimal_example_is_exactly_the_issue_text() -> None:
    assert MINIMAL.read_text(encoding="utf-8") == ISSUE_YAML


def test_minimal_yaml_plans_to_json_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(MINIMAL), "--json", "-")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["status"] == "optimal"
    assert plan["total_cost_usd"] == pytest.approx(1_308_160.0)
    assert plan["total_cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in plan["allocations"]))
    keys = {"workload", "offer", "provider", "vendor", "chip", "region", "instances", "chips"}
    keys |= {"cost_usd", "tokens_per_s"}
    for a in plan["allocations"]:
        assert keys <= set(a)
    assert set(plan["vendor_shares"]) == {"aws", "azure"}
    assert all(share <= 0.5 + 1e-9 for share in plan["vendor_shares"].values())
    assert plan["n_minus_1"]["azure"]["chat"] >= 0.6
    assert plan["n_minus_1"]["aws"]["chat"] >= 0.6
    assert {"name", "status", "gap", "seconds"} <= set(plan["solver"])
    assert plan["catalog_snapshot"] == "none"


def test_tables_for_people_and_json_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_file = tmp_path / "plan.json"
    code, out, err = run(capsys, str(MINIMAL), "--json", str(out_file), "--gap", "0.0")
    assert code == 0, err
    assert "Allocations" in out and "N-1" in out and "Cost by vendor" in out
    assert json.loads(out_file.read_text())["status"] == "optimal"


def test_infeasible_is_exit_2_with_the_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "tight.yaml"
    text = ISSUE_YAML.replace("n_minus_1: 0.6 ", "n_minus_1: 0.8 ").replace(
        "capacity_chips: 2048", "capacity_chips: 512"
    )
    bad.write_text(text)
    code, _, err = run(capsys, str(bad))
    assert code == 2
    assert "n_minus_1 0.8 for 'chat' needs 400,000 tokens/s outside azure" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("horizon_hours: banana\nworkloads: []\n", "horizon_hours"),
        (W + "demand_tokens_per_s: 5, color: red}\n", "workloads[0].color"),
        (W.replace("h100", "h1000") + "demand_tokens_per_s: 5}\n", "unknown chip 'h1000'"),
        (W + "demand_tokens_per_s: -5}\n", "demand_tokens_per_s"),
        (W + "demand_tokens_per_s: 1.0e+400}\n", "finite"),
        (W + "demand_tokens_per_s: 99999999999999999999999}\n", "demand_tokens_per_s"),
        ("workloads: [}\n", "invalid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        ("", "empty file"),
        (BOMB, "expands to more than"),
        (W + "demand_tokens_per_s: 5}\n" + W[11:] + "demand_tokens_per_s: 5}\n", "duplicate"),
        (NEGATIVE_PRICE + W + "demand_tokens_per_s: 5}\n", "offers[0].usd_per_chip_hour"),
        (W + "kind: inference}\n", "exactly one of"),
        ("!!python/object/apply:os.system ['echo hacked']\n", "invalid YAML"),
    ],
)
def test_bad_files_exit_2_with_file_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code, _, err = run(capsys, str(path))
    assert code == 2, err
    assert str(path) in err
    assert expected in err
    assert "Traceback" not in err


def test_missing_directory_and_binary_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, str(tmp_path / "nope.yaml"))
    assert code == 2 and "no such file" in err
    code, _, err = run(capsys, str(tmp_path))
    assert code == 2 and "directory" in err
    junk = tmp_path / "junk.yaml"
    junk.write_bytes(b"\x00\xff\xfe binary")
    code, _, err = run(capsys, str(junk))
    assert code == 2 and "binary" in err


def test_bad_options_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(MINIMAL), "--gap", "1.5")
    assert code == 2 and "--gap" in err
    code, _, err = run(capsys, str(MINIMAL), "--time-limit", "0")
    assert code == 2 and "--time-limit" in err
    code, _, _ = run(capsys, str(MINIMAL), "--time-limit", "soon")
    assert code == 2


def test_unwritable_json_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, str(MINIMAL), "--json", str(tmp_path / "missing" / "plan.json"))
    assert code == 2 and "cannot write plan" in err


def test_frontier_lab_example_plans(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, str(ROOT / "examples" / "frontier-lab.yaml"), "--json", "-", "--gap", "0.01"
    )
    assert code == 0, err
    plan = json.loads(out)
    assert plan["total_cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in plan["allocations"]))
    used = {a["chip"] for a in plan["allocations"]}
    assert {"maia-200", "trainium2", "tpu-v6e"} <= used
    assert max(plan["vendor_shares"].values()) <= 0.4 + 1e-6
    for row in plan["n_minus_1"].values():
        assert all(kept >= 0.5 - 1e-9 for kept in row.values())
    assert plan["catalog_snapshot"] != "none"
