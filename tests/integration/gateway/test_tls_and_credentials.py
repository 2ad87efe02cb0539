"""Real TLS upstreams (a CA made in the test) and per-pool credentials: verification on by
default, a CA file per pool, SNI, an explicit unverified switch that warns, keys from the
environment or a file that go only to their pool and never into state, metrics or logs."""

from __future__ import annotations

import json
import logging
import socket
import urllib.request
from pathlib import Path
from typing import Any

import openai
import pytest
from gateway_harness import Env
from tls_certs import LoopbackCA

from chipfolio.errors import InputError
from chipfolio.interfaces.gateway.config import load_config

MSG = [{"role": "user", "content": "hi"}]
SECRET = "sk-pool-secret-4f9a1c"


@pytest.fixture
def ca(tmp_path: Path) -> LoopbackCA:
    return LoopbackCA.create(tmp_path / "ca")


def one_pool(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "models": {"chat": "chat"},
        "pools": [{"name": "maia", "workload": "chat", "offer": "az-maia", "url": url, **extra}],
    }


def with_spare(url: str, spare_url: str, **extra: Any) -> dict[str, Any]:
    pools = one_pool(url, **extra)
    pools["pools"].append(
        {
            "name": "spare",
            "workload": "chat",
            "offer": "gcp-tpu",
            "url": spare_url,
            "fallback": True,
        }
    )
    return pools


def served_by(env: Env, stream: bool = False) -> str:
    raw = env.client().chat.completions.with_raw_response.create(
        model="chat", messages=MSG, stream=stream
    )
    raw.parse()
    return str(raw.headers["x-chipfolio-pool"])


def test_https_pool_with_its_ca_file_serves_streams_and_keeps_connections(
    env: Env, ca: LoopbackCA
) -> None:
    a = env.upstream("a", tls=ca.server_context(["127.0.0.1"]))
    assert a.url.startswith("https://127.0.0.1:")
    gw = env.start(one_pool(a.url, ca_file=str(ca.ca_file)))
    c = env.client()
    for _ in range(5):
        assert c.chat.completions.create(model="chat", messages=MSG).choices[0].message.content
    chunks = list(c.chat.completions.create(model="chat", messages=MSG, stream=True))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == "tok0 tok1 tok2 tok3 "
    assert a.completions == 6
    opened = env.lt.call(lambda: sum(u.opened for u in gw._upstreams.values()))
    assert opened == 1  # one TLS handshake, then keep-alive


def test_sni_carries_the_host_name(env: Env, ca: LoopbackCA) -> None:
    seen: list[str | None] = []
    a = env.upstream("a", tls=ca.server_context(["localhost"], sni_seen=seen))
    env.start(one_pool(f"https://localhost:{a.port}/v1", ca_file=str(ca.ca_file)))
    assert served_by(env) == "maia"
    assert seen == ["localhost"]


def test_verification_is_on_by_default_against_the_system_trust(env: Env, ca: LoopbackCA) -> None:
    a = env.upstream("a", tls=ca.server_context(["127.0.0.1"]))
    spare = env.upstream("spare")
    env.start(with_spare(a.url, spare.url))  # no ca_file: the test CA is not trusted
    assert served_by(env) == "spare"
    assert a.completions == 0
    p = env.pool_state("maia")
    assert p["failures"]["connect"] == 1
    assert "CERTIFICATE_VERIFY_FAILED" in p["last_error"]
    assert p["tls"] == "system"


def test_a_certificate_for_another_name_is_refused(env: Env, ca: LoopbackCA) -> None:
    a = env.upstream("a", tls=ca.server_context(["pool.example"]))
    spare = env.upstream("spare")
    env.start(with_spare(a.url, spare.url, ca_file=str(ca.ca_file)))
    assert served_by(env) == "spare" and a.completions == 0
    assert "CERTIFICATE_VERIFY_FAILED" in env.pool_state("maia")["last_error"]


def test_a_certificate_from_another_ca_is_refused(env: Env, ca: LoopbackCA, tmp_path: Path) -> None:
    other = LoopbackCA.create(tmp_path / "other", cn="someone else")
    a = env.upstream("a", tls=other.server_context(["127.0.0.1"]))
    spare = env.upstream("spare")
    env.start(with_spare(a.url, spare.url, ca_file=str(ca.ca_file)))
    assert served_by(env, stream=True) == "spare" and a.completions == 0


def test_tls_verify_false_connects_and_logs_a_warning(
    env: Env, ca: LoopbackCA, caplog: pytest.LogCaptureFixture
) -> None:
    a = env.upstream("a", tls=ca.server_context(["pool.example"]))
    with caplog.at_level(logging.WARNING, logger="chipfolio.gateway"):
        env.start(one_pool(a.url, tls_verify=False))
    assert served_by(env) == "maia"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("'maia'" in w and "NOT checked" in w for w in warnings), warnings
    assert env.pool_state("maia")["tls"] == "unverified"


def test_plain_http_pool_refuses_tls_settings(env: Env, tmp_path: Path, ca: LoopbackCA) -> None:
    for extra, needle in (
        ({"ca_file": str(ca.ca_file)}, "ca_file needs an https:// url"),
        ({"tls_verify": False}, "tls_verify needs an https:// url"),
    ):
        env.write(one_pool("http://127.0.0.1:9/v1", **extra))
        with pytest.raises(InputError, match=needle):
            load_config(tmp_path / "pools.yaml", tmp_path / "plan.json")


def test_bad_ca_files_name_the_field(env: Env, tmp_path: Path) -> None:
    (tmp_path / "junk.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    for ca_file, needle in (("missing.pem", "no such file"), ("junk.pem", "not a PEM bundle")):
        env.write(one_pool("https://127.0.0.1:9/v1", ca_file=ca_file))
        with pytest.raises(InputError) as exc:
            load_config(tmp_path / "pools.yaml", tmp_path / "plan.json")
        assert needle in str(exc.value) and "pools[0].ca_file" in str(exc.value)


def test_url_with_credentials_is_refused(env: Env, tmp_path: Path) -> None:
    env.write(one_pool("https://user:pw@127.0.0.1:9/v1"))
    with pytest.raises(InputError) as exc:
        load_config(tmp_path / "pools.yaml", tmp_path / "plan.json")
    assert "must not carry credentials" in str(exc.value) and "pw" not in str(exc.value)


# --- credentials ---------------------------------------------------------------------------


def test_bearer_key_from_env_replaces_the_clients_authorization(
    env: Env, ca: LoopbackCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAIA_KEY", SECRET)
    a = env.upstream("a", tls=ca.server_context(["127.0.0.1"]))
    env.start(one_pool(a.url, ca_file=str(ca.ca_file), api_key_env="MAIA_KEY"))
    assert served_by(env) == "maia"
    assert a.last_request is not None
    assert a.last_request.headers[b"authorization"] == f"Bearer {SECRET}".encode()


def test_api_key_header_sends_the_key_as_is_and_no_authorization(env: Env, tmp_path: Path) -> None:
    (tmp_path / "azure.key").write_text(SECRET + "\n")
    a = env.upstream("a")
    env.start(one_pool(a.url, api_key_file="azure.key", api_key_header="api-key"))
    assert served_by(env, stream=True) == "maia"
    assert a.last_request is not None
    headers = a.last_request.headers
    assert headers[b"api-key"] == SECRET.encode() and b"authorization" not in headers


def test_health_checks_carry_the_pools_key(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIA_KEY", SECRET)
    a = env.upstream("a")
    gw = env.start(one_pool(a.url, api_key_env="MAIA_KEY"))
    assert env.lt.run(gw.check_pool("maia")) is True
    assert a.last_models_request is not None
    assert a.last_models_request.headers[b"authorization"] == f"Bearer {SECRET}".encode()


def test_secrets_never_appear_in_state_metrics_logs_or_repr(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setenv("MAIA_KEY", SECRET)
    a = env.upstream("a")
    with caplog.at_level(logging.DEBUG):
        gw = env.start(one_pool(a.url, api_key_env="MAIA_KEY"))
        assert served_by(env) == "maia"
        a.set_fault("error500", count=2)
        for _ in range(2):
            with pytest.raises(openai.InternalServerError) as exc:
                env.client().chat.completions.create(model="chat", messages=MSG)
            assert SECRET not in str(exc.value)
    state = json.dumps(env.state())
    metrics = env.lt.call(gw.metrics)
    assert SECRET not in state and SECRET not in metrics
    assert SECRET not in caplog.text
    assert SECRET not in repr(gw.config) and SECRET not in repr(gw._targets)
    assert env.pool_state("maia")["credential"] == "env:MAIA_KEY"


def test_missing_or_unusable_keys_are_named_not_echoed(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    env.write(one_pool("http://127.0.0.1:9/v1", api_key_env="NO_SUCH_KEY"))
    with pytest.raises(InputError) as exc:
        load_config(tmp_path / "pools.yaml", tmp_path / "plan.json")
    assert "NO_SUCH_KEY is not set" in str(exc.value) and "pools[0].api_key_env" in str(exc.value)
    monkeypatch.setenv("BAD_KEY", "sk-line\r\nx-evil: 1")
    env.write(one_pool("http://127.0.0.1:9/v1", api_key_env="BAD_KEY"))
    with pytest.raises(InputError) as exc:
        load_config(tmp_path / "pools.yaml", tmp_path / "plan.json")
    assert "cannot carry" in str(exc.value) and "sk-line" not in str(exc.value)
    for extra, needle in (
        ({"api_key_env": "A", "api_key_file": "k"}, "not both"),
        ({"api_key_header": "api-key"}, "needs api_key_env or api_key_file"),
        ({"api_key_env": "A", "api_key_header": "Host"}, "sets itself"),
        ({"api_key_env": "A", "api_key_header": "bad header"}, "api_key_header"),
    ):
        env.write(one_pool("http://127.0.0.1:9/v1", **extra))
        with pytest.raises(InputError, match=needle):
            load_config(tmp_path / "pools.yaml", tmp_path / "plan.json")


def test_client_authorization_still_reaches_pools_without_their_own_key(env: Env) -> None:
    a = env.upstream("a")
    env.start(one_pool(a.url))
    req = urllib.request.Request(
        f"{env.base_url}/chat/completions",
        data=b'{"model":"chat","messages":[]}',
        headers={"Authorization": "Bearer sk-client"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    assert a.last_request is not None
    assert a.last_request.headers[b"authorization"] == b"Bearer sk-client"


def test_an_ipv6_loopback_pool_gets_a_bracketed_host_header(env: Env) -> None:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    a = env.upstream("a", host="::1")
    assert a.url.startswith("http://[::1]:")
    env.start(one_pool(a.url))
    assert served_by(env) == "maia"
    assert a.last_request is not None
    assert a.last_request.headers[b"host"] == f"[::1]:{a.port}".encode()
