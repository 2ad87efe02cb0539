"""Reading results files: the published rows, and malformed or hostile input."""

from __future__ import annotations

from pathlib import Path

import pytest

from chipfolio.domain import Precision
from chipfolio.errors import InputError
from chipfolio.perfmodel.measurements import (
    Metric,
    ResultsFile,
    load_results_csv,
    parse_setup,
    read_results_csv,
    read_results_text,
    resolve_chip,
    resolve_model,
)

HEADER = "chip,count,workload,scenario,metric,value,unit,precision,source,date\n"
GOOD = (
    "NVIDIA H100-80GB,2,Llama 3.3 70B | TRT-LLM,ISL/OSL 1000/1000; TP2,total output throughput,"
    "4205,tokens/s,FP8,src,2025\n"
)


def test_every_published_row_is_understood(published: ResultsFile) -> None:
    assert len(published.measurements) == 35 and published.skipped == ()
    chips = {m.chip.id for m in published.measurements}
    assert {"h100-sxm", "b200", "gaudi3", "trainium2", "tpu-v5p"} <= chips


def test_published_setups_are_parsed(published: ResultsFile) -> None:
    by_line = {m.line: m for m in published.measurements}
    trt = by_line[5]
    assert (trt.metric, trt.value, trt.precision) == (
        Metric.OUTPUT_TOKENS_PER_S,
        4205,
        Precision.FP8,
    )
    assert (trt.setup.input_tokens, trt.setup.output_tokens, trt.setup.tensor_parallel) == (
        1000,
        1000,
        2,
    )
    gaudi = by_line[14]
    assert (
        gaudi.setup.batch == 600 and gaudi.model is not None and gaudi.model.name == "llama-3.1-70b"
    )
    trn2 = by_line[22]
    assert (
        trn2.metric is Metric.TPOT_MS and trn2.setup.input_tokens == 10000 and trn2.setup.batch == 1
    )
    nemo = by_line[29]
    assert nemo.metric is Metric.TRAIN_TOKENS_PER_S_PER_CHIP
    assert (
        nemo.setup.tensor_parallel,
        nemo.setup.pipeline_parallel,
        nemo.setup.virtual_stages,
    ) == (4, 4, 20)
    assert (nemo.setup.seq_len, nemo.setup.global_batch_sequences) == (4096, 128)
    intel = by_line[32]
    assert intel.metric is Metric.TRAIN_TOKENS_PER_S and intel.setup.global_batch_sequences == 1024
    maxtext = by_line[33]
    assert maxtext.metric is Metric.MFU and maxtext.value == pytest.approx(0.7031)
    assert maxtext.model is not None and maxtext.model.name == "maxtext-64b"
    assert by_line[27].precision is Precision.BF16  # "FP16 weights, matmul autocast BF16"


@pytest.mark.parametrize(
    ("label", "chip_id"),
    [
        ("NVIDIA H100-SXM-80GB", "h100-sxm"),
        ("NVIDIA B200-180GB", "b200"),
        ("AWS Trainium (Trn1)", "trainium1"),
        ("Google TPU v5e", "tpu-v5e"),
        ("Intel Gaudi 2", "gaudi2"),
        ("mi300x", "mi300x"),
    ],
)
def test_vendor_labels_resolve_to_registry_chips(label: str, chip_id: str) -> None:
    chip = resolve_chip(label)
    assert chip is not None and chip.id == chip_id


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (GOOD.replace("NVIDIA H100-80GB", "Cerebras WSE-3"), "unknown chip"),
        (GOOD.replace("Llama 3.3 70B", "Qwen 72B"), "unknown model"),
        (
            GOOD.replace("total output throughput", "end-to-end latency").replace("tokens/s", "s"),
            "not one the model predicts",
        ),
        (GOOD.replace("FP8", "FP32"), "precision"),
        (
            GOOD.replace("total output throughput", "TTFT").replace("tokens/s", "fortnights"),
            "time unit",
        ),
    ],
)
def test_rows_the_model_cannot_use_are_skipped_with_a_reason(row: str, reason: str) -> None:
    result = read_results_text(HEADER + GOOD + row, "user.csv")
    assert len(result.measurements) == 1
    (skip,) = result.skipped
    assert skip.line == 3 and reason in skip.reason


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        ("chip,count\nh100,1\n", "workload", 1),
        (HEADER + GOOD.replace(",4205,", ",fast,"), "value", 2),
        (HEADER + GOOD.replace(",4205,", ",-4205,"), "value", 2),
        (HEADER + GOOD.replace(",4205,", ",inf,"), "value", 2),
        (HEADER + GOOD.replace("NVIDIA H100-80GB,2,", "NVIDIA H100-80GB,2.5,"), "count", 2),
        (HEADER + GOOD + "h100,1\n", None, 3),
    ],
)
def test_broken_rows_raise_input_errors(text: str, field: str | None, line: int) -> None:
    with pytest.raises(InputError) as info:
        read_results_text(text, "user.csv")
    assert info.value.location.file == "user.csv" and info.value.location.line == line
    assert info.value.location.field == field


def test_files_with_bom_and_thousands_separators_read(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("\ufeff" + HEADER + GOOD.replace(",4205,", ',"4,205",'), encoding="utf-8")
    (m,) = load_results_csv(path)
    assert m.value == 4205


def test_unreadable_files_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_results_csv(tmp_path / "missing.csv")
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError):
        read_results_csv(binary)


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("ISL/OSL 1000/1000; TP1", (1000, 1000)),
        ("10000 in / ~1501 out; batch 1", (10000, 1501)),
        ("ISL 1024 OSL 128", (1024, 128)),
        ("in=2048, out=128", (2048, 128)),
        ("prompt 2048 / generation 128", (2048, 128)),
        ("1024/128 tokens", (1024, 128)),
        ("concurrency 64; ISL/OSL 1k/1k", (1024, 1024)),
        ("Input length 2048, output length 128", (2048, 128)),
    ],
)
def test_input_and_output_lengths_are_read_in_common_phrasings(
    scenario: str, expected: tuple[int, int]
) -> None:
    setup = parse_setup("Llama 3.1 8B", scenario, training=False)
    assert (setup.input_tokens, setup.output_tokens) == expected


def test_per_user_tokens_per_second_is_a_tpot() -> None:
    row = (
        GOOD.replace("total output throughput", "output speed")
        .replace("tokens/s", "tokens/s/user")
        .replace(",4205,", ",50,")
    )
    (m,) = read_results_text(HEADER + row, "u.csv").measurements
    assert m.metric is Metric.TPOT_MS and m.value == pytest.approx(20.0)


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("Llama-3.3-70B-Instruct-FP8", "llama-3.3-70b"),
        ("meta-llama/Meta-Llama-3-8B", "llama-3.1-8b"),
        ("gpt-oss-120b (MXFP4)", "gpt-oss-120b"),
        ("Qwen2.5 72B Instruct | vLLM", "qwen2.5-72b"),
    ],
)
def test_quantized_and_hub_names_resolve(label: str, name: str) -> None:
    model = resolve_model(label)
    assert model is not None and model.name == name
