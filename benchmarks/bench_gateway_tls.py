"""Gateway benchmark: plain against TLS upstreams, one worker against two.

Everything runs on this machine, on loopback. Four fake OpenAI upstreams
(``chipfolio.interfaces.gateway.fake_upstream``): two plain, two serving TLS with a certificate
from a CA made here (``cryptography``), which the gateway trusts through ``ca_file``. The load
generator is ``wrk`` (one thread) POSTing a non-streaming chat request. As in
``bench_gateway.py``, the gateway is pinned to CPU 0 (with ``--workers 2`` both workers share
CPU 0 unless ``--gateway-cpus`` says otherwise, so that run measures what the second worker and
its state sharing cost, not scaling), and wrk and the upstreams share CPU 1.

For each of plain/TLS x 1/2 workers: requests/s at ``--connections``, CPU per request (the
gateway's processes), and p50/p99 at concurrency 1 with the added p50 over a direct call (plain
upstream, and TLS upstream for the TLS runs). With two workers it also reads ``/admin/state``:
how many workers report, the requests each served, and how late their sync events arrived.

    .venv/bin/python benchmarks/bench_gateway_tls.py [--duration 5] [--connections 64]
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import os
import shutil
import ssl
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from bench_gateway import (
    ADMIN_KEY,
    PY,
    Procs,
    free_port,
    kill_run,
    lua,
    measure,
    wait_http,
)


def make_ca(tmp: Path) -> tuple[Path, Path, Path]:
    """A CA and a leaf for 127.0.0.1: (ca file, cert file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("bench CA"))
        .issuer_name(name("bench CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tmp / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (tmp / "leaf.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tmp / "ca.pem", tmp / "leaf.pem", tmp / "leaf.key"


def start_upstreams(tmp: Path, procs: Procs) -> dict[str, tuple[str, int, Any]]:
    ca, cert, key = make_ca(tmp)
    ups: dict[str, tuple[str, int, Any]] = {}
    for name, tls in (("a", False), ("b", False), ("ta", True), ("tb", True)):
        port = free_port()
        cmd = [PY, "-m", "chipfolio.interfaces.gateway.fake_upstream", "--port", str(port)]
        cmd += ["--name", name]
        if tls:
            cmd += ["--certfile", str(cert), "--keyfile", str(key)]
        proc = procs.start(cmd, 1, tmp / f"upstream-{name}.log")
        ups[name] = ("https" if tls else "http", port, proc)
    # urllib (warm-up requests, readiness) trusts the bench CA from here on
    trust = ssl.create_default_context(cafile=str(ca))
    urllib.request.install_opener(
        urllib.request.build_opener(urllib.request.HTTPSHandler(context=trust))
    )
    for scheme, port, _ in ups.values():
        wait_http(f"{scheme}://127.0.0.1:{port}/v1/models")
    plan = {
        "allocations": [
            {"workload": "chat", "offer": "offer-a", "tokens_per_s": 1000.0},
            {"workload": "chat", "offer": "offer-b", "tokens_per_s": 1000.0},
        ],
        "workloads": [{"name": "chat"}],
    }
    (tmp / "plan.json").write_text(json.dumps(plan))
    (tmp / "admin.key").write_text(ADMIN_KEY + "\n")
    for label, names, extra in (
        ("plain", ("a", "b"), ""),
        ("tls", ("ta", "tb"), f", ca_file: '{ca}'"),
    ):
        rows = "".join(  # pools are named a and b in both files (the kill run polls "a")
            f"  - {{name: {n[-1]}, workload: chat, offer: offer-{n[-1]}, "
            f"url: '{ups[n][0]}://127.0.0.1:{ups[n][1]}/v1'{extra}}}\n"
            for n in names
        )
        (tmp / f"pools-{label}.yaml").write_text(
            "models: {chat: chat}\npools:\n" + rows + "settings: {health_interval_s: 0.5}\n"
        )
    return ups


def start_gateway(tmp: Path, procs: Procs, pools: str, workers: int, cpus: str) -> tuple[Any, int]:
    port = free_port()
    cmd = [str(Path(PY).parent / "chipfolio"), "gateway", "--plan", str(tmp / "plan.json")]
    cmd += ["--pools", str(tmp / pools), "--port", str(port), "--workers", str(workers)]
    cmd += ["--admin-key-file", str(tmp / "admin.key")]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", cpus, *cmd]
    p = procs.start(cmd, None, tmp / f"gateway-{pools}-{workers}.log")
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return p, port


def admin_state(port: int) -> dict[str, Any]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/admin/state", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        doc: dict[str, Any] = json.loads(r.read())
        return doc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--gateway-cpus", default="0", help="taskset CPU list of the gateway")
    parser.add_argument("--kill-duration", type=float, default=10.0)
    parser.add_argument("--kill-at", type=float, default=3.0)
    parser.add_argument("--no-kill", action="store_true", help="skip the kill run")
    args = parser.parse_args()
    try:
        import cryptography  # noqa: F401
        import httptools  # noqa: F401
    except ImportError:
        print("bench_gateway_tls: skipped, install the gateway extra: pip install -e '.[gateway]'")
        return 0
    if shutil.which("wrk") is None:
        print("bench_gateway_tls: skipped, needs wrk (Debian: apt-get install wrk)")
        return 0
    print(
        f"gateway TLS/workers benchmark on {os.cpu_count()} CPUs: gateway on CPU "
        f"{args.gateway_cpus}, wrk + 4 upstreams on CPU 1; {args.connections} connections, "
        f"{args.duration:g} s per run; load average at start {os.getloadavg()}",
        flush=True,
    )
    procs = Procs()
    rows: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            ups = start_upstreams(tmp, procs)
            script = tmp / "post.lua"
            script.write_text(lua())
            rows["direct plain"] = measure(
                "direct plain", f"http://127.0.0.1:{ups['a'][1]}", None, script, args
            )
            rows["direct TLS"] = measure(
                "direct TLS", f"https://127.0.0.1:{ups['ta'][1]}", None, script, args
            )
            for pools, label in (("pools-plain.yaml", "plain"), ("pools-tls.yaml", "TLS")):
                for workers in (1, 2):
                    name = f"gateway {label}, {workers}w"
                    gw, port = start_gateway(tmp, procs, pools, workers, args.gateway_cpus)
                    rows[name] = measure(name, f"http://127.0.0.1:{port}", gw.pid, script, args)
                    if workers > 1:
                        s = admin_state(port)
                        sync = s["sync"]
                        served = [w["requests"] for w in s["workers"]]
                        rows[name]["sync"] = sync
                        print(
                            f"    {sync['workers_reporting']} of {sync['workers_expected']} "
                            f"workers report; requests per worker {served}; sync event lag "
                            f"p50 {sync['event_lag_ms_p50']} ms, max {sync['event_lag_ms_max']} "
                            f"ms over {sync['events_received']} events",
                            flush=True,
                        )
                    procs.stop(gw)
            plain, tls = rows["direct plain"], rows["direct TLS"]
            print("  summary (added p50 at concurrency 1 = gateway minus direct):")
            for name, row in rows.items():
                if not name.startswith("gateway"):
                    continue
                extra = ""
                if "TLS" in name:
                    extra = f", {row['p50_ms'] - tls['p50_ms']:+.3f} ms over direct TLS"
                print(
                    f"    {name:<22} {row['rps']:>8,.0f} req/s, "
                    f"{row['cpu_ms_per_req']:.3f} ms CPU/req, added p50 "
                    f"{row['p50_ms'] - plain['p50_ms']:+.3f} ms over direct plain{extra}"
                )
            if not args.no_kill:
                print("kill run: TLS upstreams, 2 workers, one upstream SIGKILLed mid-load")
                gw, port = start_gateway(tmp, procs, "pools-tls.yaml", 2, args.gateway_cpus)
                base = f"http://127.0.0.1:{port}"
                kill_run("gateway TLS, 2w", base, ups["ta"][2], script, args, f"{base}/admin/state")
                s = admin_state(port)
                print(f"    after the kill: breakers {[w['breakers'] for w in s['workers']]}")
                procs.stop(gw)
            print(f"  load average at the end {os.getloadavg()}")
    finally:
        procs.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
