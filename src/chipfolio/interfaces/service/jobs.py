"""Background jobs: a thread pool in the app, with each job's state in its database row.

A job row is written ``queued`` in the request's transaction; a worker thread marks it
``running``, computes outside any transaction, then writes the result and ``succeeded`` (or
the error and ``failed``) in one transaction. A job left ``queued`` or ``running`` by a stopped
process is run again at the next start (its inputs are all in the database).

With ``job_processes`` > 0, plan and leverage computations run in a pool of worker processes
(spawned, so nothing is inherited) while the thread waits for them: solves then neither hold
the server's GIL nor share its memory. Simulations run in the thread, which writes their
progress as batches finish. The event loop never waits for a job.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sqlalchemy import select

from chipfolio.catalog import list_snapshots, load_catalog
from chipfolio.interfaces.service import compute
from chipfolio.interfaces.service.config import ServiceConfig
from chipfolio.interfaces.service.db import Database
from chipfolio.interfaces.service.metrics import Metrics
from chipfolio.interfaces.service.models import (
    JOB_TABLES,
    JobKind,
    JobStatus,
    PlanRow,
    PortfolioVersion,
    SimulationRow,
    utcnow,
)
from chipfolio.interfaces.service.store import has_snapshot, record_snapshot

log = logging.getLogger("chipfolio.service")
PROGRESS_EVERY_S = 0.5
NO_CATALOG = "none"  # a plan's catalog_snapshot when its portfolio uses no catalog


class JobRunner:
    """Runs jobs on ``config.job_workers`` threads; ``wait`` lets a request await one."""

    def __init__(self, db: Database, config: ServiceConfig, metrics: Metrics) -> None:
        self.db = db
        self.config = config
        self.metrics = metrics
        self._pool = ThreadPoolExecutor(config.job_workers, thread_name_prefix="chipfolio-job")
        self._warming: list[Future[None]] = []
        self._processes = self._new_processes()
        self._futures: dict[tuple[JobKind, int], Future[None]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _new_processes(self) -> ProcessPoolExecutor | None:
        if self.config.job_processes < 1:
            return None
        context = multiprocessing.get_context("spawn")  # nothing inherited: no threads, no locks
        pool = ProcessPoolExecutor(
            self.config.job_processes,
            mp_context=context,
            initializer=compute.watch_parent,
            initargs=(os.getpid(),),
        )
        self._warming = [pool.submit(compute.warm_up) for _ in range(self.config.job_processes)]
        return pool

    def ready(self) -> bool:
        """Whether the worker processes (if any) have started and imported the solvers."""
        return all(f.done() for f in self._warming)

    def _renew_processes(self) -> None:
        with self._lock:
            old, self._processes = self._processes, self._new_processes()
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)

    def submit(self, kind: JobKind, job_id: int) -> None:
        with self._lock:
            if self._closed:
                return
            self.metrics.jobs_in_flight.labels(kind.value).inc()
            future = self._pool.submit(self._run, kind, job_id)
            self._futures[(kind, job_id)] = future
        future.add_done_callback(lambda _f: self._forget(kind, job_id))

    def _forget(self, kind: JobKind, job_id: int) -> None:
        with self._lock:
            self._futures.pop((kind, job_id), None)

    def wait(self, kind: JobKind, job_id: int, seconds: float) -> None:
        """Block (a worker thread, never the event loop) until the job ends or time is up."""
        with self._lock:
            future = self._futures.get((kind, job_id))
        if future is not None and seconds > 0:
            try:
                future.result(timeout=seconds)
            except Exception:
                return

    def resume(self) -> int:
        """Queue again every job a previous process left unfinished; returns how many."""
        pending: list[tuple[JobKind, int]] = []
        unfinished = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
        with self.db.read() as session:
            for kind, table in JOB_TABLES.items():
                ids = session.scalars(
                    select(table.id).where(table.status.in_(unfinished)).order_by(table.id)
                )
                pending += [(kind, i) for i in ids]
        for kind, job_id in pending:
            self.submit(kind, job_id)
        return len(pending)

    def close(self) -> None:
        """Stop taking jobs; running ones stay 'running' and are run again at the next start."""
        with self._lock:
            self._closed = True
            busy = bool(self._futures)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._processes is None:
            return
        if not busy:
            self._processes.shutdown(wait=True, cancel_futures=True)
            return
        workers = list(getattr(self._processes, "_processes", {}).values())
        self._processes.shutdown(wait=False, cancel_futures=True)
        for process in workers:  # a solve in progress would otherwise delay the exit
            process.terminate()

    # -- one job -----------------------------------------------------------------------------

    def _start(self, kind: JobKind, job_id: int) -> tuple[compute.Inputs, dict[str, Any]] | None:
        table = JOB_TABLES[kind]
        with self.db.write() as session:
            row = session.get(table, job_id)
            if row is None or JobStatus(row.status).finished:
                return None
            version = session.get(PortfolioVersion, row.portfolio_version_id)
            assert version is not None  # a foreign key guarantees it
            row.status = JobStatus.RUNNING.value
            row.started_at = utcnow()
            inputs = compute.Inputs(
                version.format, version.text, self.config.catalog_home, self.config.data_dir
            )
            return inputs, dict(row.options)

    def _run(self, kind: JobKind, job_id: int) -> None:
        started = time.perf_counter()
        status: JobStatus | None = JobStatus.FAILED
        try:
            begun = self._start(kind, job_id)
            if begun is None:  # already finished (e.g. submitted twice): nothing to count
                status = None
                return
            inputs, options = begun
            try:
                outcome = self._compute(kind, job_id, inputs, options)
            except Exception as exc:
                log.exception("%s job %s failed", kind.value, job_id)
                outcome = compute.Outcome(error=f"internal error: {type(exc).__name__}")
            final = JobStatus.SUCCEEDED if outcome.error is None else JobStatus.FAILED
            if outcome.error is None:
                updates = outcome.updates
            else:
                updates = {"error": outcome.error, "error_details": list(outcome.details)}
            if kind is JobKind.PLAN:
                self.metrics.plans_solved.labels(updates.get("plan_status", "failed")).inc()
            snapshot = updates.get("catalog_snapshot", NO_CATALOG)
            if snapshot != NO_CATALOG:
                self._record_catalog(snapshot)
            self._finish(kind, job_id, final, updates)
            status = final
        except Exception:
            log.exception("%s job %s could not be recorded", kind.value, job_id)
        finally:
            self.metrics.jobs_in_flight.labels(kind.value).dec()
            if status is not None:
                self.metrics.jobs.labels(kind.value, status.value).inc()
                if kind is JobKind.PLAN:
                    self.metrics.solve_seconds.observe(time.perf_counter() - started)

    def _compute(
        self, kind: JobKind, job_id: int, inputs: compute.Inputs, options: dict[str, Any]
    ) -> compute.Outcome:
        if kind is JobKind.SIMULATION:
            return compute.simulation_job(inputs, options, self._progress(job_id))
        work = compute.plan_job if kind is JobKind.PLAN else compute.leverage_job
        if self._processes is None:
            return work(inputs, options)
        try:
            return self._processes.submit(work, inputs, options).result()
        except BrokenProcessPool:
            self._renew_processes()
            return compute.Outcome(error="the worker process running this job died")

    def _progress(self, job_id: int) -> Any:
        state = {"done": 0, "written": 0.0}

        def advance(n: int) -> None:
            state["done"] += n
            now = time.monotonic()
            if now - state["written"] < PROGRESS_EVERY_S:
                return
            state["written"] = now
            with self.db.write() as session:
                row = session.get(SimulationRow, job_id)
                if row is not None:
                    row.scenarios_done = int(state["done"])

        return advance

    def _record_catalog(self, snapshot_id: str) -> None:
        with self.db.read() as session:
            if has_snapshot(session, snapshot_id):  # the usual case: nothing to read or write
                return
        for info in list_snapshots(self.config.catalog_home):
            if info.id == snapshot_id:
                catalog = load_catalog(snapshot_id, home=self.config.catalog_home)
                with self.db.write() as session:
                    record_snapshot(session, catalog, info.to_dict())
                return

    def _finish(
        self, kind: JobKind, job_id: int, status: JobStatus, updates: dict[str, Any]
    ) -> None:
        with self.db.write() as session:
            row = session.get(JOB_TABLES[kind], job_id)
            if row is None:
                return
            for key, value in updates.items():
                setattr(row, key, value)
            row.status = status.value
            row.finished_at = utcnow()
            if isinstance(row, SimulationRow) and status is JobStatus.SUCCEEDED:
                row.scenarios_done = row.scenarios_total
            if isinstance(row, PlanRow) and status is JobStatus.FAILED:
                row.plan_status = None
