"""Gateway benchmark: throughput and added latency over direct calls, LiteLLM side by side,
and a pool killed mid-load.

Everything runs on this machine. Two fake OpenAI upstreams
(``chipfolio.interfaces.gateway.fake_upstream``, 4 tokens per answer) serve ``chat``; the load
generator is ``wrk`` (C, one thread) with a Lua script that POSTs a non-streaming chat request.
Cores: the proxy under test (chipfolio gateway or LiteLLM's proxy, one worker each) is pinned
to CPU 0; wrk and both upstreams share CPU 1 (``taskset``), so the load generator never takes
the proxy's core. Figures:

1. requests/s through each proxy at ``--connections`` concurrent connections, and its CPU
   seconds per request (from /proc);
2. latency p50/p99 at concurrency 1: upstream direct, through the gateway, through LiteLLM,
   and the added latency (proxy minus direct);
3. kill test: load through the gateway, SIGKILL one upstream after ``--kill-at`` seconds; count
   failed client requests (non-2xx and socket errors as wrk sees them) and the time until the
   dead pool gets no more traffic (its breaker open or health check down, polled every 5 ms
   from /admin/state). The same kill run through LiteLLM when it is installed.

LiteLLM is optional and never a dependency: point ``--litellm`` at its ``litellm`` executable
(default: ``$LITELLM_BIN``, else ``litellm`` on PATH); it is skipped with a message
when absent.

    .venv/bin/python benchmarks/bench_gateway.py [--duration 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ADMIN_KEY = "bench-admin-key-0123456789abcdef"
PY = sys.executable
BODY = json.dumps(
    {
        "model": "chat",
        "messages": [{"role": "user", "content": "Say hello in four words."}],
        "max_tokens": 16,
    }
)
LUA = """
wrk.method = "POST"
wrk.body = [[BODY]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, '
    .. '"p99_us": %d, "mean_us": %.1f, "non2xx": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, e.status, e.connect, e.read, e.write, e.timeout))
end
"""


def set_stream(stream: bool) -> None:
    """Switch the request body (and the wrk script) to streaming or not."""
    global BODY
    doc = json.loads(BODY)
    doc["stream"] = stream
    BODY = json.dumps(doc)


def lua() -> str:
    return LUA.replace("[[BODY]]", f"[[{BODY}]]")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout:.0f} s")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (LiteLLM runs uvicorn under a parent)."""
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            pids.append(int(child))
    for p in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(p)
    return total


class Procs:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, cmd: list[str], cpu: int | None, log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        if cpu is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(cpu), *cmd]
        p = subprocess.Popen(
            cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, sig)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)

    def close(self) -> None:
        for p in reversed(self.procs):
            self.stop(p)


def wrk(
    url: str, script: Path, duration: float, connections: int, cpu: int | None
) -> dict[str, Any]:
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("WRKJSON "):
            r: dict[str, Any] = json.loads(line[len("WRKJSON ") :])
            r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
            r["failed"] = r["non2xx"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
            return r
    raise RuntimeError(f"no summary from wrk:\n{out}")


def litellm_command(arg: str | None) -> list[str] | None:
    candidates = [arg] if arg else [os.environ.get("LITELLM_BIN"), shutil.which("litellm")]
    for c in candidates:
        if c and Path(c).exists():
            return [c]
    return None


def litellm_version(cmd: list[str]) -> str:
    py = Path(cmd[0]).parent / "python"
    out = subprocess.run(
        [str(py), "-c", "import importlib.metadata as m;print(m.version('litellm'))"],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or "unknown"


@contextlib.contextmanager
def setup(tmp: Path, procs: Procs) -> Iterator[dict[str, Any]]:
    ports = {"a": free_port(), "b": free_port()}
    ups = {}
    for name, port in ports.items():
        ups[name] = procs.start(
            [
                PY,
                "-m",
                "chipfolio.interfaces.gateway.fake_upstream",
                "--port",
                str(port),
                "--name",
                name,
            ],
            1,
            tmp / f"upstream-{name}.log",
        )
    for port in ports.values():
        wait_http(f"http://127.0.0.1:{port}/v1/models")
    plan = {
        "allocations": [
            {"workload": "chat", "offer": "offer-a", "tokens_per_s": 1000.0},
            {"workload": "chat", "offer": "offer-b", "tokens_per_s": 1000.0},
        ],
        "workloads": [{"name": "chat"}],
    }
    (tmp / "plan.json").write_text(json.dumps(plan))
    (tmp / "admin.key").write_text(ADMIN_KEY + "\n")
    (tmp / "pools.yaml").write_text(
        "models: {chat: chat}\npools:\n"
        f"  - {{name: a, workload: chat, offer: offer-a, url: 'http://127.0.0.1:{ports['a']}/v1'}}\n"
        f"  - {{name: b, workload: chat, offer: offer-b, url: 'http://127.0.0.1:{ports['b']}/v1'}}\n"
        "settings: {health_interval_s: 0.5, health_timeout_s: 0.5}\n"
    )
    (tmp / "litellm.yaml").write_text(
        "model_list:\n"
        + "".join(
            f"  - model_name: chat\n    litellm_params:\n      model: openai/chat\n"
            f"      api_base: http://127.0.0.1:{p}/v1\n      api_key: sk-fake\n"
            for p in ports.values()
        )
    )
    yield {"ports": ports, "upstreams": ups}


def start_gateway(tmp: Path, procs: Procs) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    p = procs.start(
        [
            str(Path(PY).parent / "chipfolio"),
            "gateway",
            "--plan",
            str(tmp / "plan.json"),
            "--pools",
            str(tmp / "pools.yaml"),
            "--port",
            str(port),
            "--admin-key-file",
            str(tmp / "admin.key"),
        ],
        0,
        tmp / "gateway.log",
    )
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return p, port


def start_litellm(cmd: list[str], tmp: Path, procs: Procs) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = dict(
        os.environ,
        LITELLM_LOG="ERROR",
        LITELLM_TELEMETRY="False",
        DISABLE_SCHEMA_UPDATE="true",
        LITELLM_MASTER_KEY="sk-bench",
    )
    p = procs.start(
        [*cmd, "--config", str(tmp / "litellm.yaml"), "--port", str(port), "--num_workers", "1"],
        0,
        tmp / "litellm.log",
        env,
    )
    wait_http(f"http://127.0.0.1:{port}/health/liveliness", timeout=180)
    return p, port


def post_chat(base: str) -> None:
    req = urllib.request.Request(
        base + "/v1/chat/completions",
        data=BODY.encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk-bench"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def measure(
    name: str, base: str, pid: int | None, script: Path, args: argparse.Namespace
) -> dict[str, Any]:
    for _ in range(200):  # warm up connection pools and caches
        post_chat(base)
    wrk(base + "/v1/chat/completions", script, 2, args.connections, 1)
    cpu0 = tree_cpu(pid) if pid else 0.0
    load = wrk(base + "/v1/chat/completions", script, args.duration, args.connections, 1)
    cpu = (tree_cpu(pid) - cpu0) if pid else 0.0
    seq = wrk(base + "/v1/chat/completions", script, args.duration, 1, 1)
    row = {
        "name": name,
        "rps": load["rps"],
        "failed": load["failed"],
        "cpu_ms_per_req": 1000 * cpu / max(1, load["requests"]) if pid else None,
        "p50_ms": seq["p50_us"] / 1000,
        "p99_ms": seq["p99_us"] / 1000,
        "load_p50_ms": load["p50_us"] / 1000,
        "load_p99_ms": load["p99_us"] / 1000,
    }
    print(
        f"  {name:<22} {row['rps']:>9,.0f} req/s  "
        + (f"{row['cpu_ms_per_req']:.3f} ms CPU/req  " if pid else "")
        + f"c=1 p50 {row['p50_ms']:.3f} ms p99 {row['p99_ms']:.3f} ms  "
        f"(c={args.connections}: p50 {row['load_p50_ms']:.2f} ms, failed {load['failed']}; "
        f"machine load average {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    return row


def kill_run(
    name: str,
    base: str,
    upstream: subprocess.Popen[bytes],
    script: Path,
    args: argparse.Namespace,
    state_url: str | None,
) -> dict[str, Any]:
    cmd = [
        "wrk",
        "-t1",
        f"-c{args.connections}",
        f"-d{args.kill_duration:g}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        base + "/v1/chat/completions",
    ]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "1", *cmd]
    load = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    time.sleep(args.kill_at)
    killed = time.monotonic()
    os.killpg(upstream.pid, signal.SIGKILL)
    shift_s = None
    if state_url:
        deadline = killed + 10
        while time.monotonic() < deadline:
            req = urllib.request.Request(
                state_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
            )
            with urllib.request.urlopen(req, timeout=2) as r:
                state = json.loads(r.read())
            pool = next(p for p in state["workloads"]["chat"] if p["name"] == "a")
            if not pool["available"]:
                shift_s = time.monotonic() - killed
                break
            time.sleep(0.005)
    out, _ = load.communicate(timeout=args.kill_duration + 30)
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    r = json.loads(line[len("WRKJSON ") :])
    failed = r["non2xx"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    share = 100.0 * failed / max(1, r["requests"])
    print(
        f"  {name:<22} {r['requests']:>9,} requests, {failed} failed ({share:.2f}%)"
        + (f", dead pool out of rotation after {1000 * shift_s:.0f} ms" if shift_s else ""),
        flush=True,
    )
    return {"name": name, "requests": r["requests"], "failed": failed, "shift_s": shift_s}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--kill-duration", type=float, default=10.0)
    parser.add_argument("--kill-at", type=float, default=3.0)
    parser.add_argument("--litellm", default=None, help="path of LiteLLM's `litellm` command")
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--stream", action="store_true", help="streaming requests (SSE)")
    parser.add_argument("--no-kill", action="store_true", help="skip the kill test")
    args = parser.parse_args()
    set_stream(args.stream)
    try:
        import httptools  # noqa: F401
        import orjson  # noqa: F401
    except ImportError:
        print("bench_gateway: skipped, install the gateway extra: pip install -e '.[gateway]'")
        return 0
    if shutil.which("wrk") is None:
        print("bench_gateway: skipped, needs wrk (Debian: apt-get install wrk)")
        return 0
    litellm = None if args.no_litellm else litellm_command(args.litellm)
    print(
        f"gateway benchmark on {os.cpu_count()} CPUs: proxy on CPU 0, wrk + 2 upstreams on "
        f"CPU 1; {args.connections} connections, {args.duration:g} s per run, "
        f"{'streaming' if args.stream else 'non-streaming'} chat requests",
        flush=True,
    )
    procs = Procs()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as d, setup(Path(d), procs) as env:
            tmp = Path(d)
            script = tmp / "post.lua"
            script.write_text(lua())
            ports = env["ports"]
            rows.append(
                measure("direct (upstream a)", f"http://127.0.0.1:{ports['a']}", None, script, args)
            )
            gw, gw_port = start_gateway(tmp, procs)
            rows.append(
                measure("chipfolio gateway", f"http://127.0.0.1:{gw_port}", gw.pid, script, args)
            )
            procs.stop(gw)
            if litellm is None:
                print(
                    "  LiteLLM: skipped (not installed; pass --litellm PATH to its `litellm` "
                    "command, e.g. from a separate venv with pip install 'litellm[proxy]')"
                )
            else:
                version = litellm_version(litellm)
                ll, ll_port = start_litellm(litellm, tmp, procs)
                rows.append(
                    measure(
                        f"LiteLLM {version}", f"http://127.0.0.1:{ll_port}", ll.pid, script, args
                    )
                )
                procs.stop(ll)
            direct = rows[0]
            print("  added latency at concurrency 1 (proxy minus direct):")
            for row in rows[1:]:
                print(
                    f"    {row['name']:<22} p50 +{row['p50_ms'] - direct['p50_ms']:.3f} ms, "
                    f"p99 +{row['p99_ms'] - direct['p99_ms']:.3f} ms"
                )
            if len(rows) == 3:
                print(
                    f"  throughput ratio gateway / LiteLLM: {rows[1]['rps'] / rows[2]['rps']:.1f}x"
                )
        if args.no_kill:
            return 0
        print("kill test: one of two upstreams SIGKILLed mid-load", flush=True)
        for proxy in ["gateway"] + (["litellm"] if litellm else []):
            with tempfile.TemporaryDirectory() as d, setup(Path(d), procs) as env:
                tmp = Path(d)
                script = tmp / "post.lua"
                script.write_text(lua())
                if proxy == "gateway":
                    p, port = start_gateway(tmp, procs)
                    state = f"http://127.0.0.1:{port}/admin/state"
                    label = "chipfolio gateway"
                else:
                    assert litellm is not None
                    p, port = start_litellm(litellm, tmp, procs)
                    state = None
                    label = f"LiteLLM {litellm_version(litellm)}"
                base = f"http://127.0.0.1:{port}"
                for _ in range(100):
                    post_chat(base)
                kill_run(label, base, env["upstreams"]["a"], script, args, state)
                procs.stop(p)
                for up in env["upstreams"].values():
                    procs.stop(up)
    finally:
        procs.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
