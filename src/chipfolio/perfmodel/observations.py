"""Measured serving results as questions for the serving model: InferenceX rows and published rows.

An :class:`Observation` pairs one :class:`~chipfolio.perfmodel.serving.Point` (chip, model,
deployment, load) with what was measured there: output tokens/s per chip, TTFT or TPOT.

InferenceX (SemiAnalysis's open nightly benchmark, Apache-2.0; ``shared/data/perf/inferencex``)
reports per row the engine, tensor/expert parallelism, data-parallel attention, MTP, the
disaggregated prefill/decode split, ISL/OSL and the client concurrency. Its lengths are
nominal: requests are sampled at 80-100% of them, so the model is asked at 90%. Output
throughput is per GPU (per decode GPU when disaggregated). Rows that lack what the model
needs (an unknown chip or model, a disaggregated row without its GPU split, a throughput
that counts input tokens) are skipped with a reason.

Published rows (``published_results.csv``) become observations through
:mod:`chipfolio.perfmodel.measurements`: system output tokens/s at the stated batch (or at
the engine's limit when the row says "max load"), and TTFT/TPOT at batch 1.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from chipfolio.catalog.chips import registry
from chipfolio.domain import Chip, Precision
from chipfolio.errors import InputError
from chipfolio.perfmodel.measurements import Measurement, Metric
from chipfolio.perfmodel.serving import Deployment, Point, model_shape, parse_framework
from chipfolio.workloads.models import ModelArch, builtin_models

LENGTH_SAMPLING = 0.9
"""InferenceX draws request lengths uniformly in 80-100% of the nominal ISL/OSL."""

MAX_LOAD_CONCURRENCY = 1024
"""Sequences offered to an engine at "max load" (memory or this engine limit binds first)."""

REQUIRED = ("gpu", "model", "precision", "framework", "isl", "osl", "concurrency", "num_gpus")


class Target(StrEnum):
    """What an observation measured."""

    TOKENS_PER_S_PER_GPU = "tokens_per_s_per_gpu"
    TTFT_MS = "ttft_ms"
    TPOT_MS = "tpot_ms"


@dataclass(frozen=True, slots=True)
class Observation:
    """One measured value at one point, with what it is grouped by in validation."""

    point: Point
    target: Target
    value: float
    chip: str
    vendor: str
    stack: str
    framework: str
    model: str
    line: int
    source: str
    config: str  # the row's configuration without its concurrency (for grouped folds)
    tpot_ms: float | None = None  # measured alongside a throughput (InferenceX)
    ttft_ms: float | None = None
    count: int = 1  # chips the measured value spans (system totals divide by it)


@dataclass(frozen=True, slots=True)
class Skipped:
    line: int
    reason: str


def _flag(text: str, part: str | None = None) -> bool:
    """'True'/'false', or one side of 'prefill=True;decode=False'."""
    value = text.strip().lower()
    if part is not None and "=" in value:
        pairs = dict(p.split("=", 1) for p in value.split(";") if "=" in p)
        value = pairs.get(part, "false")
    return value == "true"


def _num(row: Mapping[str, str], key: str) -> float | None:
    text = (row.get(key) or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class _Skip(Exception):
    pass


def _chip(name: str) -> Chip:
    chip = registry().find(name)
    if chip is None:
        raise _Skip(f"unknown chip '{name}'")
    return chip


def _model(name: str) -> ModelArch:
    model = builtin_models().find(name)
    if model is None:
        raise _Skip(f"unknown model '{name}'")
    return model


def _deployment(row: Mapping[str, str], disagg: bool) -> tuple[Deployment, int]:
    """(decode-side deployment, decode instances) of one row."""
    mtp = (row.get("spec_decoding") or "").strip().lower() == "mtp"
    dp_text = row.get("dp_attention") or ""
    if not disagg:
        gpus = int(_num(row, "num_gpus") or 0)
        ep = _num(row, "ep") or 1.0
        if gpus < 1:
            raise _Skip("no GPU count")
        return Deployment(gpus, _flag(dp_text, "decode"), ep > 1, mtp), 1
    decode_gpus = int(_num(row, "num_decode_gpu") or 0)
    workers = int(_num(row, "decode_workers") or 0)
    prefill_gpus = int(_num(row, "num_prefill_gpu") or 0)
    prefill_workers = int(_num(row, "prefill_workers") or 0)
    if min(decode_gpus, workers, prefill_gpus, prefill_workers) < 1:
        raise _Skip("disaggregated row without its prefill/decode GPU split")
    ep = _num(row, "decode_ep") or 1.0
    dep = Deployment(
        gpus=max(decode_gpus // workers, 1),
        dp_attention=_flag(dp_text, "decode"),
        expert_parallel=ep > 1,
        mtp=mtp,
        prefill_gpus=prefill_gpus,
        prefill_instance_gpus=max(prefill_gpus // prefill_workers, 1),
    )
    return dep, workers


def inferencex_row(row: Mapping[str, str], line: int, source: str) -> list[Observation]:
    """Observations of one InferenceX row (throughput, and TTFT where measured)."""
    if "output" not in (row.get("throughput_kind") or "output"):
        raise _Skip("throughput counts input tokens (output not recorded)")
    chip, model = _chip(row["gpu"]), _model(row["model"])
    try:
        precision = Precision(row["precision"].strip().lower())
    except ValueError as exc:
        raise _Skip(f"precision '{row['precision']}' not understood") from exc
    framework = row["framework"].strip()
    engine, disagg_name = parse_framework(framework)
    disagg = _flag(row.get("disagg") or "") or disagg_name
    dep, instances = _deployment(row, disagg)
    isl, osl, conc = _num(row, "isl"), _num(row, "osl"), _num(row, "concurrency")
    tput = _num(row, "throughput_tok_s_per_gpu")
    if not (isl and osl and conc and tput) or min(isl, osl, conc, tput) <= 0:
        raise _Skip("missing lengths, concurrency or throughput")
    ttft, tpot = _num(row, "ttft_ms"), _num(row, "tpot_ms")
    if tpot and ttft and not disagg:
        # Closed-loop clients: throughput = concurrency x OSL / (TTFT + OSL x TPOT).
        implied = conc * 1000.0 / (tpot + ttft / (osl * LENGTH_SAMPLING)) / dep.gpus
        if not 0.5 < tput / implied < 2.0:
            raise _Skip(
                f"throughput {tput:.0f}/GPU contradicts its concurrency and TPOT "
                f"(they imply {implied:.0f}): left out as inconsistent"
            )
    point = Point(
        chip=chip, shape=model_shape(model, precision), precision=precision, deployment=dep,
        concurrency=conc / instances, input_tokens=isl * LENGTH_SAMPLING,
        output_tokens=osl * LENGTH_SAMPLING, engine=engine, instances=instances,
    )  # fmt: skip
    config = (
        f"{chip.id}|{model.name}|{precision}|{framework}|{int(isl)}/{int(osl)}|"
        f"{dep.label()}|x{instances}"
    )
    common = {
        "chip": chip.id, "vendor": str(chip.vendor), "stack": str(chip.stack),
        "framework": framework, "model": model.name, "line": line, "source": source,
        "config": config, "tpot_ms": tpot, "ttft_ms": ttft,
    }  # fmt: skip
    out = [Observation(point, Target.TOKENS_PER_S_PER_GPU, tput, **common)]  # type: ignore[arg-type]
    if ttft and ttft > 0:
        out.append(Observation(point, Target.TTFT_MS, ttft, **common))  # type: ignore[arg-type]
    return out


def read_inferencex(path: str | Path) -> tuple[list[Observation], list[Skipped]]:
    """Observations of an InferenceX CSV (the layout of shared/data/perf/inferencex)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read InferenceX file: {exc}", file=str(p)) from exc
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", file=str(p), line=1,
                         field=missing[0])  # fmt: skip
    observations: list[Observation] = []
    skipped: list[Skipped] = []
    for line, row in enumerate(reader, start=2):
        try:
            observations.extend(inferencex_row(row, line, "inferencex"))
        except _Skip as skip:
            skipped.append(Skipped(line, str(skip)))
    return observations, skipped


def published_observations(rows: Iterable[Measurement]) -> list[Observation]:
    """Serving observations of published rows (throughput, TTFT, TPOT with known lengths)."""
    out: list[Observation] = []
    for m in rows:
        obs = _published(m)
        if obs is not None:
            out.append(obs)
    return out


_PUBLISHED_TARGETS = {
    Metric.OUTPUT_TOKENS_PER_S: Target.TOKENS_PER_S_PER_GPU,
    Metric.TTFT_MS: Target.TTFT_MS,
    Metric.TPOT_MS: Target.TPOT_MS,
}


def _published(m: Measurement) -> Observation | None:
    target = _PUBLISHED_TARGETS.get(m.metric)
    s = m.setup
    if target is None or m.model is None or s.input_tokens is None:
        return None
    gpus = max(1, min(s.tensor_parallel or m.count, m.count))
    engine, _ = parse_framework(_engine_text(m))
    if target is Target.TOKENS_PER_S_PER_GPU:
        replicas = max(m.count // gpus, 1)
        conc = float(s.batch or MAX_LOAD_CONCURRENCY * replicas) / replicas
        value = m.value / (replicas * gpus)
    else:
        conc, value = float(s.batch or 1), m.value
    point = Point(
        chip=m.chip, shape=model_shape(m.model, m.precision), precision=m.precision,
        deployment=Deployment(gpus), concurrency=conc, input_tokens=float(s.input_tokens),
        output_tokens=float(s.output_tokens or 1), engine=engine,
    )  # fmt: skip
    return Observation(
        point=point, target=target, value=value, chip=m.chip.id, vendor=str(m.chip.vendor),
        stack=str(m.chip.stack), framework=engine or str(m.chip.stack), model=m.model.name,
        line=m.line, source="published", config=f"published:{m.line}", count=m.count,
    )  # fmt: skip


def _engine_text(m: Measurement) -> str:
    """The engine a published row names (its workload text names the software)."""
    return m.label + " " + m.scenario + " " + m.source


def by_chip(observations: Sequence[Observation]) -> dict[str, list[Observation]]:
    groups: dict[str, list[Observation]] = {}
    for o in observations:
        groups.setdefault(o.chip, []).append(o)
    return groups
