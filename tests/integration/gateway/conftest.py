"""Fixtures for the gateway tests (the harness itself is in gateway_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("httptools")
pytest.importorskip("orjson")
pytest.importorskip("openai")

from gateway_harness import Env, LoopThread


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture
def env(loop_thread: LoopThread, tmp_path: Path) -> Iterator[Env]:
    e = Env(loop_thread, tmp_path)
    yield e
    e.close()
