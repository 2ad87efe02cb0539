"""Speed of the performance model: every chip x every built-in model x 2 precisions.

    python benchmarks/bench_perfmodel.py

Times, with cold caches, the four calls the planner and CLI make for each combination
(estimate_inference on 8 chips, estimate_training on 256 chips, inference_capability under
a 2 s / 50 ms SLO, training_capability on 1024 chips), then a calibration fit on the
published results. Prints figures; asserts nothing.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

from chipfolio.catalog.chips import registry
from chipfolio.domain import Precision
from chipfolio.perfmodel import (
    default_calibration,
    estimate_inference,
    estimate_training,
    fit_calibration,
    inference_capability,
    training_capability,
)
from chipfolio.perfmodel.hardware import chip_rates
from chipfolio.perfmodel.inference import inference_capability_cached
from chipfolio.perfmodel.measurements import read_results_csv
from chipfolio.perfmodel.training import training_capability_cached
from chipfolio.workloads.models import builtin_models

PUBLISHED = Path(__file__).resolve().parents[1].parent / "shared/data/perf/published_results.csv"
PRECISIONS = (Precision.BF16, Precision.FP8)


def main() -> None:
    chips, models = registry().all(), builtin_models().all()
    cal = default_calibration()
    for cache in (chip_rates, inference_capability_cached, training_capability_cached):
        cache.cache_clear()
    combos = [(m, c, p) for m in models for c in chips for p in PRECISIONS]
    timings: dict[str, float] = {}
    fits = 0
    for name, call in (
        (
            "estimate_inference(8 chips)",
            lambda m, c, p: estimate_inference(m, c, 8, p, 1000, 1000, calibration=cal).fits,
        ),
        (
            "estimate_training(256 chips)",
            lambda m, c, p: estimate_training(m, c, 256, p, 1e12, cal).fits,
        ),
        (
            "inference_capability(SLO)",
            lambda m, c, p: (
                inference_capability(m, c, p, 1000, 1000, 2000.0, 50.0, cal) is not None
            ),
        ),
        (
            "training_capability(1024)",
            lambda m, c, p: training_capability(m, c, p, 1024, cal) is not None,
        ),
    ):
        start = time.perf_counter()
        fits = sum(bool(call(m, c, p)) for m, c, p in combos)
        timings[name] = time.perf_counter() - start
        print(f"{name:32s} {timings[name]:6.2f} s  ({len(combos)} combos, {fits} feasible)")
    total = sum(timings.values())
    print(
        f"{'all four, cold caches':32s} {total:6.2f} s  "
        f"({len(chips)} chips x {len(models)} models x {len(PRECISIONS)} precisions)"
    )
    start = time.perf_counter()
    for m, c, p in combos:
        inference_capability(m, c, p, 1000, 1000, 2000.0, 50.0, cal)
    print(f"{'inference_capability, warm cache':32s} {time.perf_counter() - start:6.3f} s")
    if PUBLISHED.is_file():
        rows = read_results_csv(PUBLISHED).measurements
        start = time.perf_counter()
        fit_calibration(rows)
        print(f"{'fit_calibration (34 rows)':32s} {time.perf_counter() - start:6.2f} s")
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}"
    )


if __name__ == "__main__":
    main()
