"""Read an LLM request trace (Azure LLM inference trace format) into rates and token lengths.

Format: CSV with a header holding ``TIMESTAMP``, ``ContextTokens`` and ``GeneratedTokens``
(other columns are ignored). Timestamps look like ``2023-11-16 18:17:03.9799600`` (any number
of fractional digits; an optional ``+00:00`` offset, as in the 2024 release). The summary
gives the mean request rate, token-length statistics and a per-bucket rate profile (requests/s
and output tokens/s per minute by default) that the simulator can replay.

Data source of the bundled examples: Azure LLM inference trace 2023 (Azure/AzurePublicDataset,
CC-BY 4.0); Patel et al., "Splitwise: Efficient generative LLM inference using phase
splitting", ISCA 2024.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from chipfolio.errors import InputError
from chipfolio.textfile import read_text_file

MAX_TRACE_BYTES = 256 * 1024 * 1024
MAX_TOKENS = 10_000_000
COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
_STAMP = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|[+-]\d{2}:?\d{2})?$"
)


class RateStatistic(StrEnum):
    """Which request rate to plan for: the mean, a percentile of per-bucket rates, or the peak."""

    MEAN = "mean"
    P50 = "p50"
    P90 = "p90"
    P99 = "p99"
    PEAK = "peak"


@dataclass(frozen=True, eq=False)
class TraceSummary:
    """What a trace says about demand (token lengths in tokens, rates per second)."""

    file: str
    requests: int
    start: datetime
    duration_s: float
    input_tokens_mean: float
    input_tokens_p50: float
    input_tokens_p90: float
    input_tokens_p99: float
    output_tokens_mean: float
    output_tokens_p50: float
    output_tokens_p90: float
    output_tokens_p99: float
    bucket_s: float
    requests_per_s_profile: NDArray[np.float64]
    output_tokens_per_s_profile: NDArray[np.float64]

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s

    def rate(self, statistic: RateStatistic = RateStatistic.MEAN) -> float:
        """Requests per second by ``statistic`` over the per-bucket profile."""
        profile = self.requests_per_s_profile
        if statistic is RateStatistic.MEAN:
            return self.requests_per_s
        if statistic is RateStatistic.PEAK:
            return float(profile.max())
        return float(np.percentile(profile, float(statistic.value[1:])))

    def output_tokens_per_s(self, statistic: RateStatistic = RateStatistic.MEAN) -> float:
        """Output tokens/s to plan for: the chosen request rate x mean output length."""
        return self.rate(statistic) * self.output_tokens_mean


def _parse_stamp(text: str, file: str, line: int) -> datetime:
    match = _STAMP.match(text.strip())
    if not match:
        raise InputError(
            f"bad timestamp {text[:40]!r}, expected YYYY-MM-DD HH:MM:SS[.fraction]",
            file=file,
            line=line,
            field="TIMESTAMP",
        )
    day, hh, mm, ss, frac = match.groups()
    try:
        base = datetime.fromisoformat(f"{day} {hh}:{mm}:{ss}")
    except ValueError as exc:
        raise InputError(f"bad timestamp {text[:40]!r}: {exc}", file=file, line=line) from exc
    micros = int((frac or "0").ljust(6, "0")[:6])
    return base + timedelta(microseconds=micros)


def _parse_tokens(text: str, column: str, file: str, line: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise InputError(
            f"expected a whole number of tokens, got {text[:40]!r}",
            file=file,
            line=line,
            field=column,
        ) from None
    if not 0 <= value <= MAX_TOKENS:
        raise InputError(
            f"token count {value} out of range [0, {MAX_TOKENS}]",
            file=file,
            line=line,
            field=column,
        )
    return value


def _header(reader: Iterator[list[str]], file: str) -> dict[str, int]:
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("empty trace file (no header)", file=file, line=1) from None
    index = {name.strip(): i for i, name in enumerate(header)}
    missing = [c for c in COLUMNS if c not in index]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)}; expected a header with {', '.join(COLUMNS)}",
            file=file,
            line=1,
        )
    return index


def parse_trace_text(text: str, file: str, bucket_s: float = 60.0) -> TraceSummary:
    """Parse trace CSV text; every bad row is reported with its line and column."""
    if not bucket_s > 0:
        raise ValueError("bucket_s must be > 0")
    reader = csv.reader(io.StringIO(text))
    index = _header(reader, file)
    stamps: list[float] = []
    inputs: list[int] = []
    outputs: list[int] = []
    first: datetime | None = None
    t_col, i_col, o_col = (index[c] for c in COLUMNS)
    width = max(t_col, i_col, o_col) + 1
    for line, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) < width:
            raise InputError(f"expected {width} columns, got {len(row)}", file=file, line=line)
        stamp = _parse_stamp(row[t_col], file, line)
        first = first or stamp
        stamps.append((stamp - first).total_seconds())
        inputs.append(_parse_tokens(row[i_col], COLUMNS[1], file, line))
        outputs.append(_parse_tokens(row[o_col], COLUMNS[2], file, line))
    return _summarise(file, first, np.array(stamps), np.array(inputs), np.array(outputs), bucket_s)


def _summarise(
    file: str,
    first: datetime | None,
    seconds: NDArray[np.float64],
    inputs: NDArray[np.int64],
    outputs: NDArray[np.int64],
    bucket_s: float,
) -> TraceSummary:
    if first is None or seconds.size < 2:
        raise InputError("a trace needs at least 2 requests", file=file)
    order = np.argsort(seconds, kind="stable")
    seconds, inputs, outputs = seconds[order], inputs[order], outputs[order]
    start_offset = float(seconds[0])
    seconds = seconds - start_offset
    duration = float(seconds[-1])
    if duration <= 0:
        raise InputError("all requests share one timestamp; cannot derive a rate", file=file)
    buckets = max(1, int(np.ceil(duration / bucket_s)))
    which = np.minimum((seconds // bucket_s).astype(np.int64), buckets - 1)
    widths = np.full(buckets, bucket_s)
    widths[-1] = duration - bucket_s * (buckets - 1) or bucket_s
    counts = np.bincount(which, minlength=buckets)
    tokens = np.bincount(which, weights=outputs.astype(np.float64), minlength=buckets)

    def pct(values: NDArray[np.int64], q: float) -> float:
        return float(np.percentile(values, q))

    return TraceSummary(
        file=file,
        requests=int(seconds.size),
        start=first + timedelta(seconds=start_offset),
        duration_s=duration,
        input_tokens_mean=float(inputs.mean()),
        input_tokens_p50=pct(inputs, 50),
        input_tokens_p90=pct(inputs, 90),
        input_tokens_p99=pct(inputs, 99),
        output_tokens_mean=float(outputs.mean()),
        output_tokens_p50=pct(outputs, 50),
        output_tokens_p90=pct(outputs, 90),
        output_tokens_p99=pct(outputs, 99),
        bucket_s=bucket_s,
        requests_per_s_profile=counts / widths,
        output_tokens_per_s_profile=tokens / widths,
    )


def read_trace(path: Path | str, bucket_s: float = 60.0) -> TraceSummary:
    """Read a trace CSV file (see the module docstring for the format)."""
    file = str(path)
    text = read_text_file(path, limit=MAX_TRACE_BYTES, kind="a trace CSV file", what="trace file")
    return parse_trace_text(text, file, bucket_s)
