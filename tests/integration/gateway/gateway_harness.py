"""Harness for the gateway tests: fake OpenAI upstreams and a gateway on one event loop in a
background thread, driven by the official ``openai`` client from the test thread.

A module with a name of its own (not ``conftest``), so tests import it unambiguously."""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

pytest.importorskip("httptools")
pytest.importorskip("orjson")
openai = pytest.importorskip("openai")

from chipfolio.interfaces.gateway.config import load_config  # noqa: E402
from chipfolio.interfaces.gateway.fake_upstream import FakeUpstream  # noqa: E402
from chipfolio.interfaces.gateway.proxy import Gateway  # noqa: E402

T = TypeVar("T")
ADMIN_KEY = "admin-key-for-the-tests-0123456789"

PLAN: dict[str, Any] = {
    "status": "optimal",
    "allocations": [
        {
            "workload": "chat",
            "offer": "az-maia",
            "tokens_per_s": 3000.0,
            "from_hour": 0,
            "to_hour": 730,
        },
        {
            "workload": "chat",
            "offer": "aws-trn2",
            "tokens_per_s": 1000.0,
            "from_hour": 0,
            "to_hour": 730,
        },
        {
            "workload": "code",
            "offer": "aws-trn2",
            "tokens_per_s": 500.0,
            "from_hour": 0,
            "to_hour": 730,
        },
        {"workload": None, "offer": "gcp-tpu", "tokens_per_s": 0.0, "from_hour": 0, "to_hour": 730},
    ],
    "workloads": [{"name": "chat"}, {"name": "code"}],
}


class LoopThread:
    """An asyncio loop in a daemon thread; ``run`` executes a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrapped() -> T:
            return fn()

        return self.run(wrapped())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class FakeClock:
    """A monotonic clock the test moves by hand (breaker and cool-down times)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Env:
    """Upstreams and a gateway for one test."""

    def __init__(self, lt: LoopThread, tmp: Path) -> None:
        self.lt = lt
        self.tmp = tmp
        self.upstreams: dict[str, FakeUpstream] = {}
        self.gateway: Gateway | None = None
        self.port = 0
        self.clock = FakeClock()

    def upstream(
        self, name: str, *, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None, **kw: Any
    ) -> FakeUpstream:
        up = self.lt.run(FakeUpstream(name, **kw).start(host, 0, tls))
        self.upstreams[name] = up
        return up

    def write(self, pools: dict[str, Any], plan: dict[str, Any] | None = None) -> None:
        (self.tmp / "pools.yaml").write_text(yaml.safe_dump(pools))
        (self.tmp / "plan.json").write_text(json.dumps(plan or PLAN))

    def start(
        self,
        pools: dict[str, Any],
        plan: dict[str, Any] | None = None,
        health: bool = False,
        fake_clock: bool = False,
        client_keys: dict[str, dict[str, Any]] | None = None,
        admin_key: str | None = ADMIN_KEY,
    ) -> Gateway:
        """``client_keys``: key -> its entry's other fields (the file gets its sha256);
        ``admin_key``: the admin key (None: the admin endpoints are off)."""
        self.write(pools, plan)
        keys_file = admin_file = None
        if client_keys is not None:
            keys_file = self.tmp / "client-keys.yaml"
            entries = [
                {"sha256": hashlib.sha256(k.encode()).hexdigest(), **rest}
                for k, rest in client_keys.items()
            ]
            keys_file.write_text(yaml.safe_dump(entries))
        if admin_key is not None:
            admin_file = self.tmp / "admin.key"
            admin_file.write_text(admin_key + "\n")
        config = load_config(
            self.tmp / "pools.yaml",
            self.tmp / "plan.json",
            client_keys=keys_file,
            admin_key_file=admin_file,
        )
        clock = self.clock if fake_clock else None

        async def boot() -> tuple[Gateway, int]:
            gw = Gateway(config, clock=clock) if clock else Gateway(config)
            port = await gw.start("127.0.0.1", 0, health=health)
            return gw, port

        self.gateway, self.port = self.lt.run(boot())
        return self.gateway

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def client(self, timeout: float = 10.0, api_key: str = "test") -> Any:
        return openai.OpenAI(
            base_url=self.base_url, api_key=api_key, max_retries=0, timeout=timeout
        )

    def http(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        admin: bool = False,
    ) -> tuple[int, bytes, Any]:
        """One request to the gateway (``admin``: with the admin key): status, body, headers."""
        h = dict(headers or {})
        if admin:
            h["Authorization"] = f"Bearer {ADMIN_KEY}"
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=body, method=method, headers=h
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers

    def state(self) -> dict[str, Any]:
        assert self.gateway is not None
        gw = self.gateway
        return self.lt.call(gw.state)

    def pool_state(self, name: str) -> dict[str, Any]:
        for pools in self.state()["workloads"].values():
            for p in pools:
                if p["name"] == name:
                    return dict(p)
        raise KeyError(name)

    def close(self) -> None:
        if self.gateway is not None:
            self.lt.run(self.gateway.stop())
        for up in self.upstreams.values():
            self.lt.run(up.stop())


def two_pools(a: FakeUpstream, b: FakeUpstream, **settings: Any) -> dict[str, Any]:
    """chat on az-maia (weight 0.75) and aws-trn2 (0.25)."""
    return {
        "models": {"chat": "chat"},
        "pools": [
            {"name": "maia", "workload": "chat", "offer": "az-maia", "url": a.url},
            {"name": "trn2", "workload": "chat", "offer": "aws-trn2", "url": b.url},
        ],
        "settings": settings,
    }
