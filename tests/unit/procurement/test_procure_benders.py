"""The L-shaped method against the direct solve on the same models.

Both must agree within the gap each proves; the bound the decomposition reports must be a
lower bound of the direct optimum; models it cannot split (CVaR, integer recourse, a recourse
LP with no solution at some signings) go to the direct method.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from chipfolio.planner import SolveOptions
from chipfolio.procurement import build_model, procurement_from_data, solve_procurement
from chipfolio.procurement.benders import cut_groups, decomposable

OPTIONS = SolveOptions(time_limit_s=30.0, mip_gap=1e-3)


def synthetic(scenarios: int = 6, periods: int = 12, seed: int = 3) -> dict[str, Any]:
    """Demand that branches each quarter; three contracts (one take-or-pay), two offers."""
    rng = np.random.default_rng(seed)
    scen = []
    for s in range(scenarios):
        level = 800.0 * np.cumprod(np.exp(rng.normal(0.1, 0.2, size=(periods + 2) // 3)))
        chat = [round(float(level[t // 3]), 1) for t in range(periods)]
        batch = [round(0.5 * v + 100.0, 1) for v in chat]
        scen.append({"name": f"s{s}", "probability": 1.0 / scenarios,
                     "demand": {"chat": chat, "batch": batch}})  # fmt: skip
    return {
        "periods": periods,
        "scenarios": scen,
        "workloads": [
            {"name": "chat", "throughput": {"maia-200": 1.0, "h100-sxm": 1.2, "b300": 2.0}},
            {"name": "batch", "throughput": {"maia-200": 2.0, "h100-sxm": 2.0}},
        ],
        "contracts": [
            {
                "id": "maia",
                "provider": "azure",
                "chip": "maia-200",
                "usd_per_chip_hour": 1.8,
                "term_periods": 12,
                "sign_periods": [0, 6],
            },
            {
                "id": "b300",
                "provider": "coreweave",
                "chip": "b300",
                "usd_per_chip_hour": 4.0,
                "term_periods": 6,
                "lead_periods": 1,
                "sign_periods": [0, 3, 6],
                "chips_per_instance": 8,
                "take_or_pay": 0.7,
            },
            {
                "id": "h100",
                "provider": "lambda",
                "chip": "h100-sxm",
                "usd_per_chip_hour": 2.2,
                "term_periods": 12,
                "sign_periods": [0],
                "min_chips": 64,
            },
        ],
        "on_demand": [
            {"id": "od-h100", "provider": "aws", "chip": "h100-sxm", "usd_per_chip_hour": 4.5},
            {"id": "od-b300", "provider": "gcp", "chip": "b300", "usd_per_chip_hour": 8.0},
        ],
        "policy": {"max_share": 0.6},
    }


def both(data: dict[str, Any]) -> tuple[Any, Any]:
    proc = procurement_from_data(data, "<test>")
    direct = solve_procurement(proc, OPTIONS, values=False, method="direct")
    split = solve_procurement(proc, OPTIONS, values=False, method="benders")
    return direct, split


def test_benders_matches_the_direct_solve_within_the_proven_gaps() -> None:
    direct, split = both(synthetic())
    assert split.solver["method"] == "benders"
    assert direct.solver["method"] == "direct"
    assert split.status == "optimal" and direct.status == "optimal"
    # each answer is within its gap of the true optimum, so of the other
    tol = (OPTIONS.mip_gap + 1e-6) * direct.objective_usd
    assert abs(split.objective_usd - direct.objective_usd) <= 2 * tol
    # its bound is a lower bound of what the direct method found
    assert split.solver["bound"] <= direct.objective_usd * (1 + 1e-9)
    assert split.solver["bound"] <= split.objective_usd * (1 + 1e-9)
    # the answer is a full procurement: costs per scenario add up to the expected cost
    prob = np.array([s.probability for s in split.scenarios])
    costs = np.array([s.cost_usd for s in split.scenarios])
    assert float(prob @ costs) == pytest.approx(split.expected_cost_usd, rel=1e-9)


def test_benders_keeps_non_anticipativity_of_later_signings() -> None:
    _, split = both(synthetic(scenarios=8, seed=11))
    names = {s.name for s in split.scenarios}
    for c in split.commitments:
        if c.sign_period == 0:
            assert set(c.scenarios) == names
    # the same signing period never has two different quantities for scenarios that share
    # their demand up to it (the tree gives them one node)
    seen: dict[tuple[str, int, str], int] = {}
    for c in split.commitments:
        for s in c.scenarios:
            key = (c.contract, c.sign_period, s)
            assert key not in seen
            seen[key] = c.chips


def test_cut_groups_weigh_every_node_by_its_probability() -> None:
    proc = procurement_from_data(synthetic(scenarios=5), "<test>")
    model = build_model(proc)
    for block in (1, 3, 12):
        groups, p = cut_groups(model, block)
        assert np.allclose(p @ groups.toarray(), model.tree.rec_prob)


def test_models_that_do_not_split_go_to_the_direct_method() -> None:
    data = synthetic()
    data["risk"] = {"cvar_weight": 0.3}
    proc = procurement_from_data(data, "<test>")
    assert not decomposable(build_model(proc))
    result = solve_procurement(proc, OPTIONS, values=False, method="benders")
    assert result.solver["method"] == "direct" and result.status == "optimal"


def test_a_recourse_with_no_solution_falls_back_to_the_direct_method() -> None:
    data = synthetic(scenarios=3)
    data["on_demand"] = []  # nothing signed yet cannot meet demand: no recourse at x = 0
    for c in data["contracts"]:
        c["sign_periods"] = [0]
        c["lead_periods"] = 0
        c["term_periods"] = 12
    proc = procurement_from_data(data, "<test>")
    assert decomposable(build_model(proc))
    direct = solve_procurement(proc, OPTIONS, values=False, method="direct")
    split = solve_procurement(proc, OPTIONS, values=False, method="benders")
    assert split.solver["method"] == "direct"
    assert split.objective_usd == pytest.approx(direct.objective_usd, rel=1e-9)


def test_an_unknown_method_is_refused() -> None:
    proc = procurement_from_data(synthetic(scenarios=2), "<test>")
    with pytest.raises(ValueError, match="unknown method"):
        solve_procurement(proc, OPTIONS, values=False, method="magic")
