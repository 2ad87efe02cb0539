"""Service throughput on this machine: GET /plans/{id} requests per second and p95 latency,
and jobs per second when N concurrent clients post plans and poll until they are solved
(``chipfolio serve`` on SQLite, or on PostgreSQL with --db, with --instances servers sharing it).

Run: .venv/bin/python benchmarks/bench_service.py [--seconds S] [--clients N] [--db URL]
                                                   [--instances K]
The machine's load average is printed before and after: the figures move with it.
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


def _serve(db: str, home: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = _port()
    env = {**os.environ, "CHIPFOLIO_HOME": str(home), "CHIPFOLIO_ADMIN_TOKEN": TOKEN}
    cmd = [sys.executable, "-m", "chipfolio.interfaces.cli.app", "serve", "--db", db]
    cmd += ["--port", str(port), "--log-level", "warning", *extra]
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


def concurrent_plans(urls: list[str], clients: int) -> float:
    """Seconds for ``clients`` threads (spread over the instances) to post a plan each and
    poll until it is solved."""
    import httpx

    auth = {"Authorization": f"Bearer {TOKEN}"}
    barrier = threading.Barrier(clients)

    def one(i: int) -> None:
        with httpx.Client(base_url=urls[i % len(urls)], headers=auth, timeout=120) as client:
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


def get_rate(urls: list[str], plan_id: int, seconds: float, threads: int) -> tuple[float, float]:
    """Requests per second and p95 latency (ms) of GET /plans/{id} from ``threads`` clients."""
    import httpx

    auth = {"Authorization": f"Bearer {TOKEN}"}
    latencies: list[list[float]] = [[] for _ in range(threads)]
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        with httpx.Client(base_url=urls[k % len(urls)], headers=auth) as client:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                assert client.get(f"/api/v1/plans/{plan_id}").status_code == 200
                latencies[k].append(time.perf_counter() - t0)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    every = sorted(x for per in latencies for x in per)
    p95 = every[min(len(every) - 1, int(0.95 * len(every)))] * 1000
    return len(every) / seconds, p95


def _load() -> str:
    if not hasattr(os, "getloadavg"):
        return "load average unknown"
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--db", default=None, help="database URL (default: a temp SQLite file)")
    parser.add_argument("--instances", type=int, default=1, help="servers sharing the database")
    parser.add_argument("--processes", type=int, default=2, help="serve --processes")
    args = parser.parse_args()
    try:
        import fastapi  # noqa: F401
        import httpx  # noqa: F401
    except ImportError:
        print("bench_service: skipped (pip install -e '.[service]')")
        return
    print(f"machine: {os.cpu_count()} CPUs, {_load()} before")
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        if db.startswith("sqlite") and args.instances > 1:
            raise SystemExit("SQLite is single-node: one instance per file")
        servers = [
            _serve(db, Path(tmp), "--processes", str(args.processes)) for _ in range(args.instances)
        ]
        urls = [url for _, url in servers]
        try:
            seconds = concurrent_plans(urls, args.clients)
            print(
                f"{args.clients} concurrent clients, plan posted and solved: {seconds:.2f} s "
                f"({args.clients / seconds:.1f} jobs/s)"
            )
            for threads in (1, 8):
                rate, p95 = get_rate(urls, 1, args.seconds, threads)
                print(
                    f"GET /api/v1/plans/{{id}} with {threads} client threads: "
                    f"{rate:,.0f} req/s, p95 {p95:.1f} ms"
                )
        finally:
            for process, _ in servers:
                process.terminate()
                process.wait(10)
    kind = db.split(":")[0]
    print(f"machine: {_load()} after; database {kind}, {args.instances} instance(s)")


if __name__ == "__main__":
    main()
