"""`chipfolio gateway --workers 2` keeps one state: counters summed in /admin/state, a pool
that dies leaves every worker's rotation (0 failed requests), one reload reaches every worker."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from gateway_harness import ADMIN_KEY, PLAN, Env, FakeClock, LoopThread, two_pools
from test_gateway_cli import free_port

from chipfolio.interfaces.gateway.config import load_config
from chipfolio.interfaces.gateway.fake_upstream import FakeUpstream
from chipfolio.interfaces.gateway.proxy import Gateway
from chipfolio.interfaces.gateway.workers import Peers, make_links, relay

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


def test_peers_adopt_a_breaker_a_reload_and_a_key_rate_they_did_not_see(
    loop_thread: LoopThread, tmp_path: Path
) -> None:
    """Two gateways in this process linked through the relay (in a thread): what happens on
    worker 0 reaches worker 1 with no traffic on worker 1. One frozen clock, so rate-limit
    buckets do not refill."""
    lt = loop_thread
    a = lt.run(FakeUpstream("a").start())
    spare = lt.run(FakeUpstream("spare").start())
    pools = {
        "models": {"chat": "chat"},
        "pools": [
            {"name": "primary", "workload": "chat", "offer": "az-maia", "url": a.url},
            {
                "name": "spare",
                "workload": "chat",
                "offer": "gcp-tpu",
                "url": spare.url,
                "fallback": True,
            },
        ],
        "settings": {"breaker_consecutive_failures": 2, "breaker_open_s": 30},
    }
    (tmp_path / "pools.yaml").write_text(yaml.safe_dump(pools))
    (tmp_path / "plan.json").write_text(json.dumps(PLAN))
    key = "sk-limited-123"
    (tmp_path / "keys.yaml").write_text(
        yaml.safe_dump(
            [
                {
                    "name": "limited",
                    "requests_per_s": 2,
                    "sha256": hashlib.sha256(key.encode()).hexdigest(),
                }
            ]
        )
    )
    (tmp_path / "admin.key").write_text(ADMIN_KEY)
    config = load_config(
        tmp_path / "pools.yaml",
        tmp_path / "plan.json",
        client_keys=tmp_path / "keys.yaml",
        admin_key_file=tmp_path / "admin.key",
    )
    clock = FakeClock()
    links = make_links(2)
    hub = threading.Thread(target=relay, args=([p for p, _ in links], [], False), daemon=True)
    hub.start()

    async def boot(i: int) -> tuple[Gateway, int]:
        gw = Gateway(config, clock=clock)
        port = await gw.start("127.0.0.1", 0, health=False, peers=Peers(links[i][1], i, 2, 0.05))
        return gw, port

    (g0, p0), (g1, p1) = lt.run(boot(0)), lt.run(boot(1))
    try:

        def post(port: int, path: str = "/v1/chat/completions", admin: bool = False) -> int:
            auth = ADMIN_KEY if admin else key
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}",
                data=b'{"model":"chat","messages":[]}' if not admin else b"",
                headers={"Authorization": f"Bearer {auth}"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    return int(r.status)
            except urllib.error.HTTPError as e:
                return int(e.code)

        lt.run(a.kill())
        assert post(p0) == 200 and post(p0) == 200  # served by the spare; primary trips
        assert lt.call(lambda: g0.router.breakers["primary"].state(clock()).value) == "open"

        def adopted() -> bool:
            b = g1.router.breakers["primary"]
            return b.state(clock()).value == "open" and b.trips == 0

        wait_until(lambda: lt.call(adopted), timeout=5)

        # both requests above were charged to worker 1's bucket too: burst 2 used up
        def charged() -> bool:  # worker 0's snapshot with its 2 admitted requests arrived
            clients = lt.call(g1.state)["gateway"]["clients"]
            return bool(clients.get("limited", {}).get("admitted") == 2)

        wait_until(charged, timeout=5)
        assert post(p1) == 429
        # a reload on worker 0 reaches worker 1
        plan = json.loads(json.dumps(PLAN))
        plan["allocations"].append({"workload": "chat", "offer": "gcp-tpu", "tokens_per_s": 1000.0})
        (tmp_path / "plan.json").write_text(json.dumps(plan))
        assert post(p0, "/admin/reload", admin=True) == 200
        wait_until(lambda: lt.call(lambda: g1.router.table.weight_of("spare")) > 0, timeout=5)
        state = lt.call(g1.state)
        assert [w["worker"] for w in state["workers"]] == [1, 0]
        assert state["sync"]["reloads_applied_from_peers"] == 1
    finally:
        for gw in (g0, g1):
            lt.run(gw.stop())
        for up in (a, spare):
            lt.run(up.stop())
        for parent_end, _ in links:
            parent_end.close()
        hub.join(5)
