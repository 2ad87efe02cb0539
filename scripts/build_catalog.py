"""Build the shipped catalog data (chip registry CSV, bundled offer snapshot) from ../shared/data.

Run from the repository root::

    .venv/bin/python scripts/build_catalog.py [--shared ../shared/data] [--check]

The chip registry is derived row by row from ``accelerators.csv`` and, for parts that real
price catalogs list but that table lacks, ``src/chipfolio/catalog/data/accelerators-supplement.csv``
(same layout, a source per row). How each row's
``fp8_or_int8_dense_tflops`` column and ``low_precision_note`` are read is written down in
``READINGS`` below, one entry per chip, so every figure in the shipped table can be traced to
the source row it came from. Numbers taken from a note (an INT8 or FP4 rate) are checked to
appear verbatim in that note. ``--check`` rebuilds into memory and fails if the shipped files
differ (used by the tests to keep the shipped data honest).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared" / "data"
DATA_DIR = REPO / "src" / "chipfolio" / "catalog" / "data"
CHIPS_CSV = DATA_DIR / "chips.csv"
SNAPSHOTS_DIR = DATA_DIR / "snapshots"
DEFAULT_JSON = SNAPSHOTS_DIR / "default.json"
# Parts that real price catalogs list but shared/data/accelerators.csv lacks, in its layout and
# with a source per row (kept beside the registry it feeds).
SUPPLEMENT_CSV = DATA_DIR / "accelerators-supplement.csv"
SKYPILOT_LABEL = (
    "shared/data/skypilot-catalog/v8: extracts of skypilot-org/skypilot-catalog catalogs/v8 "
    "(aws @ e385a0d, gcp @ 8427bbf, lambda @ 95eaf48, nebius @ 0082b04; see its SOURCE.md)"
)

GB_PER_GIB = 1024**3 / 1000**3

# fp8 reading: "col" = the fp8_or_int8 column is the FP8 rate; "bf16" = the note says FP8 runs at
# the bf16 rate (no FP8 speed-up); None = the chip has no FP8 or its rate is not public.
# int8 reading: "col" = the column is the INT8 rate; a number = taken from the note (checked);
# None = not stated in the source row.


@dataclass(frozen=True)
class Reading:
    """How one accelerators.csv row becomes one registry row."""

    id: str
    aliases: tuple[str, ...]
    fp8: str | None
    int8: str | float | None
    fp4: float | None
    scaleup_domain: int
    chips_per_node: int
    notes: str


READINGS: dict[str, Reading] = {
    "A100 80GB SXM4": Reading(
        "a100-80gb",
        ("A100-80GB", "A100-80GB-SXM", "A100 80GB", "A100-SXM4-80GB"),
        None,
        "col",
        None,
        8,
        8,
        "no FP8 on Ampere: the fp8_or_int8 column is INT8 TOPS",
    ),
    "H100 SXM5": Reading(
        "h100-sxm",
        ("H100", "H100-SXM", "H100-80GB", "H100-MEGA", "H100 SXM", "H100-SXM5"),
        "col",
        1979.0,
        None,
        8,
        8,
        "scale-up domain = 8 (HGX); NVLink Switch System reaches 256",
    ),
    "H200 SXM": Reading(
        "h200",
        ("H200", "H200-SXM", "H200-141GB", "H200 SXM"),
        "col",
        None,
        None,
        8,
        8,
        "INT8 not stated in the source row",
    ),
    "B200 (HGX 1000 W)": Reading(
        "b200",
        ("B200", "B200-SXM", "B200-180GB", "HGX B200"),
        "col",
        None,
        9000.0,
        8,
        8,
        "FP4 dense from the note; HBM 180 GB (early materials said 192 GB)",
    ),
    "GB200 (per Blackwell GPU in NVL72)": Reading(
        "gb200",
        ("GB200", "GB200-NVL72", "GB200 NVL72"),
        "col",
        None,
        10000.0,
        72,
        4,
        "per GPU in an NVL72 rack at 1200 W; chips_per_node = GPUs per compute tray",
    ),
    "L4": Reading(
        "l4",
        ("L4", "NVIDIA-L4"),
        "col",
        None,
        None,
        1,
        8,
        "PCIe card, no NVLink (scale-up domain 1); chips_per_node = up to 8 per server",
    ),
    "L40S": Reading(
        "l40s",
        ("L40S", "NVIDIA-L40S"),
        "col",
        None,
        None,
        1,
        8,
        "PCIe card, no NVLink (scale-up domain 1); chips_per_node = typically 4-8 per server",
    ),
    "Instinct MI300X": Reading(
        "mi300x",
        ("MI300X", "Instinct MI300X", "AMD-MI300X"),
        "col",
        None,
        None,
        8,
        8,
        "",
    ),
    "Instinct MI325X": Reading(
        "mi325x",
        ("MI325X", "Instinct MI325X", "AMD-MI325X"),
        "col",
        None,
        None,
        8,
        8,
        "",
    ),
    "Instinct MI355X": Reading(
        "mi355x",
        ("MI355X", "Instinct MI355X", "AMD-MI355X"),
        "col",
        None,
        10000.0,
        8,
        8,
        "rounded vendor claims; FP4 dense ~10 PF from the note",
    ),
    "TPU v4": Reading(
        "tpu-v4",
        ("tpu-v4", "TPU v4"),
        None,
        "col",
        None,
        4096,
        4,
        "no FP8 on v4: the fp8_or_int8 column is INT8 (same as bf16)",
    ),
    "TPU v5e": Reading(
        "tpu-v5e",
        ("tpu-v5e", "tpu-v5litepod", "TPU v5e", "tpu-v5-lite-podslice", "v5litepod"),
        "bf16",
        "col",
        None,
        256,
        8,
        "the fp8_or_int8 column is INT8; no FP8 speed-up, so FP8 runs at the bf16 rate",
    ),
    "TPU v5p": Reading(
        "tpu-v5p",
        ("tpu-v5p", "TPU v5p"),
        "bf16",
        "col",
        None,
        8960,
        4,
        "the fp8_or_int8 column is INT8; Google lists FP8 peak = bf16 rate; max slice 6144",
    ),
    "TPU v6e (Trillium)": Reading(
        "tpu-v6e",
        ("tpu-v6e", "TPU v6e", "Trillium"),
        "bf16",
        "col",
        None,
        256,
        8,
        "the fp8_or_int8 column is INT8; Google lists v6e FP8 peak = 918 (the bf16 rate)",
    ),
    "TPU7x (Ironwood)": Reading(
        "tpu7x",
        ("tpu7x", "tpu-v7x", "tpu-v7", "TPU7x", "Ironwood"),
        "col",
        None,
        None,
        9216,
        4,
        "native FP8",
    ),
    "Trainium (Trn1)": Reading(
        "trainium1",
        ("Trainium", "Trainium1", "trn1", "AWS Trainium"),
        "bf16",
        380.0,
        None,
        16,
        16,
        "cFP8 at the bf16 rate; INT8 380 TOPS from the note",
    ),
    "Trainium2": Reading(
        "trainium2",
        ("Trainium2", "trn2", "AWS Trainium2"),
        "col",
        None,
        None,
        64,
        16,
        "scale-up domain = Trn2 UltraServer (64); 16 chips per trn2.48xlarge",
    ),
    "Trainium3": Reading(
        "trainium3",
        ("Trainium3", "trn3", "AWS Trainium3"),
        "col",
        None,
        2517.0,
        64,
        4,
        "MXFP8 and MXFP4 at the same 2517 rate (note); domain 64 = Gen1 UltraServer (Gen2: 144)",
    ),
    "Inferentia2": Reading(
        "inferentia2",
        ("Inferentia2", "inf2", "AWS Inferentia2"),
        "bf16",
        380.0,
        None,
        12,
        12,
        "cFP8 at the bf16 rate; INT8 380 TOPS from the note; scale-up bandwidth not published",
    ),
    "Maia 100": Reading(
        "maia-100",
        ("Maia 100", "Maia100", "maia-100"),
        "col",
        None,
        None,
        4,
        4,
        "fp8 = MX9 (9-bit) rate from Hot Chips 2024; scale-up domain = 4 chips per node",
    ),
    "Maia 200": Reading(
        "maia-200",
        ("Maia 200", "Maia200", "maia-200"),
        "col",
        None,
        10000.0,
        6144,
        4,
        "BF16 not disclosed; FP8 >5 PF and FP4 >10 PF (lower bounds per Microsoft)",
    ),
    "Gaudi 2": Reading(
        "gaudi2",
        ("Gaudi2", "Gaudi 2", "HL-225", "Intel Gaudi2"),
        None,
        None,
        None,
        8,
        8,
        "FP8 supported but its peak is not public in the source",
    ),
    "Gaudi 3": Reading(
        "gaudi3",
        ("Gaudi3", "Gaudi 3", "HL-325", "Intel Gaudi3"),
        "col",
        None,
        None,
        8,
        8,
        "BF16 = FP8 matrix peak (MME)",
    ),
}

READINGS.update(
    {
        "A100 40GB SXM4": Reading(
            "a100-40gb",
            ("A100-40GB", "A100-40GB-SXM", "A100-SXM4-40GB"),
            None,
            "col",
            None,
            8,
            8,
            "no FP8 on Ampere: the fp8_or_int8 column is INT8 TOPS",
        ),
        "A100 80GB PCIe": Reading(
            "a100-80gb-pcie",
            ("A100-80GB-PCIe", "A100-PCIe-80GB"),
            None,
            "col",
            None,
            2,
            8,
            "PCIe card; no FP8 on Ampere (the fp8_or_int8 column is INT8); NVLink bridge pairs",
        ),
        "H100 PCIe": Reading(
            "h100-pcie",
            ("H100-PCIe", "H100-PCIe-80GB"),
            "col",
            1513.0,
            None,
            2,
            8,
            "PCIe card (HBM2e); NVLink bridge pairs (scale-up domain 2)",
        ),
        "H100 NVL": Reading(
            "h100-nvl",
            ("H100-NVL", "H100NVL", "H100-NVL-94GB"),
            "col",
            1671.0,
            None,
            2,
            8,
            "PCIe card with 94 GB HBM3, not the SXM part; NVLink bridge pairs (scale-up domain 2)",
        ),
        "GH200 (96 GB HBM3)": Reading(
            "gh200",
            ("GH200", "GH200-96GB", "Grace Hopper"),
            "col",
            None,
            None,
            1,
            1,
            "per Hopper GPU of one GH200 superchip (96 GB HBM3 version); CPU memory not counted",
        ),
    }
)

VENDORS = {
    "NVIDIA": "nvidia",
    "AMD": "amd",
    "Google": "google",
    "AWS": "aws",
    "Microsoft": "microsoft",
    "Intel": "intel",
}
STACKS = (
    ("CUDA", "cuda"),
    ("ROCm", "rocm"),
    ("XLA", "xla"),
    ("Neuron", "neuron"),
    ("Maia", "maia"),
    ("Gaudi", "synapse"),
)
CHIP_COLUMNS = (
    "id",
    "name",
    "vendor",
    "year",
    "bf16_tflops",
    "fp8_tflops",
    "fp4_tflops",
    "int8_tflops",
    "hbm_gib",
    "hbm_tbps",
    "scaleup_domain",
    "scaleup_gbps",
    "chips_per_node",
    "stack",
    "tdp_w",
    "provenance",
    "source",
    "aliases",
    "notes",
)


def _num(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


def _from_note(value: float, note: str, chip: str) -> float:
    """A figure read from the note must appear in it verbatim (TFLOP/s, or PF for petaFLOP/s)."""
    as_tflops = rf"(?<![\d.]){int(value)}(?![\d])"
    as_pf = rf"(?<![\d.]){value / 1000:g} PF"
    if not (re.search(as_tflops, note) or re.search(as_pf, note)):
        raise SystemExit(f"{chip}: {int(value)} not found in note {note!r}")
    return value


def _hbm_gib(amount: str, unit: str) -> float:
    value = float(amount)
    if unit.startswith("GiB"):
        return value
    if unit.startswith("GB"):
        return round(value / GB_PER_GIB, 3)
    raise SystemExit(f"unknown HBM unit {unit!r}")


def _stack(text: str) -> str:
    for needle, stack in STACKS:
        if needle in text:
            return stack
    raise SystemExit(f"unknown software stack {text!r}")


def _aliases(source_name: str, aliases: tuple[str, ...]) -> list[str]:
    """The reading's aliases plus the source table's own chip name, without repeats."""
    seen: set[str] = set()
    out: list[str] = []
    for alias in (*aliases, source_name):
        key = re.sub(r"[\s_]+", "-", alias.strip().lower())
        if key not in seen:
            seen.add(key)
            out.append(alias)
    return out


def chip_row(src: dict[str, str], table: str = "shared/data/accelerators.csv") -> dict[str, str]:
    """One registry row from one row of a source ``table``, per its entry in READINGS."""
    name = src["chip"]
    reading = READINGS[name]
    note = src["low_precision_note"]
    bf16 = _num(src["bf16_dense_tflops"])
    column = _num(src["fp8_or_int8_dense_tflops"])
    fp8 = {"col": column, "bf16": bf16, None: None}[reading.fp8]
    if isinstance(reading.int8, float):
        int8: float | None = _from_note(reading.int8, note, name)
    else:
        int8 = column if reading.int8 == "col" else None
    fp4 = _from_note(reading.fp4, note, name) if reading.fp4 is not None else None
    values: dict[str, object] = {
        "id": reading.id,
        "name": f"{src['vendor']} {name}",
        "vendor": VENDORS[src["vendor"]],
        "year": int(src["year"]),
        "bf16_tflops": bf16,
        "fp8_tflops": fp8,
        "fp4_tflops": fp4,
        "int8_tflops": int8,
        "hbm_gib": _hbm_gib(src["hbm_capacity"], src["hbm_capacity_unit"]),
        "hbm_tbps": float(src["hbm_bw_tbps"]),
        "scaleup_domain": reading.scaleup_domain,
        "scaleup_gbps": _num(src["scaleup_bw_gbps_per_chip"]),
        "chips_per_node": reading.chips_per_node,
        "stack": _stack(src["software_stack"]),
        "tdp_w": _num(src["tdp_w"]),
        "provenance": src["provenance"],
        "source": f"{table} ({name}): {src['source']}",
        "aliases": "|".join(_aliases(name, reading.aliases)),
        "notes": reading.notes,
    }
    return {k: "" if v is None else str(v) for k, v in values.items()}


# Chips absent from accelerators.csv, each figure checked against the sources named in its row
# (appended after the derived rows, in this order).
SUPPLEMENT: tuple[dict[str, str], ...] = (
    {
        "id": "b300",
        "name": "NVIDIA B300 (HGX Blackwell Ultra)",
        "vendor": "nvidia",
        "year": "2025",
        "bf16_tflops": "2250.0",
        "fp8_tflops": "4500.0",
        "fp4_tflops": "13125.0",
        "int8_tflops": "",
        "hbm_gib": "268.221",
        "hbm_tbps": "8.0",
        "scaleup_domain": "8",
        "scaleup_gbps": "1800.0",
        "chips_per_node": "8",
        "stack": "cuda",
        "tdp_w": "1100.0",
        "provenance": (
            "vendor spec (as tabulated by third parties); 288 GB (270 GB usable per Verda)"
        ),
        "source": (
            "https://glennklockwood.com/garden/processors/B300 (HGX B300 dense: BF16 2250, "
            "FP8 4500, FP4 13125 TFLOPS; 288 GB HBM3e, 8 TB/s, 2x900 GB/s NVLink 5); "
            "https://verda.com/blog/gb300-nvl72-architecture (per-GPU table: B300 FP4 14 PF, "
            "FP8 4.5 PF, BF16 2.25 PF, 1.1 kW)"
        ),
        "aliases": "B300|B300-SXM|HGX B300|Blackwell Ultra|B300 (HGX)",
        "notes": "HGX variant; FP4 dense from glennklockwood (13.1 PF; Verda rounds to 14 PF)",
    },
    {
        "id": "gb300",
        "name": "NVIDIA GB300 (per Blackwell Ultra GPU in NVL72)",
        "vendor": "nvidia",
        "year": "2025",
        "bf16_tflops": "2500.0",
        "fp8_tflops": "5000.0",
        "fp4_tflops": "15000.0",
        "int8_tflops": "",
        "hbm_gib": "259.841",
        "hbm_tbps": "8.0",
        "scaleup_domain": "72",
        "scaleup_gbps": "1800.0",
        "chips_per_node": "4",
        "stack": "cuda",
        "tdp_w": "1400.0",
        "provenance": "vendor spec (as tabulated by third parties)",
        "source": (
            "https://verda.com/blog/gb300-nvl72-architecture (per GPU, dense: FP4 15 PF, FP8 "
            "5 PF, BF16 2.5 PF; 279 GB HBM3E, 8 TB/s, 1.4 kW; rack: 72 GPUs, 1080 PF FP4, 130"
            " TB/s NVLink); https://glennklockwood.com/garden/processors/B300 (GB300 NVL72: "
            "1.1 EF dense FP4, 20 TB HBM at 576 TB/s, carrier board of 2 Grace + 4 GPUs)"
        ),
        "aliases": "GB300|GB300-NVL72|GB300 NVL72|GB300 (per Blackwell Ultra GPU in NVL72)",
        "notes": (
            "per GPU in an NVL72 rack; chips_per_node = GPUs per compute tray; 279 GB of the "
            "288 GB HBM3e exposed"
        ),
    },
)


def chips_csv_text(shared: Path) -> str:
    """The whole registry CSV, in source order, as text."""
    rows = []
    tables = (
        (shared / "accelerators.csv", "shared/data/accelerators.csv"),
        (SUPPLEMENT_CSV, "catalog/data/accelerators-supplement.csv"),
    )
    for path, table in tables:
        with path.open(encoding="utf-8", newline="") as handle:
            rows.extend(chip_row(r, table) for r in csv.DictReader(handle))
    missing = set(READINGS) - {r["name"].split(" ", 1)[1] for r in rows}
    if missing:
        raise SystemExit(f"chips in READINGS but in no source table: {sorted(missing)}")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CHIP_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    writer.writerows(SUPPLEMENT)
    return out.getvalue()


def build_bundled_snapshot(shared: Path, home: Path, created: date) -> str:
    """Build the offer snapshot from the shared data into ``home``; returns its id.

    Paths recorded in the snapshot are relative to the folder above ``shared/`` so the
    metadata reads the same on every machine.
    """
    from chipfolio.catalog.snapshots import build_snapshot

    base = shared.resolve().parents[1]
    relative = shared.resolve().relative_to(base)
    cwd = Path.cwd()
    home = home.resolve()
    os.chdir(base)
    try:
        with tempfile.TemporaryDirectory() as staging:
            info = build_snapshot(relative, Path(staging), created=created, label=SKYPILOT_LABEL)
            target = home / info.id
            if target.exists():
                shutil.rmtree(target)
            home.mkdir(parents=True, exist_ok=True)
            shutil.copytree(Path(staging) / info.id, target)
    finally:
        os.chdir(cwd)
    return info.id


def _shipped_default() -> tuple[str, date] | None:
    if not DEFAULT_JSON.is_file():
        return None
    snapshot_id = json.loads(DEFAULT_JSON.read_text(encoding="utf-8"))["default"]
    meta = json.loads((SNAPSHOTS_DIR / snapshot_id / "meta.json").read_text(encoding="utf-8"))
    return snapshot_id, date.fromisoformat(meta["created"])


def check(shared: Path) -> int:
    """Exit status 0 when the shipped registry and default snapshot match a fresh build."""
    problems = []
    if CHIPS_CSV.read_text(encoding="utf-8") != chips_csv_text(shared):
        problems.append(f"{CHIPS_CSV.relative_to(REPO)} is stale")
    shipped = _shipped_default()
    if shipped is None:
        problems.append("no bundled default snapshot")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = build_bundled_snapshot(shared, Path(tmp), shipped[1])
        if fresh != shipped[0]:
            problems.append(f"bundled snapshot {shipped[0]} differs from a fresh build ({fresh})")
    for problem in problems:
        print(problem + "; rerun scripts/build_catalog.py", file=sys.stderr)
    if not problems:
        print("catalog data up to date")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--check", action="store_true", help="fail if shipped files are stale")
    parser.add_argument("--created", type=date.fromisoformat, default=None)
    args = parser.parse_args(argv)
    if args.check:
        return check(args.shared)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    CHIPS_CSV.write_text(chips_csv_text(args.shared), encoding="utf-8")
    print(f"wrote {CHIPS_CSV.relative_to(REPO)}")
    shipped = _shipped_default()
    created = args.created or (shipped[1] if shipped else date.today())
    snapshot_id = build_bundled_snapshot(args.shared, SNAPSHOTS_DIR, created)
    DEFAULT_JSON.write_text(json.dumps({"default": snapshot_id}) + "\n", encoding="utf-8")
    print(f"bundled snapshot {snapshot_id} is the default")
    return 0


if __name__ == "__main__":
    sys.exit(main())
