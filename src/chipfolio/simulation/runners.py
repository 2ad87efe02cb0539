"""Executors that map a function over items: inline, local processes, or a Ray cluster.

``Executor.map(fn, items)`` returns the results in the order of ``items`` whatever order the
work finishes in, so callers that derive everything from an item's own content (the
simulator derives each scenario's random stream from its id) get identical results on every
executor. ``ray`` is imported only inside ``RayExecutor``; it is an optional extra.
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from chipfolio.errors import ChipfolioError

T = TypeVar("T")
R = TypeVar("R")

Progress = Callable[[int], None]
"""Called with the index of each item as it completes."""


class Executor(Protocol):
    """Maps ``fn`` over ``items``; results come back in the order of ``items``."""

    @property
    def workers(self) -> int: ...

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], progress: Progress | None = None
    ) -> list[R]: ...


class LocalExecutor:
    """Local processes (``workers`` of them); ``workers=1`` runs inline in this process.

    Worker processes are started with ``spawn`` so nothing inherited from the parent (threads,
    open solvers) can deadlock them; ``fn`` and the items must therefore be picklable.
    ``warm()`` starts them ahead of ``map`` (they import the simulator while the caller
    prepares the work); ``map`` shuts them down when it is done.
    """

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None

    @property
    def workers(self) -> int:
        return self._workers

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self._workers})"

    def warm(self) -> None:
        """Start the worker processes now and have each import the simulator."""
        if self._workers == 1 or self._pool is not None:
            return
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(max_workers=self._workers, mp_context=context)
        for _ in range(self._workers):
            self._pool.submit(_import_simulator)

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], progress: Progress | None = None
    ) -> list[R]:
        if self._workers == 1 or len(items) <= 1:
            self.close()
            results: list[R] = []
            for index, item in enumerate(items):
                results.append(fn(item))
                if progress is not None:
                    progress(index)
            return results
        self.warm()
        pool = self._pool
        assert pool is not None
        slots: list[Any] = [None] * len(items)
        try:
            pending: dict[Future[R], int] = {
                pool.submit(fn, item): i for i, item in enumerate(items)
            }
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=pending.__getitem__):
                    index = pending.pop(future)
                    slots[index] = future.result()
                    if progress is not None:
                        progress(index)
        finally:
            self.close()
        return slots

    def close(self) -> None:
        """Shut down worker processes started by ``warm`` (``map`` does it itself)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _import_simulator() -> None:
    import chipfolio.simulation.scenario  # noqa: F401


class RayExecutor:
    """Tasks on a Ray cluster: a local one with ``workers`` CPUs, or ``address`` to join one.

    ``fn`` is put into the object store once and each item becomes one task, so callers send
    batches as items to keep the per-task scheduling overhead small. A cluster this executor
    started is shut down by ``close()``; one it joined is left running.
    """

    def __init__(self, workers: int = 2, address: str | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._workers = workers
        self.address = address
        self._started = False

    @property
    def workers(self) -> int:
        """CPUs to plan batches for: ``workers``, or a joined cluster's CPUs (connects)."""
        if self.address is None:
            return self._workers
        cpus = self._ray().cluster_resources().get("CPU", self._workers)
        return max(1, int(cpus))

    def _ray(self) -> Any:
        try:
            import ray
        except ImportError as exc:
            raise ChipfolioError(
                "the Ray executor needs the 'ray' extra: pip install 'chipfolio[ray]'"
            ) from exc
        if not ray.is_initialized():
            try:
                if self.address is None:
                    ray.init(
                        num_cpus=self._workers,
                        include_dashboard=False,
                        log_to_driver=False,
                        configure_logging=False,
                    )
                else:
                    ray.init(address=self.address, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = self.address or "a local cluster"
                raise ChipfolioError(f"could not start or join Ray at {where}: {exc}") from exc
            self._started = self.address is None
        return ray

    def warm(self) -> None:
        """Have each CPU's worker import the simulator now (the tasks run while the caller
        prepares the work; ``map`` does not wait for them)."""
        ray = self._ray()
        remote_import = ray.remote(_import_simulator)
        for _ in range(self.workers):
            remote_import.remote()

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], progress: Progress | None = None
    ) -> list[R]:
        ray = self._ray()
        remote_apply = ray.remote(_apply)
        fn_ref = ray.put(fn)
        refs = [remote_apply.remote(fn_ref, item) for item in items]
        index_of = {ref: i for i, ref in enumerate(refs)}
        slots: list[Any] = [None] * len(items)
        waiting = list(refs)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            for ref in done:
                index = index_of[ref]
                slots[index] = ray.get(ref)
                if progress is not None:
                    progress(index)
        return slots

    def close(self) -> None:
        """Shut down the local cluster this executor started (a joined one stays up)."""
        if self._started:
            import ray

            ray.shutdown()
            self._started = False


def _apply(fn: Callable[[T], R], item: T) -> R:
    return fn(item)


def batches(n_items: int, workers: int, per_worker: int = 16, min_size: int = 4) -> list[range]:
    """Split ``range(n_items)`` into contiguous batches that shrink towards the end.

    Batches are at most ``ceil(n_items / (workers * per_worker / 2))`` items (so the
    progress bar moves), and once less than that is left for each worker, each takes a
    quarter of a worker's share of the rest (guided self-scheduling): the last batches are
    small, so no worker idles long at the end while another finishes a big one. Every batch
    holds at least ``min_size`` items (unless fewer are left) so the scheduling overhead,
    milliseconds per batch, stays small against the work (a scenario of a catalog-sized
    portfolio takes about 0.1 s).
    """
    if n_items <= 0:
        return []
    workers = max(workers, 1)
    floor = max(min_size, 1)
    cap = max(floor, math.ceil(n_items / max(workers * per_worker // 2, 1)))
    out: list[range] = []
    start = 0
    while start < n_items:
        left = n_items - start
        size = min(cap, max(floor, math.ceil(left / (4 * workers))), left)
        if left - size < floor:  # no batch under min_size at the end: take the rest
            size = left
        out.append(range(start, start + size))
        start += size
    return out
