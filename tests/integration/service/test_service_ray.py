"""`chipfolio serve --ray-address`: plan and simulation jobs computed on Ray, progress written.

A private Ray (one CPU) is started by the server itself (``--ray-address local``); a real
cluster is joined the same way with its address. Kept short: one plan, one small study.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from service_fixtures import ADMIN, MINIMAL, start_server

pytest.importorskip("ray")

pytestmark = pytest.mark.slow
AUTH = {"Authorization": f"Bearer {ADMIN}"}


def _finished(client: httpx.Client, path: str, timeout_s: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record: dict[str, object] = client.get(path).json()
        if record["status"] in ("succeeded", "failed"):
            return record
        time.sleep(0.2)
    raise AssertionError(f"{path} did not finish in {timeout_s} s")


def test_plan_and_simulation_jobs_run_on_ray(tmp_path: Path) -> None:
    server = start_server(
        f"sqlite:///{tmp_path / 'ray.db'}",
        tmp_path,
        "--ray-address",
        "local",
        "--processes",
        "0",
    )
    try:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
            text = MINIMAL.read_text()
            plan = client.post("/api/v1/plans", json={"portfolio": text}).json()
            body = {"portfolio": text, "scenarios": 40, "seed": 3, "strategies": "cheapest"}
            sim = client.post("/api/v1/simulations", json=body).json()
            done = _finished(client, f"/api/v1/plans/{plan['id']}/status", 180)
            assert done["status"] == "succeeded", done
            studied = _finished(client, f"/api/v1/simulations/{sim['id']}", 180)
            assert studied["status"] == "succeeded", studied
            assert studied["progress"] == {"done": 40, "total": 40}
            result = studied["result"]
            assert isinstance(result, dict) and result["scenarios"] == 40
            metrics = client.get("/metrics").text
        assert 'chipfolio_job_engine_total{engine="ray",kind="plan"} 1.0' in metrics
        assert 'chipfolio_job_engine_total{engine="ray",kind="simulation"} 1.0' in metrics
    finally:
        server.stop()
