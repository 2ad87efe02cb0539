"""`chipfolio chips` and `chipfolio catalog`: the issue's acceptance checks and error paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chipfolio.interfaces.cli.app import main

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "catalog"
EXAMPLE = REPO / "examples" / "private-offers.yaml"

CHIP_KEYS = {"id", "vendor", "bf16_tflops", "fp8_tflops", "hbm_gib", "hbm_tbps"}
OFFER_KEYS = {
    "provider",
    "vendor",
    "chip",
    "instance_type",
    "chips_per_instance",
    "region",
    "zone",
    "pricing",
    "usd_per_instance_hour",
    "usd_per_chip_hour",
}


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHIPFOLIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in err, (needle, err)


def test_chips_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    chips = run_json(capsys, "chips")
    assert len(chips) == 25 and all(set(c) >= CHIP_KEYS for c in chips)
    by_id = {c["id"]: c for c in chips}
    assert by_id["maia-200"]["bf16_tflops"] is None and by_id["maia-200"]["fp8_tflops"] == 5000
    assert by_id["tpu-v6e"]["fp8_tflops"] == 918 and by_id["tpu-v6e"]["stack"] == "xla"
    google = run_json(capsys, "chips", "--vendor", "Google")
    assert {c["vendor"] for c in google} == {"google"} and len(google) == 5


def test_chips_csv_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "chips", "--csv")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].startswith("id,name,vendor") and len(lines) == 26
    code, out, _ = run(capsys, "chips", "--vendor", "intel")
    assert code == 0 and "gaudi3" in out and "h100-sxm" not in out


def test_h100_json_lists_p5_in_us_east_1_on_demand(capsys: pytest.CaptureFixture[str]) -> None:
    offers = run_json(capsys, "catalog", "--chip", "H100")
    assert all(set(o) >= OFFER_KEYS for o in offers)
    assert [o["usd_per_chip_hour"] for o in offers] == sorted(
        o["usd_per_chip_hour"] for o in offers
    )
    (p5,) = [
        o
        for o in offers
        if (o["provider"], o["instance_type"], o["region"], o["pricing"])
        == ("aws", "p5.48xlarge", "us-east-1", "on_demand")
    ]
    assert p5["usd_per_instance_hour"] == 55.04  # the source row's Price
    assert p5["usd_per_chip_hour"] == p5["usd_per_instance_hour"] / 8
    assert p5["chips_per_instance"] == 8 and p5["vendor"] == "nvidia" and p5["zone"] is None


def test_cheapest_on_demand_8x_h100(capsys: pytest.CaptureFixture[str]) -> None:
    (cheapest,) = run_json(
        capsys, "catalog", "--chip", "H100", "--pricing", "on_demand", "--min-chips", "8",
        "--limit", "1",
    )  # fmt: skip
    assert cheapest["provider"] == "nebius" and cheapest["usd_per_instance_hour"] == 23.6
    assert cheapest["chips_per_instance"] == 8


@pytest.mark.parametrize(
    ("args", "chip"),
    [
        (("--chip", "tpu-v6e"), "tpu-v6e"),
        (("--chip", "Trainium"), "trainium1"),
        (("--chip", "Inferentia2"), "inferentia2"),
        (("--vendor", "google", "--pricing", "spot"), "tpu-v6e"),
    ],
)
def test_custom_silicon_offers_are_present(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], chip: str
) -> None:
    offers = run_json(capsys, "catalog", *args)
    assert offers and chip in {o["chip"] for o in offers}


def test_private_maia_200_offer_with_price_and_term(capsys: pytest.CaptureFixture[str]) -> None:
    (maia,) = run_json(capsys, "catalog", "--private", str(EXAMPLE), "--chip", "maia-200")
    assert (maia["provider"], maia["region"], maia["vendor"]) == ("azure", "eastus", "microsoft")
    assert maia["usd_per_chip_hour"] == 6.5 and maia["usd_per_instance_hour"] == 26.0
    assert (maia["term_start"], maia["term_end"]) == ("2027-01-01", "2027-12-31")
    assert maia["take_or_pay_chips"] == 1024 and "example" in maia["source"]
    code, out, _ = run(capsys, "catalog", "--private", str(EXAMPLE), "--chip", "maia-200")
    assert code == 0 and "2027-01-01 to 2027-12-31" in out and "6.500" in out


def test_csv_listing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalog", "--chip", "b200", "--csv", "--limit", "3")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].startswith("id,provider,vendor,chip") and len(lines) == 4


def test_refresh_then_list_and_select_snapshots(
    capsys: pytest.CaptureFixture[str], _home: Path
) -> None:
    summary = run_json(capsys, "catalog", "refresh", "--from", str(FIXTURES / "skypilot"))
    assert summary["offers"] == 27 and summary["report"]["skipped"]
    snapshot_id = summary["id"]
    assert (_home / "catalogs" / snapshot_id / "offers.csv").is_file()
    listed = run_json(capsys, "catalog", "snapshots")
    assert [s["id"] for s in listed if not s["bundled"]] == [snapshot_id]
    assert any(s["bundled"] and s["default"] for s in listed)
    offers = run_json(capsys, "catalog", "--snapshot", snapshot_id)
    assert len(offers) == 27 and {o["snapshot_id"] for o in offers} == {snapshot_id}
    assert len(run_json(capsys, "catalog", "--snapshot", "latest")) == 27
    code, out, _ = run(capsys, "catalog", "snapshots")
    assert code == 0 and snapshot_id in out and "bundled (default)" in out


def test_failed_refresh_keeps_existing_snapshots(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, _home: Path
) -> None:
    good = run_json(capsys, "catalog", "refresh", "--from", str(FIXTURES / "skypilot"))
    before = sorted(p.name for p in (_home / "catalogs").iterdir())
    junk = tmp_path / "junk" / "v8" / "aws"
    junk.mkdir(parents=True)
    (junk / "vms.csv").write_bytes(b"\x00\x01\x02 binary junk")
    code, _, err = run(capsys, "catalog", "refresh", "--from", str(tmp_path / "junk"))
    assert_one_line_error(code, err, "vms.csv", "binary")
    bad_yaml = FIXTURES / "private" / "wrong_field.yaml"
    args = ("catalog", "refresh", "--from", str(FIXTURES / "skypilot"), "--private", str(bad_yaml))
    code, _, err = run(capsys, *args)
    assert_one_line_error(code, err, "wrong_field.yaml:7", "price_per_hour")
    assert sorted(p.name for p in (_home / "catalogs").iterdir()) == before
    assert len(run_json(capsys, "catalog", "--snapshot", good["id"])) == 27


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("catalog", "--chip", "H1000"), ("unknown chip 'H1000'", "did you mean")),
        (("catalog", "--vendor", "nvidea"), ("unknown vendor", "nvidia")),
        (("catalog", "--pricing", "free"), ("unknown pricing",)),
        (("catalog", "--snapshot", "2020-01-01-deadbeef"), ("unknown snapshot",)),
        (("catalog", "--limit", "0"), ("--limit",)),
        (("catalog", "--min-chips", "0"), ("min_chips",)),
        (("catalog", "--json", "--csv"), ("--json or --csv",)),
        (("chips", "--vendor", "via"), ("unknown vendor",)),
        (
            ("catalog", "--private", str(FIXTURES / "private" / "wrong_field.yaml")),
            ("wrong_field.yaml:7", "offers[0].price_per_hour", "unknown field"),
        ),
        (
            ("catalog", "--private", str(FIXTURES / "private" / "unknown_chip.yaml")),
            ("unknown_chip.yaml:3", "field 'chip'", "maia-300"),
        ),
        (
            ("catalog", "--private", str(FIXTURES / "private" / "hostile.yaml")),
            ("hostile.yaml:6", "finite number", "+4 more"),
        ),
        (("catalog", "--private", str(FIXTURES / "private" / "junk.bin")), ("binary",)),
        (("catalog", "--private", "/nonexistent/offers.yaml"), ("cannot read",)),
        (("catalog", "refresh", "--from", "/nonexistent/dir"), ("not a directory",)),
        (("catalog", "refresh", "--from", str(FIXTURES / "private")), ("no SkyPilot",)),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    code, _, err = run(capsys, *args)
    assert_one_line_error(code, err, *needles)


def test_usage_errors_exit_2_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "catalog", "--min-chips", "lots")
    assert code == 2 and "Traceback" not in err
    code, _, err = run(capsys, "catalog", "refresh")
    assert code == 2 and "--from" in err


def test_malformed_rows_are_counted_warnings_on_refresh(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "cat" / "v8" / "lambda"
    folder.mkdir(parents=True)
    (folder / "vms.csv").write_text(
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,GpuInfo,"
        "SpotPrice\ngpu_8x_h100_sxm5,H100,8.0,208.0,1800.0,23.92,us-east-1,,\n"
        "gpu_8x_h100_sxm5,H100,eight,208.0,1800.0,23.92,us-west-1,,\n",
        encoding="utf-8",
    )
    summary = run_json(capsys, "catalog", "refresh", "--from", str(tmp_path / "cat"))
    assert summary["offers"] == 1
    (source,) = summary["report"]["sources"]
    assert source["skipped"] == {"malformed row": 1}
    (example,) = source["examples"]
    assert (example["line"], example["field"]) == (3, "AcceleratorCount")
    assert example["file"].endswith("vms.csv") and "eight" in example["detail"]


def test_installed_entry_point(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "chipfolio"
    if not exe.is_file():
        pytest.skip("chipfolio entry point not installed")
    env = {**os.environ, "CHIPFOLIO_HOME": str(tmp_path)}
    done = subprocess.run(
        [str(exe), "catalog", "--chip", "H100", "--json"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0 and json.loads(done.stdout)
    bad = subprocess.run(
        [str(exe), "catalog", "--private", str(FIXTURES / "private" / "junk.bin")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert_one_line_error(bad.returncode, bad.stderr, "junk.bin", "binary")
