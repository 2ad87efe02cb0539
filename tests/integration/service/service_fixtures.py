"""Helpers of the service tests: a test client with tokens of every role, a fresh PostgreSQL
database, a service configuration, and a real ``chipfolio serve`` process.

PostgreSQL tests use ``$CHIPFOLIO_TEST_PG_URL`` (a server where the user may create
databases); each test session makes its own database there and drops it at the end. Without
the variable they are skipped, unless CI=true (then they fail).
"""

from __future__ import annotations

import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from chipfolio.interfaces.service import ServiceConfig

ROOT = Path(__file__).resolve().parents[3]
MINIMAL = ROOT / "examples" / "minimal.yaml"
ADMIN = "admin-" + "x" * 24
IN_CI = os.environ.get("CI") == "true"


@dataclass
class Api:
    """A test client and a token of each role."""

    client: TestClient
    tokens: dict[str, str]

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def get(self, path: str, role: str = "viewer", **kw: object) -> httpx.Response:
        return self.client.get(path, headers=self.headers(role), **kw)  # type: ignore[arg-type]

    def post(self, path: str, body: object, role: str = "planner", **kw: object) -> httpx.Response:
        return self.client.post(path, json=body, headers=self.headers(role), **kw)  # type: ignore[arg-type]


def pg_database(base_url: str) -> Iterator[str]:
    import psycopg
    from sqlalchemy.engine import make_url

    name = "chipfolio_test_" + secrets.token_hex(4)
    url = make_url(base_url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin_dsn = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_config(db_url: str, tmp: Path, **extra: object) -> ServiceConfig:
    data = tmp / "data"
    data.mkdir(exist_ok=True)
    return ServiceConfig(
        db_url=db_url,
        catalog_home=tmp / "catalogs",
        data_dir=data,
        admin_token=ADMIN,
        **extra,  # type: ignore[arg-type]
    )


# -- a real server process ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_server(db_url: str, home: Path, *extra: str, tls_ca: Path | None = None) -> Server:
    """Run ``chipfolio serve`` on a free port and wait until it is ready (over HTTPS, checked
    against ``tls_ca``, when that is given)."""
    port = free_port()
    token_file = home / "admin.token"
    token_file.write_text(ADMIN)
    log = home / f"serve-{port}.log"
    env = {**os.environ, "CHIPFOLIO_HOME": str(home)}
    env.pop("CHIPFOLIO_ADMIN_TOKEN", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chipfolio.interfaces.cli.app",
            "serve",
            "--db",
            db_url,
            "--port",
            str(port),
            "--admin-token-file",
            str(token_file),
            "--log-level",
            "warning",
            *extra,
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"{'https' if tls_ca else 'http'}://127.0.0.1:{port}"
    verify = ssl.create_default_context(cafile=str(tls_ca)) if tls_ca else True
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chipfolio serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/readyz", timeout=2, verify=verify).status_code == 200:
                return Server(process, url, log)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"chipfolio serve did not become ready: {log.read_text()[-2000:]}")
