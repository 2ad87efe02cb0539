"""Background jobs: a running solve leaves the API responsive; its status is polled."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_fixtures import ADMIN, MINIMAL, make_config

from chipfolio.interfaces.service import compute, create_app

AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Plan jobs wait for the event before solving (a stand-in for a long solve)."""
    gate = threading.Event()
    real = compute.run_plan

    def slow(*args: Any) -> Any:
        assert gate.wait(30)
        return real(*args)

    monkeypatch.setattr(compute, "run_plan", slow)
    yield gate
    gate.set()


def test_long_solve_runs_in_the_background(gated: threading.Event, tmp_path: Path) -> None:
    config = make_config(f"sqlite:///{tmp_path / 'jobs.db'}", tmp_path, job_workers=1)
    with TestClient(create_app(config)) as client:
        r = client.post("/api/v1/plans", json={"portfolio": MINIMAL.read_text()}, headers=AUTH)
        assert r.status_code == 201 and r.json()["status"] in ("queued", "running")
        plan = f"/api/v1/plans/{r.json()['id']}"
        pending = client.get(plan, headers=AUTH)
        assert pending.status_code == 202
        assert pending.json()["status"] in ("queued", "running")
        # the app answers other requests while the solve is held
        assert client.get("/healthz").status_code == 200
        assert client.get("/api/v1/chips", headers=AUTH).status_code == 200
        metrics = client.get("/metrics").text
        assert 'chipfolio_jobs_in_flight{kind="plan"} 1.0' in metrics
        gated.set()
        done = client.post("/api/v1/plans?wait_s=30", json={"portfolio_id": 1}, headers=AUTH).json()
        assert done["status"] == "succeeded"
        assert client.get(plan, headers=AUTH).status_code in (200, 202)
        metrics = client.get("/metrics").text
        assert 'chipfolio_plans_solved_total{outcome="optimal"}' in metrics
