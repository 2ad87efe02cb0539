"""Import the real wide catalog files (full GCP and Azure, ~88,000 rows) and print what came out.

Run: ``.venv/bin/python benchmarks/bench_catalog_wide.py [--dir <a v8 catalog folder>]`` (default
``../shared/data/skypilot-catalog-wide``).
Prints the import time (best of N), then per provider: rows, offers, skipped rows by reason,
and per chip: offers and skipped rows by reason. Asserts nothing about time; note the machine
load (printed from ``os.getloadavg``) next to the figures.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from chipfolio.catalog.sources.report import ImportReport
from chipfolio.catalog.sources.skypilot_csv import import_skypilot_dir
from chipfolio.domain import Offer

REPO = Path(__file__).resolve().parents[1]
WIDE = REPO.parent / "shared" / "data" / "skypilot-catalog-wide"


def _import(folder: Path, repeat: int) -> tuple[float, list[Offer], ImportReport]:
    best = float("inf")
    offers: list[Offer] = []
    report = ImportReport()
    for _ in range(repeat):
        start = time.perf_counter()
        offers, report = import_skypilot_dir(folder)
        best = min(best, time.perf_counter() - start)
    return best, offers, report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, default=WIDE)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.dir.is_dir():
        print(f"{args.dir} absent: nothing to import")
        return
    load = os.getloadavg()
    seconds, offers, report = _import(args.dir, args.repeat)
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    print(
        f"import {report.rows} rows -> {len(offers)} offers: {seconds:.2f} s "
        f"(best of {args.repeat})"
    )
    for source in report.sources:
        print(f"\n{source.kind}  {source.file}")
        print(f"  rows {source.rows}, offers {source.offers}")
        for reason, count in sorted(source.skipped, key=lambda kv: -kv[1]):
            print(f"  skipped {count:>6}  {reason}")
        print("  per chip:")
        for chip, counts in source.chips().items():
            parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
            print(f"    {chip:<16} {parts}")


if __name__ == "__main__":
    main()
