"""The /api/v1 API on SQLite and on PostgreSQL: auth, portfolios, plans, jobs, catalog."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from service_fixtures import MINIMAL, Api

from chipfolio.interfaces.cli.app import main

MINIMAL_TEXT = MINIMAL.read_text()
INFEASIBLE = MINIMAL_TEXT.replace("capacity_chips: 4096", "capacity_chips: 4").replace(
    "capacity_chips: 2048", "capacity_chips: 4"
)


def _wait_done(api: Api, path: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record: dict[str, Any] = api.get(path).json()
        if record["status"] in ("succeeded", "failed"):
            return record
        time.sleep(0.05)
    raise AssertionError(f"{path} did not finish")


def _without_timings(plan: dict[str, Any]) -> dict[str, Any]:
    solver = {k: v for k, v in plan["solver"].items() if k not in ("seconds", "build_seconds")}
    return {**plan, "solver": solver}


# -- authentication and roles ------------------------------------------------------------------


def test_missing_or_wrong_token_is_401(api: Api) -> None:
    r = api.client.get("/api/v1/portfolios")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    bad = {"Authorization": "Bearer not-a-real-token-at-all"}
    assert api.client.get("/api/v1/portfolios", headers=bad).status_code == 401
    basic = {"Authorization": "Basic eDp5"}
    assert api.client.get("/api/v1/chips", headers=basic).status_code == 401
    huge = {"Authorization": "Bearer " + "a" * 5000}
    assert api.client.get("/api/v1/chips", headers=huge).status_code == 401


def test_roles_limit_what_a_token_may_do(api: Api) -> None:
    assert api.post("/api/v1/portfolios", {"portfolio": MINIMAL_TEXT}, "viewer").status_code == 403
    assert api.post("/api/v1/plans", {"portfolio_id": 1}, "viewer").status_code == 403
    assert api.get("/api/v1/audit", "planner").status_code == 403
    assert api.post("/api/v1/tokens", {"name": "x"}, "planner").status_code == 403
    assert api.get("/api/v1/whoami", "planner").json() == {"name": "planner-bot", "role": "planner"}
    assert api.get("/api/v1/audit", "admin").status_code == 200


def test_a_revoked_token_is_refused(api: Api) -> None:
    made = api.post("/api/v1/tokens", {"name": "short-lived", "role": "viewer"}, "admin").json()
    temp = {"Authorization": f"Bearer {made['token']}"}
    assert api.client.get("/api/v1/whoami", headers=temp).status_code == 200

    def delete(name: str, role: str) -> int:
        return api.client.delete(f"/api/v1/tokens/{name}", headers=api.headers(role)).status_code

    assert delete("short-lived", "planner") == 403
    assert delete("short-lived", "admin") == 204
    assert api.client.get("/api/v1/whoami", headers=temp).status_code == 401
    assert delete("nobody", "admin") == 404
    assert delete("admin", "admin") == 409
    listed = {t["name"]: t["revoked"] for t in api.get("/api/v1/tokens", "admin").json()["items"]}
    assert listed["short-lived"] is True


def test_tokens_are_stored_hashed(api: Api) -> None:
    from sqlalchemy import select

    from chipfolio.interfaces.service.auth import token_hash
    from chipfolio.interfaces.service.models import ApiToken

    db = api.client.app.state.service.db  # type: ignore[attr-defined]
    with db.read() as session:
        stored = {row.name: row.token_sha256 for row in session.scalars(select(ApiToken))}
    assert stored["planner-bot"] == token_hash(api.tokens["planner"])
    assert api.tokens["planner"] not in stored.values()
    listed = api.get("/api/v1/tokens", "admin").json()["items"]
    assert {"planner-bot", "viewer-bot"} <= {t["name"] for t in listed}
    assert all("token" not in t and "token_sha256" not in t for t in listed)


# -- portfolios --------------------------------------------------------------------------------


def test_portfolio_versions_are_immutable_and_numbered(api: Api) -> None:
    name = "versioned-lab"
    first = api.post("/api/v1/portfolios", {"name": name, "portfolio": MINIMAL_TEXT})
    assert first.status_code == 201, first.text
    pid = first.json()["portfolio"]["id"]
    again = api.post("/api/v1/portfolios", {"name": name, "portfolio": MINIMAL_TEXT})
    assert again.status_code == 200 and again.json()["created"] is False
    changed = MINIMAL_TEXT.replace("max_share: 0.5", "max_share: 0.6")
    second = api.post("/api/v1/portfolios", {"name": name, "portfolio": changed})
    assert second.status_code == 201 and second.json()["version"]["version"] == 2
    versions = api.get(f"/api/v1/portfolios/{pid}/versions").json()["items"]
    assert [v["version"] for v in versions] == [1, 2]
    assert api.get(f"/api/v1/portfolios/{pid}/versions/1").json()["text"] == MINIMAL_TEXT
    listed = api.get("/api/v1/portfolios").json()
    assert any(p["name"] == name and p["latest_version"] == 2 for p in listed["items"])
    assert api.get("/api/v1/portfolios/999999/versions").status_code == 404


def test_portfolio_as_a_json_object(api: Api) -> None:
    import yaml

    data = yaml.safe_load(MINIMAL_TEXT)
    r = api.post("/api/v1/portfolios", {"name": "as-json", "portfolio": data})
    assert r.status_code == 201, r.text
    assert r.json()["version"]["format"] == "json"


def test_concurrent_versions_of_one_portfolio_are_numbered_without_gaps(api: Api) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def post(i: int) -> int:
        text = MINIMAL_TEXT.replace("demand_tokens_per_s: 500000", f"demand_tokens_per_s: {i + 1}")
        r = api.post("/api/v1/portfolios", {"name": "raced", "portfolio": text})
        assert r.status_code == 201, r.text
        return int(r.json()["version"]["version"])

    with ThreadPoolExecutor(8) as pool:
        versions = sorted(pool.map(post, range(16)))
    assert versions == list(range(1, 17))


def test_portfolio_as_a_yaml_body(api: Api) -> None:
    headers = {**api.headers("planner"), "Content-Type": "application/yaml"}
    r = api.client.post("/api/v1/portfolios?name=raw-yaml", content=MINIMAL_TEXT, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["portfolio"]["name"] == "raw-yaml"
    assert r.json()["version"]["format"] == "yaml"
    bad = api.client.post("/api/v1/portfolios", content=b"\xff\xfe", headers=headers)
    assert bad.status_code == 422 and "UTF-8" in bad.json()["detail"][0]["msg"]
    json_headers = {**api.headers("planner"), "Content-Type": "application/json"}
    junk = api.client.post("/api/v1/portfolios", content=b"{nope", headers=json_headers)
    assert junk.status_code == 422 and "invalid JSON" in junk.json()["detail"][0]["msg"]
    extra = api.post("/api/v1/portfolios", {"portfolio": MINIMAL_TEXT, "owner": "x"})
    assert extra.status_code == 422 and extra.json()["detail"][0]["loc"] == ["body", "owner"]


def test_invalid_portfolio_is_422_naming_each_bad_field(api: Api) -> None:
    text = MINIMAL_TEXT.replace("horizon_hours: 730", "horizon_hours: -5").replace(
        "min_vendors: 2", "min_vendors: zero"
    )
    r = api.post("/api/v1/portfolios", {"portfolio": text})
    assert r.status_code == 422
    detail = r.json()["detail"]
    fields = {d["field"] for d in detail}
    assert fields == {"horizon_hours", "policy.min_vendors"}
    assert all(d["loc"][:2] == ["body", "portfolio"] and d["line"] for d in detail)
    bad_chip = api.post(
        "/api/v1/plans", {"portfolio": MINIMAL_TEXT.replace("{maia-200: 900", "{maia-2000: 900")}
    )
    assert bad_chip.status_code == 422
    assert bad_chip.json()["detail"][0]["field"] == "workloads[0].throughput.maia-2000"


@pytest.mark.parametrize(
    "hostile",
    [
        "a: &a [*a, *a]",
        "!!python/object/apply:os.system ['echo pwned']",
        "- just\n- a list",
        "",
        "x" * 100,
        "{" * 500,
    ],
)
def test_hostile_yaml_is_422(api: Api, hostile: str) -> None:
    r = api.post("/api/v1/portfolios", {"portfolio": hostile})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["msg"]


def test_trace_files_stay_inside_the_data_directory(api: Api) -> None:
    workload = (
        "workloads:\n  - {name: chat, kind: inference, throughput: {h100: 100},\n"
        "     trace: {file: %s}}\n"
    )
    for path in ("/etc/passwd", "../../etc/passwd", "sub/../../x.csv"):
        r = api.post("/api/v1/portfolios", {"portfolio": "catalog: none\n" + workload % path})
        assert r.status_code == 422, path
        assert r.json()["detail"][0]["field"] == "workloads[0].trace.file"


def test_body_size_limit_and_no_cors(api: Api) -> None:
    big = {"portfolio": "# " + "x" * (300 * 1024)}
    assert api.post("/api/v1/portfolios", big).status_code == 413
    chunks = iter([b'{"portfolio": "', b"x" * 200_000, b"y" * 200_000, b'"}'])  # no length
    headers = {**api.headers("planner"), "Content-Type": "application/json"}
    streamed = api.client.post("/api/v1/portfolios", content=chunks, headers=headers)
    assert streamed.status_code == 413
    preflight = api.client.options(
        "/api/v1/plans",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    r = api.get("/api/v1/chips")
    assert "access-control-allow-origin" not in r.headers
    assert r.headers["x-content-type-options"] == "nosniff"


# -- plans -------------------------------------------------------------------------------------


def test_plan_json_is_what_the_cli_writes(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = api.post("/api/v1/plans?wait_s=30", {"portfolio": MINIMAL_TEXT})
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["location"] == f"/api/v1/plans/{created['id']}"
    record = _wait_done(api, f"/api/v1/plans/{created['id']}/status")
    assert record["status"] == "succeeded"
    assert record["catalog_snapshot"] == "none" and record["solver"] == "highs"
    served = api.get(f"/api/v1/plans/{created['id']}")
    assert served.status_code == 200
    out = tmp_path / "plan.json"
    assert main(["plan", str(MINIMAL), "--json", str(out)]) == 0
    capsys.readouterr()
    assert _without_timings(served.json()) == _without_timings(json.loads(out.read_text()))


def test_plan_of_a_stored_version_and_listing(api: Api) -> None:
    stored = api.post("/api/v1/portfolios", {"name": "by-id", "portfolio": MINIMAL_TEXT}).json()
    pid = stored["portfolio"]["id"]
    r = api.post("/api/v1/plans", {"portfolio_id": pid, "version": 1, "gap": 0.01})
    assert r.status_code == 201
    record = _wait_done(api, f"/api/v1/plans/{r.json()['id']}/status")
    assert record["portfolio_id"] == pid and record["portfolio_version"] == 1
    assert record["options"] == {"time_limit_s": 60.0, "gap": 0.01}
    listed = api.get(f"/api/v1/plans?portfolio_id={pid}").json()
    assert [p["id"] for p in listed["items"]] == [r.json()["id"]]
    assert api.post("/api/v1/plans", {"portfolio_id": pid, "version": 9}).status_code == 404
    both = {"portfolio_id": pid, "portfolio": MINIMAL_TEXT}
    assert api.post("/api/v1/plans", both).status_code == 422
    assert api.get("/api/v1/plans/2147483647").status_code == 404
    assert api.get("/api/v1/plans/99999999999999").status_code == 422


def test_infeasible_plan_fails_with_its_reasons(api: Api) -> None:
    r = api.post("/api/v1/plans?wait_s=30", {"portfolio": INFEASIBLE})
    assert r.status_code == 201
    record = _wait_done(api, f"/api/v1/plans/{r.json()['id']}/status")
    assert record["status"] == "failed" and record["error"]
    got = api.get(f"/api/v1/plans/{r.json()['id']}")
    assert got.status_code == 409
    assert got.json()["error"] == record["error"]


# -- leverage, simulations ---------------------------------------------------------------------


def test_leverage_analysis_runs_in_the_background(api: Api) -> None:
    r = api.post("/api/v1/leverage", {"portfolio": MINIMAL_TEXT, "time_limit_s": 20})
    assert r.status_code == 201
    record = _wait_done(api, f"/api/v1/leverage/{r.json()['id']}", timeout_s=120)
    assert record["status"] == "succeeded", record["error"]
    vendors = {v["vendor"] for v in record["result"]["vendors"]}
    assert vendors == {"azure", "aws"}


def test_simulation_reports_progress_and_result(api: Api) -> None:
    body = {"portfolio": MINIMAL_TEXT, "scenarios": 6, "seed": 3, "strategies": "cheapest,n1"}
    r = api.post("/api/v1/simulations", body)
    assert r.status_code == 201
    assert r.json()["progress"]["total"] == 6
    record = _wait_done(api, f"/api/v1/simulations/{r.json()['id']}", timeout_s=120)
    assert record["status"] == "succeeded", record["error"]
    assert record["progress"] == {"done": 6, "total": 6}
    assert set(record["result"]["strategies"]) == {"cheapest", "n1"}
    assert record["result"]["scenarios"] == 6
    bad = api.post("/api/v1/simulations", {**body, "strategies": "cheapest,yolo"})
    assert bad.status_code == 422
    assert api.post("/api/v1/simulations", {**body, "scenarios": 10**6}).status_code == 422


# -- catalog and chips -------------------------------------------------------------------------


def test_catalog_offers_filter_and_paginate(api: Api) -> None:
    page = api.get("/api/v1/catalog/offers?chip=h100&limit=3").json()
    assert page["total"] > 3 and len(page["items"]) == 3
    assert {o["chip"] for o in page["items"]} == {"h100-sxm"}
    prices = [o["usd_per_chip_hour"] for o in page["items"]]
    assert prices == sorted(prices)
    nxt = api.get("/api/v1/catalog/offers?chip=h100&limit=3&offset=3").json()
    assert not {o["id"] for o in nxt["items"]} & {o["id"] for o in page["items"]}
    spot = api.get("/api/v1/catalog/offers?pricing=spot&limit=500").json()["items"]
    assert spot and all(o["pricing"] == "spot" for o in spot)
    unknown = api.get("/api/v1/catalog/offers?chip=h1000")
    assert unknown.status_code == 422 and "h1000" in unknown.json()["detail"][0]["msg"]
    assert api.get("/api/v1/catalog/offers?snapshot=../../etc").status_code == 422
    snaps = api.get("/api/v1/catalog/snapshots").json()["items"]
    assert snaps and snaps[0]["bundled"]


def test_snapshots_are_kept_in_the_database(api: Api) -> None:
    from chipfolio.catalog import load_catalog
    from chipfolio.interfaces.service.store import record_snapshot, stored_catalog

    db = api.client.app.state.service.db  # type: ignore[attr-defined]
    bundled = load_catalog()
    with db.read() as session:  # the bundled snapshot was stored at start-up
        kept = stored_catalog(session, bundled.snapshot_id)
    assert kept is not None and kept.offers == bundled.offers
    only_here = type(bundled)("kept-only-in-db", bundled.offers[:7])
    info = {"created": "2026-01-01", "sources": ["test"], "bundled": False}
    with db.write() as session:
        record_snapshot(session, only_here, info)
    page = api.get("/api/v1/catalog/offers?snapshot=kept-only-in-db&limit=500").json()
    assert page["snapshot"] == "kept-only-in-db" and page["total"] == 7
    listed = api.get("/api/v1/catalog/snapshots").json()["items"]
    assert {"id": "kept-only-in-db", "location": "database:kept-only-in-db"}.items() <= next(
        s for s in listed if s["id"] == "kept-only-in-db"
    ).items()


def test_a_plan_on_a_user_snapshot_keeps_it_in_the_database(api: Api) -> None:
    from datetime import date

    from chipfolio.catalog import load_catalog
    from chipfolio.catalog.snapshots import write_snapshot
    from chipfolio.catalog.sources.report import ImportReport
    from chipfolio.interfaces.service.store import stored_catalog

    state = api.client.app.state.service  # type: ignore[attr-defined]
    offers = load_catalog().offers[:5]
    info = write_snapshot(
        offers, ImportReport(), state.config.catalog_home, sources=[], created=date(2026, 2, 3)
    )
    with state.db.read() as session:
        assert stored_catalog(session, info.id) is None
    text = MINIMAL_TEXT.replace("catalog: none", f"catalog: {info.id}")
    r = api.post("/api/v1/plans?wait_s=30", {"name": "on-user-snapshot", "portfolio": text})
    record = _wait_done(api, f"/api/v1/plans/{r.json()['id']}/status")
    assert record["status"] == "succeeded", record["error"]
    assert record["catalog_snapshot"] == info.id
    with state.db.read() as session:
        kept = stored_catalog(session, info.id)
    assert kept is not None and [o.id for o in kept.offers] == [o.id for o in offers]


def test_chips(api: Api) -> None:
    chips = api.get("/api/v1/chips").json()["items"]
    assert {"h100-sxm", "tpu-v6e", "trainium2", "maia-200", "mi300x"} <= {c["id"] for c in chips}
    amd = api.get("/api/v1/chips?vendor=amd").json()["items"]
    assert amd and all(c["vendor"] == "amd" for c in amd)
    assert api.get("/api/v1/chips/H100").json()["id"] == "h100-sxm"
    assert api.get("/api/v1/chips/nope").status_code == 404


# -- operations --------------------------------------------------------------------------------


def test_health_readiness_metrics_and_openapi(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    text = api.client.get("/metrics").text
    for name in ("chipfolio_plans_solved_total", "chipfolio_plan_solve_seconds", "chipfolio_jobs"):
        assert name in text
    schema = api.client.get("/openapi.json").json()
    assert "/api/v1/plans/{plan_id}" in schema["paths"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_every_write_is_in_the_audit_log_with_its_token_name(api: Api) -> None:
    r = api.post("/api/v1/portfolios", {"name": "audited", "portfolio": MINIMAL_TEXT})
    pid = r.json()["portfolio"]["id"]
    plan = api.post("/api/v1/plans", {"portfolio_id": pid}).json()
    log = api.get("/api/v1/audit?limit=1000", "admin").json()["items"]
    mine = {(e["action"], e["target"]): e["token_name"] for e in log}
    assert mine[("portfolio.create", f"portfolio:{pid}")] == "planner-bot"
    assert mine[("portfolio.version", f"portfolio:{pid}")] == "planner-bot"
    assert mine[("plan.create", f"plan:{plan['id']}")] == "planner-bot"
    assert mine[("token.create", "token:viewer-bot")] == "admin"
