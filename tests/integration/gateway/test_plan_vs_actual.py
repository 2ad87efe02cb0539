"""Plan against actual: tokens counted from the answers' usage (non-streaming, and streams
with stream_options.include_usage), served shares against the plan's, the departure priced
at the plan's prices; in /admin/state, /metrics and `chipfolio gateway report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gateway_harness import ADMIN_KEY, PLAN, Env, two_pools

from chipfolio.interfaces.cli.app import main

MSG = [{"role": "user", "content": "hi"}]
PRICED: dict[str, Any] = json.loads(json.dumps(PLAN))
for _a, _vendor in zip(PRICED["allocations"], ("microsoft", "aws", "aws", "google"), strict=True):
    _a["vendor"] = _vendor
    _a["to_hour"] = 10
    _a["cost_usd"] = 30.0
MAIA = 30.0 / (3000 * 36000)  # $ per output token at the plan's prices
TRN2 = 30.0 / (1000 * 36000)


def traffic(env: Env) -> None:
    """4 answers with usage, then (trn2 down) 4 more on maia and 2 streams without usage."""
    c = env.client()
    for i in range(4):
        if i % 2:
            list(
                c.chat.completions.create(
                    model="chat",
                    messages=MSG,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            )
        else:
            c.chat.completions.create(model="chat", messages=MSG)
    env.lt.run(env.upstreams["b"].kill())
    for _ in range(4):
        c.completions.create(model="chat", prompt="x")
    for _ in range(2):
        list(c.chat.completions.create(model="chat", messages=MSG, stream=True))


def test_usage_is_counted_and_the_departure_priced(env: Env) -> None:
    a, b = env.upstream("a"), env.upstream("b")
    env.start(two_pools(a, b), plan=PRICED)
    traffic(env)
    state = env.state()
    usage = {p["name"]: p["usage"] for p in state["workloads"]["chat"]}
    # 3 + 4 answers with usage on maia, 1 on trn2 (3:1 before the kill); 2 streams unmetered
    assert usage["maia"]["completion_tokens"] == 7 * 4 and usage["maia"]["prompt_tokens"] == 7
    assert usage["trn2"]["completion_tokens"] == 4 and usage["trn2"]["metered_answers"] == 1
    assert usage["maia"]["unmetered_answers"] == 2
    chat = state["plan_vs_actual"]["workloads"]["chat"]
    rows = {r["pool"]: r for r in chat["pools"]}
    assert rows["maia"]["served_share"] == pytest.approx(28 / 32)
    assert rows["maia"]["departure"] == pytest.approx(28 / 32 - 0.75, abs=1e-6)
    assert rows["trn2"]["vendor"] == "aws"
    assert rows["maia"]["usd_per_million_tokens"] == pytest.approx(MAIA * 1e6, abs=1e-6)
    assert chat["cost_usd"] == pytest.approx(28 * MAIA + 4 * TRN2, abs=1e-6)
    assert chat["cost_as_planned_usd"] == pytest.approx(32 * (0.75 * MAIA + 0.25 * TRN2), abs=1e-6)
    assert chat["departure_cost_usd"] < 0  # more went to the cheaper pool
    vendors = state["plan_vs_actual"]["vendors"]
    assert vendors["microsoft"]["planned_tokens_per_s"] == 3000.0
    metrics = env.lt.call(env.gateway.metrics)  # type: ignore[union-attr]
    assert (
        'chipfolio_gateway_pool_completion_tokens_total{workload="chat",pool="maia"} 28' in metrics
    )
    assert (
        'chipfolio_gateway_pool_unmetered_answers_total{workload="chat",pool="maia"} 2' in metrics
    )
    assert 'chipfolio_gateway_vendor_planned_tokens_per_s{vendor="aws"} 1000' in metrics
    assert 'chipfolio_gateway_vendor_served_tokens_per_s{vendor="microsoft"}' in metrics
    assert 'chipfolio_gateway_workload_departure_cost_usd{workload="chat"} -' in metrics
    for line in metrics.splitlines():
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


def test_gateway_report_from_a_file_and_from_the_url(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    a, b = env.upstream("a"), env.upstream("b")
    env.start(two_pools(a, b), plan=PRICED)
    traffic(env)
    status, raw, _ = env.http("GET", "/admin/state", admin=True)
    assert status == 200
    saved = tmp_path / "state.json"
    saved.write_bytes(raw)
    assert main(["gateway", "report", "--state", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "chat: plan against actual" in out and "+12.5 pp" in out and "-12.5 pp" in out
    assert "departure -$" in out and "2 of 10 answers (20.0%) carried no usage" in out
    assert main(["gateway", "report", "--state", str(saved), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["workloads"]["chat"]["served_tokens"] == 32
    key = tmp_path / "admin.key"
    key.write_text(ADMIN_KEY)
    url = f"http://127.0.0.1:{env.port}"
    assert main(["gateway", "report", "--url", url, "--admin-key-file", str(key)]) == 0
    assert "+12.5 pp" in capsys.readouterr().out


def test_report_input_errors_are_one_line_exit_2(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "state.json"
    for text, needle in (("{oops", "not valid JSON"), ('{"workloads": {}}', "plan_vs_actual")):
        bad.write_text(text)
        assert main(["gateway", "report", "--state", str(bad)]) == 2
        err = capsys.readouterr().err
        assert needle in err and str(bad) in err and "Traceback" not in err
    assert main(["gateway", "report"]) == 2
    assert "exactly one of --state" in capsys.readouterr().err
    a, b = env.upstream("a"), env.upstream("b")
    env.start(two_pools(a, b))
    wrong = tmp_path / "wrong.key"
    wrong.write_text("not-the-admin-key-at-all")
    url = f"http://127.0.0.1:{env.port}"
    assert main(["gateway", "report", "--url", url, "--admin-key-file", str(wrong)]) == 2
    assert "answered 401" in capsys.readouterr().err
    assert main(["gateway", "--pools", str(bad)]) == 2
    assert "--plan" in capsys.readouterr().err
