"""Azure-format request traces: rates, token statistics, profiles, and every bad row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chipfolio.errors import InputError
from chipfolio.workloads.traces import RateStatistic, parse_trace_text, read_trace

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "examples" / "data"
HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


def test_bundled_conversation_trace_matches_its_source_notes() -> None:
    s = read_trace(DATA / "AzureLLMInferenceTrace_conv.csv")
    assert s.requests == 19_366
    assert s.requests_per_s == pytest.approx(5.53, abs=0.01)
    assert s.input_tokens_p50 == 1020 and s.output_tokens_p50 == 129
    assert s.input_tokens_mean == pytest.approx(1155, abs=1)
    assert s.output_tokens_mean == pytest.approx(211, abs=1)
    assert s.output_tokens_p99 == pytest.approx(601, abs=1)


def test_bundled_code_trace() -> None:
    s = read_trace(DATA / "AzureLLMInferenceTrace_code.csv")
    assert s.requests == 8_819
    assert s.requests_per_s == pytest.approx(2.57, abs=0.01)
    assert s.input_tokens_mean == pytest.approx(2048, abs=1)
    assert s.output_tokens_mean == pytest.approx(28, abs=0.5)


def test_rates_and_profiles() -> None:
    rows = [
        f"2024-05-10 00:0{m}:{sec:02d}.5+00:00,100,{10 * (m + 1)}"
        for m in range(3)
        for sec in range(0, 60, 60 // (m + 1))
    ]
    s = parse_trace_text(HEADER + "\n".join(rows) + "\n", "t.csv", bucket_s=60)
    assert s.requests == 1 + 2 + 3
    assert list(s.requests_per_s_profile[:2]) == pytest.approx([1 / 60, 2 / 60])
    assert s.rate(RateStatistic.PEAK) == pytest.approx(float(s.requests_per_s_profile.max()))
    assert s.rate(RateStatistic.P50) <= s.rate(RateStatistic.P90) <= s.rate(RateStatistic.PEAK)
    assert s.output_tokens_per_s() == pytest.approx(s.requests_per_s * s.output_tokens_mean)
    assert np.all(s.output_tokens_per_s_profile >= 0)


def test_unsorted_rows_and_extra_columns_are_fine() -> None:
    text = (
        "Extra,TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "x,2023-11-16 18:00:10,5,7\ny,2023-11-16 18:00:00.1234567,3,1\n"
    )
    s = parse_trace_text(text, "t.csv")
    assert s.requests == 2 and s.duration_s == pytest.approx(9.8765433, abs=1e-6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty trace file"),
        ("a,b,c\n1,2,3\n", "missing column"),
        (HEADER + "yesterday,1,2\n2023-11-16 18:00:00,1,2\n", "bad timestamp"),
        (HEADER + "2023-11-16 18:00:00,1,2\n2023-11-16 18:00:01,x,2\n", "ContextTokens"),
        (HEADER + "2023-11-16 18:00:00,1,2\n2023-11-16 18:00:01,1,-2\n", "out of range"),
        (HEADER + "2023-11-16 18:00:00,1,2\n2023-11-16 18:00:01,1,99999999999\n", "out of range"),
        (HEADER + "2023-11-16 18:00:00,1\n", "expected 3 columns"),
        (HEADER + "2023-11-16 18:00:00,1,2\n", "at least 2 requests"),
        (HEADER + "2023-11-16 18:00:00,1,2\n2023-11-16 18:00:00,1,2\n", "one timestamp"),
        (HEADER + "2023-02-30 18:00:00,1,2\n2023-11-16 18:00:00,1,2\n", "bad timestamp"),
    ],
)
def test_bad_traces_name_line_and_column(text: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_trace_text(text, "t.csv")
    assert message in str(err.value) and "t.csv" in str(err.value)


def test_bad_row_reports_its_line() -> None:
    text = HEADER + "2023-11-16 18:00:00,1,2\n2023-11-16 18:00:01,1,2\n2023-11-16 18:00:02,1,zz\n"
    with pytest.raises(InputError) as err:
        parse_trace_text(text, "t.csv")
    assert err.value.location.line == 4 and err.value.location.field == "GeneratedTokens"


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_trace(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="directory"):
        read_trace(tmp_path)
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\x00\x01\x02")
    with pytest.raises(InputError, match="binary"):
        read_trace(junk)
