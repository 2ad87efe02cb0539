"""Client keys (hashed at rest, per-key workloads and rate limits; 401/403/429 in OpenAI's
error shape, through the official client) and the admin key for /admin/*."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from gateway_harness import ADMIN_KEY, Env, two_pools

from chipfolio.errors import InputError
from chipfolio.interfaces.gateway.access import load_admin_key, load_client_keys
from chipfolio.interfaces.gateway.config import load_config
from chipfolio.interfaces.gateway.proxy import Gateway

MSG = [{"role": "user", "content": "hi"}]
FRONTEND = "sk-frontend-1111"
EVALS = "sk-evals-2222"
KEYS: dict[str, dict[str, Any]] = {
    FRONTEND: {"name": "frontend"},
    EVALS: {"name": "evals", "workloads": ["code"], "requests_per_s": 2},
}


def pools_with_code(env: Env) -> dict[str, Any]:
    a, b = env.upstream("a"), env.upstream("b")
    pools = two_pools(a, b)
    pools["models"]["coder"] = "code"
    pools["pools"].append(
        {"name": "trn2-code", "workload": "code", "offer": "aws-trn2", "url": b.url}
    )
    return pools


def test_a_listed_key_is_served_and_never_forwarded(env: Env) -> None:
    pools = pools_with_code(env)
    env.start(pools, client_keys=KEYS)
    r = env.client(api_key=FRONTEND).chat.completions.create(model="chat", messages=MSG)
    assert r.choices[0].message.content == "tok0 tok1 tok2 tok3 "
    for up in env.upstreams.values():
        if up.last_request is not None:
            assert b"authorization" not in up.last_request.headers
    assert env.state()["gateway"]["clients"] == {"frontend": {"admitted": 1}}


def test_missing_or_unknown_keys_get_401_and_reach_no_pool(env: Env) -> None:
    env.start(pools_with_code(env), client_keys=KEYS)
    for key in ("sk-wrong", FRONTEND + "x", hashlib.sha256(FRONTEND.encode()).hexdigest()):
        with pytest.raises(openai.AuthenticationError) as exc:
            env.client(api_key=key).chat.completions.create(model="chat", messages=MSG)
        assert exc.value.status_code == 401 and exc.value.code == "invalid_api_key"
        assert key not in str(exc.value)
    status, raw, _ = env.http("POST", "/v1/chat/completions", b'{"model":"chat"}')
    assert status == 401 and json.loads(raw)["error"]["type"] == "invalid_request_error"
    status, _, _ = env.http(
        "POST", "/v1/chat/completions", b"{}", headers={"Authorization": f"Basic {FRONTEND}"}
    )
    assert status == 401
    assert env.http("GET", "/v1/models")[0] == 401
    assert sum(up.completions for up in env.upstreams.values()) == 0
    assert env.state()["gateway"]["unauthorized"] == 6


def test_a_key_limited_to_workloads_gets_403_elsewhere_and_sees_only_its_models(
    env: Env,
) -> None:
    env.start(pools_with_code(env), client_keys=KEYS, fake_clock=True)
    c = env.client(api_key=EVALS)
    assert c.chat.completions.create(model="coder", messages=MSG).choices
    with pytest.raises(openai.PermissionDeniedError) as exc:
        c.chat.completions.create(model="chat", messages=MSG)
    assert exc.value.code == "model_not_allowed" and "'evals'" in str(exc.value)
    assert "coder" in str(exc.value) and "chat," not in str(exc.value)
    assert [m.id for m in c.models.list()] == ["coder"]
    assert sorted(m.id for m in env.client(api_key=FRONTEND).models.list()) == ["chat", "coder"]


def test_requests_per_s_gives_429_with_retry_after_then_recovers(env: Env) -> None:
    env.start(pools_with_code(env), client_keys=KEYS, fake_clock=True)
    c = env.client(api_key=EVALS)
    for _ in range(2):  # the burst: 2 requests
        c.chat.completions.create(model="coder", messages=MSG)
    with pytest.raises(openai.RateLimitError) as exc:
        c.chat.completions.create(model="coder", messages=MSG)
    assert exc.value.code == "rate_limit_exceeded"
    assert exc.value.response.headers["retry-after"] == "1"
    # another key is not limited by this one's bucket
    env.client(api_key=FRONTEND).chat.completions.create(model="chat", messages=MSG)
    env.clock.advance(0.5)  # one token back at 2 requests/s
    c.chat.completions.create(model="coder", messages=MSG)
    clients = env.state()["gateway"]["clients"]
    assert clients["evals"] == {"admitted": 3, "rate_limited": 1}
    assert (
        env.lt.call(env.gateway.metrics).count(  # type: ignore[union-attr]
            'chipfolio_gateway_client_requests_total{client="evals",outcome="rate_limited"} 1'
        )
        == 1
    )


def test_reload_reads_the_keys_again(env: Env) -> None:
    env.start(pools_with_code(env), client_keys=KEYS)
    c = env.client(api_key=FRONTEND)
    c.chat.completions.create(model="chat", messages=MSG)
    entries = [{"name": "evals", "sha256": hashlib.sha256(EVALS.encode()).hexdigest()}]
    (env.tmp / "client-keys.yaml").write_text(yaml.safe_dump(entries))  # frontend revoked
    assert env.http("POST", "/admin/reload", b"", admin=True)[0] == 200
    with pytest.raises(openai.AuthenticationError):
        c.chat.completions.create(model="chat", messages=MSG)
    env.client(api_key=EVALS).chat.completions.create(model="chat", messages=MSG)


def test_admin_endpoints_need_the_admin_key_and_are_off_without_one(env: Env) -> None:
    env.start(pools_with_code(env), client_keys=KEYS)
    for path, method in (("/admin/state", "GET"), ("/admin/reload", "POST")):
        body = b"" if method == "POST" else None
        assert env.http(method, path, body)[0] == 401
        for key in (FRONTEND, "x" * 40, ADMIN_KEY + "x"):
            status, raw, _ = env.http(method, path, body, {"Authorization": f"Bearer {key}"})
            assert status == 401 and json.loads(raw)["error"]["code"] == "invalid_api_key"
        assert env.http(method, path, body, admin=True)[0] == 200
    state = env.http("GET", "/admin/state", admin=True)[1].decode()
    assert FRONTEND not in state and hashlib.sha256(FRONTEND.encode()).hexdigest() not in state
    assert env.http("GET", "/metrics")[0] == 200 and env.http("GET", "/healthz")[0] == 200


def test_admin_endpoints_are_off_without_the_flag(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(two_pools(a, b), admin_key=None)
    status, raw, _ = env.http("GET", "/admin/state", admin=True)
    assert status == 404 and "--admin-key-file" in raw.decode()
    assert env.http("POST", "/admin/reload", b"", admin=True)[0] == 404


@pytest.mark.parametrize(
    ("entries", "needle"),
    [
        ("{name: a}", "expected a non-empty YAML list"),
        ("[]", "expected a non-empty YAML list"),
        ("[{name: a, sha256: abc}]", "[0].sha256"),
        ("[{name: a, sha256: " + "ab" * 32 + ", key: x}]", "[0].key"),
        ("[{name: a, sha256: " + "ab" * 32 + ", requests_per_s: 0}]", "[0].requests_per_s"),
        ("[{name: a, sha256: " + "ab" * 32 + ", workloads: [chta]}]", "did you mean 'chat'"),
        (
            "[{name: a, sha256: " + "ab" * 32 + "}, {name: a, sha256: " + "cd" * 32 + "}]",
            "duplicate key name 'a'",
        ),
        (
            "[{name: a, sha256: " + "A" * 64 + "}, {name: b, sha256: " + "a" * 64 + "}]",
            "one key, two names",
        ),
        ("[{name: a, sha256: [}", "not valid YAML"),
    ],
)
def test_bad_client_keys_files_name_the_file_and_field(
    tmp_path: Path, entries: str, needle: str
) -> None:
    f = tmp_path / "keys.yaml"
    f.write_text(entries)
    with pytest.raises(InputError) as exc:
        load_client_keys(f, ["chat", "code"])
    assert needle in str(exc.value) and str(f) in str(exc.value)


def test_bad_admin_key_files(tmp_path: Path) -> None:
    f = tmp_path / "admin.key"
    for text, needle in (("short", "at least 16"), ("has spaces in the key!", "cannot carry")):
        f.write_text(text)
        with pytest.raises(InputError, match=needle):
            load_admin_key(f)
    with pytest.raises(InputError, match="cannot read"):
        load_admin_key(tmp_path / "missing.key")


def test_a_broken_keys_file_on_reload_keeps_the_keys_in_force(env: Env) -> None:
    env.start(pools_with_code(env), client_keys=KEYS)
    (env.tmp / "client-keys.yaml").write_text("[{name: x, sha256: nothex}]")
    status, raw, _ = env.http("POST", "/admin/reload", b"", admin=True)
    assert status == 400 and "client-keys.yaml" in raw.decode() and "[0].sha256" in raw.decode()
    env.client(api_key=FRONTEND).chat.completions.create(model="chat", messages=MSG)
    with pytest.raises(openai.AuthenticationError):
        env.client(api_key="sk-x").chat.completions.create(model="chat", messages=MSG)


def test_service_tokens_are_client_keys_and_a_revocation_takes_effect(
    env: Env, tmp_path: Path
) -> None:
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("alembic")
    from chipfolio.interfaces.service.auth import create_token, revoke_token
    from chipfolio.interfaces.service.db import Database, migrate
    from chipfolio.interfaces.service.models import Role

    url = f"sqlite:///{tmp_path / 'service.db'}"
    db = Database(url)
    migrate(db)
    alice = create_token(db, "alice", Role.VIEWER, "test")
    bob = create_token(db, "bob", Role.PLANNER, "test")
    db.dispose()
    a, b = env.upstream("a"), env.upstream("b")
    pools = two_pools(a, b, client_keys_refresh_s=0.1)
    env.write(pools)
    config = load_config(env.tmp / "pools.yaml", env.tmp / "plan.json", client_keys_db=url)
    assert config.access.names() == {"alice", "bob"}
    assert url not in repr(config.access)

    async def boot() -> tuple[Any, int]:
        gw = Gateway(config)
        return gw, await gw.start("127.0.0.1", 0, health=False)

    env.gateway, env.port = env.lt.run(boot())
    for key in (alice, bob):
        env.client(api_key=key).chat.completions.create(model="chat", messages=MSG)
    revoke_token(Database(url), "bob", "test")
    deadline = time.monotonic() + 5
    while "bob" in env.lt.call(lambda: env.gateway.config.access.names()):  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the revocation never reached the gateway"
        time.sleep(0.05)
    with pytest.raises(openai.AuthenticationError):
        env.client(api_key=bob).chat.completions.create(model="chat", messages=MSG)
    env.client(api_key=alice).chat.completions.create(model="chat", messages=MSG)


def test_a_service_database_that_is_not_there_is_one_clear_error(env: Env, tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy")
    a, b = env.upstream("a"), env.upstream("b")
    env.write(two_pools(a, b))
    (tmp_path / "empty.db").write_bytes(b"")
    for url, needle in (
        (f"sqlite:///{tmp_path / 'missing.db'}", "no such database file"),
        (f"sqlite:///{tmp_path / 'empty.db'}", "no such table: api_tokens"),
        ("not a url", "expected a database URL"),
        ("postgresql://gw:s3cret-pw@127.0.0.1:1/chipfolio", "cannot read the service's tokens"),
    ):
        with pytest.raises(InputError) as exc:
            load_config(env.tmp / "pools.yaml", env.tmp / "plan.json", client_keys_db=url)
        assert needle in str(exc.value) and "--client-keys-db" in str(exc.value)
        assert "s3cret-pw" not in str(exc.value)
    assert not (tmp_path / "missing.db").exists()  # looking did not create it
