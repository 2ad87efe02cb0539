"""A real ``chipfolio serve`` process: concurrent clients, and kill -9 in the middle of writes.

SQLite is the database that must survive a killed process on its own (WAL, synchronous=FULL,
one transaction per record); the concurrency test runs on every configured database.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_fixtures import ADMIN, MINIMAL, start_server

MINIMAL_TEXT = MINIMAL.read_text()
AUTH = {"Authorization": f"Bearer {ADMIN}"}
CLIENTS = 20

pytestmark = pytest.mark.slow


def _variant(i: int) -> str:
    """The minimal portfolio with a distinct demand, so each client's plan differs."""
    return MINIMAL_TEXT.replace("demand_tokens_per_s: 500000", f"demand_tokens_per_s: {400000 + i}")


def _wait_all(url: str, ids: list[int], timeout_s: float) -> dict[int, dict[str, Any]]:
    done: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
        while len(done) < len(ids) and time.monotonic() < deadline:
            for i in ids:
                if i not in done:
                    record = client.get(f"/api/v1/plans/{i}/status").json()
                    if record["status"] in ("succeeded", "failed"):
                        done[i] = record
            time.sleep(0.1)
    return done


def test_twenty_concurrent_clients_posting_plans_are_all_served(
    db_url: str, tmp_path: Path
) -> None:
    server = start_server(db_url, tmp_path)
    try:
        barrier = threading.Barrier(CLIENTS)

        def post(i: int) -> httpx.Response:
            with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
                barrier.wait()
                body = {"name": f"client-{i}", "portfolio": _variant(i)}
                return client.post("/api/v1/plans", json=body)

        with ThreadPoolExecutor(CLIENTS) as pool:
            responses = list(pool.map(post, range(CLIENTS)))
        assert [r.status_code for r in responses] == [201] * CLIENTS, [r.text for r in responses]
        ids = [r.json()["id"] for r in responses]
        assert len(set(ids)) == CLIENTS
        records = _wait_all(server.url, ids, timeout_s=120)
        assert {r["status"] for r in records.values()} == {"succeeded"}
        with httpx.Client(base_url=server.url, headers=AUTH) as client:
            costs = {client.get(f"/api/v1/plans/{i}").json()["total_cost_usd"] for i in ids}
            names = {p["name"] for p in client.get("/api/v1/portfolios?limit=500").json()["items"]}
        assert len(costs) > 1  # each client got its own plan
        assert {f"client-{i}" for i in range(CLIENTS)} <= names
    finally:
        server.stop()


def test_kill_9_during_plan_writes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db_file = tmp_path / "service.db"
    db_url = f"sqlite:///{db_file}"
    server = start_server(db_url, tmp_path)
    acknowledged: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(worker: int) -> None:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as client:
            n = 0
            while not stop.is_set():
                n += 1
                body = {"name": f"w{worker}", "portfolio": _variant(worker * 1000 + n)}
                try:
                    r = client.post("/api/v1/plans", json=body)
                except httpx.TransportError:
                    return
                if r.status_code == 201:
                    with lock:
                        acknowledged.append(r.json()["id"])

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 25 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(server.process.pid, signal.SIGKILL)  # mid-stream: plans are being written now
    server.process.wait(10)
    stop.set()
    for t in threads:
        t.join(15)
    assert len(acknowledged) >= 25

    with sqlite3.connect(db_file) as conn:  # the file is sound before anything repairs it
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        states = dict(conn.execute("SELECT status, count(*) FROM plans GROUP BY status").fetchall())
    print(f"at kill -9: {len(acknowledged)} plans acknowledged, rows by status {states}")

    server = start_server(db_url, tmp_path)  # restart: unfinished jobs are run again
    try:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client:
            listed = client.get("/api/v1/plans?limit=500").json()
            all_ids = [p["id"] for p in listed["items"]]
            assert set(acknowledged) <= set(all_ids)
            records = _wait_all(server.url, all_ids, timeout_s=120)
            assert len(records) == len(all_ids)
            for plan_id in all_ids:
                assert records[plan_id]["status"] == "succeeded", records[plan_id]
                plan = client.get(f"/api/v1/plans/{plan_id}")
                assert plan.status_code == 200
                doc = plan.json()
                assert doc["status"] in ("optimal", "feasible")
                assert doc["total_cost_usd"] == records[plan_id]["total_cost_usd"]
    finally:
        server.stop()
    with sqlite3.connect(db_file) as conn:
        rows = conn.execute("SELECT id, status, result_json FROM plans").fetchall()
        audited = conn.execute(
            "SELECT target FROM audit_log WHERE action = 'plan.create'"
        ).fetchall()
        versions = conn.execute("SELECT count(*) FROM portfolio_versions").fetchone()[0]
        version_entries = conn.execute(
            "SELECT count(*) FROM audit_log WHERE action = 'portfolio.version'"
        ).fetchone()[0]
    assert rows and all(s == "succeeded" and json.loads(text) for _, s, text in rows)
    # each record and its audit entry were committed together: none without the other
    assert sorted(t for (t,) in audited) == sorted(f"plan:{i}" for i, _, _ in rows)
    assert versions == version_entries


def _spawned_workers(parent: int) -> list[int]:
    """Pids of the multiprocessing workers whose parent is ``parent`` (Linux /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in cmdline:
            pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_killed_worker_process_fails_its_job_and_the_next_one_runs(tmp_path: Path) -> None:
    examples = MINIMAL.parent
    server = start_server(
        f"sqlite:///{tmp_path / 'w.db'}", tmp_path, "--processes", "1", "--data-dir", str(examples)
    )
    try:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
            lab = (examples / "frontier-lab.yaml").read_text()  # solves in seconds, not ms
            r = client.post("/api/v1/plans", json={"name": "lab", "portfolio": lab})
            assert r.status_code == 201
            status = f"/api/v1/plans/{r.json()['id']}/status"
            deadline = time.monotonic() + 30
            while client.get(status).json()["status"] != "running":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(0.5)
            (worker,) = _spawned_workers(server.process.pid)
            os.kill(worker, signal.SIGKILL)
            failed = _wait_all(server.url, [r.json()["id"]], timeout_s=60)[r.json()["id"]]
            assert failed["status"] == "failed"
            assert "worker process" in failed["error"]
            again = client.post("/api/v1/plans?wait_s=30", json={"portfolio": MINIMAL_TEXT})
            done = _wait_all(server.url, [again.json()["id"]], timeout_s=60)
            assert done[again.json()["id"]]["status"] == "succeeded"
    finally:
        server.stop()
