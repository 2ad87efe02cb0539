"""The sourced price-table importer (cloud_prices.csv layout)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chipfolio.catalog.sources.price_table import import_price_table, read_regions
from chipfolio.catalog.sources.report import Flag, Skip
from chipfolio.domain import PricingModel
from chipfolio.errors import InputError

REPO = Path(__file__).resolve().parents[3]
FIXTURE = REPO / "tests" / "fixtures" / "catalog" / "price_table" / "prices.csv"
SHARED = REPO.parent / "shared" / "data" / "cloud_prices.csv"


def test_rows_become_offers_with_their_source_and_flags() -> None:
    offers, _ = import_price_table(FIXTURE, label="prices.csv")
    by_id = {o.id: o for o in offers}
    block = by_id["aws:p5.48xlarge:us-east-1:-:reserved"]
    assert block.usd_per_instance_hour == 39.33 and block.chip == "h100-sxm"
    assert Flag.CAPACITY_BLOCK in block.flags and Flag.VENDOR_MIRROR in block.flags
    assert "aws:p5.48xlarge:us-east-2:-:reserved" in by_id  # "us-east-1 / us-east-2"
    assert "prices.csv line 3 (2024-Q4; vendor list" in block.source
    inf2 = by_id["aws:inf2.xlarge:us-east-1:-:on_demand"]
    assert Flag.REGION_ASSUMED in inf2.flags and inf2.pricing is PricingModel.ON_DEMAND
    trn1 = by_id["aws:trn1.32xlarge:ap-southeast-4:-:reserved"]
    assert Flag.REPORTED in trn1.flags and trn1.chip == "trainium1"


def test_tpu_commitments_from_the_pricing_text() -> None:
    offers, _ = import_price_table(FIXTURE)
    by_id = {o.id: o for o in offers}
    od = by_id["gcp:tpu-v6e-1:us-east:-:on_demand"]
    assert od.usd_per_chip_hour == 2.7 and Flag.REGION_APPROXIMATE in od.flags
    one = by_id["gcp:tpu-v6e-1:us-east:-:committed:1y"]
    three = by_id["gcp:tpu-v6e-1:europe-west:-:committed:3y"]
    assert one.usd_per_chip_hour == 1.89 and one.pricing is PricingModel.COMMITTED
    assert three.usd_per_chip_hour == 1.22 and "3y commitment" in three.source


def test_unmappable_rows_are_counted() -> None:
    _, report = import_price_table(FIXTURE)
    skipped = report.skipped()
    assert skipped[Skip.SUPERSEDED] == 1
    assert not any(k.startswith(str(Skip.UNKNOWN_CHIP)) for k in skipped)
    assert skipped[Skip.NO_REGION] == 1  # inf2.48xlarge "not stated"
    assert skipped[Skip.UNVERIFIED] == 1
    assert skipped[Skip.MALFORMED] == 3  # chips "many", price inf, short row
    assert report.flagged()[Flag.CAPACITY_BLOCK] == 3  # p5, p4d (A100 40 GB, now mapped) and trn1


def test_read_regions() -> None:
    assert read_regions("us-east-1 / us-east-2").names == ("us-east-1", "us-east-2")
    assert read_regions("europe-west4").names == ("europe-west4",)
    assert read_regions("US").names == ()
    assert read_regions("not stated").names == ()


def test_a_file_that_is_not_a_price_table(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a price table"):
        import_price_table(path)
    with pytest.raises(InputError, match="cannot read"):
        import_price_table(tmp_path / "absent.csv")


@pytest.mark.skipif(not SHARED.is_file(), reason="shared data not present")
def test_shared_cloud_prices() -> None:
    offers, report = import_price_table(SHARED)
    chips = {o.chip for o in offers}
    assert {"h100-sxm", "h200", "trainium1", "inferentia2", "tpu-v6e"} <= chips
    assert "a100-40gb" in chips  # p4d.24xlarge capacity blocks: A100 40 GB SXM4
    assert report.rows == 9 and sum(report.skipped().values()) == 3
