"""Catalog speed: registry load, bundled snapshot load, queries, and importing a large catalog.

Run: ``.venv/bin/python benchmarks/bench_catalog.py [--rows N]``. Prints figures; asserts
nothing about time. The large-import case synthesizes an AWS-layout ``vms.csv`` of N rows (the
full upstream AWS file has about 48k) from the shared extract's rows, varying region names, so
it runs without network access.
"""

from __future__ import annotations

import argparse
import csv
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from chipfolio.catalog.chips import registry
from chipfolio.catalog.snapshots import build_snapshot, load_catalog
from chipfolio.catalog.sources.skypilot_csv import import_skypilot_dir
from chipfolio.errors import CatalogError

REPO = Path(__file__).resolve().parents[1]
AWS_EXTRACT = (
    REPO.parent / "shared" / "data" / "skypilot-catalog" / "v8" / "aws" / "vms.extract.csv"
)


def timed(label: str, fn: Callable[[], object], repeat: int = 5) -> object:
    best = float("inf")
    result: object = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    print(f"{label:<48} {best * 1000:9.2f} ms (best of {repeat})")
    return result


def synth_aws(rows: int, target: Path) -> None:
    with AWS_EXTRACT.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        base = list(reader)
    region = header.index("Region")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for i in range(rows):
        row = list(base[i % len(base)])
        row[region] = f"{row[region]}-{i // len(base)}"
        writer.writerow(row)
    folder = target / "v8" / "aws"
    folder.mkdir(parents=True)
    (folder / "vms.csv").write_text(out.getvalue(), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=48_000)
    args = parser.parse_args()
    registry.cache_clear()
    label = f"chip registry load ({len(registry())} chips)"
    timed(label, lambda: (registry.cache_clear(), registry()), 20)
    catalog = load_catalog()
    print(f"bundled snapshot {catalog.snapshot_id}: {len(catalog)} offers")
    timed("load bundled snapshot", load_catalog, 10)
    timed(
        "query chip=H100 on_demand min_chips=8",
        lambda: catalog.query("H100", None, None, None, "on_demand", 8),
        50,
    )
    timed("query (no filter, sort all)", catalog.query, 50)
    try:
        timed("frame() -> polars (the dataframe extra)", catalog.frame, 10)
    except CatalogError as exc:
        print(f"frame() skipped: {exc}")
    if not AWS_EXTRACT.is_file():
        print("shared data absent: skipping the large import")
        return
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        synth_aws(args.rows, src)
        offers, report = timed(f"import {args.rows} AWS rows", lambda: import_skypilot_dir(src), 3)  # type: ignore[misc]
        print(f"  -> {len(offers)} offers, {sum(report.skipped().values())} skipped prices")
        home = Path(tmp) / "home"
        info = timed(
            f"build_snapshot ({args.rows} rows, write)", lambda: build_snapshot(src, home), 1
        )
        snapshot_id = info.id  # type: ignore[attr-defined]
        big = timed("load that snapshot", lambda: load_catalog(snapshot_id, home), 3)
        timed("query chip=H100 on big catalog", lambda: big.query("H100"), 10)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
