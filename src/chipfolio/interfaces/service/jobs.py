"""Background jobs, claimed from the database so several service instances can share one.

A job row is written ``queued`` in the request's transaction. Each instance runs a claim loop:
in one write transaction it selects queued jobs (and running jobs whose lease has expired) with
``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, marks them ``running`` with its own
instance id as ``lease_owner`` and a ``lease_expires_at`` deadline, and adds an audit entry per
claim. While it computes, a heartbeat renews the deadlines of the jobs it holds; if the
instance dies (even by ``kill -9``) its leases run out and another instance claims the jobs.
The result is written only while the lease is still this instance's (the row is locked and
its owner checked), so a job's result is recorded exactly once even if two instances ever
computed it. SQLite is the single-node default: its writers are serialized by
``BEGIN IMMEDIATE``, and at start-up the jobs a stopped process left running are freed at once.

A request that creates a job claims it on the spot when this instance has a free job thread,
so a lone instance starts work without waiting for the next poll.

With ``job_processes`` > 0, plan and leverage computations run in a pool of worker processes
(spawned, so nothing is inherited) while the thread waits for them: solves then neither hold
the server's GIL nor share its memory. Simulations run in the thread, which writes their
progress as batches finish. The event loop never waits for a job.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import secrets
import socket
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from chipfolio.catalog import list_snapshots, load_catalog
from chipfolio.errors import ChipfolioError
from chipfolio.interfaces.service import compute
from chipfolio.interfaces.service.config import ServiceConfig
from chipfolio.interfaces.service.db import Database
from chipfolio.interfaces.service.metrics import Metrics
from chipfolio.interfaces.service.models import (
    JOB_TABLES,
    JobKind,
    JobRow,
    JobStatus,
    PlanRow,
    PortfolioVersion,
    SimulationRow,
    utcnow,
)
from chipfolio.interfaces.service.store import audit, has_snapshot, record_snapshot

log = logging.getLogger("chipfolio.service")
PROGRESS_EVERY_S = 0.5
NO_CATALOG = "none"  # a plan's catalog_snapshot when its portfolio uses no catalog
RUNNER = "(job runner)"  # the audit log's actor for what the runner writes
MAX_ATTEMPTS = 3  # a job claimed this many times without finishing is failed, not retried


def instance_name() -> str:
    """This process's name in leases: host, pid and a random suffix (pids are reused)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def _claimable(table: type[JobRow], now: Any) -> Any:
    expired = or_(table.lease_expires_at.is_(None), table.lease_expires_at < now)
    return or_(
        table.status == JobStatus.QUEUED.value,
        and_(table.status == JobStatus.RUNNING.value, expired),
    )


class JobRunner:
    """Claims jobs for ``config.job_workers`` threads; ``wait`` lets a request await one."""

    def __init__(self, db: Database, config: ServiceConfig, metrics: Metrics) -> None:
        self.db = db
        self.config = config
        self.metrics = metrics
        self.instance = config.instance_id or instance_name()
        self._pool = ThreadPoolExecutor(config.job_workers, thread_name_prefix="chipfolio-job")
        self._warming: list[Future[None]] = []
        self._processes = self._new_processes()
        self._futures: dict[tuple[JobKind, int], Future[None]] = {}
        self._reserved = 0  # job threads promised to claims in progress
        self._lock = threading.Lock()
        self._closed = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None
        self._ray: Any = None  # the RayExecutor of --ray-address, once used

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

    # -- claiming ------------------------------------------------------------------------------

    def _reserve(self, wanted: int) -> int:
        with self._lock:
            if self._closed:
                return 0
            free = self.config.job_workers - len(self._futures) - self._reserved
            granted = max(0, min(wanted, free))
            self._reserved += granted
            return granted

    def _claim(
        self, limit: int, only: tuple[JobKind, int] | None = None
    ) -> list[tuple[JobKind, int]]:
        """Claim up to ``limit`` jobs (or just ``only``) in one transaction; returns them."""
        claimed: list[tuple[JobKind, int]] = []
        now = utcnow()
        until = now + timedelta(seconds=self.config.lease_s)
        if only is None and not self._anything_to_claim(now):
            return claimed  # an idle poll takes no write lock
        with self.db.write() as session:
            for kind, table in JOB_TABLES.items():
                if len(claimed) >= limit or (only is not None and only[0] is not kind):
                    continue
                query = select(table).where(_claimable(table, now))
                if only is not None:
                    query = query.where(table.id == only[1])
                query = query.order_by(table.id).limit(limit - len(claimed))
                for row in session.scalars(query.with_for_update(skip_locked=True)):
                    target = f"{kind.value}:{row.id}"
                    previous = row.lease_owner
                    if row.attempts >= MAX_ATTEMPTS:
                        row.status = JobStatus.FAILED.value
                        row.error = f"the job was interrupted {row.attempts} times; not retried"
                        row.finished_at = now
                        row.lease_owner = row.lease_expires_at = None
                        audit(session, RUNNER, f"{kind.value}.fail", target, instance=self.instance)
                        continue
                    row.status = JobStatus.RUNNING.value
                    row.lease_owner = self.instance
                    row.lease_expires_at = until
                    row.attempts += 1
                    row.started_at = now
                    detail: dict[str, Any] = {"instance": self.instance, "attempt": row.attempts}
                    if previous is not None:
                        detail["taken_over_from"] = previous
                    audit(session, RUNNER, f"{kind.value}.claim", target, **detail)
                    claimed.append((kind, row.id))
        return claimed

    def _anything_to_claim(self, now: Any) -> bool:
        with self.db.read() as session:
            for table in JOB_TABLES.values():
                query = select(table.id).where(_claimable(table, now)).limit(1)
                if session.scalar(query) is not None:
                    return True
        return False

    def _claim_and_start(self, wanted: int, only: tuple[JobKind, int] | None = None) -> int:
        granted = self._reserve(wanted)
        if granted == 0:
            return 0
        claimed: list[tuple[JobKind, int]] = []
        try:
            claimed = self._claim(granted, only)
        finally:
            with self._lock:
                self._reserved -= granted
                started = [(k, i, self._dispatch(k, i)) for k, i in claimed]
        for kind, job_id, future in started:
            if future is not None:
                future.add_done_callback(self._forgetter(kind, job_id))
        return len(claimed)

    def _dispatch(self, kind: JobKind, job_id: int) -> Future[None] | None:
        """Hand a claimed job to a job thread (the lock is held by the caller)."""
        self.metrics.jobs_in_flight.labels(kind.value).inc()
        try:
            future = self._pool.submit(self._run, kind, job_id)
        except RuntimeError:  # closing: the lease is handed back or runs out
            self.metrics.jobs_in_flight.labels(kind.value).dec()
            return None
        self._futures[(kind, job_id)] = future
        return future

    def _forgetter(self, kind: JobKind, job_id: int) -> Any:
        return lambda _future: self._forget(kind, job_id)

    def _heartbeat(self) -> None:
        """Push back the lease deadline of every job this instance is running."""
        with self._lock:
            held = list(self._futures)
        until = utcnow() + timedelta(seconds=self.config.lease_s)
        for kind in JobKind:
            ids = [i for k, i in held if k is kind]
            if not ids:
                continue
            table = JOB_TABLES[kind]
            with self.db.write() as session:
                session.execute(
                    update(table)
                    .where(
                        table.id.in_(ids),
                        table.lease_owner == self.instance,
                        table.status == JobStatus.RUNNING.value,
                    )
                    .values(lease_expires_at=until)
                )

    def _claim_loop(self) -> None:
        beat_every = self.config.lease_s / 3
        next_beat = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_beat:
                    self._heartbeat()
                    next_beat = time.monotonic() + beat_every
                self._claim_and_start(self.config.job_workers)
            except Exception:  # the database may be away for a moment: try again later
                log.exception("job claim loop")
            self._wake.wait(min(self.config.poll_s, beat_every))
            self._wake.clear()

    def start(self) -> None:
        """Start claiming jobs (after migrations: the loop reads the job tables)."""
        if self._loop is None:
            self._loop = threading.Thread(
                target=self._claim_loop, name="chipfolio-claim", daemon=True
            )
            self._loop.start()

    def submit(self, kind: JobKind, job_id: int) -> None:
        """A new job is queued: claim it now if a job thread is free, else wake the loop."""
        try:
            if self._claim_and_start(1, (kind, job_id)):
                return
        except Exception:
            log.exception("claiming %s job %s", kind.value, job_id)
        self._wake.set()

    def _forget(self, kind: JobKind, job_id: int) -> None:
        with self._lock:
            self._futures.pop((kind, job_id), None)
        self._wake.set()  # a job thread is free

    def wait(self, kind: JobKind, job_id: int, seconds: float) -> None:
        """Block (a worker thread, never the event loop) until the job ends or time is up,
        whichever instance runs it."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            with self._lock:
                future = self._futures.get((kind, job_id))
            if future is not None:
                try:
                    future.result(timeout=left)
                except Exception:
                    return
                return
            table = JOB_TABLES[kind]
            with self.db.read() as session:
                status = session.scalar(select(table.status).where(table.id == job_id))
            if status is None or JobStatus(status).finished:
                return
            time.sleep(min(0.1, max(left, 0)))

    def resume(self) -> int:
        """Count the unfinished jobs; on SQLite (one instance per file) free at once those a
        stopped process left running, so they are claimed without waiting for their lease."""
        unfinished = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
        count = 0
        with self.db.write() as session:
            for table in JOB_TABLES.values():
                if self.db.dialect == "sqlite":
                    session.execute(
                        update(table)
                        .where(table.status == JobStatus.RUNNING.value)
                        .values(lease_expires_at=None)
                    )
                ids = session.scalars(select(table.id).where(table.status.in_(unfinished)))
                count += len(list(ids))
        return count

    def close(self) -> None:
        """Stop claiming; the jobs this instance holds are handed back (queued again) for
        another instance or the next start."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            self._closed = True
            busy = bool(self._futures)
        if self._loop is not None:
            self._loop.join(5)
        try:
            self._release()
        except Exception:
            log.exception("handing back the jobs of %s", self.instance)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._ray is not None:
            self._ray.close()  # shuts down a Ray it started; leaves a joined cluster running
        if self._processes is None:
            return
        if not busy:
            self._processes.shutdown(wait=True, cancel_futures=True)
            return
        workers = list(getattr(self._processes, "_processes", {}).values())
        self._processes.shutdown(wait=False, cancel_futures=True)
        for process in workers:  # a solve in progress would otherwise delay the exit
            process.terminate()

    def _release(self) -> None:
        with self.db.write() as session:
            for table in JOB_TABLES.values():
                session.execute(
                    update(table)
                    .where(
                        table.lease_owner == self.instance,
                        table.status == JobStatus.RUNNING.value,
                    )
                    .values(status=JobStatus.QUEUED.value, lease_owner=None, lease_expires_at=None)
                )

    # -- one job -----------------------------------------------------------------------------

    def _inputs(self, kind: JobKind, job_id: int) -> tuple[compute.Inputs, dict[str, Any]] | None:
        table = JOB_TABLES[kind]
        with self.db.read() as session:
            row = session.get(table, job_id)
            if row is None or row.lease_owner != self.instance:
                return None
            version = session.get(PortfolioVersion, row.portfolio_version_id)
            assert version is not None  # a foreign key guarantees it
            inputs = compute.Inputs(
                version.format, version.text, self.config.catalog_home, self.config.data_dir
            )
            return inputs, dict(row.options)

    def _run(self, kind: JobKind, job_id: int) -> None:
        started = time.perf_counter()
        status: JobStatus | None = JobStatus.FAILED
        try:
            begun = self._inputs(kind, job_id)
            if begun is None:  # no longer ours: nothing to count
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
            snapshot = updates.get("catalog_snapshot", NO_CATALOG)
            if snapshot != NO_CATALOG:
                self._record_catalog(snapshot)
            if not self._finish(kind, job_id, final, updates):
                log.warning("%s job %s was taken over: result not written", kind.value, job_id)
                status = None
                return
            if kind is JobKind.PLAN:
                self.metrics.plans_solved.labels(updates.get("plan_status", "failed")).inc()
            status = final
        except Exception:
            log.exception("%s job %s could not be recorded", kind.value, job_id)
        finally:
            self.metrics.jobs_in_flight.labels(kind.value).dec()
            if status is not None:
                self.metrics.jobs.labels(kind.value, status.value).inc()
                if kind is JobKind.PLAN:
                    self.metrics.solve_seconds.observe(time.perf_counter() - started)

    def _ray_executor(self) -> Any:
        """The Ray executor of ``--ray-address`` (made once; joins the cluster on first use)."""
        from chipfolio.simulation import RayExecutor

        with self._lock:
            if self._ray is None:
                address = self.config.ray_address
                if address == "local":  # a private Ray started in this process
                    executor = RayExecutor(workers=max(1, self.config.job_processes))
                else:
                    executor = RayExecutor(workers=1, address=address)
                # start or join Ray now, once: two job threads must not both call ray.init
                executor.map(int, [])
                self._ray = executor
            return self._ray

    def _compute(
        self, kind: JobKind, job_id: int, inputs: compute.Inputs, options: dict[str, Any]
    ) -> compute.Outcome:
        engine = "ray" if self.config.ray_address else "local"
        self.metrics.job_engine.labels(kind.value, engine).inc()
        if self.config.ray_address:
            try:
                ray = self._ray_executor()
                if kind is JobKind.SIMULATION:  # scenario batches run as Ray tasks
                    return compute.simulation_job(inputs, options, self._progress(job_id), ray)
                # the whole solve is one Ray task; the job row says queued/running/finished
                return ray.map(compute.remote_job, [(kind.value, inputs, options)])[0]  # type: ignore[no-any-return]
            except ChipfolioError as exc:
                return compute.Outcome(error=str(exc))
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
                session.execute(
                    update(SimulationRow)
                    .where(SimulationRow.id == job_id, SimulationRow.lease_owner == self.instance)
                    .values(scenarios_done=int(state["done"]))
                )

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
    ) -> bool:
        """Write the result, if this instance still holds the job's lease (row locked)."""
        with self.db.write() as session:
            row = session.get(JOB_TABLES[kind], job_id, with_for_update=True)
            if row is None or row.lease_owner != self.instance:
                return False
            if row.status != JobStatus.RUNNING.value:
                return False
            for key, value in updates.items():
                setattr(row, key, value)
            row.status = status.value
            row.finished_at = utcnow()
            row.lease_expires_at = None  # lease_owner stays: the instance that ran it
            if isinstance(row, SimulationRow) and status is JobStatus.SUCCEEDED:
                row.scenarios_done = row.scenarios_total
            if isinstance(row, PlanRow) and status is JobStatus.FAILED:
                row.plan_status = None
            audit(
                session,
                RUNNER,
                f"{kind.value}.finish",
                f"{kind.value}:{job_id}",
                instance=self.instance,
                status=status.value,
                attempt=row.attempts,
            )
        return True
