"""Plans, leverage analyses and simulation runs: background jobs started by POST and polled.

``GET /plans/{id}`` answers the plan document itself (what ``chipfolio plan --json`` writes)
once the job has succeeded; while it is queued or running it answers 202 with the job's
status, and 409 with the error once it has failed. ``/plans/{id}/status`` always answers the
job record.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chipfolio.interfaces.service.auth import Principal
from chipfolio.interfaces.service.inputs import parse_input, parse_stored
from chipfolio.interfaces.service.models import (
    JOB_TABLES,
    JobKind,
    JobStatus,
    PortfolioRow,
    PortfolioVersion,
)
from chipfolio.interfaces.service.routes.portfolios import store_portfolio
from chipfolio.interfaces.service.routes.schemas import (
    ID_MAX,
    Id,
    JobIn,
    LeverageIn,
    PlanIn,
    SimulationIn,
)
from chipfolio.interfaces.service.state import ServiceState, planner, service, viewer
from chipfolio.interfaces.service.store import create_job, job_record

router = APIRouter(prefix="/api/v1")


def _stored_version(session: Session, body: JobIn) -> PortfolioVersion:
    query = select(PortfolioVersion).where(PortfolioVersion.portfolio_id == body.portfolio_id)
    if body.version is not None:
        query = query.where(PortfolioVersion.version == body.version)
    version = session.scalar(query.order_by(PortfolioVersion.version.desc()).limit(1))
    if version is None:
        what = f"version {body.version} of " if body.version else ""
        raise HTTPException(404, f"no {what}portfolio {body.portfolio_id}")
    return version


def _start_job(
    state: ServiceState,
    kind: JobKind,
    body: JobIn,
    options: dict[str, Any],
    who: Principal,
    **columns: Any,
) -> int:
    if body.portfolio is not None:
        given = parse_input(body.portfolio, state.config.data_dir, ("body", "portfolio"))
        _, version_doc, _ = store_portfolio(state, given, body.name, who.name)
        version_id = int(version_doc["id"])
    else:
        with state.db.read() as session:
            stored = _stored_version(session, body)
            version_id = stored.id
            # re-check a stored version against today's rules (trace paths, registry)
            parse_stored(stored.format, stored.text, state.config.data_dir)
    with state.db.write() as session:
        version = session.get(PortfolioVersion, version_id)
        assert version is not None
        job_id = create_job(session, kind, version, options, who.name, **columns)
    state.runner.submit(kind, job_id)
    return job_id


def _record(state: ServiceState, kind: JobKind, job_id: int) -> dict[str, Any]:
    with state.db.read() as session:
        row = session.get(JOB_TABLES[kind], job_id)
        if row is None:
            raise HTTPException(404, f"no {kind.value} {job_id}")
        version = session.get(PortfolioVersion, row.portfolio_version_id)
        out = job_record(kind, row, version)
        out["result_json"] = row.result_json
    return out


def _created(state: ServiceState, kind: JobKind, job_id: int, wait_s: float) -> JSONResponse:
    state.runner.wait(kind, job_id, min(wait_s, state.config.wait_s_max))
    record = _record(state, kind, job_id)
    record.pop("result_json")
    return JSONResponse(record, status_code=201, headers={"Location": _location(kind, job_id)})


def _location(kind: JobKind, job_id: int) -> str:
    path = {JobKind.PLAN: "plans", JobKind.LEVERAGE: "leverage", JobKind.SIMULATION: "simulations"}
    return f"/api/v1/{path[kind]}/{job_id}"


WAIT = Query(0.0, ge=0, le=3600, description="Seconds to wait for the job to finish (capped).")


def _list(
    state: ServiceState,
    kind: JobKind,
    portfolio_id: int | None,
    status: JobStatus | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    table = JOB_TABLES[kind]
    query = (
        select(table, PortfolioVersion, PortfolioRow.name)
        .join(PortfolioVersion, PortfolioVersion.id == table.portfolio_version_id)
        .join(PortfolioRow, PortfolioRow.id == PortfolioVersion.portfolio_id)
    )
    if portfolio_id is not None:
        query = query.where(PortfolioVersion.portfolio_id == portfolio_id)
    if status is not None:
        query = query.where(table.status == status.value)
    with state.db.read() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.execute(query.order_by(table.id.desc()).limit(limit).offset(offset))
        items = [
            {**job_record(kind, row, version), "portfolio_name": name}
            for row, version, name in rows
        ]
    return {"total": total, "limit": limit, "offset": offset, "items": items}


# -- plans --------------------------------------------------------------------------------


@router.post("/plans", status_code=201, tags=["plans"], summary="Plan a portfolio")
def create_plan(
    body: PlanIn,
    wait_s: float = WAIT,
    who: Principal = Depends(planner),
    state: ServiceState = Depends(service),
) -> JSONResponse:
    options = {"time_limit_s": body.time_limit_s, "gap": body.gap}
    job_id = _start_job(state, JobKind.PLAN, body, options, who)
    return _created(state, JobKind.PLAN, job_id, wait_s)


@router.get("/plans", tags=["plans"], summary="List plans, newest first")
def list_plans(
    portfolio_id: int | None = Query(None, ge=1, le=ID_MAX),
    status: JobStatus | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=ID_MAX),
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    return _list(state, JobKind.PLAN, portfolio_id, status, limit, offset)


@router.get(
    "/plans/{plan_id}",
    tags=["plans"],
    summary="The plan document (as `chipfolio plan --json`); 202 while solving, 409 if failed",
    responses={202: {"description": "Still queued or running"}, 409: {"description": "Failed"}},
)
def get_plan(
    plan_id: Id,
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> Response:
    record = _record(state, JobKind.PLAN, plan_id)
    status = JobStatus(record["status"])
    if status is JobStatus.SUCCEEDED:
        return Response(record["result_json"], media_type="application/json")
    record.pop("result_json")
    return JSONResponse(record, status_code=409 if status is JobStatus.FAILED else 202)


@router.get("/plans/{plan_id}/status", tags=["plans"], summary="The plan job's record")
def get_plan_status(
    plan_id: Id,
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    record = _record(state, JobKind.PLAN, plan_id)
    record.pop("result_json")
    return record


# -- leverage and simulations ---------------------------------------------------------------


def _with_result(record: dict[str, Any]) -> dict[str, Any]:
    text = record.pop("result_json")
    record["result"] = json.loads(text) if text else None
    return record


@router.post("/leverage", status_code=201, tags=["leverage"], summary="Analyze leverage")
def create_leverage(
    body: LeverageIn,
    wait_s: float = WAIT,
    who: Principal = Depends(planner),
    state: ServiceState = Depends(service),
) -> JSONResponse:
    options = {"time_limit_s": body.time_limit_s, "gap": body.gap}
    job_id = _start_job(state, JobKind.LEVERAGE, body, options, who)
    return _created(state, JobKind.LEVERAGE, job_id, wait_s)


@router.get("/leverage", tags=["leverage"], summary="List leverage analyses, newest first")
def list_leverage(
    portfolio_id: int | None = Query(None, ge=1, le=ID_MAX),
    status: JobStatus | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=ID_MAX),
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    return _list(state, JobKind.LEVERAGE, portfolio_id, status, limit, offset)


@router.get("/leverage/{analysis_id}", tags=["leverage"], summary="A leverage analysis")
def get_leverage(
    analysis_id: Id,
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    return _with_result(_record(state, JobKind.LEVERAGE, analysis_id))


@router.post(
    "/simulations", status_code=201, tags=["simulations"], summary="Start a Monte Carlo study"
)
def create_simulation(
    body: SimulationIn,
    wait_s: float = WAIT,
    who: Principal = Depends(planner),
    state: ServiceState = Depends(service),
) -> JSONResponse:
    if body.scenarios > state.config.max_scenarios:
        raise HTTPException(
            422,
            [
                {
                    "loc": ["body", "scenarios"],
                    "field": "scenarios",
                    "msg": f"at most {state.config.max_scenarios} scenarios on this service",
                    "type": "value_error",
                }
            ],
        )
    from chipfolio.errors import InputError
    from chipfolio.simulation.strategies import parse_strategies

    try:
        names = parse_strategies(body.strategies)
    except InputError as exc:
        detail = [{"loc": ["body", "strategies"], "field": "strategies", "msg": exc.reason}]
        raise HTTPException(422, detail) from exc
    options = {
        "scenarios": body.scenarios,
        "seed": body.seed,
        "strategies": ",".join(n.value for n in names),
    }
    job_id = _start_job(
        state, JobKind.SIMULATION, body, options, who, scenarios_total=body.scenarios
    )
    return _created(state, JobKind.SIMULATION, job_id, wait_s)


@router.get("/simulations", tags=["simulations"], summary="List simulation runs, newest first")
def list_simulations(
    portfolio_id: int | None = Query(None, ge=1, le=ID_MAX),
    status: JobStatus | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=ID_MAX),
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    return _list(state, JobKind.SIMULATION, portfolio_id, status, limit, offset)


@router.get(
    "/simulations/{run_id}", tags=["simulations"], summary="A simulation run and its progress"
)
def get_simulation(
    run_id: Id,
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    return _with_result(_record(state, JobKind.SIMULATION, run_id))
