"""Regenerate docs/validation.md: the performance model against every measurement we have.

    python scripts/validation_table.py            # from the shipped calibrations
    python scripts/validation_table.py --refit    # refit both shipped calibrations first
    python scripts/validation_table.py --refit-serving   # refit the serving calibration only
    python scripts/validation_table.py --quick    # fewer fit iterations (a draft)

Part one (scripts/serving_validation.py): the serving model against InferenceX and the
published serving rows, leave-one-chip-out, leave-one-framework-out, leave-one-stack-out and
configuration folds, per vendor, with interval coverage. Part two: every row of
../shared/data/perf/published_results.csv against the roofline calibration (training,
microbenchmarks and the dense serving rows), in-sample and leave-one-out.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from chipfolio.perfmodel.calibration import (
    ErrorSummary,
    RowResult,
    evaluate,
    fit_calibration,
    leave_one_out,
    summarize,
)
from chipfolio.perfmodel.efficiency import Calibration, default_calibration
from chipfolio.perfmodel.measurements import Metric, read_results_csv

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serving_validation  # the sibling script

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT.parent / "shared" / "data" / "perf" / "published_results.csv"
DEFAULT_JSON = ROOT / "src" / "chipfolio" / "perfmodel" / "data" / "default_calibration.json"
DOC = ROOT / "docs" / "validation.md"

_UNITS = {
    Metric.OUTPUT_TOKENS_PER_S: "output tok/s",
    Metric.TTFT_MS: "TTFT ms",
    Metric.TPOT_MS: "TPOT ms",
    Metric.TRAIN_TOKENS_PER_S: "train tok/s",
    Metric.TRAIN_TOKENS_PER_S_PER_CHIP: "train tok/s/chip",
    Metric.TRAIN_TFLOPS_PER_CHIP: "model TFLOP/s/chip",
    Metric.MFU: "MFU",
}


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1.0:
        return f"{value:.3f}"
    if value < 100.0:
        return f"{value:.2f}"
    return f"{value:,.0f}"


def _pct(result: RowResult) -> str:
    return "—" if result.error is None else f"{result.error * 100:+.1f}%"


def _summary_line(name: str, s: ErrorSummary) -> str:
    return (
        f"| {name} | {s.rows} | {s.chips} | {s.vendors} | {s.median_abs_pct:.1f}% | "
        f"{s.worst_abs_pct:.1f}% |"
    )


def render(in_sample: Sequence[RowResult], loo: Sequence[RowResult], cal: Calibration) -> str:
    by_line = {r.measurement.line: r for r in loo}
    lines = [
        "## Roofline calibration: every published row (training, microbenchmarks, dense serving)",
        "",
        "From `shared/data/perf/published_results.csv`. Training estimates use this "
        "calibration; serving estimates use the serving model above (these rows are in its "
        "fit too), so the inference rows here show the older roofline path for reference.",
        "",
        "*In-sample* predictions use the shipped calibration, which was fitted on these rows. "
        "*Leave-one-out* predictions use a calibration fitted on every other row (the row's "
        "own stack keeps its parameters only if other rows of that stack remain): it is the "
        "honest estimate of the error on a result the model has not seen. Errors are "
        "predicted / published - 1.",
        "",
        "| errors | rows | chips | vendors | median abs | worst abs |",
        "|---|---|---|---|---|---|",
        _summary_line("in-sample", summarize(in_sample)),
        _summary_line("leave-one-out", summarize(loo)),
        "",
        "| line | chip | n | model | scenario | metric | published | in-sample | err | "
        "leave-one-out | err |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in in_sample:
        m = r.measurement
        other = by_line.get(m.line)
        scenario = m.scenario.replace("|", "/")
        lines.append(
            f"| {m.line} | {m.chip.id} | {m.count} | {m.model.name if m.model else '—'} | "
            f"{scenario} | {_UNITS.get(m.metric, str(m.metric))} ({m.precision}) | "
            f"{_fmt(m.value)} | {_fmt(r.predicted)} | {_pct(r)} | "
            f"{_fmt(other.predicted if other else None)} | {_pct(other) if other else '—'} |"
        )
        if r.predicted is None:
            lines[-1] += f" *{r.reason}*"
    lines += ["", "## Shipped calibration", "", "```json", _json(cal), "```", ""]
    return "\n".join(lines)


def _json(cal: Calibration) -> str:
    import json

    data = cal.to_json()
    data.pop("fitted_on", None)
    return json.dumps(data, indent=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refit", action="store_true", help="refit the shipped calibration")
    parser.add_argument("--results", type=Path, default=PUBLISHED)
    parser.add_argument("--quick", action="store_true", help="fewer serving fit iterations")
    parser.add_argument(
        "--refit-serving", action="store_true", help="refit only the serving calibration"
    )
    args = parser.parse_args(argv)
    serving_doc, _ = serving_validation.run(args.refit or args.refit_serving, args.quick)
    rows = read_results_csv(args.results).measurements
    start = time.perf_counter()
    if args.refit:
        cal = fit_calibration(rows, label="published results (shared/data/perf)")
        cal.save(DEFAULT_JSON)
        print(f"wrote {DEFAULT_JSON.relative_to(ROOT)}")
    else:
        cal = default_calibration()
    in_sample = evaluate(rows, cal)
    loo = leave_one_out(rows)
    DOC.parent.mkdir(parents=True, exist_ok=True)
    header = [
        "# Validation: the performance model against measurements",
        "",
        "Generated by `python scripts/validation_table.py` from `shared/data/perf/` "
        "(InferenceX and published_results.csv); do not edit by hand.",
        "",
        "",
    ]
    body = "\n".join(header) + serving_doc + "\n" + render(in_sample, loo, cal)
    DOC.write_text(body, encoding="utf-8")
    s_in, s_loo = summarize(in_sample), summarize(loo)
    print(
        f"wrote {DOC.relative_to(ROOT)}: {s_in.rows} rows, {s_in.chips} chips, "
        f"{s_in.vendors} vendors; in-sample median {s_in.median_abs_pct:.1f}% worst "
        f"{s_in.worst_abs_pct:.1f}%; leave-one-out median {s_loo.median_abs_pct:.1f}% worst "
        f"{s_loo.worst_abs_pct:.1f}% ({time.perf_counter() - start:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
