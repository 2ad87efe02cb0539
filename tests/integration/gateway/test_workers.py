"""`chipfolio gateway --workers 2` keeps one state: counters summed in /admin/state, a pool
that dies leaves every worker's rotation (0 failed requests), one reload reaches every worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from gateway_harness import ADMIN_KEY, PLAN, Env, two_pools
from test_gateway_cli import free_port

MSG = [{"role": "user", "content": "hi"}]


def wait_until(cond: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


@pytest.mark.slow
def test_two_workers_share_counters_breakers_and_reloads(env: Env, tmp_path: Path) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    (tmp_path / "pools.yaml").write_text(yaml.safe_dump(two_pools(a, b)))
    (tmp_path / "plan.json").write_text(json.dumps(PLAN))
    (tmp_path / "admin.key").write_text(ADMIN_KEY)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chipfolio.interfaces.cli.app",
            "gateway",
            "--plan",
            str(tmp_path / "plan.json"),
            "--pools",
            str(tmp_path / "pools.yaml"),
            "--port",
            str(port),
            "--workers",
            "2",
            "--admin-key-file",
            str(tmp_path / "admin.key"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, COLUMNS="200"),
    )

    def state() -> dict[str, Any]:
        req = urllib.request.Request(
            base + "/admin/state", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            doc: dict[str, Any] = json.loads(r.read())
            return doc

    try:

        def up() -> bool:
            try:
                return state()["sync"]["workers_reporting"] == 2
            except OSError:
                assert proc.poll() is None
                return False

        wait_until(up)
        c = env.client()
        c.base_url = f"{base}/v1"  # type: ignore[assignment]
        for _ in range(40):  # a new connection each: SO_REUSEPORT spreads them
            with urllib.request.urlopen(
                urllib.request.Request(
                    base + "/v1/chat/completions", data=b'{"model":"chat","messages":[]}'
                ),
                timeout=5,
            ) as r:
                assert r.status == 200
        time.sleep(0.6)  # two snapshot intervals
        s = state()
        pools = {p["name"]: p for p in s["workloads"]["chat"]}
        assert pools["maia"]["successes"] + pools["trn2"]["successes"] == 40
        assert a.completions + b.completions == 40
        assert {"route": "chat", "status": 200, "count": 40} in s["gateway"]["requests"]
        rows = s["workers"]
        assert sorted(w["worker"] for w in rows) == [0, 1]
        assert all(w["requests"] > 0 for w in rows), rows  # both workers served

        # a pool killed under load: no client request fails, every worker stops using it
        errors: list[BaseException] = []
        done = [0]
        stop = threading.Event()

        def worker(i: int) -> None:
            client = env.client()
            client.base_url = f"{base}/v1"
            while not stop.is_set() and done[0] < 2000:
                try:
                    if i % 2:
                        list(
                            client.chat.completions.create(model="chat", messages=MSG, stream=True)
                        )
                    else:
                        client.chat.completions.create(model="chat", messages=MSG)
                    done[0] += 1
                except BaseException as e:
                    errors.append(e)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        wait_until(lambda: done[0] >= 60)
        env.lt.run(a.kill())
        before = done[0]
        wait_until(lambda: done[0] >= before + 200)
        stop.set()
        for t in threads:
            t.join(10)
        assert errors == []
        time.sleep(0.6)
        s = state()
        assert all(w["breakers"]["maia"] != "closed" for w in s["workers"]), s["workers"]
        assert s["sync"]["event_lag_ms_max"] is not None

        # one reload, every worker
        plan = json.loads(json.dumps(PLAN))
        plan["allocations"][0]["tokens_per_s"] = 1000.0
        plan["allocations"][1]["tokens_per_s"] = 3000.0
        (tmp_path / "plan.json").write_text(json.dumps(plan))
        req = urllib.request.Request(
            base + "/admin/reload",
            data=b"",
            method="POST",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200
        want = {"maia": 0.25, "trn2": 0.75}
        wait_until(lambda: all(w["weights"] == want for w in state()["workers"]), timeout=5)
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=20)[0].decode()
    assert proc.returncode == 0, out
