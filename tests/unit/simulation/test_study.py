"""Whole studies: determinism across executors, common random numbers, and the JSON."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_problem

from chipfolio.errors import InputError
from chipfolio.simulation.events import EventAssumptions
from chipfolio.simulation.runners import LocalExecutor
from chipfolio.simulation.scenario import draw_future, scenario_rng
from chipfolio.simulation.strategies import ReplanMode, StrategyName
from chipfolio.simulation.study import make_setup, simulate

N = 12


def dumps(doc: dict[str, object]) -> str:
    return json.dumps(doc, indent=2)


@pytest.fixture(scope="module")
def inline_json() -> str:
    return dumps(simulate(tiny_problem(), scenarios=N, seed=42).to_json())


def test_same_seed_gives_byte_identical_json(inline_json: str) -> None:
    again = dumps(simulate(tiny_problem(), scenarios=N, seed=42).to_json())
    assert again == inline_json


def test_two_worker_processes_give_byte_identical_json(inline_json: str) -> None:
    sim = simulate(tiny_problem(), scenarios=N, seed=42, executor=LocalExecutor(2))
    assert dumps(sim.to_json()) == inline_json


def test_another_seed_gives_other_futures(inline_json: str) -> None:
    other = dumps(simulate(tiny_problem(), scenarios=N, seed=43).to_json())
    assert other != inline_json


def test_a_scenario_does_not_depend_on_how_many_run_or_which_strategies() -> None:
    few = simulate(tiny_problem(), scenarios=3, seed=9)
    many = simulate(tiny_problem(), scenarios=7, seed=9)
    assert few.results == many.results[:3]
    only_n1 = simulate(tiny_problem(), scenarios=3, seed=9, strategies=[StrategyName.N1])
    assert [r.outcomes[0] for r in only_n1.results] == [r.outcomes[2] for r in few.results]


def test_the_scenario_stream_depends_on_seed_and_index_only() -> None:
    a = scenario_rng(5, 3).random(4)
    assert np.array_equal(a, scenario_rng(5, 3).random(4))
    assert not np.array_equal(a, scenario_rng(5, 4).random(4))
    assert not np.array_equal(a, scenario_rng(6, 3).random(4))
    setup = make_setup(tiny_problem(), seed=5)
    first, second = draw_future(setup, 3), draw_future(setup, 3)
    assert first.timeline.events == second.timeline.events
    assert np.array_equal(first.demand.level, second.demand.level)


def test_json_has_the_documented_keys(inline_json: str) -> None:
    doc = json.loads(inline_json)
    assert doc["scenarios"] == N and doc["seed"] == 42
    assert list(doc["strategies"]) == ["cheapest", "capped", "n1"]
    for s in doc["strategies"].values():
        for key in ("cost_usd", "unserved_fraction", "slo_attainment"):
            assert set(s[key]) == {"p50", "p95", "p99", "mean"}
            assert s[key]["p50"] <= s[key]["p95"] <= s[key]["p99"]
        assert 0.0 <= s["deadline_miss_rate"] <= 1.0
        assert len(s["samples"]["cost_usd"]) == N
        assert len(s["samples"]["unserved_fraction"]) == N
        assert all(0.0 <= u <= 1.0 for u in s["samples"]["unserved_fraction"])
    comp = doc["comparison"]
    assert comp["baseline"] == "cheapest" and set(comp["strategies"]) == {"capped", "n1"}
    assert "median_cost_premium_usd" in comp["strategies"]["n1"]
    assert doc["events"]["total"] == sum(doc["events"]["by_kind"].values())
    assert doc["assumptions"]["events"]["provider_outages_per_month"] == 0.15


def test_a_calm_world_costs_exactly_each_initial_plan() -> None:
    calm_events = EventAssumptions(
        **{
            f.name: 0.0
            for f in dataclasses.fields(EventAssumptions)
            if not isinstance(f.default, tuple)
        }
    )
    from chipfolio.simulation.demand import DemandAssumptions

    calm_demand = DemandAssumptions(
        growth_mean_per_month=0.0, growth_sd_per_month=0.0, bursts_per_month=0.0
    )
    calm = {"events": calm_events, "demand": calm_demand}
    sim = simulate(tiny_problem(with_training=False), scenarios=2, seed=1, **calm)
    for strategy, outcome in zip(sim.setup.strategies, sim.results[0].outcomes, strict=True):
        assert outcome.cost_usd == pytest.approx(strategy.initial_cost_usd, rel=1e-9)
        assert outcome.unserved_fraction == 0.0 and outcome.replans == 0
    # training stops paying once its token budget is done, which whole instances reach early
    sim = simulate(tiny_problem(), scenarios=1, seed=1, **calm)
    for strategy, outcome in zip(sim.setup.strategies, sim.results[0].outcomes, strict=True):
        assert outcome.deadline_misses == 0 and outcome.replans == 0
        assert 0.97 * strategy.initial_cost_usd <= outcome.cost_usd
        assert outcome.cost_usd <= strategy.initial_cost_usd * (1 + 1e-9)


def test_n1_protects_the_tail_when_providers_fail_often() -> None:
    stormy = EventAssumptions(provider_outages_per_month=2.0, provider_outage_median_hours=24.0)
    doc = simulate(tiny_problem(), scenarios=20, seed=0, events=stormy).to_json()
    n1 = doc["strategies"]["n1"]["unserved_fraction"]["p95"]
    cheapest = doc["strategies"]["cheapest"]["unserved_fraction"]["p95"]
    assert n1 < cheapest
    assert doc["comparison"]["strategies"]["n1"]["median_cost_premium_usd"] > 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"scenarios": 0, "seed": 1}, "scenarios"),
        ({"scenarios": 2, "seed": -1}, "seed"),
        ({"scenarios": 2, "seed": 1, "step_hours": 0.0}, "step_hours"),
        ({"scenarios": 2, "seed": 1, "step_hours": float("nan")}, "step_hours"),
    ],
)
def test_bad_study_parameters_name_their_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InputError) as info:
        simulate(tiny_problem(), **kwargs)  # type: ignore[arg-type]
    assert info.value.location.field == field


LAB = Path(__file__).resolve().parent / "data" / "lab.yaml"


@pytest.mark.slow
def test_on_a_lab_portfolio_n1_protects_the_tail_and_says_what_it_costs() -> None:
    """The issue's done-when, on a committed lab-shaped portfolio with default assumptions."""
    from chipfolio.planner.build import build_problem
    from chipfolio.workloads.spec import load_portfolio

    problem = build_problem(load_portfolio(LAB))
    strategies = (StrategyName.CHEAPEST, StrategyName.N1)
    doc = simulate(problem, scenarios=40, seed=1, strategies=strategies).to_json()
    n1 = doc["comparison"]["strategies"]["n1"]
    assert n1["p95_unserved"] < n1["p95_unserved_baseline"]
    assert n1["median_cost_premium_usd"] > 0
    assert (
        doc["strategies"]["n1"]["slo_attainment"]["mean"]
        > (doc["strategies"]["cheapest"]["slo_attainment"]["mean"])
    )


def test_a_workers_caches_never_change_a_result() -> None:
    """Scenarios run forwards or backwards in one worker (other cache contents): same results."""
    from chipfolio.simulation.scenario import _replanners, run_batch

    stormy = EventAssumptions(provider_outages_per_month=2.0, provider_outage_median_hours=24.0)
    setup = make_setup(tiny_problem(), seed=3, events=stormy)
    forward = run_batch(setup, list(range(8)))
    hits = sum(r.cache_hits for r in _replanners(setup))
    fresh = dataclasses.replace(setup, token="fresh caches")
    backward = run_batch(fresh, list(reversed(range(8))))
    assert forward == list(reversed(backward))
    assert hits > 0 and sum(o.replans for r in forward for o in r.outcomes) > hits


@contextlib.contextmanager
def _cpu_stress(processes: int = 2) -> Iterator[None]:
    """Busy-loop processes alongside (the machine under load) while the block runs."""
    spin = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for process in spin:
            process.kill()
            process.wait()


def test_results_do_not_depend_on_machine_load(inline_json: str) -> None:
    """Under a CPU-stress run, with 1 and 2 workers: the same bytes as on a quiet machine."""
    with _cpu_stress():
        inline = dumps(simulate(tiny_problem(), scenarios=N, seed=42).to_json())
        two = simulate(tiny_problem(), scenarios=N, seed=42, executor=LocalExecutor(2))
    assert inline == inline_json
    assert dumps(two.to_json()) == inline_json


def test_exact_re_plans_are_deterministic_under_load() -> None:
    """Every re-plan a MILP (stopped by a node count, never a clock): reruns, workers and
    load leave the JSON unchanged."""
    stormy = EventAssumptions(provider_outages_per_month=2.0, provider_outage_median_hours=24.0)

    def study(executor: LocalExecutor) -> str:
        sim = simulate(
            tiny_problem(),
            scenarios=6,
            seed=11,
            events=stormy,
            replan_mode=ReplanMode.EXACT,
            executor=executor,
        )
        assert sim.replans > 0
        return dumps(sim.to_json())

    quiet = study(LocalExecutor(1))
    assert study(LocalExecutor(1)) == quiet
    with _cpu_stress():
        assert study(LocalExecutor(2)) == quiet


def test_a_blocks_last_step_triggers_are_what_a_fresh_check_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The event loop reuses the triggers it found for a block at the block's last step
    instead of checking that step again; on busy futures both always agree."""
    from chipfolio.simulation import engine

    advance = engine._Run._advance
    checked: list[bool] = []

    def checking(self: engine._Run, start: int, end: int) -> tuple[int, np.ndarray]:
        last, touched = advance(self, start, end)
        fresh = self._triggers(np.array([last]), self.progress[:, None])[:, 0]
        checked.append(bool(np.array_equal(fresh, touched)))
        return last, touched

    monkeypatch.setattr(engine._Run, "_advance", checking)
    busy = EventAssumptions(
        provider_outages_per_month=3.0, region_outages_per_month=2.0, capacity_cuts_per_month=2.0
    )
    simulate(tiny_problem(), scenarios=6, seed=4, events=busy)
    assert len(checked) > 50
    assert all(checked)
