"""Private offers from YAML: the example file, defaults, and every kind of bad input."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from chipfolio.catalog.sources.private import load_private_offers, parse_private_offers
from chipfolio.domain import PricingModel, SiliconVendor
from chipfolio.errors import InputError, SchemaError, UnknownNameError

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "catalog" / "private"
EXAMPLE = REPO / "examples" / "private-offers.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "offers.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_file_has_a_maia_200_lease_with_term_and_take_or_pay() -> None:
    offers = {o.id: o for o in load_private_offers(EXAMPLE)}
    maia = offers["example-azure-maia200-lease"]
    assert (maia.provider, maia.chip, maia.region) == ("azure", "maia-200", "eastus")
    assert maia.vendor is SiliconVendor.MICROSOFT
    assert maia.usd_per_chip_hour == pytest.approx(6.5)
    assert maia.usd_per_instance_hour == pytest.approx(26.0)
    assert (maia.term_start, maia.term_end) == (date(2027, 1, 1), date(2027, 12, 31))
    assert maia.take_or_pay_chips == 1024 and maia.capacity_chips == 2048
    assert maia.pricing is PricingModel.COMMITTED
    assert "example" in maia.source and "private" in maia.flags
    trn2 = offers["example-aws-trn2-reserved-block"]
    assert trn2.chip == "trainium2" and trn2.usd_per_chip_hour == pytest.approx(2.0)
    assert trn2.term_start == date(2027, 3, 1) and trn2.term_end is None
    assert offers["gcp-tpu-v6e-cud-1yr"].usd_per_chip_hour == pytest.approx(1.89)


def test_defaults(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "- {id: a, provider: p, chip: H100, region: r, usd_per_chip_hour: 2}\n",
    )
    (offer,) = load_private_offers(path, snapshot_id="snap")
    assert offer.chip == "h100-sxm" and offer.vendor is SiliconVendor.NVIDIA
    assert offer.chips_per_instance == 1 and offer.instance_type == "h100-sxmx1"
    assert offer.pricing is PricingModel.RESERVED and offer.capacity_chips is None
    assert offer.source == f"private:{path}" and offer.snapshot_id == "snap"
    assert offer.zone is None and offer.take_or_pay_chips is None


def test_parse_private_offers_reuses_validation_without_a_file() -> None:
    items: list[dict[str, object]] = [
        {"id": "x", "provider": "p", "chip": "tpu-v6e-8", "region": "r", "usd_per_chip_hour": 1.5}
    ]
    (offer,) = parse_private_offers(items, "portfolio.yaml", "snap")
    assert offer.chip == "tpu-v6e" and offer.source == "private:portfolio.yaml"
    with pytest.raises(SchemaError, match=r"offers\[0\]\.region"):
        parse_private_offers([{"id": "x", "provider": "p", "chip": "l4"}], "f.yaml", "s")


def test_wrong_field_names_file_line_and_field() -> None:
    with pytest.raises(SchemaError) as info:
        load_private_offers(FIXTURES / "wrong_field.yaml")
    message = str(info.value)
    assert "wrong_field.yaml:7" in message
    assert "offers[0].price_per_hour" in message and "unknown field" in message
    assert "usd_per_chip_hour" in message  # lists what is expected


def test_unknown_chip_suggests(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError) as info:
        load_private_offers(FIXTURES / "unknown_chip.yaml")
    assert "unknown_chip.yaml:3" in str(info.value) and "field 'chip'" in str(info.value)
    assert "did you mean" in str(info.value)


def test_hostile_values_are_each_reported() -> None:
    with pytest.raises(SchemaError) as info:
        load_private_offers(FIXTURES / "hostile.yaml")
    fields = {issue.field for issue in info.value.issues}
    assert fields == {
        "offers[0].usd_per_chip_hour",
        "offers[1].usd_per_chip_hour",
        "offers[2]",
        "offers[3].chips_per_instance",
        "offers[4].usd_per_chip_hour",
    }
    assert all(issue.line is not None for issue in info.value.issues)
    assert "implausible" in " ".join(i.message for i in info.value.issues)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("- {id: a, provider: p, chip: l4, region: r}\n", "exactly one of"),
        (
            "- {id: a, provider: p, chip: l4, region: r, usd_per_chip_hour: 1,"
            " usd_per_instance_hour: 1}\n",
            "exactly one of",
        ),
        (
            "- {id: a, provider: p, chip: l4, region: r, usd_per_chip_hour: 1,"
            " term_start: 2027-02-01, term_end: 2027-01-01}\n",
            "term_end must be after",
        ),
        (
            "- {id: a, provider: p, chip: l4, region: r, usd_per_chip_hour: 1,"
            " capacity_chips: 4, take_or_pay_chips: 8}\n",
            "cannot exceed",
        ),
        ("- {id: a, provider: p, chip: l4, region: r, usd_per_chip_hour: 0}\n", "greater than 0"),
        (
            "- {id: a, provider: p, chip: l4, region: r, usd_per_chip_hour: 1, pricing: free}\n",
            "pricing",
        ),
        (
            "- {id: a, provider: p, chip: l4, region: r, usd_per_chip_hour: 1, term_end: soon}\n",
            "term_end",
        ),
        ("- {id: a, provider: p, chip: l4, region: r, usd_per_chip_hour: true}\n", "chip_hour"),
        ("- [1, 2]\n", "expected a mapping"),
        (
            "- {id: a, provider: p, chip: l4, region: r, usd_per_chip_hour: 1}\n"
            "- {id: a, provider: p, chip: l4, region: r, usd_per_chip_hour: 2}\n",
            "duplicate offer id 'a'",
        ),
    ],
)
def test_invalid_offers(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(SchemaError, match=needle):
        load_private_offers(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "got nothing"),
        ("offers: 3\n", "got int"),
        ("just a string\n", "got str"),
        ("offers: []\nextra: 1\n", "unknown top-level key 'extra'"),
    ],
)
def test_bad_file_shapes(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        load_private_offers(_write(tmp_path, text))


def test_empty_offers_list_is_fine(tmp_path: Path) -> None:
    assert load_private_offers(_write(tmp_path, "offers: []\n")) == []


def test_broken_yaml_names_the_line() -> None:
    with pytest.raises(InputError) as info:
        load_private_offers(FIXTURES / "broken.yaml")
    assert "invalid YAML" in str(info.value) and info.value.location.line is not None


def test_binary_junk_is_refused() -> None:
    with pytest.raises(InputError, match="binary"):
        load_private_offers(FIXTURES / "junk.bin")


def test_non_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("- {id: caf\xe9}\n".encode("latin-1"))
    with pytest.raises(InputError, match="UTF-8"):
        load_private_offers(path)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_private_offers(tmp_path / "absent.yaml")
    with pytest.raises(InputError, match="directory"):
        load_private_offers(tmp_path)
    locked = _write(tmp_path, "offers: []\n")
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):  # running as root: permissions do not apply
            pytest.skip("file permissions are not enforced for this user")
        with pytest.raises(InputError, match="cannot read"):
            load_private_offers(locked)
    finally:
        locked.chmod(0o600)


def test_anchor_expansion_stays_bounded(tmp_path: Path) -> None:
    # A "billion laughs" document: nine levels of aliases; must fail fast, not expand.
    lines = ["offers:", '  - &a0 ["x"]']
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"  - &a{i} [{refs}]")
    with pytest.raises(SchemaError, match="expected a mapping"):
        load_private_offers(_write(tmp_path, "\n".join(lines) + "\n"))


def test_a_private_offer_in_an_area_is_flagged_approximate() -> None:
    from chipfolio.catalog.sources.private import parse_private_offers

    base = {
        "provider": "gcp",
        "chip": "tpu-v6e",
        "usd_per_chip_hour": 2.0,
        "chips_per_instance": 8,
        "pricing": "reserved",
    }
    items: list[dict[str, object]] = [
        {**base, "id": "area", "region": "asia-northeast"},
        {**base, "id": "real", "region": "asia-northeast1"},
        {**base, "id": "neocloud", "provider": "crusoe", "region": "us-central"},
    ]
    flags = {o.id: o.flags for o in parse_private_offers(items, "p.yaml", "")}
    assert flags["area"] == ("private", "region_approximate")
    assert flags["real"] == ("private",) and flags["neocloud"] == ("private",)
