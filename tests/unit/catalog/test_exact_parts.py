"""Catalog rows map to the exact part they sell, or are skipped under a named reason.

Fixture rows are copied from the real wide catalog files (see the fixture's README); the last
tests read those files themselves and skip when ``../shared/data`` is absent.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from chipfolio.catalog.chips import registry
from chipfolio.catalog.sources.parts import INSTANCE_PARTS, gcp_host, name_variant
from chipfolio.catalog.sources.report import Flag, ImportReport, Skip
from chipfolio.catalog.sources.skypilot_csv import import_skypilot_dir
from chipfolio.domain import Offer

REPO = Path(__file__).resolve().parents[3]
FIXTURE = REPO / "tests" / "fixtures" / "catalog" / "skypilot-parts"
WIDE = REPO.parent / "shared" / "data" / "skypilot-catalog-wide"


@pytest.fixture(scope="module")
def imported() -> tuple[dict[str, Offer], ImportReport]:
    offers, report = import_skypilot_dir(FIXTURE)
    return {o.id: o for o in offers}, report


def _skipped(report: ImportReport, cloud: str) -> dict[str, int]:
    (source,) = [s for s in report.sources if s.kind == f"skypilot-v8:{cloud}"]
    return dict(source.skipped)


@pytest.mark.parametrize(
    "instance_type",
    ["Standard_NC40ads_H100_v5", "Standard_NC80adis_H100_v5", "Standard_NCC40ads_H100_v5"],
)
def test_azure_h100_nvl_sizes_are_h100_nvl_not_sxm(
    imported: tuple[dict[str, Offer], ImportReport], instance_type: str
) -> None:
    offers, _ = imported
    mine = [o for o in offers.values() if o.instance_type == instance_type]
    assert mine, instance_type
    assert {o.chip for o in mine} == {"h100-nvl"}
    nvl = registry().get("h100-nvl")
    assert nvl.hbm_gib == pytest.approx(94 / 1.073741824, abs=1e-3)  # 94 GB, not the SXM's 80
    assert nvl.scaleup_domain == 2


def test_azure_nc80adis_counts_two_gpus(imported: tuple[dict[str, Offer], ImportReport]) -> None:
    offers, _ = imported
    od = offers["azure:Standard_NC80adis_H100_v5:eastus:-:on_demand"]
    assert (od.chips_per_instance, od.usd_per_instance_hour) == (2, 13.96)


def test_azure_sxm_h100_stays_h100_sxm(imported: tuple[dict[str, Offer], ImportReport]) -> None:
    offers, _ = imported
    od = offers["azure:Standard_ND96isr_H100_v5:eastus:-:on_demand"]
    assert (od.chip, od.chips_per_instance, od.usd_per_chip_hour) == ("h100-sxm", 8, 12.29)


def test_azure_rows_without_accelerator_name_map_by_size(
    imported: tuple[dict[str, Offer], ImportReport],
) -> None:
    offers, report = imported
    gb200 = offers["azure:Standard_ND128isr_NDR_GB200_v6:eastus2:-:on_demand"]
    assert (gb200.chip, gb200.chips_per_instance) == ("gb200", 4)
    assert str(Flag.INFERRED_ACCELERATOR) in gb200.flags
    mi = offers["azure:Standard_ND96is_MI300X_v5:australiasoutheast:-:on_demand"]
    assert (mi.chip, mi.chips_per_instance) == ("mi300x", 8)
    # only the one real CPU size is counted as CPU-only
    assert _skipped(report, "azure")[Skip.NO_ACCELERATOR] == 1


def test_azure_a100_v4_nc_sizes_are_pcie(imported: tuple[dict[str, Offer], ImportReport]) -> None:
    offers, _ = imported
    assert offers["azure:Standard_NC24ads_A100_v4:eastus:-:on_demand"].chip == "a100-80gb-pcie"


def test_azure_generation_written_as_v1_v2_is_one_column(
    imported: tuple[dict[str, Offer], ImportReport],
) -> None:
    _, report = imported
    skipped = _skipped(report, "azure")
    assert Skip.MALFORMED not in skipped
    assert skipped[f"{Skip.UNKNOWN_CHIP}: T4"] == 1  # a GPU row read through, not malformed


def test_vast_h100_nvl_by_instance_type_and_ambiguous_name_skipped(
    imported: tuple[dict[str, Offer], ImportReport],
) -> None:
    offers, report = imported
    vast = {o.instance_type: o.chip for o in offers.values() if o.provider == "vast"}
    assert vast == {"1x-H100_NVL-32-257588": "h100-nvl", "1x-H100_SXM-26-225000": "h100-sxm"}
    assert _skipped(report, "vast")[Skip.AMBIGUOUS] == 1  # plain "1x-H100-..." cannot be told


def test_gcp_a2_is_a100_40gb_and_g2_is_l4(imported: tuple[dict[str, Offer], ImportReport]) -> None:
    offers, report = imported
    a2 = offers["gcp:a2-highgpu-8g:us-central1:-:on_demand"]
    assert (a2.chip, a2.chips_per_instance) == ("a100-40gb", 8)
    assert a2.usd_per_instance_hour == pytest.approx(5.91582 + 23.47126)
    g2 = offers["gcp:g2-standard-24:us-central1:-:on_demand"]
    assert (g2.chip, g2.chips_per_instance) == ("l4", 2)
    assert g2.usd_per_instance_hour == pytest.approx(0.88075 + 1.12008)
    # N1-attachable T4 is not in the registry: counted as such, not as a host-less row
    assert _skipped(report, "gcp")[f"{Skip.UNKNOWN_CHIP}: T4"] == 1


def test_report_counts_offers_and_skips_per_chip(
    imported: tuple[dict[str, Offer], ImportReport],
) -> None:
    offers, report = imported
    (azure,) = [s for s in report.sources if s.kind == "skypilot-v8:azure"]
    chips = azure.chips()
    assert chips["h100-nvl"]["offers"] == sum(
        1 for o in offers.values() if o.provider == "azure" and o.chip == "h100-nvl"
    )
    assert chips["gb200"][str(Skip.SPOT_PLACEHOLDER)] == 1
    again = ImportReport.from_dict(report.to_dict())
    assert again.sources[0].chips() == report.sources[0].chips()


@pytest.mark.parametrize(
    ("name", "instance_type", "chip"),
    [
        ("H100", "gpu_1x_h100_pcie", "h100-pcie"),
        ("H100", "gpu_8x_h100_sxm5", "h100-sxm"),
        ("H100", "1x-H100_NVL", "h100-nvl"),
        ("H100", "some-h100-box", None),
        ("A100", "gpu_1x_a100_sxm4", "a100-40gb"),
        ("A100-80GB", "x-pcie", "a100-80gb-pcie"),
        ("H100", "nvl-and-pcie", None),
    ],
)
def test_name_variants(name: str, instance_type: str, chip: str | None) -> None:
    variant = name_variant(name, instance_type)
    assert variant is not None and variant.chip == chip
    assert name_variant("MI300X", "anything") is None


def test_part_tables_name_registry_chips_or_known_absent_parts() -> None:
    absent = {"a100-40gb-pcie", "b300"}  # parts we know of but do not model (b300: pending)
    for (provider, instance_type), part in INSTANCE_PARTS.items():
        assert part.chip in registry() or part.chip in absent, (provider, instance_type)
    assert gcp_host("g2-standard-96") is not None and gcp_host("n1-standard-8") is None


# ----- the real wide files ------------------------------------------------------------------

needs_wide = pytest.mark.skipif(
    not (WIDE / "v8" / "azure" / "vms.csv").is_file(), reason="shared wide catalog absent"
)


@pytest.fixture(scope="module")
def wide() -> tuple[list[Offer], ImportReport]:
    return import_skypilot_dir(WIDE)


@needs_wide
def test_wide_files_map_every_registry_part(wide: tuple[list[Offer], ImportReport]) -> None:
    offers, report = wide
    by = Counter((o.provider, o.chip) for o in offers)
    for key in [("azure", "h100-nvl"), ("azure", "gb200"), ("azure", "mi300x")]:
        assert by[key] > 0, key
    for key in [("gcp", "a100-40gb"), ("gcp", "l4"), ("gcp", "tpu-v6e"), ("gcp", "tpu-v5p")]:
        assert by[key] > 0, key
    wrong = [
        o.id
        for o in offers
        if o.provider == "azure" and "H100_v5" in o.instance_type and "ND96" not in o.instance_type
        if o.chip != "h100-nvl"
    ]
    assert wrong == []
    assert Skip.MALFORMED not in report.skipped()
    # every source row is an offer's row or counted under a reason: nothing vanishes
    for source in report.sources:
        assert source.rows == 31285 or source.rows == 56671
        assert sum(c.get("offers", 0) for c in source.chips().values()) == source.offers


@needs_wide
def test_wide_azure_prices_match_the_source_notes(wide: tuple[list[Offer], ImportReport]) -> None:
    offers, _ = wide
    by_id = {o.id: o for o in offers}
    nd = by_id["azure:Standard_ND96isr_H100_v5:eastus:-:on_demand"]
    assert nd.usd_per_chip_hour == pytest.approx(12.29)
    mi = by_id["azure:Standard_ND96isr_MI300X_v5:eastus2:-:on_demand"]
    assert mi.usd_per_chip_hour == pytest.approx(6.0)
