"""Roadmap (availability, falling prices), power in MW, and negotiation, against hand sums.

All start from the issue's minimal file (see test_procure_known_answers.py for its
newsvendor): Maia at p_c = 2 $/chip-hour for 24 periods against on-demand H100 at 4, demand
1000 tok/s, or 3000 from period 12 with probability 1/2; 730 hours a period.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from chipfolio.errors import InputError
from chipfolio.planner import SolveOptions
from chipfolio.procurement import ProcurementResult, procurement_from_data, solve_procurement

ROOT = Path(__file__).resolve().parents[3]
MINIMAL = ROOT / "examples" / "procurement-minimal.yaml"
H = 730.0
OPTIONS = SolveOptions(time_limit_s=20.0, mip_gap=1e-6)


def minimal(**extra: Any) -> dict[str, Any]:
    data = dict(yaml.safe_load(MINIMAL.read_text(encoding="utf-8")))
    data.update(extra)
    return data


def solve(data: dict[str, Any], options: SolveOptions = OPTIONS) -> ProcurementResult:
    return solve_procurement(procurement_from_data(data, "<test>"), options, values=False)


def test_a_chip_available_later_delivers_from_its_date() -> None:
    # Maia from period 6: periods 0-5 all on-demand; then the newsvendor over 18 periods
    # (slope above 1000: 18 x 2 - 0.5 x 12 x 4 = 12 > 0; below: 18 x 2 - 18 x 4 < 0)
    result = solve(minimal(roadmap=[{"chip": "maia-200", "available_from": 6}]))
    (now,) = result.sign_now
    assert (now.chips, now.start_period, now.end_period) == (1000, 6, 30)
    expected = H * (4 * 6 * 1000 + 2 * 1000 * 18 + 0.5 * 4 * 2000 * 12)
    assert result.expected_cost_usd == pytest.approx(expected, rel=1e-9)


def test_on_demand_of_a_chip_not_yet_available_is_not_bought() -> None:
    data = minimal(contracts=[], roadmap=[{"chip": "b300", "available_from": 3}])
    data["workloads"][0]["throughput"]["b300"] = 1.0
    data["on_demand"].append(
        {"id": "od-b300", "provider": "nebius", "chip": "b300", "usd_per_chip_hour": 3.0}
    )
    result = solve(data)
    for p in result.periods:
        bought = p.on_demand_chips
        if p.period < 3:
            assert "od-b300" not in bought and bought["od"] == pytest.approx(1000)
        else:
            assert "od" not in bought
    low = H * (4 * 1000 * 3 + 3 * 1000 * 21)
    high = H * (4 * 1000 * 3 + 3 * 1000 * 9 + 3 * 3000 * 12)
    assert result.expected_cost_usd == pytest.approx(0.5 * low + 0.5 * high, rel=1e-9)


def test_prices_fall_by_the_yearly_change_compounded_per_period() -> None:
    # on-demand only, H100 prices halving every year: period t costs 4 x 0.5^(t x 730/8760)
    data = minimal(contracts=[], roadmap=[{"chip": "h100", "price_change_per_year": -0.5}])
    result = solve(data)
    factor = [0.5 ** (t * H / 8760.0) for t in range(24)]
    demand = [1000.0 if t < 12 else 0.5 * 1000 + 0.5 * 3000 for t in range(24)]
    expected = sum(4 * H * f * d for f, d in zip(factor, demand, strict=True))
    assert result.expected_cost_usd == pytest.approx(expected, rel=1e-9)


def test_a_contract_keeps_the_price_of_its_signing_period() -> None:
    # Maia signable only at period 12 for 12 periods, its price halving yearly: 1.0 at 12
    data = minimal(roadmap=[{"chip": "maia-200", "price_change_per_year": -0.5}])
    data["contracts"][0].update(sign_periods=[12], term_periods=12)
    result = solve(data)
    assert result.commitments
    for c in result.commitments:
        assert c.sign_period == 12
        assert c.usd_per_chip_hour == pytest.approx(1.0, rel=1e-9)
        assert c.committed_usd == pytest.approx(c.chips * 1.0 * H * 12, rel=1e-9)
    # period 12's demand is not known when signing at 12 (both scenarios share the node):
    # one signing for all; a chip above 1000 costs 1.0 and saves 0.5 x 4 = 2 per hour
    assert [(c.chips, len(c.scenarios)) for c in result.commitments] == [(3000, 2)]


def test_power_is_chip_watts_times_pue_by_vendor() -> None:
    # Maia 750 W, H100 700 W (chip registry), PUE 1.5
    result = solve(minimal(power={"pue": 1.5}))
    first, last = result.periods[0], result.periods[-1]
    assert first.power_mw == pytest.approx({"azure": 1000 * 750 * 1.5 / 1e6})
    # from period 12, the high scenario adds 2000 on-demand H100 (probability 1/2)
    assert last.power_mw["aws"] == pytest.approx(0.5 * 2000 * 700 * 1.5 / 1e6)
    assert result.peak_mw == pytest.approx((1000 * 750 + 2000 * 700) * 1.5 / 1e6)
    assert result.to_json()["power"] == {"pue": 1.5, "peak_mw": result.peak_mw}


def test_a_power_limit_changes_the_chips_bought() -> None:
    # 3.2 MW at PUE 1.5 for 3000 chips: 1.5e-6 (750 q + 700 (3000 - q)) <= 3.2 -> q <= 666
    result = solve(minimal(power={"pue": 1.5, "max_mw": 3.2}))
    q = 666
    assert sum(c.chips for c in result.sign_now) == q
    expected = H * (2 * 24 * q + 4 * 12 * (1000 - q) + 4 * 12 * 0.5 * (1000 - q + 3000 - q))
    assert result.expected_cost_usd == pytest.approx(expected, rel=1e-9)
    assert result.peak_mw is not None and result.peak_mw <= 3.2 + 1e-9


def test_a_vendor_power_limit_is_by_the_share_by_label() -> None:
    # at most 0.75 MW of azure: 0.75 / (750 x 1.5e-6) = 666.7 Maia chips
    result = solve(minimal(power={"pue": 1.5, "max_mw_by_vendor": {"azure": 0.75}}))
    assert sum(c.chips for c in result.sign_now) == 666


def test_power_limits_refuse_chips_without_watts_and_unknown_vendors() -> None:
    data = minimal(power={"max_mw": 10})
    data["on_demand"][0]["chip"] = "tpu7x"
    data["workloads"][0]["throughput"]["tpu7x"] = 1.0
    with pytest.raises(InputError) as info:
        procurement_from_data(data, "f.yaml")
    assert info.value.location.field == "on_demand[0].chip" and "watts_per_chip" in str(info.value)
    data["on_demand"][0]["watts_per_chip"] = 900.0
    procurement_from_data(data, "f.yaml")  # the file's own figure is enough
    bad = minimal(power={"max_mw_by_vendor": {"nvidia": 1.0}})
    with pytest.raises(InputError) as info:
        procurement_from_data(bad, "f.yaml")
    assert info.value.location.field == "power.max_mw_by_vendor.nvidia"


def test_roadmap_errors_name_the_field() -> None:
    with pytest.raises(InputError) as info:
        procurement_from_data(minimal(roadmap=[{"chip": "maia-200", "available_from": 30}]), "f")
    assert info.value.location.field == "roadmap[0].available_from"
    with pytest.raises(InputError) as info:
        procurement_from_data(minimal(roadmap=[{"chip": "no-such-chip"}]), "f")
    assert info.value.location.field == "roadmap[0].chip"
    twice = [{"chip": "maia-200"}, {"chip": "maia200"}]
    with pytest.raises(InputError):
        procurement_from_data(minimal(roadmap=twice), "f")


def test_negotiation_values_break_even_and_shorter_term_by_hand() -> None:
    data = minimal(negotiate=[{"contract": "maia-2y", "shorter_term_periods": 12}])
    proc = procurement_from_data(data, "<test>")
    result = solve_procurement(proc, SolveOptions(time_limit_s=60, mip_gap=1e-6), values=False)
    (neg,) = result.negotiation
    # without Maia: all on-demand, 4 x 730 x (24 x 1000 + 0.5 x 12 x 2000) = $105.12M
    assert neg.value_usd == pytest.approx(105_120_000 - 70_080_000, rel=1e-6)
    # the first Maia chip is used every period of both scenarios: it pays below p_o = 4;
    # the bisection between 2 and 4 (six halvings) brackets it within 2/64
    assert neg.break_even_usd_per_chip_hour is not None
    assert 4.0 - 2.0 / 64 - 1e-9 <= neg.break_even_usd_per_chip_hour <= 4.0
    # a 12-period term signable only at 0: periods 12-23 go on-demand
    # 2 x 1000 x 730 x 12 + 4 x 730 x 12 x (0.5 x 1000 + 0.5 x 3000) = $87.6M
    assert neg.shorter_term_value_usd == pytest.approx(70_080_000 - 87_600_000, rel=1e-6)
    assert result.to_json()["negotiation"][0]["contract"] == "maia-2y"


def test_negotiation_errors_name_the_field() -> None:
    with pytest.raises(InputError) as info:
        procurement_from_data(minimal(negotiate=[{"contract": "nope"}]), "f")
    assert info.value.location.field == "negotiate[0].contract"
    too_long = [{"contract": "maia-2y", "shorter_term_periods": 24}]
    with pytest.raises(InputError) as info:
        procurement_from_data(minimal(negotiate=too_long), "f")
    assert info.value.location.field == "negotiate[0].shorter_term_periods"


def test_model_based_throughput_comes_from_the_performance_model() -> None:
    from chipfolio.perfmodel import inference_capability

    data = minimal()
    data["workloads"] = [
        {"name": "chat", "model": "llama-3.1-70b", "precision": "fp8", "input_tokens": 1000,
         "output_tokens": 250, "perf_quantile": "p10", "throughput": {"maia-200": 1.0}}
    ]  # fmt: skip
    proc = procurement_from_data(data, "<test>")
    cap = inference_capability("llama-3.1-70b", "h100-sxm", "fp8", 1000, 250, None, None)
    assert cap is not None
    # the file's Maia figure is kept; H100 (bought on demand) is modelled, pessimistic end
    assert proc.rates(0) == {"maia-200": 1.0, "h100-sxm": cap.tokens_per_s_per_chip_low}
    assert any("performance model" in n and "h100-sxm" in n for n in proc.perf_notes)
    result = solve(data)
    assert any("performance model" in n for n in result.notes)
    # a modelled H100 serves hundreds of tokens/s for 4 $/h against Maia's 1 for 2 $/h:
    # nothing is signed, on-demand serves the expected 0.5 x (1000 + 3000) tok/s at the end
    assert result.sign_now == []
    top = result.periods[-1].on_demand_chips.get("od", 0.0)
    assert top == pytest.approx(0.5 * 4000 / cap.tokens_per_s_per_chip_low, rel=1e-6)


def test_a_workload_needs_throughput_or_a_known_model() -> None:
    data = minimal()
    data["workloads"] = [{"name": "chat"}]
    with pytest.raises(InputError, match="throughput"):
        procurement_from_data(data, "f")
    data["workloads"] = [{"name": "chat", "model": "no-such-model"}]
    with pytest.raises(InputError) as info:
        procurement_from_data(data, "f")
    assert info.value.location.field == "workloads[0].model"
