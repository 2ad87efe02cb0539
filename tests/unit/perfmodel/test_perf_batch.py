"""`estimate batch`, InferenceX rows as observations, and the planner's quantile and marks."""

from __future__ import annotations

import csv
import io
import json
import statistics
from pathlib import Path

import pytest

from chipfolio.catalog.chips import registry
from chipfolio.domain import Precision
from chipfolio.errors import InputError
from chipfolio.interfaces.cli.app import main
from chipfolio.perfmodel.batch import OUTPUT, REQUIRED, run_csv_text
from chipfolio.perfmodel.observations import Target, read_inferencex
from chipfolio.perfmodel.serving_estimate import shipped_serving_params
from chipfolio.perfmodel.serving_fit import predict
from chipfolio.planner.build import DefaultPerfModel, plan_portfolio
from chipfolio.workloads.spec import parse_portfolio_text

INFERENCEX = (
    Path(__file__).resolve().parents[3].parent
    / "shared"
    / "data"
    / "perf"
    / "inferencex"
    / "inferencex.csv"
)
HEADER = ",".join([*REQUIRED, "framework", "tpot_ms", "ttft_ms"])


def _rows(text: str) -> list[dict[str, str]]:
    result = run_csv_text(text, "in.csv")
    return [dict(r) for r in result.rows]


def test_rows_at_a_concurrency_and_at_a_target() -> None:
    rows = _rows(
        f"{HEADER}\n"
        "deepseek-r1,h200,8,fp8,1024,1024,64,sglang,,\n"
        "gpt-oss-120b,b200,1,fp4,1024,1024,,,20,\n"
        "llama-3.1-70b,mi300x,8,fp8,1000,200,,,,\n"
    )
    assert [r["fits"] for r in rows] == ["true", "true", "true"]
    for r in rows:
        value = float(r["pred_output_tokens_per_s_per_chip"])
        assert float(r["pred_low"]) < value < float(r["pred_high"])
    assert float(rows[1]["pred_tpot_ms"]) <= 20
    assert "best at concurrency" in rows[1]["notes"]
    assert rows[0]["concurrency"] == "64" and "deployment" in rows[0]["notes"]


def test_bad_rows_are_noted_with_line_and_field_and_the_rest_still_run() -> None:
    rows = _rows(
        f"{HEADER}\n"
        "llama-3.1-8b,h1000,1,fp8,100,100,4,,,\n"
        "nonsense-model,h100,1,fp8,100,100,4,,,\n"
        "llama-3.1-8b,h100,0,fp8,100,100,4,,,\n"
        "llama-3.1-8b,h100,1,fp3,100,100,4,,,\n"
        "llama-3.1-8b,h100,1,fp8,1e99,100,4,,,\n"
        "llama-3.1-8b,h100,1,fp8,100,100,nan,,,\n"
        "llama-3.1-8b,h100,1,fp8,100,100,4,,-5,\n"
        "llama-3.1-8b,h100,1,fp8,100,100,4,,,inf\n"
        "llama-3.1-8b,h100,1,fp8,100,100,4,,,\n"
    )
    expected = ["chip", "model", "count", "precision", "input_tokens", "concurrency",
                "tpot_ms", "ttft_ms"]  # fmt: skip
    for line, (row, field) in enumerate(zip(rows, expected, strict=False), start=2):
        assert row["notes"].startswith(f"line {line}, field {field}:"), row["notes"]
        assert row["pred_output_tokens_per_s_per_chip"] == "" and row["fits"] == ""
    assert float(rows[-1]["pred_output_tokens_per_s_per_chip"]) > 0


def test_a_model_that_does_not_fit_and_an_unmet_target_are_explained() -> None:
    rows = _rows(
        f"{HEADER}\ndeepseek-r1,l4,1,fp8,1024,1024,4,,,\nllama-3.1-70b,h100,8,fp8,1000,200,,,0.5,\n"
    )
    assert rows[0]["fits"] == "false" and "needs >= " in rows[0]["notes"]
    assert rows[1]["fits"] == "true" and rows[1]["pred_output_tokens_per_s_per_chip"] == ""
    assert "latency targets" in rows[1]["notes"]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("model,chip,count\nllama-3.1-8b,h100,1\n", "precision"),
        ("", "model"),
    ],
)
def test_a_missing_column_is_fatal_and_named(text: str, field: str) -> None:
    with pytest.raises(InputError) as info:
        run_csv_text(text, "in.csv")
    assert info.value.location.field == field and info.value.location.file == "in.csv"


def test_the_cli_writes_the_contract(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text(f"{HEADER}\nllama-3.1-8b,h100,1,fp8,100,100,4,,,\nx,h100,1,fp8,1,1,1,,,\n")
    out = tmp_path / "out.csv"
    assert main(["estimate", "batch", str(src), "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0]) == [*HEADER.split(","), *OUTPUT]
    assert rows[0]["fits"] == "true" and rows[1]["notes"].startswith("line 3, field model")


def test_the_cli_reports_an_unreadable_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["estimate", "batch", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "nope.csv" in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1


def test_inferencex_rows_parse_and_skip_with_reasons(tmp_path: Path) -> None:
    header = (
        "gpu,model,precision,framework,spec_decoding,disagg,tp,ep,dp_attention,num_gpus,"
        "num_prefill_gpu,prefill_workers,num_decode_gpu,decode_workers,decode_ep,isl,osl,"
        "concurrency,throughput_tok_s_per_gpu,throughput_kind,tpot_ms,ttft_ms"
    )
    lines = [
        "h200,DeepSeek-R1-0528,fp8,sglang,none,False,8,1,False,8,,,,,,1024,1024,64,240,"
        "output_tok_s_per_gpu,32.5,150",
        "gb200,DeepSeek-R1-0528,fp4,dynamo-trt,mtp,True,,,prefill=True;decode=True,24,8,2,"
        "16,2,8,8192,1024,512,900,output_tok_s_per_decode_gpu,30,2000",
        "gb200,DeepSeek-R1-0528,fp4,dynamo-trt,none,True,,,false,24,0,0,0,0,,1024,1024,4,"
        "50,output_tok_s_per_decode_gpu,,",
        "x9000,DeepSeek-R1-0528,fp8,sglang,none,False,8,1,False,8,,,,,,1024,1024,64,240,"
        "output_tok_s_per_gpu,32.5,150",
        "h200,DeepSeek-R1-0528,fp8,sglang,none,False,8,1,False,8,,,,,,1024,1024,4,900,"
        "output_tok_s_per_gpu,12,150",
    ]
    path = tmp_path / "ix.csv"
    path.write_text(header + "\n" + "\n".join(lines) + "\n")
    obs, skipped = read_inferencex(path)
    tput = [o for o in obs if o.target is Target.TOKENS_PER_S_PER_GPU]
    assert [o.chip for o in tput] == ["h200", "gb200"]
    disagg = tput[1].point
    assert disagg.deployment.prefill_gpus == 8 and disagg.deployment.gpus == 8
    assert disagg.instances == 2 and disagg.concurrency == 256 and disagg.deployment.mtp
    assert tput[0].point.input_tokens == pytest.approx(1024 * 0.9)
    reasons = {s.line: s.reason for s in skipped}
    assert "split" in reasons[4] and "unknown chip" in reasons[5] and "contradicts" in reasons[6]
    (tmp_path / "bad.csv").write_text("gpu,model\nh200,x\n")
    with pytest.raises(InputError) as info:
        read_inferencex(tmp_path / "bad.csv")
    assert info.value.location.field == "precision"


@pytest.mark.skipif(not INFERENCEX.is_file(), reason="shared InferenceX data not present")
def test_the_shipped_fit_on_inferencex_rows() -> None:
    obs, skipped = read_inferencex(INFERENCEX)
    rows = [o for o in obs if o.target is Target.TOKENS_PER_S_PER_GPU]
    assert len(rows) > 2400 and len(skipped) < 20
    preds = predict(rows, shipped_serving_params())
    for vendor, limit in (("nvidia", 0.25), ("amd", 0.25)):
        errors = [abs(p / o.value - 1) for o, p in zip(rows, preds, strict=True)
                  if o.vendor == vendor]  # fmt: skip
        # In-sample (the out-of-sample figures are in docs/validation.md).
        assert statistics.median(errors) < limit, vendor


def test_the_planner_can_plan_on_the_pessimistic_quantile() -> None:
    h200 = registry().get("h200")
    median = DefaultPerfModel("p50").inference("llama-3.1-70b", h200, Precision.FP8, 1000, 200,
                                               2000, 50)  # fmt: skip
    low = DefaultPerfModel("p10").inference("llama-3.1-70b", h200, Precision.FP8, 1000, 200,
                                            2000, 50)  # fmt: skip
    assert median is not None and low is not None and low[1] < median[1]
    with pytest.raises(InputError):
        DefaultPerfModel("p99")


PORTFOLIO = """
catalog: none
policy: {perf_quantile: %s}
offers:
  - {id: maia, provider: azure, chip: maia-200, region: r, usd_per_chip_hour: 1.0}
  - {id: hopper, provider: aws, chip: h200, region: r, usd_per_chip_hour: 1.0}
workloads:
  - {name: chat, kind: inference, model: llama-3.1-70b, precision: fp8,
     traffic: {requests_per_s: 20, input_tokens: 1000, output_tokens: 200}}
"""


def test_plans_mark_allocations_on_uncalibrated_estimates_and_p10_buys_more() -> None:
    plans = {
        q: plan_portfolio(parse_portfolio_text(PORTFOLIO % q, "p.yaml")) for q in ("p50", "p10")
    }
    data = plans["p50"].to_json()
    marks = {a["chip"]: a["uncalibrated_estimate"] for a in data["allocations"]}
    assert marks == {"maia-200": True}  # the cheapest chip per token rests on no measurement
    hopper = parse_portfolio_text((PORTFOLIO % "p50").replace("maia-200", "h100"), "p.yaml")
    data = plan_portfolio(hopper).to_json()
    assert data["allocations"] and not any(a["uncalibrated_estimate"] for a in data["allocations"])
    assert plans["p10"].total_cost_usd > plans["p50"].total_cost_usd
    with pytest.raises(InputError, match="perf_quantile"):
        parse_portfolio_text(PORTFOLIO % "p42", "p.yaml")


def test_plan_json_keeps_its_keys() -> None:
    plan = plan_portfolio(parse_portfolio_text(PORTFOLIO % "p50", "p.yaml"))
    data = json.loads(json.dumps(plan.to_json()))
    assert {"status", "total_cost_usd", "allocations"} <= set(data)
    assert all("uncalibrated_estimate" in a for a in data["allocations"])


def test_marks_follow_the_problem_through_transformations() -> None:
    from chipfolio.planner.build import build_problem

    problem = build_problem(parse_portfolio_text(PORTFOLIO % "p50", "p.yaml"))
    assert problem.uncalibrated is not None and problem.uncalibrated.tolist() == [[True, False]]
    dropped = problem.drop_offers([True, False])
    assert dropped.uncalibrated is not None and dropped.uncalibrated.tolist() == [[False]]
    assert problem.scale_prices([True, True], 2.0).uncalibrated is not None
