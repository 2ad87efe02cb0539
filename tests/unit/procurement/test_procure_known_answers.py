"""Procurement answers checked against hand derivations and brute force.

The issue's minimal file is a newsvendor: a 24-period Maia contract at p_c against on-demand at
p_o = 4 $/chip-hour, demand 1000 tok/s in both scenarios for periods 0-11 and 1000 or 3000
(probability 1/2 each) for periods 12-23, one chip serving 1 tok/s. Signing q chips costs
H * [24 p_c q + p_o * sum over periods of E max(0, D_t - q)]; the slope above q = 1000 is
24 p_c - 0.5 * 12 * p_o, below it 24 p_c - 24 p_o. Each test says which numbers it derives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from chipfolio.planner import SolveOptions
from chipfolio.procurement import (
    ProcurementResult,
    build_model,
    cvar,
    procurement_from_data,
    solve_procurement,
)

ROOT = Path(__file__).resolve().parents[3]
MINIMAL = ROOT / "examples" / "procurement-minimal.yaml"
H = 730.0
OPTIONS = SolveOptions(time_limit_s=20.0, mip_gap=1e-6)


def base(**contract: Any) -> dict[str, Any]:
    data = yaml.safe_load(MINIMAL.read_text(encoding="utf-8"))
    data["contracts"][0].update(contract)
    return dict(data)


def solve(data: dict[str, Any], values: bool = False) -> ProcurementResult:
    return solve_procurement(procurement_from_data(data, "<test>"), OPTIONS, values=values)


def chips_now(result: ProcurementResult, contract: str = "maia-2y") -> int:
    return sum(c.chips for c in result.sign_now if c.contract == contract)


def brute_force(price: float, p_high: float, step: int = 1) -> tuple[int, float]:
    """argmin over q of the expected cost of the minimal file (every q, closed form)."""
    q = np.arange(0, 3001, step, dtype=np.float64)[:, None]
    d_low = np.full(24, 1000.0)
    d_high = np.where(np.arange(24) >= 12, 3000.0, 1000.0)
    od = lambda d: 4.0 * np.maximum(d[None, :] - q, 0.0).sum(axis=1)  # noqa: E731
    cost = H * (24 * price * q[:, 0] + (1 - p_high) * od(d_low) + p_high * od(d_high))
    i = int(np.argmin(cost))
    return int(q[i, 0]), float(cost[i])


def test_minimal_file_signs_the_newsvendor_quantity() -> None:
    result = solve(yaml.safe_load(MINIMAL.read_text(encoding="utf-8")), values=True)
    assert result.status == "optimal"
    # slope above 1000: 24*2 - 0.5*12*4 = +24 > 0; below: 48 - 96 < 0 -> q = 1000
    assert chips_now(result) == 1000
    # E cost = 2*1000*730*24 + 0.5 * 4*2000*730*12 = 35.04M + 35.04M
    assert result.expected_cost_usd == pytest.approx(70_080_000.0, rel=1e-9)
    costs = {s.name: s.cost_usd for s in result.scenarios}
    assert costs == pytest.approx({"low": 35_040_000.0, "high": 105_120_000.0})
    assert result.scenarios[1].on_demand_usd == pytest.approx(70_080_000.0)
    # CVaR95 of a two-point distribution: the worst 5% is all "high"
    assert result.cvar_95_usd == pytest.approx(105_120_000.0)
    # wait-and-see: low signs 1000; high is indifferent between 1000 and 3000 (both 105.12M)
    assert result.evpi_usd == pytest.approx(0.0, abs=1.0)
    assert result.vss_usd is not None and result.vss_usd >= -1.0


@pytest.mark.parametrize(
    ("price", "p_high"), [(0.9, 0.5), (1.5, 0.5), (2.0, 0.5), (3.0, 0.5), (3.9, 0.5), (0.9, 0.8)]
)
def test_sign_now_quantity_matches_brute_force(price: float, p_high: float) -> None:
    data = base(usd_per_chip_hour=price)
    data["scenarios"][0]["probability"] = 1 - p_high
    data["scenarios"][1]["probability"] = p_high
    result = solve(data)
    q, cost = brute_force(price, p_high)
    assert chips_now(result) == q
    assert result.expected_cost_usd == pytest.approx(cost, rel=1e-9)
    # the critical ratio (p_o - p_c) / p_o against the pooled per-period demand distribution
    ratio = (4.0 - price) / 4.0
    p_le_1000 = 1 - p_high * 12 / 24
    assert q == (1000 if p_le_1000 >= ratio else 3000)


def test_values_of_the_stochastic_solution_and_of_perfect_information() -> None:
    # price 1.5: stochastic q = 1000 (slope 36 - 24 > 0); mean-demand q = 2000 (36 - 48 < 0)
    # RP = 1.5*1000*17520 + 0.5*4*2000*8760 = 61.32M; EEV (q = 2000) = 52.56M + 17.52M = 70.08M
    # WS: low 26.28M, high q = 3000 -> 78.84M; E = 52.56M
    result = solve(base(usd_per_chip_hour=1.5), values=True)
    assert result.expected_cost_usd == pytest.approx(61_320_000.0)
    assert result.vss_usd == pytest.approx(8_760_000.0, rel=1e-6)
    assert result.evpi_usd == pytest.approx(8_760_000.0, rel=1e-6)


def later(sign: int, term: int, price: float) -> dict[str, Any]:
    data = base()
    contract = {"id": "later", "provider": "azure", "chip": "maia-200"}
    contract.update(usd_per_chip_hour=price, term_periods=term, sign_periods=[sign])
    data["contracts"].append(contract)
    return data


def test_a_later_signing_cannot_see_the_demand_of_its_own_period() -> None:
    # at period 12 the scenarios have the same history (the step is in period 12 itself)
    proc = procurement_from_data(later(12, 12, 1.5), "<t>")
    model = build_model(proc)
    assert model.tree.nodes_at(12) == 1 and model.tree.nodes_at(13) == 2
    # 1.5*12 = 18 per chip against 0.5*4*12 = 24 of expected on-demand: both sign 2000
    result = solve(later(12, 12, 1.5))
    [c] = [c for c in result.commitments if c.contract == "later"]
    assert (c.sign_period, c.chips, c.scenarios) == (12, 2000, ["low", "high"])
    # at 2.5 (30 > 24) nobody signs it: it cannot be signed in the high scenario alone
    result = solve(later(12, 12, 2.5))
    assert not [c for c in result.commitments if c.contract == "later"]


def test_a_signing_after_the_branch_is_made_per_scenario() -> None:
    # signed at 13 (after seeing period 12): high signs 2000 (2.5*11 < 4*11), low nothing
    result = solve(later(13, 11, 2.5))
    [c] = [c for c in result.commitments if c.contract == "later"]
    assert (c.sign_period, c.start_period, c.end_period) == (13, 13, 24)
    assert (c.chips, c.scenarios, c.probability) == (2000, ["high"], 0.5)
    assert not [c for c in result.sign_now if c.contract == "later"]


def test_lead_time_delays_delivery_and_on_demand_covers_the_gap() -> None:
    result = solve(base(lead_periods=6))
    [c] = result.sign_now
    assert (c.chips, c.start_period, c.end_period) == (1000, 6, 30)
    # paid for the whole term, the objective counts the 18 periods within the horizon
    assert c.committed_usd == pytest.approx(2 * 1000 * H * 24)
    assert c.in_horizon_usd == pytest.approx(2 * 1000 * H * 18)
    # 26.28M + on-demand periods 0-5 (17.52M) + 0.5 * 4*2000*730*12 (35.04M)
    assert result.expected_cost_usd == pytest.approx(78_840_000.0)
    assert result.periods[0].on_demand_chips == {"od": pytest.approx(1000.0)}


def test_take_or_pay_makes_extra_chips_cheap_insurance() -> None:
    # pay 2 * max(0.5 q, used): E cost/h = 108000 - 12q on [1000, 2000], 6q + 72000 above
    result = solve(base(take_or_pay=0.5))
    assert chips_now(result) == 2000
    assert result.expected_cost_usd == pytest.approx(84_000 * H)


@pytest.mark.parametrize("cpi", [3, 7, 64])
def test_chips_come_in_whole_instances(cpi: int) -> None:
    result = solve(base(chips_per_instance=cpi))
    q = chips_now(result)
    assert q % cpi == 0
    _, best = brute_force(2.0, 0.5, step=cpi)
    # ties happen (cpi 3: 999 and 1002 chips cost the same), so compare costs
    assert result.expected_cost_usd == pytest.approx(best, rel=1e-9)
    slope_below, slope_above = 24 * 2.0 - 24 * 4.0, 24 * 2.0 - 12 * 4.0 * 0.5
    own = H * (24 * 2.0 * 1000 + 0.5 * 4 * 2000 * 12)
    own += H * (-slope_below * (1000 - q) if q <= 1000 else slope_above * (q - 1000))
    assert own == pytest.approx(best, rel=1e-9)


def test_min_and_max_chips() -> None:
    # all on-demand: 4*(24000 + 12000) = 144000/h; q = 1500: 72000 + 36000 = 108000/h
    result = solve(base(min_chips=1500))
    assert chips_now(result) == 1500
    assert result.expected_cost_usd == pytest.approx(108_000 * H)
    # q = 2500: 120000 + 0.5*4*500*12 = 132000 < 144000 -> still signed
    assert chips_now(solve(base(min_chips=2500))) == 2500
    # at 3.5 $/h the minimum 2500 is worse than on-demand: 168000 + 12000 > 144000
    assert chips_now(solve(base(min_chips=2500, usd_per_chip_hour=3.5))) == 0
    assert chips_now(solve(base(max_chips=600))) == 600


def test_ramp_delivers_part_of_the_chips_at_first() -> None:
    result = solve(base(ramp=[0.5]))
    [c] = result.sign_now
    assert c.chips == 1000
    assert c.committed_usd == pytest.approx(2 * 1000 * H * 23.5)
    assert result.periods[0].on_demand_chips == {"od": pytest.approx(500.0)}
    assert result.periods[0].committed_chips == {"azure": {"maia-200": pytest.approx(500.0)}}


def with_policy(**policy: Any) -> dict[str, Any]:
    data = base()
    data["policy"] = policy
    return data


def test_vendor_share_cap_holds_in_every_period() -> None:
    # both providers capped at 60% of each period's spend: azure 2q <= 0.6 (2q + 4 od) gives
    # od >= q/3; aws 4 od <= 0.6 (2q + 4 od) gives od <= 0.75 q. High periods need
    # od >= 3000 - q, so q >= 3000 / 1.75 -> 1715 chips, and the other periods buy q/3
    # on-demand chips they do not use (a cost-share cap is met by spending elsewhere):
    # cost/h = 48*1715 + 4*(12*1715/3 + 6*1285 + 6*1715/3) = 154320
    result = solve(with_policy(max_share=0.6))
    assert chips_now(result) == 1715
    assert result.expected_cost_usd == pytest.approx(154_320 * H, rel=1e-6)
    for p in result.periods:
        assert max(p.vendor_shares.values()) <= 0.6 + 1e-6


def test_n_minus_1_keeps_half_the_demand_without_either_vendor() -> None:
    data = with_policy(n_minus_1=0.5)
    data["workloads"][0]["critical"] = True
    result = solve(data)
    # each provider serves >= half the demand: q >= 1500 (high periods), on-demand >= 500
    # (1500 in high periods); cost/h = 48q + 4*(12*500 + 6*max(1500, 3000-q) + 6*500),
    # rising for q >= 1500 -> q = 1500, 72000 + 72000 = 144000
    assert chips_now(result) == 1500
    assert result.expected_cost_usd == pytest.approx(144_000 * H, rel=1e-6)


def test_min_vendors_keeps_a_chip_on_the_second_vendor() -> None:
    data = with_policy(min_vendors=2)
    data["workloads"][0]["critical"] = True
    result = solve(data)
    # q = 999: 48*999 + 4*(12*1 + 6*1 + 6*2001) = 96048/h beats q = 1000 with one idle
    # on-demand chip where demand is 1000: 48000 + 4*(12 + 6 + 6*2001) = 96072/h
    assert chips_now(result) == 999
    assert result.expected_cost_usd == pytest.approx(96_048 * H, rel=1e-9)


def test_cvar_weight_buys_protection_against_the_high_scenario() -> None:
    # price 1.5: expected cost wants q = 1000; the high scenario alone costs 144000 - 12q
    risk_neutral = solve(base(usd_per_chip_hour=1.5))
    data = base(usd_per_chip_hour=1.5)
    data["risk"] = {"cvar_weight": 1.0, "cvar_alpha": 0.95}
    averse = solve(data)
    assert chips_now(risk_neutral) == 1000 and chips_now(averse) == 3000
    assert averse.cvar_95_usd == pytest.approx(1.5 * 3000 * H * 24)
    assert averse.cvar_95_usd < risk_neutral.cvar_95_usd
    assert averse.expected_cost_usd > risk_neutral.expected_cost_usd


def test_unserved_penalty_replaces_missing_capacity() -> None:
    data = base()
    data["on_demand"] = []
    data["workloads"][0]["unserved_usd_per_token"] = 1e-3  # $3.6 per tok/s-hour > $2 a chip
    result = solve(data)
    assert chips_now(result) == 1000  # 48 - 0.5*3.6*12 > 0: no chip beyond 1000
    high = result.scenarios[1]
    # high: 2000 of 3000 tok/s unserved for 12 of 24 periods; demand-weighted 24000/48000
    assert high.unserved_fraction == pytest.approx(24_000 / 48_000)
    assert result.scenarios[0].unserved_fraction == 0.0


def test_cvar_of_a_discrete_distribution() -> None:
    cost = np.array([10.0, 20.0, 30.0])
    prob = np.array([0.5, 0.3, 0.2])
    assert cvar(cost, prob, 0.9) == pytest.approx(30.0)
    assert cvar(cost, prob, 0.7) == pytest.approx(0.2 / 0.3 * 30 + 0.1 / 0.3 * 20)


def test_vss_reads_the_mean_demand_signings_from_their_own_model() -> None:
    # a per-scenario contract listed first shifts the columns of the stochastic model (two
    # nodes at period 13) against the mean-demand model (one): VSS must not depend on order
    data = later(13, 11, 2.5)
    data["contracts"][0]["usd_per_chip_hour"] = 1.5
    first = solve(data, values=True)
    data["contracts"].reverse()
    second = solve(data, values=True)
    assert first.vss_usd is not None and second.vss_usd is not None
    assert second.vss_usd == pytest.approx(first.vss_usd, rel=1e-6, abs=1.0)
    assert second.evpi_usd == pytest.approx(first.evpi_usd, rel=1e-6, abs=1.0)


@pytest.mark.parametrize("gap", [0.01, 1e-6])
def test_reported_gap_is_proven_against_the_true_optimum(gap: float) -> None:
    # 7-chip instances: the LP relaxation signs 142.86 instances; rounding up is within 1%
    proc = procurement_from_data(base(chips_per_instance=7), "<t>")
    result = solve_procurement(proc, SolveOptions(time_limit_s=20, mip_gap=gap), values=False)
    _, best = brute_force(2.0, 0.5, step=7)
    bound = result.solver["bound"]
    assert result.status == "optimal" and result.gap is not None and result.gap <= gap + 1e-12
    assert bound <= best * (1 + 1e-9) and best <= result.objective_usd * (1 + 1e-9)
    assert (result.objective_usd - bound) / result.objective_usd == pytest.approx(result.gap)
    assert result.objective_usd <= best * (1 + gap) + 1e-6
