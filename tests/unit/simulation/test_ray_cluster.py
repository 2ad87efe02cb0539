"""A real two-raylet Ray cluster: ``ray start --head`` plus ``ray start --address`` (a second
raylet on this machine), a small study submitted through the runner's ``address`` option, and
its JSON compared byte for byte with the local executor's.

Skipped when ray is not importable, except under ``CI=true`` where it must run. The cluster's
processes are this test's children (``ray start --block``) and are stopped by signalling them,
so the test never touches another Ray instance on the machine (``ray stop`` would stop every
one); a token of the test's own keeps the cluster private.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import tiny_problem

from chipfolio.simulation.runners import LocalExecutor
from chipfolio.simulation.study import simulate

HERE = Path(__file__).resolve().parent
SCENARIOS = 8
SEED = 8

DRIVER = """
import json, sys, time
sys.path.insert(0, {here!r})
import ray
from conftest import tiny_problem
from chipfolio.simulation.runners import RayExecutor
from chipfolio.simulation.study import simulate

address = {address!r}
for _ in range(240):  # the head may still be starting
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
        break
    except Exception:
        time.sleep(0.25)
else:
    sys.exit("could not join the head")
for _ in range(240):  # wait for the second raylet
    if sum(1 for n in ray.nodes() if n["Alive"]) >= 2:
        break
    time.sleep(0.25)


def node_of(_item):
    time.sleep(0.3)
    return ray.get_runtime_context().get_node_id()


executor = RayExecutor(workers=1, address=address)
cpus = executor.workers
nodes = sorted(set(executor.map(node_of, list(range(6)))))
doc = simulate(tiny_problem(), scenarios={scenarios}, seed={seed}, executor=executor).to_json()
executor.close()
ray.shutdown()
print("RESULT " + json.dumps({{"cpus": cpus, "nodes": len(nodes), "doc": doc}}))
"""


def _ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to ``ray start --block`` stops the node's processes it started."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()


@pytest.mark.ray
def test_a_two_raylet_cluster_gives_the_same_json_as_local_processes() -> None:
    if not _ray_available():
        if os.environ.get("CI") == "true":
            pytest.fail("ray is not importable but CI=true requires the Ray cluster test")
        pytest.skip("ray is not installed (pip install 'chipfolio[ray]')")
    ray_bin = Path(sys.executable).parent / "ray"
    temp = Path(tempfile.mkdtemp(prefix="cfray", dir="/tmp"))  # short: socket path limit
    token = temp / "token"
    token.write_text(secrets.token_hex(32), encoding="utf-8")
    env = dict(
        os.environ,
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(token),
        RAY_USAGE_STATS_ENABLED="0",
        PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
    )
    port = _free_port()
    address = f"127.0.0.1:{port}"
    node = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--block"]
    head = ["--head", "--port", str(port), "--temp-dir", str(temp), "--include-dashboard", "false"]
    started = time.perf_counter()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with open(temp / "head.log", "wb") as log:
            processes.append(
                subprocess.Popen(
                    [str(ray_bin), "start", *head, *node],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        time.sleep(2.0)  # the second raylet joins a head that is listening
        with open(temp / "worker.log", "wb") as log:
            processes.append(
                subprocess.Popen(
                    [str(ray_bin), "start", "--address", address, *node],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        script = DRIVER.format(here=str(HERE), address=address, scenarios=SCENARIOS, seed=SEED)
        driver = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        for process in reversed(processes):
            _stop(process)
        shutil.rmtree(temp, ignore_errors=True)
    seconds = time.perf_counter() - started
    lines = [line for line in driver.stdout.splitlines() if line.startswith("RESULT ")]
    assert driver.returncode == 0 and lines, driver.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    assert result["cpus"] == 2  # one CPU on each raylet
    assert result["nodes"] == 2  # tasks ran on both raylets
    local = simulate(tiny_problem(), scenarios=SCENARIOS, seed=SEED, executor=LocalExecutor(1))
    assert json.dumps(result["doc"]) == json.dumps(local.to_json())
    assert seconds < 120
