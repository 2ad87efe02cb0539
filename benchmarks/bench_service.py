"""Service throughput on this machine: GET /plans/{id} requests per second, and the time for
20 concurrent clients to post plans and see them solved (``chipfolio serve`` on SQLite).

Run: .venv/bin/python benchmarks/bench_service.py [--seconds S] [--clients N] [--db URL]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
TOKEN = "bench-admin-token-0123456789"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(db: str, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = _port()
    env = {**os.environ, "CHIPFOLIO_HOME": str(home), "CHIPFOLIO_ADMIN_TOKEN": TOKEN}
    cmd = [sys.executable, "-m", "chipfolio.interfaces.cli.app", "serve", "--db", db]
    cmd += ["--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(cmd, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("chipfolio serve did not start")


def _variant(i: int) -> str:
    return MINIMAL.replace("demand_tokens_per_s: 500000", f"demand_tokens_per_s: {400000 + i}")


def concurrent_plans(url: str, clients: int) -> float:
    import httpx

    auth = {"Authorization": f"Bearer {TOKEN}"}
    barrier = threading.Barrier(clients)

    def one(i: int) -> None:
        with httpx.Client(base_url=url, headers=auth, timeout=120) as client:
            barrier.wait()
            r = client.post("/api/v1/plans", json={"name": f"b{i}", "portfolio": _variant(i)})
            assert r.status_code == 201, r.text
            path = f"/api/v1/plans/{r.json()['id']}/status"
            while client.get(path).json()["status"] not in ("succeeded", "failed"):
                time.sleep(0.02)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(clients)))
    return time.perf_counter() - started


def get_rate(url: str, plan_id: int, seconds: float, threads: int) -> float:
    import httpx

    auth = {"Authorization": f"Bearer {TOKEN}"}
    count = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        with httpx.Client(base_url=url, headers=auth) as client:
            while time.perf_counter() < stop:
                assert client.get(f"/api/v1/plans/{plan_id}").status_code == 200
                count[k] += 1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    return sum(count) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--db", default=None, help="database URL (default: a temp SQLite file)")
    args = parser.parse_args()
    try:
        import fastapi  # noqa: F401
        import httpx  # noqa: F401
    except ImportError:
        print("bench_service: skipped (pip install -e '.[service]')")
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        process, url = _serve(db, Path(tmp))
        try:
            seconds = concurrent_plans(url, args.clients)
            print(f"{args.clients} concurrent clients, plan posted and solved: {seconds:.2f} s")
            for threads in (1, 8):
                rate = get_rate(url, 1, args.seconds, threads)
                print(f"GET /api/v1/plans/{{id}} with {threads} client threads: {rate:,.0f} req/s")
        finally:
            process.terminate()
            process.wait(10)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f}, database {db.split(':')[0]}")


if __name__ == "__main__":
    main()
