"""The serving model against InferenceX and the published results, out of sample.

    python scripts/serving_validation.py [--refit] [--quick]

Used by scripts/validation_table.py (which writes docs/validation.md); run alone it prints
the markdown. ``--refit`` also writes the shipped serving calibration
(src/chipfolio/perfmodel/data/serving_calibration.json) with intervals from the
out-of-sample residuals. Every held-out prediction comes from a calibration fitted without
the held-out group:

* leave-one-chip-out: every row of the chip (InferenceX and published) is removed;
* leave-one-framework-out: every InferenceX row of the framework (e.g. all dynamo-trt);
* leave-one-stack-out: the whole software stack (gives the interval of unmeasured stacks);
* 5-fold by configuration: all concurrencies of a configuration fall in one fold (gives the
  interval of measured chips).

Interval coverage is nested: a held-out group's 80% interval comes from the residuals of the
*other* groups of the same scheme, never its own. Leave-one-chip-out intervals are conformal
by group, in three levels seen on the held-out chip's siblings on its software stack: their
biases (centred on zero, Student's t for how few they are), each workload's offset about
its chip's bias (model, precision and lengths: known before a measurement; mirrored, as a new
chip may run any workload faster or slower than its others) and each row's departure from its
workload's level. A vendor's only chip (its stack then unmeasured) takes the same levels from
whole stacks held out (the band an estimate on an unmeasured stack ships), its own stack's
never, with each of their chips' departure from its stack's level. A held-out chip that
takes the deviation of a measured chip on its kernel target gets the union of the band about
its prediction and the band about its prediction without that deviation.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from chipfolio.catalog.chips import registry
from chipfolio.domain import Precision
from chipfolio.perfmodel.measurements import read_results_csv
from chipfolio.perfmodel.observations import (
    Observation,
    Target,
    published_observations,
    read_inferencex,
)
from chipfolio.perfmodel.serving import ServingParams
from chipfolio.perfmodel.serving_estimate import Request, estimate
from chipfolio.perfmodel.serving_fit import (
    Held,
    Summary,
    chip_workload,
    fit_serving,
    folds,
    grouped_intervals,
    hold_out,
    level_band,
    levels,
    quantiles,
    summarize,
    uncarried_predictions,
    with_intervals,
)
from chipfolio.workloads.models import get_model

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "perf"
INFERENCEX = SHARED / "inferencex" / "inferencex.csv"
PUBLISHED = SHARED / "published_results.csv"
SERVING_JSON = ROOT / "src" / "chipfolio" / "perfmodel" / "data" / "serving_calibration.json"
TARGET_PCT = 15.0


def _scored(o: Observation) -> bool:
    return o.source == "inferencex" and o.target is Target.TOKENS_PER_S_PER_GPU


def load() -> tuple[list[Observation], int, int]:
    obs, skipped = read_inferencex(INFERENCEX)
    pub = published_observations(read_results_csv(PUBLISHED).measurements)
    return obs + pub, len(skipped), len(pub)


def _pct(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:.1f}%"


def _row(name: str, s: Summary, target: bool = False) -> str:
    mark = ""
    if target and not math.isnan(s.median_abs_pct):
        mark = " ✓" if s.median_abs_pct <= TARGET_PCT else " ✗"
    return (
        f"| {name} | {s.rows} | {_pct(s.median_abs_pct)}{mark} | {_pct(s.median_signed_pct)} | "
        f"{_pct(s.p90_abs_pct)} | {_pct(s.coverage_pct)} |"
    )


_HEADER = [
    "| group | rows | median abs error | median signed | 90th pct abs | 80% interval covers |",
    "|---|---|---|---|---|---|",
]


def _table(
    groups: Mapping[str, Sequence[Held]], by: Callable[[Held], str], target: bool
) -> list[str]:
    pooled: dict[str, list[Held]] = defaultdict(list)
    for rows in groups.values():
        for h in rows:
            pooled[by(h)].append(h)
    lines = list(_HEADER)
    for name in sorted(pooled):
        lines.append(_row(name, summarize(pooled[name]), target))
    everything = [h for rows in groups.values() for h in rows]
    lines.append(_row("**all**", summarize(everything)))
    return lines


def _frontier(obs: Sequence[Observation]) -> tuple[list[Observation], dict[str, float]]:
    """Aggregated rows on their measured frontier, and each group's largest concurrency.

    A group is a chip, model, precision, lengths and chip count; a row is on the frontier
    when no row of its group has both a lower TPOT and a higher throughput.
    """
    groups: dict[str, list[Observation]] = defaultdict(list)
    for o in obs:
        if _scored(o) and not o.point.deployment.disaggregated and o.tpot_ms:
            groups[_group(o)].append(o)
    rows: list[Observation] = []
    top: dict[str, float] = {}
    for key, members in groups.items():
        top[key] = max(m.point.concurrency for m in members)
        for o in members:
            beaten = any(
                m.tpot_ms is not None
                and o.tpot_ms is not None
                and m.tpot_ms < o.tpot_ms
                and m.value > o.value
                for m in members
            )
            if not beaten:
                rows.append(o)
    return rows, top


def _group(o: Observation) -> str:
    p = o.point
    return f"{o.chip}|{o.model}|{p.precision}|{p.input_tokens:.0f}|{p.deployment.gpus}"


def _at_target(obs: Sequence[Observation], fitted: Mapping[str, ServingParams]) -> list[Held]:
    """The issue's question: tokens/s per chip at the measured TPOT, deployment left free.

    Asked for the rows on their group's measured frontier, with the concurrency searched up
    to the largest the group measured (beyond it nothing was measured to compare with).
    """
    rows, top = _frontier(obs)
    out: list[Held] = []
    for o in rows:
        params = fitted.get(o.chip)
        if params is None:
            continue
        req = Request(
            model=get_model(o.model), chip=o.point.chip, count=o.point.deployment.gpus,
            precision=o.point.precision, input_tokens=round(o.point.input_tokens),
            output_tokens=round(o.point.output_tokens), tpot_ms=o.tpot_ms,
            framework=o.framework, mtp=o.point.deployment.mtp, max_concurrency=top[_group(o)],
        )  # fmt: skip
        est = estimate(req, params)
        value = est.tokens_per_s_per_chip if est.meets_slo else 0.0
        out.append(Held(o, max(value, 1e-9)))
    return out


def run(refit: bool, quick: bool) -> tuple[str, ServingParams]:
    start = time.perf_counter()
    nfev = 20 if quick else 60
    allobs, n_skipped, n_pub = load()
    ix = [o for o in allobs if o.source == "inferencex"]
    chips = sorted({o.chip for o in ix})
    frameworks = sorted({o.framework for o in ix})
    full = fit_serving(allobs, label="InferenceX + published results", max_nfev=nfev)
    loco_params: dict[str, ServingParams] = {}
    loco = hold_out(allobs, lambda o: o.chip, chips, max_nfev=nfev, scored=_scored,
                    keep=loco_params)  # fmt: skip
    lofo = hold_out(
        allobs,
        lambda o: o.framework if o.source == "inferencex" else "(published)",
        frameworks,
        max_nfev=nfev,
        scored=_scored,
    )
    loso = hold_out(allobs, lambda o: o.stack, ("cuda", "rocm", "synapse"), max_nfev=nfev,
                    scored=_scored)  # fmt: skip
    kfold = hold_out(allobs, folds(allobs, 5), max_nfev=nfev, scored=_scored)
    stack_of = {o.chip: o.stack for o in ix}
    uncarried = {c: uncarried_predictions(rows, loco_params[c]) for c, rows in loco.items()}
    loco_i = grouped_intervals(loco, stack_of, loso, uncarried=uncarried)
    lofo_i = grouped_intervals(lofo)
    loso_i = grouped_intervals(loso)
    shipped = replace(full, intervals=shipped_intervals(loco, lofo, loso, kfold, stack_of))
    if refit:
        SERVING_JSON.write_text(json.dumps(shipped.to_json(), indent=2) + "\n", encoding="utf-8")
    in_sample = [
        Held(o, p)
        for o, p in zip(ix, _predict(ix, full), strict=True)
        if o.target is Target.TOKENS_PER_S_PER_GPU
    ]
    at_target = _at_target(ix, loco_params)
    mlperf = _mlperf_lines(shipped, loco_params.get("mi300x"), loco_i.get("mi300x", []))
    doc = _render(
        allobs, n_skipped, n_pub, in_sample, loco_i, lofo_i, loso_i, with_intervals(kfold),
        at_target, shipped, time.perf_counter() - start, mlperf,
    )  # fmt: skip
    return doc, shipped


def shipped_intervals(
    loco: Mapping[str, Sequence[Held]],
    lofo: Mapping[str, Sequence[Held]],
    loso: Mapping[str, Sequence[Held]],
    kfold: Mapping[str, Sequence[Held]],
    stack_of: Mapping[str, str],
) -> dict[str, tuple[float, float]]:
    """The 80% bands shipped with the calibration, per tier (and per stack for new chips).

    * measured chip: residual quantiles of the configuration folds;
    * a new chip on a stack with measured chips (``unmeasured_chip:<stack>``): the levels
      of that stack's chips when each was held out (biases mirrored and widened for how few
      there are, workload offsets mirrored, row scatter as measured); ``unmeasured_chip``
      alone pools every chip and framework;
    * a stack without measurements: the levels of whole stacks held out, likewise, their
      workloads told apart chip by chip (a new chip departs from its unmeasured stack's
      level as the chips of a stack held out departed from theirs).
    """
    chips, frameworks = levels(loco), levels(lofo)
    out: dict[str, tuple[float, float]] = {
        "measured_chip": quantiles(_residuals(kfold.values())),
        "unmeasured_chip": level_band([*chips.values(), *frameworks.values()]),
        "unmeasured_stack": level_band(levels(loso, chip_workload).values()),
    }
    for stack in sorted({stack_of[c] for c in chips}):
        out[f"unmeasured_chip:{stack}"] = level_band(
            lv for c, lv in chips.items() if stack_of[c] == stack
        )
    return {k: v for k, v in out.items() if all(math.isfinite(x) for x in v)}


MLPERF = (
    ("Offline", "8xMI300X_2xEPYC-9374F", 23514.8, None),
    ("Offline", "8xMI300X_2xEPYC-TURIN", 24109.8, None),
    ("Server", "8xMI300X_2xEPYC-9374F", 21028.23, 200.0),
)
"""MLPerf Inference v4.1 closed, AMD, Llama-2-70B (99%), 8 x MI300X, vLLM at FP8
(mlcommons/inference_results_v4.1 @a2f5d66d, closed/AMD/results/<system>/llama2-70b-99/
<scenario>/performance/run_1/mlperf_log_summary.txt: "Tokens per second", output tokens;
FP8 per closed/AMD/code/llama2-70b-99/mlperf_config_VllmFp8). Server also meets a 200 ms
p99 TPOT (and 2 s TTFT). Output 293 tokens a sample (23514.8 tokens/s over 80.15 samples/s
in the Offline log); the ~300-token mean prompt of the OpenOrca set is an assumption, not
from the log. Never used for fitting: a check only."""


def mlperf_requests() -> list[tuple[str, str, float, Request]]:
    """(scenario, system, measured output tokens/s per chip, the question) per MLPerf row."""
    chip = registry().get("mi300x")
    model = get_model("llama-2-70b")
    return [
        (scenario, system, total / 8,
         Request(model=model, chip=chip, count=8, precision=Precision.FP8, input_tokens=300,
                 output_tokens=293, tpot_ms=tpot, framework="vllm"))
        for scenario, system, total, tpot in MLPERF
    ]  # fmt: skip


def _mlperf_lines(
    shipped: ServingParams, held_params: ServingParams | None, held_rows: Sequence[Held]
) -> list[str]:
    band = None
    if held_rows:
        first = held_rows[0]
        band = (first.low / first.predicted, first.high / first.predicted)
    lines = [
        "| scenario | system | measured tok/s/chip | shipped fit (80% band) | inside | "
        "MI300X held out (80% band) | inside |",
        "|---|---|---|---|---|---|---|",
    ]
    for scenario, system, measured, req in mlperf_requests():
        cells = [scenario, system, f"{measured:,.0f}"]
        est = estimate(req, shipped)
        cells += [f"{est.tokens_per_s_per_chip:,.0f} ({est.low:,.0f}-{est.high:,.0f}, {est.tier})",
                  "yes" if est.low <= measured <= est.high else "**no**"]  # fmt: skip
        if held_params is not None and band is not None:
            h = estimate(req, held_params).tokens_per_s_per_chip
            lo, hi = h * band[0], h * band[1]
            inside = "yes" if lo <= measured <= hi else "**no**"
            cells += [f"{h:,.0f} ({lo:,.0f}-{hi:,.0f})", inside]
        else:
            cells += ["—", "—"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _predict(obs: Sequence[Observation], params: ServingParams) -> list[float]:
    from chipfolio.perfmodel.serving_fit import predict

    return predict(obs, params)


def _residuals(groups: Iterable[Sequence[Held]]) -> list[float]:
    return [h.log_residual for rows in groups for h in rows]


def _vendor(h: Held) -> str:
    return h.obs.vendor


def _by_model(h: Held) -> str:
    p = h.obs.point
    return f"{h.obs.chip} {h.obs.model} {p.precision} {round(p.input_tokens / 0.9):d} in"


def _by_load(h: Held) -> str:
    c = h.obs.point.concurrency
    band = "1-8" if c <= 8 else "9-32" if c <= 32 else "33-128" if c <= 128 else ">128"
    mode = "disaggregated" if h.obs.point.deployment.disaggregated else "aggregated"
    return f"{h.obs.chip} concurrency {band} {mode}"


def _render(
    allobs: Sequence[Observation], n_skipped: int, n_pub: int, in_sample: Sequence[Held],
    loco: Mapping[str, list[Held]], lofo: Mapping[str, list[Held]],
    loso: Mapping[str, list[Held]], kfold: Mapping[str, list[Held]],
    at_target: Sequence[Held], shipped: ServingParams, seconds: float, mlperf: Sequence[str],
) -> str:  # fmt: skip
    ix_rows = sum(1 for o in allobs if _scored(o))
    lines = [
        "## Serving model: InferenceX and published results, out of sample",
        "",
        f"{ix_rows} InferenceX throughput rows ({n_skipped} rows skipped: no prefill/decode "
        f"split or self-contradictory) and {n_pub} published serving rows. Errors are "
        "predicted / measured - 1 of output tokens/s per GPU (per decode GPU when "
        f"disaggregated) at the row's own deployment and concurrency. Target: median "
        f"absolute error <= {TARGET_PCT:.0f}% per vendor leave-one-chip-out (✓/✗).",
        "",
        "### Leave-one-chip-out, per vendor",
        "",
        "A held-out chip's 80% interval comes from its siblings on its software stack held "
        "out in turn (their biases read as Student's t for how few they are, their "
        "workloads' offsets mirrored, their rows' scatter); a vendor's only chip takes the "
        "other stacks held out whole, chip by chip; a chip that takes the deviation of a "
        "measured chip on its kernel target gets the union of the bands with and without it.",
        "",
        *_table(loco, _vendor, target=True),
        "",
        "### Leave-one-chip-out, per chip",
        "",
        *_table(loco, lambda h: h.obs.chip, target=False),
        "",
        "### Where the leave-one-chip-out error comes from",
        "",
        "The same held-out predictions broken down: per chip and model (precision, input "
        "length), per chip and framework, per chip and concurrency (aggregated or "
        "disaggregated). A chip's rows share one sign when its stack's other chips run "
        "faster or slower than their specs predict: that is the chip's bias; with each "
        "workload's offset about it and the rows' scatter it sets the interval its "
        "siblings get.",
        "",
        *_table(loco, _by_model, target=False),
        "",
        *_table(loco, lambda h: f"{h.obs.chip} {h.obs.framework}", target=False),
        "",
        *_table(loco, _by_load, target=False),
        "",
        "### Leave-one-framework-out, per vendor",
        "",
        *_table(lofo, _vendor, target=True),
        "",
        "### Leave-one-framework-out, per framework",
        "",
        *_table(lofo, lambda h: f"{h.obs.framework} ({h.obs.vendor})", target=False),
        "",
        "### Leave-one-stack-out (the whole vendor stack unmeasured), per vendor",
        "",
        *_table(loso, _vendor, target=False),
        "",
        "### 5-fold by configuration (chips and frameworks measured), per vendor",
        "",
        *_table(kfold, _vendor, target=False),
        "",
        "### In-sample (the shipped fit on its own rows), per vendor",
        "",
        *_table({"all": list(in_sample)}, _vendor, target=False),
        "",
        "### At the measured TPOT, deployment free (leave-one-chip-out calibration)",
        "",
        "The question `estimate inference --tpot-ms <measured TPOT>` answers: the best "
        "output tokens/s per chip of any deployment and concurrency on the row's chip count "
        "that meets the row's measured TPOT, against what the row measured. Asked only for "
        "aggregated rows on their measured frontier (no row of the same chip, model, "
        "precision, lengths and chip count is both faster per token and higher in "
        "throughput), searching concurrencies up to the largest measured there. A row that "
        "no deployment can meet counts as -100%.",
        "",
        *_table({"all": list(at_target)}, _vendor, target=False),
        "",
        "### MLPerf Llama-2-70B on MI300X (never fitted)",
        "",
        "MLPerf Inference v4.1 closed, AMD's three 8 x MI300X Llama-2-70B results (vLLM, "
        "FP8), asked as `estimate inference llama-2-70b --chip mi300x --count 8 --precision "
        "fp8 --framework vllm` at 300 input / 293 output tokens (Server: at its 200 ms TPOT "
        "limit). The shipped fit has the MI300X's DeepSeek-R1 rows; the held-out column is "
        "the fit without any MI300X row, with the MI300X's leave-one-chip-out band.",
        "",
        *mlperf,
        "",
        "### Shipped 80% intervals (log residual quantiles by tier)",
        "",
        "| tier | from | 10th pct | 90th pct | band |",
        "|---|---|---|---|---|",
    ]
    origin = {
        "measured_chip": "5-fold by configuration",
        "unmeasured_chip": "leave-one-chip-out and leave-one-framework-out levels (biases as "
        "Student's t)",
        "unmeasured_stack": "leave-one-stack-out levels, chip by chip, biases as Student's t "
        "(also: a stack without MoE rows, for MoE)",
    }
    for tier, (lo, hi) in sorted(shipped.intervals.items()):
        band = f"x{math.exp(lo):.2f} .. x{math.exp(hi):.2f}"
        where = origin.get(tier, "")
        if ":" in tier:
            where = (
                f"levels of the {tier.split(':')[1]} chips held out one at a time "
                "(biases as Student's t, workload offsets mirrored)"
            )
        lines.append(f"| {tier} | {where} | {lo:+.3f} | {hi:+.3f} | {band} |")
    lines += [
        "",
        f"Fitted parameters (natural units; {shipped.rows} rows; generated in {seconds:.0f} s):",
        "",
        "```json",
        json.dumps(shipped.natural(), indent=1),
        "```",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refit", action="store_true", help="write the shipped calibration")
    parser.add_argument("--quick", action="store_true", help="fewer fit iterations")
    args = parser.parse_args(argv)
    doc, _ = run(args.refit, args.quick)
    print(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
