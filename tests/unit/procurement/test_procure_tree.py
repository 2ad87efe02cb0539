"""The scenario tree read off the demand paths, and the model's size on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chipfolio.procurement import build_tree, load_procurement

ROOT = Path(__file__).resolve().parents[3]


def test_scenarios_part_when_their_demand_first_differs() -> None:
    # 3 periods, 4 scenarios: a,b equal throughout; c parts from them at period 1, d at 2
    paths = np.array([[1, 1, 1], [1, 1, 1], [1, 2, 2], [1, 1, 5]], dtype=np.float64)
    demand = paths.T[None, :, :]
    tree = build_tree(demand, np.full(4, 0.25))
    assert [tree.nodes_at(h) for h in range(4)] == [1, 1, 2, 3]
    assert tree.labels[2][0] == tree.labels[2][1] == tree.labels[2][3] != tree.labels[2][2]
    # recourse of period t knows the demand of t: nodes at history t + 1
    assert tree.n_rec == 1 + 2 + 3
    assert tree.rec_prob.sum() == pytest.approx(3.0)  # each period's nodes sum to 1
    members = np.asarray(tree.membership.sum(axis=1)).reshape(-1)
    assert members.tolist() == [3, 3, 3, 3]  # every scenario passes one node per period


def test_separate_tree_gives_every_scenario_its_own_path() -> None:
    demand = np.ones((1, 4, 3))
    tree = build_tree(demand, np.full(3, 1 / 3), separate=True)
    assert [tree.nodes_at(h) for h in range(5)] == [3] * 5
    assert tree.n_rec == 12


def test_example_2027_tree() -> None:
    proc = load_procurement(ROOT / "examples" / "procurement-2027.yaml")
    tree = build_tree(proc.demand, proc.probabilities)
    # known for six months, three branches at month 6, two each at month 12
    assert tree.nodes_at(6) == 1 and tree.nodes_at(7) == 3 and tree.nodes_at(13) == 6
