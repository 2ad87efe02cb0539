"""Speed of `chipfolio estimate batch`: 1,000 rows through the CLI's own code path.

    python benchmarks/bench_perf_batch.py [--rows 1000]

The rows mix what a sweep asks: half at a stated concurrency, half with only a TPOT/TTFT
target (those search every deployment and a sweep of concurrencies), over MoE and dense
models, eight chips of four vendors, counts 1-16, bf16/fp8/fp4, 1k and 8k prompts, with
and without a framework, and every row distinct (no cache hits). Cold caches. Prints
figures and the machine load; asserts nothing. Target: 1,000 rows in < 30 s.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import random
import time

from chipfolio.perfmodel import serving
from chipfolio.perfmodel.batch import REQUIRED, run_csv_text
from chipfolio.perfmodel.serving_estimate import shipped_serving_params

MODELS = ("deepseek-r1", "gpt-oss-120b", "llama-3.1-70b", "llama-3.1-8b", "glm-4.7")
CHIPS = ("h100", "h200", "b200", "gb200", "mi300x", "mi355x", "trainium2", "tpu-v6e")
FRAMEWORKS = ("", "sglang", "trt", "vllm", "atom")


def make_rows(n: int, seed: int = 14) -> str:
    rng = random.Random(seed)
    header = [*REQUIRED, "framework", "tpot_ms", "ttft_ms"]
    lines = [",".join(header)]
    combos = list(itertools.product(MODELS, CHIPS, (1, 2, 4, 8, 16), ("fp8", "fp4", "bf16")))
    rng.shuffle(combos)
    for i in range(n):
        model, chip, count, precision = combos[i % len(combos)]
        isl = rng.choice((1024, 8192)) + i // len(combos)  # distinct rows, no cache hits
        osl = rng.choice((1024, 256))
        framework = rng.choice(FRAMEWORKS)
        if i % 2:
            conc, tpot, ttft = str(rng.choice((1, 4, 16, 64, 256, 1024))), "", ""
        else:
            conc, tpot, ttft = "", f"{rng.choice((15, 25, 50, 100))}", rng.choice(("", "3000"))
        lines.append(",".join(map(str, (model, chip, count, precision, isl, osl, conc,
                                        framework, tpot, ttft))))  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    text = make_rows(args.rows)
    params = shipped_serving_params()
    serving.model_shape.cache_clear()
    start = time.perf_counter()
    result = run_csv_text(text, "<bench>", params)
    seconds = time.perf_counter() - start
    estimated = sum(1 for r in result.rows if r["pred_output_tokens_per_s_per_chip"])
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
    print(f"estimate batch: {len(result.rows)} rows in {seconds:.1f} s "
          f"({1000 * seconds / max(len(result.rows), 1):.1f} ms/row); {estimated} with a "
          f"prediction, {result.failed} rejected (target: 1,000 rows < 30 s)")  # fmt: skip


if __name__ == "__main__":
    main()
