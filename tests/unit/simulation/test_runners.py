"""Executors: order of results, batching, and the Ray executor on a real local cluster."""

from __future__ import annotations

import json
import os
import time

import pytest
from conftest import tiny_problem

from chipfolio.simulation.runners import LocalExecutor, RayExecutor, batches
from chipfolio.simulation.study import simulate


def slow_square(x: int) -> int:
    time.sleep(0.05 * (3 - x % 3))  # later items finish first
    return x * x


@pytest.mark.parametrize("workers", [1, 2])
def test_local_results_follow_item_order(workers: int) -> None:
    seen: list[int] = []
    out = LocalExecutor(workers).map(slow_square, list(range(7)), seen.append)
    assert out == [x * x for x in range(7)]
    assert sorted(seen) == list(range(7))


def test_warm_workers_serve_the_map_and_are_shut_down_after_it() -> None:
    executor = LocalExecutor(2)
    executor.warm()
    pool = executor._pool
    assert pool is not None
    executor.warm()  # a second warm-up keeps the same workers
    assert executor._pool is pool
    assert executor.map(slow_square, [4, 5, 6]) == [16, 25, 36]
    assert executor._pool is None  # map shut them down
    assert executor.map(slow_square, [1, 2]) == [1, 4]  # and starts new ones when needed
    executor.warm()
    executor.close()
    executor.close()  # closing twice is harmless
    assert executor._pool is None


def test_a_study_that_fails_before_its_scenarios_leaves_no_workers() -> None:
    import numpy as np

    from chipfolio.errors import InfeasibleError
    from chipfolio.simulation.strategies import StrategyName

    nothing = tiny_problem(n_minus_1=1.0).with_capacity(np.array([False, True, True, True]), 0.0)
    executor = LocalExecutor(2)
    with pytest.raises(InfeasibleError):
        simulate(nothing, scenarios=4, seed=0, executor=executor, strategies=(StrategyName.N1,))
    assert executor._pool is None


def test_local_executor_needs_a_worker() -> None:
    with pytest.raises(ValueError):
        LocalExecutor(0)


@pytest.mark.parametrize(
    ("n", "workers"), [(1, 1), (10, 1), (10, 2), (1000, 2), (1000, 16), (3, 8), (0, 2)]
)
def test_batches_cover_every_item_once_in_order(n: int, workers: int) -> None:
    parts = batches(n, workers)
    flat = [i for part in parts for i in part]
    assert flat == list(range(n))
    if n:
        sizes = [len(p) for p in parts]
        assert len(parts) <= workers * 16 + 8 * workers + 8
        assert min(sizes) >= min(4, n)
        assert sizes[:-1] == sorted(sizes[:-1], reverse=True)  # they shrink (the last
        assert sizes[-1] < 2 * max(4, 1) or len(sizes) == 1  # takes a remainder under 4)


def test_batches_are_large_for_big_runs_and_small_at_the_end() -> None:
    parts = batches(1000, 2)
    sizes = [len(p) for p in parts]
    assert max(sizes) == 63  # 1,000 over 2 workers x 8
    assert len(parts) < 40
    assert sizes[-1] <= 8 and sum(sizes[-4:]) <= 24  # the tail is a few scenarios each
    assert {len(p) for p in batches(40, 2)} == {4}  # small runs: none under 4 scenarios


def _ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.ray
def test_ray_gives_the_same_json_as_local_processes() -> None:
    if not _ray_available():
        if os.environ.get("CI") == "true":
            pytest.fail("ray is not importable but CI=true requires the Ray test")
        pytest.skip("ray is not installed (pip install 'chipfolio[ray]')")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        executor = RayExecutor(workers=2)
        done: list[int] = []
        ray_doc = simulate(
            tiny_problem(), scenarios=10, seed=8, executor=executor, progress=done.append
        ).to_json()
        assert sum(done) == 10
        assert executor.map(abs, [-3, 1, -2]) == [3, 1, 2]
        # joining a running cluster plans batches for its CPUs, not for --workers
        assert RayExecutor(workers=1, address="auto").workers == 2
    finally:
        ray.shutdown()
    local_doc = simulate(tiny_problem(), scenarios=10, seed=8, executor=LocalExecutor(2)).to_json()
    assert json.dumps(ray_doc) == json.dumps(local_doc)
