"""Fixtures of the service tests: an app on SQLite or PostgreSQL with tokens of every role.

PostgreSQL tests use ``$CHIPFOLIO_TEST_PG_URL`` (a server where the user may create
databases); each test session makes its own database there and drops it at the end. Without
the variable they are skipped, unless CI=true (then they fail).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from service_fixtures import ADMIN, IN_CI, Api, make_config, pg_database

from chipfolio.interfaces.service import create_app


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'service.db'}"
        return
    base = os.environ.get("CHIPFOLIO_TEST_PG_URL")
    if not base:
        if IN_CI:
            pytest.fail("CHIPFOLIO_TEST_PG_URL is not set (.ci/run starts a PostgreSQL)")
        pytest.skip("CHIPFOLIO_TEST_PG_URL is not set")
    yield from pg_database(base)


@pytest.fixture(scope="session")
def api(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    config = make_config(db_url, tmp_path_factory.mktemp("service"), max_body_bytes=256 * 1024)
    with TestClient(create_app(config)) as client:
        tokens = {"admin": ADMIN}
        for role in ("viewer", "planner"):
            response = client.post(
                "/api/v1/tokens",
                json={"name": f"{role}-bot", "role": role},
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
            assert response.status_code == 201, response.text
            tokens[role] = response.json()["token"]
        yield Api(client, tokens)
