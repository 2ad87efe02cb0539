"""Concentration figures on hand-computed splits."""

from __future__ import annotations

import pytest

from chipfolio.analysis.risk import concentration, shares_of


def test_single_vendor_is_fully_concentrated() -> None:
    c = concentration({"aws": 10.0})
    assert c.hhi == pytest.approx(10_000.0)
    assert c.hhi_fraction == pytest.approx(1.0)
    assert c.equivalent_vendors == pytest.approx(1.0)


def test_four_equal_vendors() -> None:
    c = concentration({v: 5.0 for v in "abcd"})
    assert c.hhi == pytest.approx(2_500.0)
    assert c.equivalent_vendors == pytest.approx(4.0)


def test_uneven_split() -> None:
    c = concentration({"a": 60.0, "b": 30.0, "c": 10.0, "d": 0.0})
    assert c.hhi == pytest.approx(3_600 + 900 + 100)
    assert shares_of({"a": 60.0, "b": 40.0}) == {"a": 0.6, "b": 0.4}


def test_nothing_spent() -> None:
    c = concentration({"a": 0.0})
    assert c.hhi == 0.0 and c.equivalent_vendors is None
    assert concentration({}).hhi == 0.0
