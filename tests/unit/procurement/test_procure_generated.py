"""Generated demand (seeded growth fans and trees) and the SAA out-of-sample estimate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from chipfolio.errors import InputError
from chipfolio.planner import SolveOptions
from chipfolio.procurement import build_tree, procurement_from_data, solve_procurement
from chipfolio.procurement.scenarios import growth_paths

OPTIONS = SolveOptions(time_limit_s=30.0, mip_gap=1e-4)


def data(**generated: Any) -> dict[str, Any]:
    gen = {"scenarios": 8, "seed": 5, "every": 3, "start": {"chat": 1000.0},
           "growth": {"mean": 0.1, "sd": 0.2}}  # fmt: skip
    gen.update(generated)
    return {
        "periods": 12,
        "generated": gen,
        "workloads": [{"name": "chat", "throughput": {"maia-200": 1.0, "h100-sxm": 1.0}}],
        "contracts": [
            {
                "id": "maia",
                "provider": "azure",
                "chip": "maia-200",
                "usd_per_chip_hour": 2.0,
                "term_periods": 12,
                "sign_periods": [0, 6],
            },
        ],
        "on_demand": [{"id": "od", "provider": "aws", "chip": "h100-sxm", "usd_per_chip_hour": 4}],
    }


def test_a_fan_draws_every_path_from_the_first_step() -> None:
    proc = procurement_from_data(data(), "<test>")
    assert proc.demand.shape == (1, 12, 8)
    assert proc.scenario_names == [f"g{i:04d}" for i in range(8)]
    assert np.allclose(proc.probabilities, 1 / 8)
    assert np.allclose(proc.demand[0, 0:3, :], 1000.0)  # the first step is the start level
    # piecewise constant per step of 3 periods, and the paths part at the first step
    assert np.allclose(proc.demand[0, 3, :], proc.demand[0, 5, :])
    assert len(np.unique(proc.demand[0, 3, :])) == 8


def test_a_tree_branches_each_step_up_to_the_scenario_count() -> None:
    proc = procurement_from_data(data(branching=2), "<test>")
    assert proc.demand.shape[2] == 8  # 1 -> 2 -> 4 -> 8 at periods 3, 6, 9
    tree = build_tree(proc.demand, proc.probabilities)
    assert [tree.nodes_at(h) for h in (3, 4, 7, 10)] == [1, 2, 4, 8]
    # with fewer allowed leaves the tree stops splitting and paths continue alone
    assert growth_paths(12, 5, 3, 0.0, 0.1, 1, branching=2).shape == (4, 12)


def test_generation_is_seeded() -> None:
    a = procurement_from_data(data(), "<a>").demand
    b = procurement_from_data(data(), "<b>").demand
    c = procurement_from_data(data(seed=6), "<c>").demand
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_no_spread_means_no_statistical_gap() -> None:
    # sd 0: every path is the same deterministic growth, in and out of sample
    proc = procurement_from_data(data(growth={"mean": 0.1, "sd": 0.0}, out_of_sample=5), "<t>")
    result = solve_procurement(proc, OPTIONS, values=False)
    saa = result.sampling
    assert saa is not None and saa["scenarios"] == 8 and saa["out_of_sample_scenarios"] == 5
    assert saa["out_of_sample_usd"] == pytest.approx(saa["in_sample_usd"], rel=1e-6)
    assert saa["gap_usd"] == pytest.approx(0.0, abs=1e-6 * saa["in_sample_usd"])


def test_out_of_sample_cost_of_the_sign_now_decision_is_reported() -> None:
    proc = procurement_from_data(data(out_of_sample=20), "<t>")
    result = solve_procurement(proc, OPTIONS, values=False)
    saa = result.sampling
    assert saa is not None
    assert saa["in_sample_usd"] == pytest.approx(result.objective_usd)
    assert saa["gap_usd"] == pytest.approx(saa["out_of_sample_usd"] - saa["in_sample_usd"])
    assert saa["std_error_usd"] > 0
    assert result.to_json()["sampling"]["out_of_sample_scenarios"] == 20


def test_explicit_scenarios_next_to_generated_ones_share_the_probability() -> None:
    d = data(weight=0.75)
    d["scenarios"] = [{"name": "crash", "probability": 0.25, "demand": {"chat": 100}}]
    proc = procurement_from_data(d, "<t>")
    assert proc.scenario_names[0] == "crash" and proc.demand.shape[2] == 9
    assert proc.probabilities[0] == 0.25 and np.allclose(proc.probabilities[1:], 0.75 / 8)
    result = solve_procurement(proc, OPTIONS, values=False)
    assert next(s.name for s in result.scenarios) == "crash"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"generated": None}, "scenarios"),
        ({"start": {"chat": 1.0, "nope": 2.0}}, "generated.start.nope"),
        ({"start": {}}, "generated.start"),
        ({"weight": 0.5}, "generated.weight"),
        ({"branching": 1}, "generated.branching"),
    ],
)
def test_bad_generated_input_names_the_field(change: dict[str, Any], field: str) -> None:
    d = data()
    if "generated" in change:
        d.pop("generated")
    else:
        d["generated"].update(change)
    with pytest.raises(InputError) as info:
        procurement_from_data(d, "f.yaml")
    assert field in str(info.value)


def test_explicit_probabilities_must_leave_room_for_the_generated_weight() -> None:
    d = data(weight=0.5)
    d["scenarios"] = [{"name": "crash", "probability": 0.25, "demand": {"chat": 100}}]
    with pytest.raises(InputError, match=r"expected 0\.5"):
        procurement_from_data(d, "f.yaml")
    d["generated"].pop("weight")
    with pytest.raises(InputError, match="weight"):
        procurement_from_data(d, "f.yaml")
