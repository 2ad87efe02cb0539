"""The chip registry: ids, aliases, slice names, honest per-precision peaks, data origin."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from chipfolio.catalog.chips import ChipRegistry, normalize_name, parse_chips_csv, registry
from chipfolio.domain import Chip, Precision, SiliconVendor, SoftwareStack
from chipfolio.errors import CatalogError, UnknownNameError

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared" / "data"

SUPPLEMENT = "catalog/data/accelerators-supplement.csv"
CANONICAL_IDS = (
    *("a100-80gb", "h100-sxm", "h200", "b200", "gb200", "l4", "l40s"),
    *("mi300x", "mi325x", "mi355x", "tpu-v4", "tpu-v5e", "tpu-v5p", "tpu-v6e", "tpu7x"),
    *("trainium1", "trainium2", "trainium3", "inferentia2", "maia-100", "maia-200"),
    *("gaudi2", "gaudi3"),
    *("a100-40gb", "a100-80gb-pcie", "h100-pcie", "h100-nvl", "gh200"),
    *("b300", "gb300"),
)


def _build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_catalog", REPO / "scripts/build_catalog.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_catalog"] = module
    spec.loader.exec_module(module)
    return module


def test_registry_holds_exactly_the_canonical_ids() -> None:
    assert sorted(c.id for c in registry().all()) == sorted(CANONICAL_IDS)
    assert len(registry()) == len(CANONICAL_IDS) == 30


def test_every_vendor_is_present() -> None:
    assert {c.vendor for c in registry().all()} == set(SiliconVendor)


@pytest.mark.parametrize(
    ("name", "chip_id"),
    [
        ("H100", "h100-sxm"),
        ("h100", "h100-sxm"),
        ("H100-80GB", "h100-sxm"),
        ("A100-80GB", "a100-80gb"),
        ("H200", "h200"),
        ("B200", "b200"),
        ("GB200", "gb200"),
        ("MI300X", "mi300x"),
        ("L4", "l4"),
        ("L40S", "l40s"),
        ("tpu-v6e-8", "tpu-v6e"),
        ("TPU-V6E-256", "tpu-v6e"),
        ("tpu-v5p-12288", "tpu-v5p"),
        ("tpu-v5litepod-16", "tpu-v5e"),
        ("Trainium", "trainium1"),
        ("Trainium2", "trainium2"),
        ("Inferentia2", "inferentia2"),
        ("Gaudi2", "gaudi2"),
        ("gaudi 3", "gaudi3"),
        ("Maia 200", "maia-200"),
        ("maia_200", "maia-200"),
        ("TPU v6e (Trillium)", "tpu-v6e"),
        ("  mi355x ", "mi355x"),
    ],
)
def test_aliases_resolve_case_insensitively(name: str, chip_id: str) -> None:
    assert registry().resolve(name) == chip_id
    assert registry().get(name).id == chip_id
    assert name in registry()


def test_tpu_slice_sizes_count_chips() -> None:
    reg = registry()
    v6e = reg.tpu_slice("tpu-v6e-8")
    assert v6e is not None and (v6e.chip_id, v6e.chips) == ("tpu-v6e", 8)
    # v5p names count TensorCores (two per chip): the largest slice is 6144 chips.
    v5p = reg.tpu_slice("tpu-v5p-12288")
    assert v5p is not None and (v5p.chip_id, v5p.chips) == ("tpu-v5p", 6144)
    assert reg.tpu_slice("tpu-v5p-3") is None  # not a whole number of chips
    assert reg.tpu_slice("H100") is None
    assert reg.tpu_slice("tpu-v9z-8") is None


def test_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(UnknownNameError) as info:
        registry().get("trainum2")
    assert "did you mean" in str(info.value)
    assert "trainium2" in [s.lower() for s in info.value.suggestions]
    assert len(info.value.suggestions) == len({s.lower() for s in info.value.suggestions})
    assert registry().find("no-such-chip") is None


def test_low_precision_columns_are_read_per_the_note() -> None:
    reg = registry()
    v6e = reg.get("tpu-v6e")
    assert (v6e.bf16_tflops, v6e.fp8_tflops, v6e.int8_tflops) == (918.0, 918.0, 1836.0)
    assert reg.get("maia-200").bf16_tflops is None
    assert reg.get("maia-200").fp8_tflops == 5000.0
    assert reg.get("gaudi2").fp8_tflops is None
    assert reg.get("a100-80gb").fp8_tflops is None and reg.get("a100-80gb").int8_tflops == 624.0
    assert reg.get("h100-sxm").fp8_tflops == 1979.0
    assert reg.get("trainium1").int8_tflops == 380.0
    assert reg.get("tpu-v5p").fp8_tflops == 459.0


def test_fp4_only_where_a_note_gives_it() -> None:
    with_fp4 = {c.id: c.fp4_tflops for c in registry().all() if c.fp4_tflops is not None}
    assert with_fp4 == {
        "b200": 9000.0,
        "gb200": 10000.0,
        "b300": 13125.0,
        "gb300": 15000.0,
        "mi355x": 10000.0,
        "maia-200": 10000.0,
        "trainium3": 2517.0,
    }
    assert registry().get("b200").peak_tflops(Precision.FP4) == 9000.0


def test_hbm_is_converted_from_gb_to_gib_where_the_unit_is_gb() -> None:
    reg = registry()
    assert reg.get("h100-sxm").hbm_gib == pytest.approx(80e9 / 2**30, abs=1e-3)
    assert reg.get("tpu-v5p").hbm_gib == 95.0  # already GiB in the source
    assert reg.get("trainium2").hbm_gib == 96.0
    assert reg.get("mi300x").hbm_gib == pytest.approx(192e9 / 2**30, abs=1e-3)


def test_structural_fields() -> None:
    reg = registry()
    assert reg.get("gb200").scaleup_domain == 72
    assert reg.get("l4").scaleup_domain == 1
    assert reg.get("inferentia2").scaleup_gbps is None
    assert reg.get("trainium2").chips_per_node == 16
    assert reg.get("tpu-v6e").stack is SoftwareStack.XLA
    assert reg.get("gaudi3").stack is SoftwareStack.SYNAPSE
    assert reg.get("maia-100").stack is SoftwareStack.MAIA
    assert reg.get("tpu7x").tdp_w is None
    assert [c.id for c in reg.by_vendor("aws")] == [
        "trainium1",
        "trainium2",
        "trainium3",
        "inferentia2",
    ]


def test_every_row_names_its_source() -> None:
    # rows checked by hand against cited pages (build_catalog.SUPPLEMENT) name those pages
    by_hand = {row["id"] for row in _build_script().SUPPLEMENT}
    for chip in registry().all():
        table = chip.source.split(" (", 1)[0]
        if chip.id in by_hand:
            assert chip.source.startswith("https://"), chip.id
        else:
            assert table in ("shared/data/accelerators.csv", SUPPLEMENT), chip.id
        assert len(chip.source) > 40, chip.id
        assert chip.provenance, chip.id
        assert chip.hbm_gib > 0 and chip.hbm_tbps > 0 and chip.scaleup_domain >= 1


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not present")
def test_shipped_registry_matches_a_fresh_derivation() -> None:
    build = _build_script()
    shipped = (REPO / "src/chipfolio/catalog/data/chips.csv").read_text(encoding="utf-8")
    assert shipped == build.chips_csv_text(SHARED)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not present")
def test_bf16_and_bandwidth_equal_the_source_columns() -> None:
    with (SHARED / "accelerators.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        chip = registry().get(row["chip"])
        expected = float(row["bf16_dense_tflops"]) if row["bf16_dense_tflops"] else None
        assert chip.bf16_tflops == expected, chip.id
        assert chip.hbm_tbps == float(row["hbm_bw_tbps"]), chip.id
        assert chip.year == int(row["year"]), chip.id


def test_a_note_figure_that_is_not_in_the_note_is_refused() -> None:
    build = _build_script()
    with pytest.raises(SystemExit):
        build._from_note(1234.0, "INT8 380 TOPS", "x")
    assert build._from_note(10000.0, "FP4 >10 PF", "x") == 10000.0


def _chip(chip_id: str, aliases: tuple[str, ...] = ()) -> Chip:
    return Chip(
        id=chip_id,
        name=chip_id.upper(),
        vendor=SiliconVendor.NVIDIA,
        year=2024,
        bf16_tflops=1.0,
        fp8_tflops=None,
        fp4_tflops=None,
        int8_tflops=None,
        hbm_gib=1.0,
        hbm_tbps=1.0,
        scaleup_domain=1,
        scaleup_gbps=None,
        chips_per_node=1,
        stack=SoftwareStack.CUDA,
        tdp_w=None,
        provenance="test",
        source="test",
        aliases=aliases,
    )


def test_a_name_claimed_by_two_chips_is_refused() -> None:
    with pytest.raises(CatalogError, match="used by"):
        ChipRegistry([_chip("a", ("X",)), _chip("b", ("x",))])
    with pytest.raises(CatalogError, match="duplicate id"):
        ChipRegistry([_chip("a"), _chip("a")])


def test_damaged_registry_data_is_a_catalog_error() -> None:
    with pytest.raises(CatalogError, match="damaged"):
        parse_chips_csv("id,name\nx,y\n")


def test_normalize_name() -> None:
    assert normalize_name("  TPU v6e_8 ") == "tpu-v6e-8"
