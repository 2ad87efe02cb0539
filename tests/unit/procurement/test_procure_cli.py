"""`chipfolio procure` end to end: the issue's minimal file, the JSON contract, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chipfolio.interfaces.cli.app import main

ROOT = Path(__file__).resolve().parents[3]
MINIMAL = ROOT / "examples" / "procurement-minimal.yaml"
TEXT = MINIMAL.read_text(encoding="utf-8")
BOMB = (
    "a: &a [1, 2]\n"
    + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 8)}]\n" for p, n in zip("abcde", "bcdef", strict=True)
    )
    + "g: [*f, *f, *f, *f, *f, *f, *f, *f]\n"
)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["procure", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_file_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(MINIMAL), "--json", "-", "--time-limit", "30")
    assert code == 0, err
    doc = json.loads(out)
    for key in ("status", "expected_cost_usd", "cvar_95_usd", "commitments", "sign_now",
                "scenarios", "periods", "vss_usd", "evpi_usd"):  # fmt: skip
        assert key in doc, key
    assert doc["status"] == "optimal"
    [c] = doc["sign_now"]
    assert c == doc["commitments"][0]
    for key in ("contract", "sign_period", "start_period", "end_period", "chips",
                "committed_usd", "scenarios"):  # fmt: skip
        assert key in c, key
    assert (c["contract"], c["chips"], c["sign_period"], c["start_period"], c["end_period"]) == (
        "maia-2y",
        1000,
        0,
        0,
        24,
    )
    assert c["scenarios"] == ["low", "high"]
    assert c["committed_usd"] == pytest.approx(2.0 * 1000 * 730 * 24)
    assert doc["expected_cost_usd"] == pytest.approx(70_080_000.0)
    for s in doc["scenarios"]:
        assert set(s) >= {"name", "probability", "cost_usd", "on_demand_usd", "unserved_fraction"}
    assert len(doc["periods"]) == 24
    p12 = doc["periods"][12]
    assert p12["committed_chips"] == {"azure": {"maia-200": 1000.0}}
    assert p12["demand_quantiles"]["chat"] == {"p5": 1000.0, "p50": 1000.0, "p95": 3000.0}
    assert sum(p12["vendor_shares"].values()) == pytest.approx(1.0)


def test_tables_for_people_and_json_to_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_file = tmp_path / "r.json"
    code, out, err = run(capsys, str(MINIMAL), "--json", str(out_file), "--no-values")
    assert code == 0, err
    assert "maia-2y" in out and "Sign now" in out and "$70,080,000" in out
    doc = json.loads(out_file.read_text(encoding="utf-8"))
    assert doc["vss_usd"] is None and doc["evpi_usd"] is None


def swap(old: str, new: str) -> str:
    assert old in TEXT
    return TEXT.replace(old, new)


BAD = [
    # (file text, what the one-line error must say, line)
    (
        swap("probability: 0.5, demand: {chat: 1000}", "probability: 0.4, demand: {chat: 1000}"),
        "probabilities sum to 0.9",
        4,
    ),
    (swap("sign_periods: [0]", "sign_periods: [0, 24]"), "past the horizon", 10),
    (swap("chip: maia-200", "chip: maia-9000"), "unknown chip 'maia-9000'", 9),
    (swap("{maia-200: 1.0, h100-sxm: 1.0}", "{maia-200: 1.0, h100-sxmm: 1.0}"), "h100-sxmm", 7),
    (swap("{chat: 1000}", "{chat: [1000, 2000]}"), "one per period (24)", 4),
    (swap("{0: 1000, 12: 3000}", "{3: 1000, 12: 3000}"), "must start at period 0", 5),
    (swap("{0: 1000, 12: 3000}", "{0: 1000, 30: 3000}"), "past the horizon", 5),
    (swap("{chat: 1000}", "{chat: -5}"), "demand", 4),
    (swap("{chat: 1000}", "{chat: 1000, chit: 5}"), "unknown workload 'chit'", 4),
    (swap("{chat: 1000}", "{chit: 1000}"), "workload", 4),
    (swap("usd_per_chip_hour: 4.0", "usd_per_chip_hour: -4.0"), "greater than or equal", 12),
    (swap("term_periods: 24", "term_periods: 0"), "term_periods", 10),
    (swap("lead_periods: 0", "lead_periods: 0, colour: red"), "unknown field", 10),
    (swap("id: od,", "id: maia-2y,"), "also a contract id", 12),
    (swap("hours_per_period: 730", "hours_per_period: .nan"), "hours_per_period", 2),
    (swap("periods: 24 ", "periods: 100000 "), "periods", 1),
    ("- just\n- a list\n", "expected a mapping", 1),
    ("periods: [\n", "invalid YAML", None),
    (BOMB, "invalid YAML", None),
    ("", "empty file", 1),
]


@pytest.mark.parametrize(("text", "message", "line"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_input_is_one_line_naming_file_line_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str, line: int | None
) -> None:
    path = write(tmp_path, text)
    code, out, err = run(capsys, str(path))
    assert code == 2, err
    assert "Traceback" not in err and out == ""
    one = " ".join(err.split())
    assert message in one
    assert str(path) in one
    if line is not None:
        assert f"{path}:{line}" in one


def test_a_demand_table_too_large_to_hold_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # 600 periods x 5000 scenarios x 1 workload = 3M cells from a 200 kB file
    scen = "".join(
        f"  - {{name: s{i}, probability: 0.0002, demand: {{chat: 1}}}}\n" for i in range(5000)
    )
    text = TEXT.replace("periods: 24 ", "periods: 600 ")
    head, rest = text.split("scenarios:", 1)
    rest = rest.split("workloads:", 1)[1]
    path = write(tmp_path, head + "scenarios:\n" + scen + "workloads:" + rest)
    code, _, err = run(capsys, str(path))
    assert code == 2 and "exceeds 2,000,000" in err and "Traceback" not in err


def test_unreadable_and_missing_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, str(tmp_path / "nope.yaml"))
    assert code == 2 and "no such file" in err
    code, _, err = run(capsys, str(tmp_path))
    assert code == 2 and "directory" in err
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"periods: 1\x00\x01")
    code, _, err = run(capsys, str(binary))
    assert code == 2 and "binary" in err


@pytest.mark.parametrize(
    ("flag", "value"), [("--time-limit", "0"), ("--gap", "1.5"), ("--require-gap", "-1")]
)
def test_bad_flags(capsys: pytest.CaptureFixture[str], flag: str, value: str) -> None:
    code, _, err = run(capsys, str(MINIMAL), flag, value)
    assert code == 2 and flag in err


def test_infeasible_without_recourse_is_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = swap("sign_periods: [0]}", "sign_periods: [0], max_chips: 1500}")
    text = text.replace("{id: od, provider: aws, chip: h100-sxm, usd_per_chip_hour: 4.0}",
                        "{id: od, provider: aws, chip: h100-sxm, usd_per_chip_hour: 4.0, "
                        "max_chips: 1000}")  # fmt: skip
    code, _, err = run(capsys, str(write(tmp_path, text)), "--no-values")
    assert code == 2 and "no procurement meets the demand" in err and "Traceback" not in err


def test_write_error_names_the_json_target(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, str(MINIMAL), "--json", str(tmp_path / "no" / "dir.json"))
    assert code == 2 and "--json" in err


def test_the_2027_example_runs_from_the_readme(capsys: pytest.CaptureFixture[str]) -> None:
    example = ROOT / "examples" / "procurement-2027.yaml"
    assert "chipfolio procure examples/procurement-2027.yaml" in (ROOT / "README.md").read_text(
        encoding="utf-8"
    )
    code, out, err = run(capsys, str(example), "--json", "-", "--time-limit", "60")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["status"] == "optimal" and doc["gap"] <= 0.001
    assert doc["sign_now"] and all(c["sign_period"] == 0 for c in doc["sign_now"])
    names = {s["name"] for s in doc["scenarios"]}
    # later signings after month 12 differ by branch; each names the scenarios it serves
    late = [c for c in doc["commitments"] if c["sign_period"] == 12]
    assert late and all(0 < len(c["scenarios"]) < len(names) for c in late)
    for period in doc["periods"]:
        assert max(period["vendor_shares"].values()) <= 0.5 + 1e-6


def test_the_2027_example_has_power_roadmap_and_negotiation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    example = ROOT / "examples" / "procurement-2027.yaml"
    code, out, err = run(capsys, str(example), "--json", "-", "--no-values")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["power"]["pue"] == 1.25 and 0 < doc["power"]["peak_mw"] <= 80 + 1e-6
    # Trainium3 delivers from April 2027 (period 3) whatever its lead time
    assert all(c["start_period"] >= 3 for c in doc["commitments"] if c["chip"] == "trainium3")
    (neg,) = doc["negotiation"]
    assert neg["contract"] == "maia-200-lease-2y" and neg["value_usd"] >= 0
    assert neg["break_even_usd_per_chip_hour"] is not None


def test_the_generated_example_reports_its_sample(capsys: pytest.CaptureFixture[str]) -> None:
    example = ROOT / "examples" / "procurement-generated.yaml"
    code, out, err = run(capsys, str(example), "--json", "-", "--no-values", "--gap", "0.01")
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["scenarios"]) == 41 and doc["scenarios"][0]["name"] == "downturn"
    saa = doc["sampling"]
    assert saa["scenarios"] == 40 and saa["out_of_sample_scenarios"] == 100
    assert saa["out_of_sample_usd"] is not None
