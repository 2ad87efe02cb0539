"""`chipfolio estimate`, `chipfolio calibrate`: contracts, summaries and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chipfolio.interfaces.cli.app import main

HEADER = "chip,count,workload,scenario,metric,value,unit,precision,source,date\n"
ROWS = (
    "NVIDIA H100-80GB,2,Llama 3.3 70B | TRT-LLM,ISL/OSL 1000/1000; TP2,total output throughput,"
    "4205,tokens/s,FP8,src,2025\n"
    "NVIDIA H200-141GB,1,Llama 3.1 8B | TRT-LLM,ISL/OSL 1000/1000; TP1,total output throughput,"
    "17744,tokens/s,FP8,src,2025\n"
    "Intel Gaudi 2,8,LLaMA 2 70B | low latency,input 128; batch 1,"
    "latency (per-token decode latency),"
    "26.93,ms,FP8,src,2024\n"
)
INFERENCE = [
    "estimate",
    "inference",
    "--model",
    "llama-2-70b",
    "--chip",
    "h100-sxm",
    "--count",
    "8",
    "--precision",
    "fp8",
    "--input-tokens",
    "2048",
    "--output-tokens",
    "128",
]
TRAINING = [
    "estimate",
    "training",
    "--model",
    "llama-2-70b",
    "--chip",
    "tpu-v5p",
    "--count",
    "128",
    "--precision",
    "bf16",
    "--tokens",
    "1e12",
]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("CHIPFOLIO_HOME", str(home))
    return home


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, dict)
    return data


def test_inference_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json([*INFERENCE, "--json"], capsys)
    for key in (
        "fits",
        "throughput_tokens_per_s",
        "ttft_ms",
        "tpot_ms",
        "batch",
        "hbm_gib_per_chip",
        "estimated",
    ):
        assert key in data
    assert data["fits"] is True and isinstance(data["throughput_tokens_per_s"], float)
    slo = run_json([*INFERENCE, "--ttft-ms", "500", "--tpot-ms", "20", "--json"], capsys)
    assert isinstance(slo["tpot_ms"], float) and slo["tpot_ms"] <= 20
    assert slo["throughput_tokens_per_s"] < data["throughput_tokens_per_s"]  # type: ignore[operator]


def test_training_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json([*TRAINING, "--json"], capsys)
    for key in ("tokens_per_s", "model_tflops_per_chip", "mfu", "days", "chip_hours"):
        assert isinstance(data[key], float)


def test_summaries_say_what_would_fit(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*INFERENCE[:3], "llama-3.1-405b", *INFERENCE[4:]]
    argv[argv.index("fp8")] = "bf16"
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "needs >= 16 chips of h100-sxm at bf16" in " ".join(out.split())
    assert main(TRAINING) == 0
    assert "MFU" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (("--chip", "h1000"), "did you mean"),
        (("--model", "llama-2-71b"), "did you mean"),
        (("--precision", "fp3"), "precision"),
        (("--count", "0"), "count"),
        (("--tpot-ms", "-5"), "tpot_ms"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    change: tuple[str, str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = list(INFERENCE)
    if change[0] in argv:
        argv[argv.index(change[0]) + 1] = change[1]
    else:
        argv += list(change)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2


def test_models_file_adds_a_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models = tmp_path / "m.yaml"
    models.write_text(
        "models:\n  - {name: mini, n_layers: 2, d_model: 256, n_heads: 4, "
        "ffn_hidden: 512, vocab_size: 1000}\n"
    )
    argv = [*INFERENCE[:3], "mini", *INFERENCE[4:], "--models-file", str(models), "--json"]
    assert run_json(argv, capsys)["model"] == "mini"


def test_calibrate_prints_rows_and_saves(
    tmp_path: Path, _home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(HEADER + ROWS)
    data = run_json(["calibrate", str(path), "--json", "--save"], capsys)
    rows = data["rows"]
    assert isinstance(rows, list) and len(rows) == 3
    assert all(r["measured"] > 0 and r["predicted"] > 0 for r in rows)
    assert data["saved_to"] == str(_home / "calibration.json")
    assert (_home / "calibration.json").is_file()
    used = run_json([*INFERENCE, "--json"], capsys)
    assert used["fits"] is True
    shown = run_json(["calibrate", "--json"], capsys)
    assert shown["label"] == "fitted on mine.csv"
    assert main(["calibrate", str(path)]) == 0
    assert "median abs error" in capsys.readouterr().out


def test_calibrate_reports_skipped_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        HEADER + ROWS + ROWS.splitlines()[0].replace("NVIDIA H100-80GB", "Cerebras") + "\n"
    )
    data = run_json(["calibrate", str(path), "--json"], capsys)
    assert data["skipped"] == [{"line": 5, "reason": "unknown chip 'Cerebras'"}]
    assert main(["calibrate", str(path), "--strict"]) == 2
    assert "mixed.csv:5" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content", ["", "chip,count\nx,1\n", HEADER + ROWS.replace(",4205,", ",lots,"), "\x00\x01"]
)
def test_calibrate_rejects_broken_files(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert main(["calibrate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "Traceback" not in err


def test_calibrate_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", str(tmp_path / "none.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_a_broken_saved_calibration_is_reported(
    _home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _home.mkdir(parents=True)
    (_home / "calibration.json").write_text("{not json")
    assert main([*INFERENCE, "--json"]) == 2
    assert "calibration.json" in capsys.readouterr().err
