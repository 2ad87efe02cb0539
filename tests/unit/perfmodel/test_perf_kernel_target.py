"""A chip without serving rows borrows the deviation of measured chips on its kernel target."""

from __future__ import annotations

import math

from chipfolio.catalog.chips import registry
from chipfolio.perfmodel.serving import KERNEL_TARGET, ServingParams


def _params() -> ServingParams:
    devs = {"b300": {"hbm_eff": 0.4}, "gb300": {"hbm_eff": 0.2, "moe_eff": -0.2},
            "b200": {"hbm_eff": -1.0}, "mi300x": {"moe_eff": -0.8}}  # fmt: skip
    return ServingParams(base={"hbm_eff": 0.0, "moe_eff": 0.0}, chip_devs=devs)


def test_a_measured_chip_keeps_its_own_deviation() -> None:
    assert _params().chip_deviation("b200") == {"hbm_eff": -1.0}


def test_an_unmeasured_chip_takes_the_mean_of_its_kernel_targets_measured_chips() -> None:
    p = _params()
    without = ServingParams(base=p.base, chip_devs={k: v for k, v in p.chip_devs.items()
                                                    if k != "gb300"})  # fmt: skip
    assert without.chip_deviation("gb300") == {"hbm_eff": 0.4}  # only the B300 (sm_103)
    dev = ServingParams(
        base=p.base,
        chip_devs={"b300": {"hbm_eff": 0.4}, "gb300": {"hbm_eff": 0.2, "moe_eff": -0.2}},
    )
    assert dev.chip_deviation("gb300") == {"hbm_eff": 0.2, "moe_eff": -0.2}  # its own
    assert p.chip_deviation("mi325x") == {"moe_eff": -0.8}  # gfx942, like the MI300X
    coords = p.coords("rocm", None, "mi325x")
    assert math.isclose(coords["moe_eff"], -0.8)


def test_a_chip_borrows_only_from_its_own_target() -> None:
    p = _params()
    assert p.chip_deviation("gb200") == {"hbm_eff": -1.0}  # B200 is sm_100 too
    assert p.chip_deviation("h200") == {}  # no Hopper measured here
    assert p.chip_deviation("trainium2") == {}  # not in the table: shares with none
    assert p.chip_deviation(None) == {}


def test_every_kernel_target_names_a_registry_chip() -> None:
    ids = {c.id for c in registry().all()}
    assert set(KERNEL_TARGET) <= ids
