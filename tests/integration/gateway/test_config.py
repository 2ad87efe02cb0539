"""POOLS.yaml and plan JSON: one-line errors naming file and field, cross-checks with
"did you mean", hostile inputs; and the CLI's --check and error exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from gateway_harness import PLAN

from chipfolio.errors import InputError, SchemaError
from chipfolio.interfaces.cli.app import main
from chipfolio.interfaces.gateway.config import load_config

GOOD: dict[str, Any] = {
    "models": {"chat": "chat"},
    "pools": [
        {"name": "maia", "workload": "chat", "offer": "az-maia", "url": "http://10.0.0.1:8000/v1"},
        {"name": "trn2", "workload": "chat", "offer": "aws-trn2", "url": "http://10.0.0.2/v1/"},
    ],
}


def write(tmp: Path, pools: Any, plan: Any = None) -> tuple[Path, Path]:
    p = tmp / "pools.yaml"
    p.write_text(pools if isinstance(pools, str) else yaml.safe_dump(pools))
    q = tmp / "plan.json"
    q.write_text(plan if isinstance(plan, str) else json.dumps(PLAN if plan is None else plan))
    return p, q


def edit(**changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(GOOD))
    for path, value in changes.items():
        target = data
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        target[keys[-1]] = value
    return data


def test_good_file_gives_weights_and_settings(tmp_path: Path) -> None:
    cfg = load_config(*write(tmp_path, {**GOOD, "settings": {"first_token_timeout_s": 3}}))
    assert {pw.pool.name: pw.weight for pw in cfg.table.workloads["chat"]} == {
        "maia": 0.75,
        "trn2": 0.25,
    }
    assert cfg.settings.first_token_timeout_s == 3.0
    assert cfg.table.workloads["chat"][1].pool.url == "http://10.0.0.2/v1"  # slash trimmed


@pytest.mark.parametrize(
    ("data", "field", "needle"),
    [
        (edit(pools__0__url="ftp://x/v1"), "pools[0].url", "http:// or https:// URL"),
        (edit(pools__0__url="http://x:99999/v1"), "pools[0].url", "port"),
        (edit(pools__1__name=""), "pools[1].name", "at least 1"),
        (edit(pools__0__weight=3), "pools[0].weight", "Extra inputs"),
        (edit(models={}), "models", "at least 1"),
        (edit(pools=[]), "pools", "at least 1"),
        (
            edit(settings={"first_token_timeout_s": -1}),
            "settings.first_token_timeout_s",
            "greater than 0",
        ),
        (edit(settings={"max_attempts": "many"}), "settings.max_attempts", "integer"),
        (edit(settings={"bogus": 1}), "settings.bogus", "Extra inputs"),
        ({"pools": GOOD["pools"]}, "models", "Field required"),
    ],
)
def test_schema_errors_name_the_file_and_field(
    tmp_path: Path, data: dict[str, Any], field: str, needle: str
) -> None:
    with pytest.raises(SchemaError) as exc:
        load_config(*write(tmp_path, data))
    msg = str(exc.value)
    assert str(tmp_path / "pools.yaml") in msg and f"field '{field}'" in msg and needle in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("data", "field", "needle"),
    [
        (
            edit(pools__0__workload="chta"),
            "pools[0].workload",
            "unknown workload 'chta'; did you mean 'chat'",
        ),
        (
            edit(pools__1__offer="aws-trn"),
            "pools[1].offer",
            "unknown offer 'aws-trn'; did you mean 'aws-trn2'",
        ),
        (edit(models={"chat": "cod"}), "models.chat", "did you mean 'code'"),
        (edit(models={"chat": "chat", "c": "code"}), "models.c", "workload 'code' has no pool"),
        (edit(pools__1__name="maia"), "pools[1].name", "duplicate pool name 'maia'"),
    ],
)
def test_cross_checks_against_the_plan(
    tmp_path: Path, data: dict[str, Any], field: str, needle: str
) -> None:
    with pytest.raises(InputError) as exc:
        load_config(*write(tmp_path, data))
    assert f"field '{field}'" in str(exc.value) and needle in str(exc.value)


def test_an_offer_outside_the_plan_needs_fallback_true(tmp_path: Path) -> None:
    data = edit(pools__1__offer="lambda-h100")
    with pytest.raises(InputError, match="fallback: true"):
        load_config(*write(tmp_path, data))
    data["pools"][1]["fallback"] = True
    cfg = load_config(*write(tmp_path, data))
    assert {pw.pool.name: pw.weight for pw in cfg.table.workloads["chat"]} == {
        "maia": 1.0,
        "trn2": 0.0,
    }


@pytest.mark.parametrize(
    ("pools", "needle"),
    [
        ("models: {chat: chat\npools: [", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        ("", "expected a mapping"),
        ("models: " + "[" * 5000 + "]" * 5000, ""),
    ],
)
def test_hostile_pools_files(tmp_path: Path, pools: str, needle: str) -> None:
    with pytest.raises(InputError) as exc:
        load_config(*write(tmp_path, pools))
    assert needle in str(exc.value) and "pools.yaml" in str(exc.value)


@pytest.mark.parametrize(
    ("plan", "field", "needle"),
    [
        ("{broken", None, "not valid JSON"),
        ("[]", None, "expected a plan object"),
        ('{"allocations": 3}', "allocations", "list of allocations"),
        ('{"allocations": [5]}', "allocations[0]", "expected an object"),
        (
            '{"allocations": [{"workload": "chat", "offer": "x", "tokens_per_s": "fast"}]}',
            "allocations[0].tokens_per_s",
            "finite number",
        ),
        (
            '{"allocations": [{"workload": "chat", "offer": "x", "tokens_per_s": NaN}]}',
            "allocations[0].tokens_per_s",
            "finite number",
        ),
        (
            '{"allocations": [{"workload": "chat", "offer": "x", "tokens_per_s": -1}]}',
            "allocations[0].tokens_per_s",
            ">= 0",
        ),
        (
            '{"allocations": [{"workload": 3, "offer": "x"}]}',
            "allocations[0].workload",
            "string or null",
        ),
        ('{"allocations": [], "workloads": [7]}', "workloads[0]", "with a name"),
        ("[" * 100000 + "]" * 100000, None, "nested too deeply"),
    ],
)
def test_bad_plans_name_the_plan_file(
    tmp_path: Path, plan: str, field: str | None, needle: str
) -> None:
    with pytest.raises(InputError) as exc:
        load_config(*write(tmp_path, GOOD, plan))
    msg = str(exc.value)
    assert "plan.json" in msg and needle in msg
    if field:
        assert f"field '{field}'" in msg


def test_unreadable_inputs(tmp_path: Path) -> None:
    pools, plan = write(tmp_path, GOOD)
    with pytest.raises(InputError, match="cannot read plan JSON"):
        load_config(pools, tmp_path / "missing.json")
    with pytest.raises(InputError, match="is a directory"):
        load_config(tmp_path, plan)
    pools.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError, match="not UTF-8"):
        load_config(pools, plan)


def test_cli_check_prints_weights_and_bad_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pools, plan = write(tmp_path, GOOD)
    assert main(["gateway", "--plan", str(plan), "--pools", str(pools), "--check"]) == 0
    err = capsys.readouterr().err
    assert "maia" in err and "75.0%" in err and "25.0%" in err
    pools.write_text(yaml.safe_dump(edit(pools__0__offer="az-mai")))
    assert main(["gateway", "--plan", str(plan), "--pools", str(pools)]) == 2
    err = capsys.readouterr().err.strip()
    assert "did you mean 'az-maia'" in err and "Traceback" not in err
    assert main(["gateway", "--plan", str(plan), "--pools", str(pools), "--port", "70000"]) == 2


def test_cli_bad_key_files_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pools, plan = write(tmp_path, GOOD)
    keys = tmp_path / "keys.yaml"
    keys.write_text("[{name: a, sha256: nothex}]")
    base = ["gateway", "--plan", str(plan), "--pools", str(pools), "--check"]
    assert main([*base, "--client-keys", str(keys)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(keys) in err and "[0].sha256" in err and "Traceback" not in err
    admin = tmp_path / "admin.key"
    admin.write_text("short\n")
    assert main([*base, "--admin-key-file", str(admin)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(admin) in err and "at least 16" in err and "Traceback" not in err


def test_the_vendor_example_validates_with_its_keys_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    example = Path(__file__).resolve().parents[3] / "examples" / "pools-vendors.yaml"
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "allocations": [
                    {"workload": "chat", "offer": "az-maia", "tokens_per_s": 403200.0},
                    {"workload": "chat", "offer": "aws-trn2", "tokens_per_s": 336000.0},
                ],
                "workloads": [{"name": "chat"}],
            }
        )
    )
    monkeypatch.delenv("AZURE_MAIA_KEY", raising=False)
    with pytest.raises(InputError, match="AZURE_MAIA_KEY is not set"):
        load_config(example, plan)
    monkeypatch.setenv("AZURE_MAIA_KEY", "k-azure")
    monkeypatch.setenv("TRN2_KEY", "k-trn2")
    cfg = load_config(example, plan)
    maia, trn2 = cfg.transports["maia-eastus"], cfg.transports["trn2-use1"]
    assert maia.trust == "system" and maia.port == 443 and maia.base_path == b"/openai"
    assert (
        maia.credential == b"\r\napi-key: k-azure"
        and maia.credential_source == "env:AZURE_MAIA_KEY"
    )
    assert trn2.credential == b"\r\nauthorization: Bearer k-trn2" and trn2.port == 8443
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["gateway", "--plan", str(plan), "--pools", str(example), "--check"]) == 0
    err = capsys.readouterr().err
    assert "env:AZURE_MAIA_KEY" in err and "system" in err and "54.5%" in err
    assert "k-azure" not in err and "k-trn2" not in err
