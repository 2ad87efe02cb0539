"""`chipfolio profile` on the CPU with tiny sizes (skipped when PyTorch is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chipfolio.interfaces.cli.app import main
from chipfolio.perfmodel.efficiency import default_calibration
from chipfolio.perfmodel.measurements import Metric, read_results_csv
from chipfolio.perfmodel.predict import predict

pytest.importorskip("torch")


def test_profile_writes_rows_calibrate_can_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.csv"
    argv = [
        "profile",
        "--device",
        "cpu",
        "--quick",
        "--layers",
        "--chip",
        "h100",
        "--out",
        str(out),
        "--json",
    ]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["written_to"] == str(out) and len(printed["rows"]) == 4
    results = read_results_csv(out)
    assert results.skipped == ()
    metrics = {m.metric for m in results.measurements}
    assert metrics == {
        Metric.MATMUL_TFLOPS,
        Metric.HBM_GBPS,
        Metric.LAYER_PREFILL_MS,
        Metric.LAYER_DECODE_MS,
    }
    for m in results.measurements:
        assert m.value > 0 and predict(m, default_calibration()) > 0


def test_profile_of_an_unnamed_device_is_kept_but_not_usable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cpu.csv"
    assert main(["profile", "--device", "cpu", "--quick", "--no-layers", "--out", str(out)]) == 0
    assert "not a registry chip" in capsys.readouterr().out
    results = read_results_csv(out)
    assert results.measurements == () and len(results.skipped) == 2


def test_unknown_device_is_an_input_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "--device", "quantum"]) == 2
    assert "unknown device" in capsys.readouterr().err
