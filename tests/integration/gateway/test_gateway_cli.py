"""`chipfolio gateway` as a process: serves the bundled example pools, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml
from gateway_harness import Env

ROOT = Path(__file__).resolve().parents[3]
PLAN = {  # the shape of `chipfolio plan examples/minimal.yaml --json`
    "allocations": [
        {
            "workload": "chat",
            "offer": "az-maia",
            "tokens_per_s": 403200.0,
            "from_hour": 0.0,
            "to_hour": 730.0,
        },
        {
            "workload": "chat",
            "offer": "aws-trn2",
            "tokens_per_s": 336000.0,
            "from_hour": 0.0,
            "to_hour": 730.0,
        },
    ],
    "workloads": [{"name": "chat"}],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_example_pools_file_serves_through_the_cli(env: Env, tmp_path: Path) -> None:
    a, b = env.upstream("maia"), env.upstream("trn2")
    pools = yaml.safe_load((ROOT / "examples" / "pools.yaml").read_text())
    pools["pools"][0]["url"], pools["pools"][1]["url"] = a.url, b.url
    (tmp_path / "pools.yaml").write_text(yaml.safe_dump(pools))
    (tmp_path / "plan.json").write_text(json.dumps(PLAN))
    port = free_port()
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
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, COLUMNS="200"),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        c = env.client()
        c.base_url = f"http://127.0.0.1:{port}/v1"  # type: ignore[assignment]
        r = c.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert r.choices[0].message.content == "tok0 tok1 tok2 tok3 "
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=10)[0].decode()
    assert proc.returncode == 0, out
    assert "54.5%" in out and "45.5%" in out and f"127.0.0.1:{port}" in out
