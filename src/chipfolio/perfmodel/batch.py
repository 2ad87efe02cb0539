"""Sweeps: serving estimates for every row of a CSV, bad rows noted rather than fatal.

Input header: ``model,chip,count,precision,input_tokens,output_tokens,concurrency`` plus
optional ``framework,tpot_ms,ttft_ms``. A row with a concurrency is predicted at it (and its
targets, if any, are checked); a row with only targets gets the concurrency and deployment
with the most output tokens/s per chip that meets them; a row with neither gets the
maximum throughput. Output: the input columns plus ``fits,
pred_output_tokens_per_s_per_chip, pred_low, pred_high, pred_tpot_ms, pred_ttft_ms, notes``
(low/high: the 80% interval of output tokens/s per chip). A row that cannot be estimated
gets empty numbers and a note naming its line and field.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chipfolio.catalog.chips import registry
from chipfolio.domain import Precision
from chipfolio.errors import InputError
from chipfolio.perfmodel.serving import ServingParams
from chipfolio.perfmodel.serving_estimate import Request, ServingEstimate, estimate
from chipfolio.workloads.models import ModelRegistry, builtin_models

REQUIRED = ("model", "chip", "count", "precision", "input_tokens", "output_tokens", "concurrency")
OPTIONAL = ("framework", "tpot_ms", "ttft_ms")
OUTPUT = (
    "fits",
    "pred_output_tokens_per_s_per_chip",
    "pred_low",
    "pred_high",
    "pred_tpot_ms",
    "pred_ttft_ms",
    "notes",
)
MAX_ROWS = 1_000_000
MAX_COUNT = 100_000
MAX_TOKENS = 10_000_000
MAX_CONCURRENCY = 10_000_000


class _RowError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _text(row: Mapping[str, str | None], field: str) -> str:
    return (row.get(field) or "").strip()


def _whole(row: Mapping[str, str | None], field: str, top: int) -> int:
    text = _text(row, field)
    try:
        value = float(text)
    except ValueError as exc:
        raise _RowError(field, f"expected a whole number, got '{text}'") from exc
    if not math.isfinite(value) or value != int(value) or not 1 <= value <= top:
        raise _RowError(field, f"expected a whole number from 1 to {top}, got '{text}'")
    return int(value)


def _positive(row: Mapping[str, str | None], field: str, top: float) -> float | None:
    text = _text(row, field)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError as exc:
        raise _RowError(field, f"expected a positive number, got '{text}'") from exc
    if not math.isfinite(value) or not 0 < value <= top:
        raise _RowError(field, f"expected a positive number up to {top:g}, got '{text}'")
    return value


def parse_request(row: Mapping[str, str | None], models: ModelRegistry) -> Request:
    """One input row as a Request; _RowError naming the field when it is not usable."""
    name = _text(row, "model")
    model = models.find(name) if name else None
    if model is None:
        raise _RowError("model", f"unknown model '{name}'")
    chip_name = _text(row, "chip")
    chip = registry().find(chip_name) if chip_name else None
    if chip is None:
        raise _RowError("chip", f"unknown chip '{chip_name}'")
    try:
        precision = Precision(_text(row, "precision").lower())
    except ValueError as exc:
        known = ", ".join(p.value for p in Precision)
        raise _RowError("precision", f"expected one of {known}") from exc
    framework = _text(row, "framework") or None
    if framework is not None and len(framework) > 100:
        raise _RowError("framework", "longer than 100 characters")
    return Request(
        model=model,
        chip=chip,
        count=_whole(row, "count", MAX_COUNT),
        precision=precision,
        input_tokens=_whole(row, "input_tokens", MAX_TOKENS),
        output_tokens=_whole(row, "output_tokens", MAX_TOKENS),
        concurrency=_positive(row, "concurrency", MAX_CONCURRENCY),
        tpot_ms=_positive(row, "tpot_ms", 1e7),
        ttft_ms=_positive(row, "ttft_ms", 1e8),
        framework=framework,
        mtp=False,
    )


def _num(x: float | None, digits: int) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _result(req: Request, est: ServingEstimate) -> dict[str, str]:
    notes = list(est.notes)
    if req.concurrency is not None and est.fits:
        if req.tpot_ms is not None and (est.tpot_ms or 0) > req.tpot_ms:
            notes.append(f"TPOT {est.tpot_ms:.1f} ms misses the {req.tpot_ms:g} ms target")
        if req.ttft_ms is not None and (est.ttft_ms or 0) > req.ttft_ms:
            notes.append(f"TTFT {est.ttft_ms:.0f} ms misses the {req.ttft_ms:g} ms target")
    elif req.concurrency is None and est.fits and est.meets_slo:
        notes.append(f"best at concurrency {est.concurrency:.0f} ({est.deployment})")
    if req.concurrency is not None and est.fits:
        notes.append(f"deployment {est.deployment}")
    answered = est.fits and (est.meets_slo or req.concurrency is not None)
    value = est.tokens_per_s_per_chip if answered else None
    return {
        "fits": "true" if est.fits else "false",
        "pred_output_tokens_per_s_per_chip": _num(value, 2),
        "pred_low": _num(est.low if answered else None, 2),
        "pred_high": _num(est.high if answered else None, 2),
        "pred_tpot_ms": _num(est.tpot_ms if est.fits else None, 3),
        "pred_ttft_ms": _num(est.ttft_ms if est.fits else None, 1),
        "notes": "; ".join(notes),
    }


@dataclass(frozen=True, slots=True)
class BatchResult:
    header: tuple[str, ...]
    rows: tuple[dict[str, str], ...]
    failed: int


def run_rows(
    header: Sequence[str],
    rows: Iterable[Mapping[str, str | None]],
    params: ServingParams | None = None,
    models: ModelRegistry | None = None,
) -> BatchResult:
    """Estimate every row (line numbers count the header as line 1)."""
    known = models or builtin_models()
    cache: dict[Request, ServingEstimate] = {}
    out: list[dict[str, str]] = []
    failed = 0
    for line, row in enumerate(rows, start=2):
        echo = {h: (row.get(h) or "") for h in header}
        try:
            req = parse_request(row, known)
        except _RowError as err:
            failed += 1
            empty = dict.fromkeys(OUTPUT, "")
            empty["notes"] = f"line {line}, field {err.field}: {err}"
            out.append({**echo, **empty})
            continue
        if req not in cache:
            # "at concurrency" predictions do not apply the targets (they are checked).
            asked = req if req.concurrency is None else _without_targets(req)
            cache[req] = estimate(asked, params)
        out.append({**echo, **_result(req, cache[req])})
    return BatchResult(tuple(header) + OUTPUT, tuple(out), failed)


def _without_targets(req: Request) -> Request:
    from dataclasses import replace

    return replace(req, tpot_ms=None, ttft_ms=None)


def run_csv_text(text: str, file: str, params: ServingParams | None = None,
                 models: ModelRegistry | None = None) -> BatchResult:  # fmt: skip
    """Parse and estimate a whole CSV; InputError for a missing column or a broken file."""
    try:
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            expected = ",".join(REQUIRED)
            raise InputError(f"missing column(s) {', '.join(missing)}; expected {expected}",
                             file=file, line=1, field=missing[0])  # fmt: skip
        reader.fieldnames = header
        rows: list[dict[str, str | None]] = []
        for number, raw in enumerate(reader, start=2):
            if number - 1 > MAX_ROWS:
                raise InputError(f"more than {MAX_ROWS} rows", file=file, line=number)
            rows.append({k: v for k, v in raw.items() if isinstance(k, str)})
    except csv.Error as exc:
        raise InputError(f"not a valid CSV file: {exc}", file=file) from exc
    out_header = [*header, *(c for c in OUTPUT if c not in header)]
    result = run_rows(header, rows, params, models)
    return BatchResult(tuple(out_header), result.rows, result.failed)


def to_csv_text(result: BatchResult) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(result.header), lineterminator="\n",
                            extrasaction="ignore")  # fmt: skip
    writer.writeheader()
    writer.writerows(result.rows)
    return out.getvalue()
