"""The SkyPilot v8 importer: every documented quirk on small fixture files, and bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from chipfolio.catalog.sources.report import Flag, ImportReport, Skip
from chipfolio.catalog.sources.skypilot_csv import find_vms_files, import_skypilot_dir
from chipfolio.domain import Offer, PricingModel, SiliconVendor
from chipfolio.errors import InputError

REPO = Path(__file__).resolve().parents[3]
FIXTURE = REPO / "tests" / "fixtures" / "catalog" / "skypilot"
SHARED_V8 = REPO.parent / "shared" / "data" / "skypilot-catalog" / "v8"


@pytest.fixture(scope="module")
def imported() -> tuple[dict[str, Offer], ImportReport]:
    offers, report = import_skypilot_dir(FIXTURE)
    return {o.id: o for o in offers}, report


def _source(report: ImportReport, cloud: str) -> tuple[dict[str, int], dict[str, int]]:
    (source,) = [s for s in report.sources if s.kind == f"skypilot-v8:{cloud}"]
    return dict(source.skipped), dict(source.flagged)


def test_finds_every_cloud_but_common(imported: tuple[dict[str, Offer], ImportReport]) -> None:
    clouds = [cloud for cloud, _ in find_vms_files(FIXTURE)]
    assert clouds == ["acme", "aws", "gcp", "lambda", "nebius"]
    assert find_vms_files(FIXTURE / "v8") == find_vms_files(FIXTURE)


def test_aws_on_demand_is_regional_and_spot_per_zone(
    imported: tuple[dict[str, Offer], ImportReport],
) -> None:
    offers, _ = imported
    od = offers["aws:p5.48xlarge:us-east-1:-:on_demand"]
    assert od.usd_per_instance_hour == 55.04 and od.usd_per_chip_hour == pytest.approx(6.88)
    assert (od.chip, od.chips_per_instance, od.zone) == ("h100-sxm", 8, None)
    assert od.vendor is SiliconVendor.NVIDIA and od.source.endswith("aws/vms.csv line 2")
    spot = offers["aws:p5.48xlarge:us-east-1:use1-az3:spot"]
    assert spot.pricing is PricingModel.SPOT and spot.usd_per_instance_hour == 14.582


def test_spot_placeholder_equal_to_on_demand_is_skipped(
    imported: tuple[dict[str, Offer], ImportReport],
) -> None:
    offers, report = imported
    assert "aws:p5.48xlarge:us-east-1:use1-az1:spot" not in offers
    assert _source(report, "aws")[0][Skip.SPOT_PLACEHOLDER] == 1


def test_spot_far_below_on_demand_is_kept_and_flagged(
    imported: tuple[dict[str, Offer], ImportReport],
) -> None:
    offers, report = imported
    spot = offers["aws:p5.48xlarge:ap-southeast-3:apse3-az1:spot"]
    assert Flag.SPOT_FAR_BELOW_ON_DEMAND in spot.flags
    assert (
        Flag.SPOT_FAR_BELOW_ON_DEMAND in offers["aws:trn1.32xlarge:us-east-2:use2-az3:spot"].flags
    )
    assert not offers["aws:p5.48xlarge:us-east-1:use1-az3:spot"].flags
    assert _source(report, "aws")[1][Flag.SPOT_FAR_BELOW_ON_DEMAND] == 2


def test_empty_price_is_skipped_with_a_reason(
    imported: tuple[dict[str, Offer], ImportReport],
) -> None:
    offers, report = imported
    assert "aws:p5e.48xlarge:us-east-2:-:on_demand" not in offers
    assert "aws:trn2.48xlarge:us-east-2:-:on_demand" not in offers
    assert _source(report, "aws")[0][Skip.NO_PRICE] == 2
    spot = offers["aws:p5e.48xlarge:us-east-2:use2-az1:spot"]
    assert Flag.SPOT_WITHOUT_ON_DEMAND in spot.flags


def test_trainium_names_empty_or_non_canonical(
    imported: tuple[dict[str, Offer], ImportReport],
) -> None:
    offers, _ = imported
    trn2 = offers["aws:trn2.48xlarge:us-west-2:-:on_demand"]
    assert (trn2.chip, trn2.chips_per_instance) == ("trainium2", 16)
    assert Flag.INFERRED_ACCELERATOR in trn2.flags
    trn1 = offers["aws:trn1.32xlarge:us-east-2:-:on_demand"]
    assert (trn1.chip, trn1.chips_per_instance, trn1.vendor) == ("trainium1", 16, SiliconVendor.AWS)
    assert offers["aws:inf2.xlarge:us-east-1:-:on_demand"].chip == "inferentia2"


def test_bad_rows_are_counted_never_fatal(imported: tuple[dict[str, Offer], ImportReport]) -> None:
    _, report = imported
    skipped, _ = _source(report, "aws")
    assert skipped[Skip.MALFORMED] == 2  # a non-numeric price and a short row
    assert skipped[Skip.INVALID_PRICE] == 3  # negative, NaN, implausibly large
    assert skipped[Skip.DUPLICATE] == 1
    assert skipped[f"{Skip.UNKNOWN_CHIP}: A10G"] == 1
    (aws,) = [s for s in report.sources if s.kind == "skypilot-v8:aws"]
    notes = [n.render() for n in aws.examples if n.reason == Skip.MALFORMED]
    assert any("vms.csv:11, field 'Price'" in n and "abc" in n for n in notes)
    assert any("vms.csv:12" in n and "expected 11 fields, got 9" in n for n in notes)


def test_gcp_host_plus_accelerator_rows(imported: tuple[dict[str, Offer], ImportReport]) -> None:
    offers, report = imported
    combined = offers["gcp:a3-edgegpu-8g:us-central1:-:on_demand"]
    assert combined.usd_per_instance_hour == pytest.approx(9.46006 + 78.0)
    assert combined.chip == "h100-sxm" and Flag.GCP_HOST_PLUS_ACCELERATOR in combined.flags
    spot = offers["gcp:a3-edgegpu-8g:us-central1:us-central1-a:spot"]
    assert spot.usd_per_instance_hour == pytest.approx(2.75246 + 25.0)
    skipped, _ = _source(report, "gcp")
    assert skipped[Skip.GCP_HOST_ONLY] == 1  # zone b has no accelerator row
    assert skipped[f"{Skip.UNKNOWN_CHIP}: T4"] == 1  # the lone (N1-attachable) T4 row
    assert skipped[Skip.NO_ACCELERATOR] == 1  # the TPU-v4 host row


def test_gcp_tpu_slices_count_chips_with_a_zero_cost_host(
    imported: tuple[dict[str, Offer], ImportReport],
) -> None:
    offers, report = imported
    v6e = offers["gcp:tpu-v6e-8:us-central1:-:on_demand"]
    assert (v6e.chip, v6e.chips_per_instance, v6e.instance_type) == ("tpu-v6e", 8, "tpu-v6e-8")
    assert v6e.usd_per_chip_hour == pytest.approx(2.7)
    v5p = offers["gcp:tpu-v5p-12288:us-east5:-:on_demand"]
    assert v5p.chips_per_instance == 6144 and v5p.usd_per_chip_hour == pytest.approx(4.2)
    assert _source(report, "gcp")[0][f"{Skip.UNKNOWN_CHIP}: tpu-v3"] == 1


def test_gcp_700_sentinel_is_skipped(imported: tuple[dict[str, Offer], ImportReport]) -> None:
    offers, report = imported
    assert not [o for o in offers.values() if o.region == "asia-east1"]
    assert "gcp:tpu-v6e-1:southamerica-west1:-:on_demand" in offers  # real on-demand kept
    assert not [o for o in offers.values() if o.region == "southamerica-west1" and o.zone]
    assert _source(report, "gcp")[0][Skip.SENTINEL] == 3
    assert all(o.usd_per_instance_hour != 700.0 for o in offers.values())


def test_zones_with_different_on_demand_prices_stay_apart(
    imported: tuple[dict[str, Offer], ImportReport],
) -> None:
    offers, _ = imported
    assert offers["gcp:tpu-v6e-8:us-east5:us-east5-a:on_demand"].usd_per_instance_hour == 21.6
    assert offers["gcp:tpu-v6e-8:us-east5:us-east5-b:on_demand"].usd_per_instance_hour == 22.0
    assert "gcp:tpu-v6e-8:us-east5:-:on_demand" not in offers


def test_lambda_crlf_no_zones_no_spot_and_variants(
    imported: tuple[dict[str, Offer], ImportReport],
) -> None:
    offers, report = imported
    lam = [o for o in offers.values() if o.provider == "lambda"]
    assert {o.region for o in lam} == {"us-east-1", "europe-central-1"}
    assert all(o.zone is None and o.pricing is PricingModel.ON_DEMAND for o in lam)
    skipped, _ = _source(report, "lambda")
    assert Skip.VARIANT not in skipped and Skip.AMBIGUOUS not in skipped
    chips = {o.instance_type: o.chip for o in lam}
    assert chips["gpu_1x_h100_pcie"] == "h100-pcie"  # the PCIe card, not the H100 SXM
    assert chips["gpu_1x_gh200"] == "gh200"
    assert skipped[Skip.NO_ACCELERATOR] == 1


def test_nebius_integers_and_spot(imported: tuple[dict[str, Offer], ImportReport]) -> None:
    offers, _ = imported
    key = "nebius:gpu-h100-sxm_8gpu-128vcpu-1600gb:eu-north1"
    assert offers[f"{key}:-:on_demand"].usd_per_instance_hour == 23.6
    assert offers[f"{key}:-:spot"].usd_per_instance_hour == 10.0
    assert offers["nebius:gpu-l40s-d_4gpu-128vcpu-768gb:eu-north1:-:on_demand"].chip == "l40s"


def test_unknown_cloud_with_a_recognizable_header(
    imported: tuple[dict[str, Offer], ImportReport],
) -> None:
    offers, _ = imported
    offer = offers["acme:mi300x.8x:moon-1:-:on_demand"]
    assert (offer.chip, offer.vendor, offer.provider) == ("mi300x", SiliconVendor.AMD, "acme")


def test_ids_are_unique_and_stable() -> None:
    first, _ = import_skypilot_dir(FIXTURE)
    second, _ = import_skypilot_dir(FIXTURE)
    assert [o.id for o in first] == [o.id for o in second]
    assert len({o.id for o in first}) == len(first)
    assert first == second


def test_report_rows_and_offers(imported: tuple[dict[str, Offer], ImportReport]) -> None:
    offers, report = imported
    assert report.offers == len(offers)
    assert report.rows == 15 + 12 + 5 + 3 + 1
    data = report.to_dict()
    assert data["offers"] == len(offers)
    assert ImportReport.from_dict(data).skipped() == report.skipped()


def _cloud_file(tmp_path: Path, content: bytes, cloud: str = "aws") -> Path:
    folder = tmp_path / "v8" / cloud
    folder.mkdir(parents=True)
    (folder / "vms.csv").write_bytes(content)
    return tmp_path


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00junk", "binary"),
        (b"", "empty file"),
        (b"name,price\nx,1\n", "missing InstanceType"),
        ("InstanceType,Price\n".encode("utf-16"), "binary"),
        (b"InstanceType,AcceleratorName\n\xff\xfe\xfa", "UTF-8"),
    ],
)
def test_bad_files_are_one_line_input_errors(tmp_path: Path, content: bytes, needle: str) -> None:
    with pytest.raises(InputError, match=needle) as info:
        import_skypilot_dir(_cloud_file(tmp_path, content))
    assert "vms.csv" in str(info.value)


def test_not_a_directory_or_no_csv(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a directory"):
        import_skypilot_dir(tmp_path / "nope")
    with pytest.raises(InputError, match="no SkyPilot"):
        import_skypilot_dir(tmp_path)


def test_hostile_values_in_rows(tmp_path: Path) -> None:
    header = "InstanceType,AcceleratorName,AcceleratorCount,Price,SpotPrice,Region"
    rows = [
        "a,H100-SXM,8,1e400,,r1",  # overflows to inf
        "b,H100-SXM,-8,10,,r1",  # negative count
        "c,H100-SXM,1e30,10,,r1",  # absurd count
        "d,H100-SXM,2.5,10,,r1",  # fractional count
        f"e,H100-SXM,8,10,,{'x' * 500}",  # absurdly long region
        "f,H100-SXM,8,10,,",  # empty region
        "g,H100-SXM,8,inf,-inf,r1",
        "h,H100-SXM,8,10,,r1",  # the one good row
    ]
    text = "\n".join([header, *rows]) + "\n"
    offers, report = import_skypilot_dir(_cloud_file(tmp_path, text.encode(), cloud="other"))
    assert [o.id for o in offers] == ["other:h:r1:-:on_demand"]
    assert sum(report.skipped().values()) == 7 + 1  # row g has two bad prices


@pytest.mark.skipif(not SHARED_V8.is_dir(), reason="shared data not present")
def test_the_shared_extract_imports_with_every_quirk_counted() -> None:
    offers, report = import_skypilot_dir(SHARED_V8)
    by_id = {o.id: o for o in offers}
    p5 = by_id["aws:p5.48xlarge:us-east-1:-:on_demand"]
    assert p5.usd_per_instance_hour == 55.04 and p5.usd_per_chip_hour == 55.04 / 8
    skipped = report.skipped()
    assert skipped[Skip.SENTINEL] > 0 and skipped[Skip.GCP_HOST_ONLY] == 48
    assert skipped[Skip.NO_PRICE] == 14 and skipped[Skip.SPOT_PLACEHOLDER] > 0
    assert report.flagged()[Flag.SPOT_FAR_BELOW_ON_DEMAND] > 0
    assert {"tpu-v6e", "tpu-v5p", "trainium1", "inferentia2"} <= {o.chip for o in offers}
    lam = {o.region for o in offers if o.provider == "lambda"}
    assert len(lam) == 17
