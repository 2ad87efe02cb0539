"""Job leases on one instance: the heartbeat keeps a long job, a lost lease writes nothing,
and the token cache is dropped when the revocation counter moves."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_fixtures import ADMIN, MINIMAL, make_config
from sqlalchemy import func, select, update

from chipfolio.interfaces.service import compute, create_app
from chipfolio.interfaces.service.auth import TokenCache, create_token, revoke_token
from chipfolio.interfaces.service.db import Database, migrate
from chipfolio.interfaces.service.models import ApiToken, AuditEntry, PlanRow, Role, utcnow

AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    gate = threading.Event()
    real = compute.run_plan

    def slow(*args: Any) -> Any:
        assert gate.wait(30)
        return real(*args)

    monkeypatch.setattr(compute, "run_plan", slow)
    yield gate
    gate.set()


def _row(db: Database, job_id: int) -> PlanRow:
    with db.read() as session:
        row = session.get(PlanRow, job_id)
        assert row is not None
        return row


def _audits(db: Database, action: str, target: str) -> int:
    with db.read() as session:
        query = select(func.count()).where(AuditEntry.action == action, AuditEntry.target == target)
        return int(session.scalar(query) or 0)


def _wait_for(predicate: Any, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_job_longer_than_its_lease_keeps_it_by_heartbeat(
    gated: threading.Event, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'lease.db'}"
    config = make_config(url, tmp_path, job_workers=2, lease_s=1.0, instance_id="inst-a")
    db = Database(url)
    try:
        with TestClient(create_app(config)) as client:
            job_id = client.post(
                "/api/v1/plans", json={"portfolio": MINIMAL.read_text()}, headers=AUTH
            ).json()["id"]
            _wait_for(lambda: _row(db, job_id).status == "running")
            time.sleep(2.5)  # two and a half leases: only the heartbeat keeps it
            row = _row(db, job_id)
            assert row.lease_owner == "inst-a" and row.attempts == 1
            gated.set()
            _wait_for(lambda: _row(db, job_id).status == "succeeded")
        assert _audits(db, "plan.claim", f"plan:{job_id}") == 1
        assert _audits(db, "plan.finish", f"plan:{job_id}") == 1
    finally:
        db.dispose()


def test_an_instance_that_lost_its_lease_writes_no_result(
    gated: threading.Event, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'lost.db'}"
    config = make_config(url, tmp_path, job_workers=1, instance_id="inst-a")
    db = Database(url)
    try:
        with TestClient(create_app(config)) as client:
            job_id = client.post(
                "/api/v1/plans", json={"portfolio": MINIMAL.read_text()}, headers=AUTH
            ).json()["id"]
            _wait_for(lambda: _row(db, job_id).status == "running")
            with db.write() as session:  # as if inst-a had stalled and inst-b had taken over
                session.execute(
                    update(PlanRow)
                    .where(PlanRow.id == job_id)
                    .values(lease_owner="inst-b", lease_expires_at=utcnow() + timedelta(minutes=5))
                )
            gated.set()
            time.sleep(1.0)
            row = _row(db, job_id)
            assert row.status == "running" and row.result_json is None
            assert row.lease_owner == "inst-b"
            assert _audits(db, "plan.finish", f"plan:{job_id}") == 0
            assert 'chipfolio_jobs_total{kind="plan"' not in client.get("/metrics").text
    finally:
        db.dispose()


def test_the_token_cache_is_dropped_when_the_revocation_counter_moves(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'tokens.db'}")
    try:
        migrate(db)
        alice = create_token(db, "alice", Role.VIEWER, "test")
        create_token(db, "bob", Role.VIEWER, "test")
        cache = TokenCache(db, ttl_s=60, poll_s=0.0)
        assert cache.authenticate(alice) is not None
        with db.write() as session:  # revoked behind the service's back: the counter stays
            session.execute(
                update(ApiToken).where(ApiToken.name == "alice").values(revoked_at=utcnow())
            )
        assert cache.authenticate(alice) is not None  # served from the cache
        revoke_token(db, "bob", "test")  # any revocation moves the counter
        assert cache.authenticate(alice) is None
        assert cache.authenticate("cfp_" + "x" * 40) is None
    finally:
        db.dispose()
