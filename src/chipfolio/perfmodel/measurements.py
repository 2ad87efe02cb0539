"""Published and measured results: reading rows in the published_results.csv layout.

Columns: chip, count, workload, scenario, metric, value, unit, precision, source, date.
Each row becomes a :class:`Measurement`: the chip (registry name or a vendor-prefixed label
such as "NVIDIA H100-80GB"), the model (text before the first "|" of ``workload``), what was
measured in a canonical unit, and the setup parsed from free text (ISL/OSL, batch, TP/PP/CP/VP,
sequence length, global batch). Rows the model cannot interpret (a chip or model it does not
know, an end-to-end latency it does not predict) are returned as skipped with a reason;
structurally broken rows (missing columns, non-numeric values) raise InputError.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from chipfolio.catalog.chips import registry
from chipfolio.domain import Chip, Precision
from chipfolio.errors import InputError
from chipfolio.workloads.models import ModelArch, ModelRegistry, builtin_models, parse_models

REQUIRED_COLUMNS = ("chip", "count", "workload", "scenario", "metric", "value", "unit", "precision")
COLUMNS = (*REQUIRED_COLUMNS, "source", "date")


class Metric(StrEnum):
    """What a row measured, in the canonical unit named by the value."""

    OUTPUT_TOKENS_PER_S = "output_tokens_per_s"  # inference, whole system
    TTFT_MS = "ttft_ms"
    TPOT_MS = "tpot_ms"
    TRAIN_TOKENS_PER_S = "train_tokens_per_s"  # whole system
    TRAIN_TOKENS_PER_S_PER_CHIP = "train_tokens_per_s_per_chip"
    TRAIN_TFLOPS_PER_CHIP = "train_model_tflops_per_chip"
    MFU = "mfu"  # fraction, 0..1
    MATMUL_TFLOPS = "matmul_tflops"  # per chip
    HBM_GBPS = "hbm_gbps"  # per chip
    LAYER_PREFILL_MS = "layer_prefill_ms"
    LAYER_DECODE_MS = "layer_decode_ms"

    @property
    def is_training(self) -> bool:
        return self in _TRAINING


_TRAINING = frozenset(
    {
        Metric.TRAIN_TOKENS_PER_S,
        Metric.TRAIN_TOKENS_PER_S_PER_CHIP,
        Metric.TRAIN_TFLOPS_PER_CHIP,
        Metric.MFU,
    }
)


@dataclass(frozen=True, slots=True)
class RunSetup:
    """The configuration a row states (None where it does not)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    context_tokens: int | None = None
    batch: int | None = None
    tensor_parallel: int | None = None
    pipeline_parallel: int | None = None
    context_parallel: int | None = None
    virtual_stages: int | None = None
    seq_len: int | None = None
    global_batch_sequences: int | None = None
    per_device_batch: float | None = None
    zero_stage: int | None = None


@dataclass(frozen=True, slots=True)
class Measurement:
    """One measured result, ready to compare with a prediction."""

    line: int
    chip: Chip
    count: int
    model: ModelArch | None
    metric: Metric
    value: float
    precision: Precision
    setup: RunSetup
    label: str
    source: str
    date: str = ""
    scenario: str = ""


@dataclass(frozen=True, slots=True)
class SkippedRow:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class ResultsFile:
    measurements: tuple[Measurement, ...]
    skipped: tuple[SkippedRow, ...]


class _Skip(Exception):
    """A row the model cannot use (not an input error)."""


# ---------------------------------------------------------------------------- names


@functools.cache
def reference_models() -> tuple[ModelRegistry, Mapping[str, Mapping[str, Any]]]:
    """Benchmark-only architectures (MaxText's synthetic decoders) and their run settings."""
    text = resources.files("chipfolio.perfmodel").joinpath("data", "reference_models.yaml")
    data = yaml.safe_load(text.read_text("utf-8"))
    models = parse_models(data["models"], "reference_models.yaml")
    return builtin_models().with_models(models), dict(data.get("runs", {}))


_VENDOR_WORDS = re.compile(
    r"\b(nvidia|amd|intel|google|cloud|aws|amazon|microsoft|dgx|hgx)\s+", re.IGNORECASE
)


def resolve_chip(label: str) -> Chip | None:
    """A registry chip from a label like "NVIDIA H100-SXM-80GB" or "AWS Trainium (Trn1)"."""
    reg = registry()
    text = label.strip()
    candidates = [text, _VENDOR_WORDS.sub("", text)]
    inner = re.search(r"\(([^)]+)\)", text)
    if inner:
        candidates.append(inner.group(1))
        candidates.append(_VENDOR_WORDS.sub("", text[: inner.start()]).strip())
    for c in list(candidates):
        candidates.append(re.sub(r"[-\s]\d+\s*GB$", "", c, flags=re.IGNORECASE))
    for c in candidates:
        if c:
            chip = reg.find(c)
            if chip is not None:
                return chip
    return None


def resolve_model(workload: str) -> ModelArch | None:
    """The model a workload names (text before the first "|")."""
    models, _ = reference_models()
    return models.find(workload.split("|", 1)[0])


# ---------------------------------------------------------------------------- parsing


def parse_precision(text: str) -> Precision | None:
    low = text.lower()
    for token, precision in (
        ("fp4", Precision.FP4),
        ("nvfp4", Precision.FP4),
        ("mxfp4", Precision.FP4),
        ("fp8", Precision.FP8),
        ("int8", Precision.INT8),
        ("bf16", Precision.BF16),
        ("fp16", Precision.BF16),
    ):
        if re.search(rf"\b{token}\b", low):
            return precision
    return None


def _int(pattern: str, text: str) -> int | None:
    match = re.search(pattern, text, flags=re.IGNORECASE)
    return int(match.group(1)) if match else None


_N = r"(\d+\s*k?)\b"
_IO_PATTERNS = (
    rf"isl\s*/\s*osl\s*[=:]?\s*{_N}\s*/\s*{_N}",
    rf"\bisl\s*[=:]?\s*{_N}\W{{1,20}}?osl\s*[=:]?\s*{_N}",
    rf"{_N}\s*in\s*/\s*~?\s*{_N}\s*out",
    rf"\binput\s*{_N}\s*/\s*output\s*{_N}",
    rf"\bin(?:put)?\s*[=:]\s*{_N}\W{{1,10}}?out(?:put)?\s*[=:]\s*{_N}",
    rf"\bprompt\s*[=:]?\s*{_N}\W{{1,20}}?(?:generation|gen|output|completion)\s*[=:]?\s*{_N}",
    rf"{_N}\s*/\s*{_N}\s*tokens",
)
"""Ways rows state input and output lengths ("ISL/OSL 1000/1000", "10000 in / ~1501 out")."""


def _tokens(text: str) -> int:
    """A token count, "8k" meaning 8192."""
    text = text.strip().lower()
    return int(text[:-1].strip()) * 1024 if text.endswith("k") else int(text)


def parse_setup(workload: str, scenario: str, training: bool) -> RunSetup:
    """Setup figures stated in the free text of a row."""
    text = f"{workload} ; {scenario}"
    io_match = next((m for p in _IO_PATTERNS if (m := re.search(p, text, re.IGNORECASE))), None)
    if io_match:
        input_tokens: int | None = _tokens(io_match.group(1))
        output_tokens: int | None = _tokens(io_match.group(2))
    else:
        input_tokens = _int(r"\binput\s*(?:length)?\s*:?\s*(\d+)", text)
        output_tokens = _int(r"\boutput\s*(?:length)?\s*:?\s*(\d+)", text)
    seq = re.search(r"\bseq(?:uence)?(?:\s*length)?\s*(\d+)\s*(k\b)?", text, re.IGNORECASE)
    seq_len = int(seq.group(1)) * (1024 if seq.group(2) else 1) if seq else None
    batch = _int(r"\bbatch\s*(?:size)?\s*:?\s*(\d+)", text)
    if batch is None:
        batch = _int(r"\bconcurrency\s*(\d+)", text)
    gbs = _int(r"\bgbs\s*(\d+)", text)
    if training and gbs is None:
        gbs, batch = batch, None  # "batch N" of a training run is its global batch
    return RunSetup(
        input_tokens=None if training else input_tokens,
        output_tokens=None if training else output_tokens,
        context_tokens=None if training else seq_len,
        batch=batch,
        tensor_parallel=_int(r"\btp\s*=?\s*(\d+)", text),
        pipeline_parallel=_int(r"\bpp\s*=?\s*(\d+)", text),
        context_parallel=_int(r"\bcp\s*=?\s*(\d+)", text),
        virtual_stages=_int(r"\bvp\s*=?\s*(\d+)", text),
        seq_len=seq_len if training else None,
        global_batch_sequences=gbs,
    )


def _per_chip(text: str) -> bool:
    return bool(re.search(r"per\s*(gpu|chip|device|accelerator)|/\s*(gpu|chip|device)", text))


def _time_ms(value: float, unit: str) -> float:
    u = unit.strip().lower()
    if u in ("s", "sec", "seconds"):
        return value * 1000.0
    if u in ("us", "µs", "microseconds"):
        return value / 1000.0
    if u.startswith("ms") or u in ("milliseconds",):
        return value
    raise _Skip(f"time unit '{unit}' not understood (expected ms, s or us)")


def classify(
    metric: str, unit: str, value: float, count: int, training: bool
) -> tuple[Metric, float]:
    """The canonical metric and value of a row, or _Skip."""
    m, u = metric.lower(), unit.lower()
    both = f"{m} {u}"
    if "utilization" in m or re.search(r"\bmfu\b", m):
        return Metric.MFU, value / 100.0 if ("%" in u or value > 1.0) else value
    if "decoder layer" in m:
        kind = Metric.LAYER_PREFILL_MS if "prefill" in m else Metric.LAYER_DECODE_MS
        return kind, _time_ms(value, unit)
    if "matmul" in m:
        return Metric.MATMUL_TFLOPS, value / count
    if "bandwidth" in m:
        scale = 1000.0 if "tb" in u else 1.0
        return Metric.HBM_GBPS, value * scale / count
    if re.search(r"per\s*user|/\s*user", both):
        # Tokens/s seen by one user is the inverse of the time per output token.
        return Metric.TPOT_MS, 1000.0 / value
    if "ttft" in m or "first token" in m:
        return Metric.TTFT_MS, _time_ms(value, unit)
    if re.search(r"tpot|per[- ]token|inter[- ]token|\bitl\b", m):
        return Metric.TPOT_MS, _time_ms(value, unit)
    if "tflop" in both and training:
        return Metric.TRAIN_TFLOPS_PER_CHIP, value if _per_chip(both) else value / count
    if "throughput" in m or "tokens/s" in both or "tok/s" in both:
        if training:
            if _per_chip(both):
                return Metric.TRAIN_TOKENS_PER_S_PER_CHIP, value
            return Metric.TRAIN_TOKENS_PER_S, value
        return Metric.OUTPUT_TOKENS_PER_S, value * count if _per_chip(both) else value
    raise _Skip(f"metric '{metric}' ({unit}) is not one the model predicts")


def _number(row: Mapping[str, str], key: str, file: str, line: int) -> float:
    text = (row.get(key) or "").strip().replace(",", "")
    try:
        value = float(text)
    except ValueError as exc:
        raise InputError(
            f"expected a number, got '{text}'", file=file, line=line, field=key
        ) from exc
    if not value > 0 or value == float("inf"):
        raise InputError(
            f"expected a positive number, got '{text}'", file=file, line=line, field=key
        )
    return value


def parse_row(row: Mapping[str, str], file: str, line: int) -> Measurement:
    """One CSV row as a Measurement; InputError when broken, _Skip when not modelled."""
    count_f = _number(row, "count", file, line)
    if count_f != int(count_f):
        raise InputError("expected a whole number of chips", file=file, line=line, field="count")
    count, value = int(count_f), _number(row, "value", file, line)
    chip = resolve_chip(row["chip"])
    if chip is None:
        raise _Skip(f"unknown chip '{row['chip']}'")
    workload, scenario = row["workload"], row["scenario"]
    training = bool(re.search(r"train", f"{workload} {scenario}", re.IGNORECASE))
    metric, canonical = classify(row["metric"], row["unit"], value, count, training)
    precision = parse_precision(row["precision"])
    if precision is None:
        raise _Skip(f"precision '{row['precision']}' not understood (bf16, fp8, fp4, int8)")
    model: ModelArch | None = None
    if metric not in (Metric.MATMUL_TFLOPS, Metric.HBM_GBPS):
        model = resolve_layer_model(workload) if "decoder layer" in row["metric"].lower() else None
        model = model or resolve_model(workload)
        if model is None:
            raise _Skip(f"unknown model in workload '{workload.split('|', 1)[0].strip()}'")
    setup = parse_setup(workload, scenario, metric.is_training)
    if model is not None and metric.is_training:
        setup = _with_reference_run(setup, model)
    label = f"{chip.id} x{count} {model.name if model else ''} {metric} ({scenario.strip()})"
    return Measurement(
        line=line, chip=chip, count=count, model=model, metric=metric, value=canonical,
        precision=precision, setup=setup, label=" ".join(label.split()),
        source=(row.get("source") or "").strip(), date=(row.get("date") or "").strip(),
        scenario=scenario.strip(),
    )  # fmt: skip


def _with_reference_run(setup: RunSetup, model: ModelArch) -> RunSetup:
    _, runs = reference_models()
    run = runs.get(model.name)
    if not run:
        return setup
    return RunSetup(
        seq_len=setup.seq_len or run.get("seq_len"),
        global_batch_sequences=setup.global_batch_sequences,
        per_device_batch=run.get("per_device_batch"),
        tensor_parallel=setup.tensor_parallel or run.get("tensor_parallel"),
        pipeline_parallel=setup.pipeline_parallel,
        context_parallel=setup.context_parallel,
        virtual_stages=setup.virtual_stages,
        zero_stage=run.get("zero_stage"),
    )


_LAYER_FIELDS = ("d_model", "heads", "kv_heads", "ffn")


def resolve_layer_model(workload: str) -> ModelArch | None:
    """A one-layer model from a profile row ("decoder layer d_model=4096 heads=32 ...")."""
    values = dict(re.findall(r"(\w+)=(\d+)", workload))
    if not all(k in values for k in _LAYER_FIELDS):
        return None
    d, heads = int(values["d_model"]), int(values["heads"])
    return ModelArch(
        name=f"decoder-layer-{d}", display_name="one decoder layer", family="profile",
        n_layers=1, d_model=d, n_heads=heads, n_kv_heads=int(values["kv_heads"]),
        head_dim=d // heads, ffn_hidden=int(values["ffn"]), vocab_size=1,
        max_context=1 << 20, source="chipfolio profile",
    )  # fmt: skip


def parse_results(rows: Iterable[Mapping[str, str]], file: str) -> ResultsFile:
    """Measurements from parsed CSV rows (line numbers count the header as line 1)."""
    measurements: list[Measurement] = []
    skipped: list[SkippedRow] = []
    for index, row in enumerate(rows, start=2):
        try:
            measurements.append(parse_row(row, file, index))
        except _Skip as skip:
            skipped.append(SkippedRow(index, str(skip)))
    return ResultsFile(tuple(measurements), tuple(skipped))


def read_results_text(text: str, file: str) -> ResultsFile:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}",
            file=file, line=1, field=missing[0],
        )  # fmt: skip
    rows: list[dict[str, str]] = []
    for number, raw in enumerate(reader, start=2):
        if None in raw or any(raw.get(c) is None for c in REQUIRED_COLUMNS):
            raise InputError("wrong number of fields", file=file, line=number)
        rows.append({k.strip(): (v or "") for k, v in raw.items() if k is not None})
    return parse_results(rows, file)


def read_results_csv(path: str | Path) -> ResultsFile:
    """Read a results file; InputError for an unreadable or malformed file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read results file: {exc}", file=str(p)) from exc
    try:
        return read_results_text(text, str(p))
    except csv.Error as exc:
        raise InputError(f"not a valid CSV file: {exc}", file=str(p)) from exc


def load_results_csv(path: str | Path) -> list[Measurement]:
    """The usable measurements of a results file (rows the model cannot use are left out)."""
    return list(read_results_csv(path).measurements)
