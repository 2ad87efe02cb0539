"""Harness for the gateway tests: fake OpenAI upstreams and a gateway on one event loop in a
background thread, driven by the official ``openai`` client from the test thread.

A module with a name of its own (not ``conftest``), so tests import it unambiguously."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
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
    ) -> Gateway:
        self.write(pools, plan)
        config = load_config(self.tmp / "pools.yaml", self.tmp / "plan.json")
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

    def client(self, timeout: float = 10.0) -> Any:
        return openai.OpenAI(base_url=self.base_url, api_key="test", max_retries=0, timeout=timeout)

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
