"""Plans, leverage analyses and simulation runs: background jobs started by POST and polled.

``GET /plans/{id}`` answers the plan document itself (what ``chipfolio plan --json`` writes)
once the job has succeeded; while it is queued or running it answers 202 with the job's
status, and 409 with the error once it has failed. ``/plans/{id}/status`` always answers the
job record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

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
from chipfolio.interfaces.service.store import create_job, job_record, page

router = APIRouter(prefix="/api/v1")
# result documents can be large: records and lists leave them unread
_NO_RESULT = {kind: defer(table.result_json) for kind, table in JOB_TABLES.items()}


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
    """The job's record, without its result document (not read from the database)."""
    return _read(state, kind, job_id, with_result=False)[0]


def _read(
    state: ServiceState, kind: JobKind, job_id: int, with_result: bool = True
) -> tuple[dict[str, Any], str | None]:
    """The job's record and its result document (JSON text, once it has succeeded)."""
    table = JOB_TABLES[kind]
    with state.db.read() as session:
        row = session.get(table, job_id, options=[] if with_result else [_NO_RESULT[kind]])
        if row is None:
            raise HTTPException(404, f"no {kind.value} {job_id}")
        version = session.get(PortfolioVersion, row.portfolio_version_id)
        return job_record(kind, row, version), row.result_json if with_result else None


def _create(
    state: ServiceState,
    kind: JobKind,
    body: JobIn,
    options: dict[str, Any],
    who: Principal,
    wait_s: float,
    **columns: Any,
) -> JSONResponse:
    """Start the job, wait for it as asked (capped), answer 201 with its record."""
    job_id = _start_job(state, kind, body, options, who, **columns)
    state.runner.wait(kind, job_id, min(wait_s, state.config.wait_s_max))
    record = _record(state, kind, job_id)
    return JSONResponse(record, status_code=201, headers={"Location": _location(kind, job_id)})


def _location(kind: JobKind, job_id: int) -> str:
    path = {JobKind.PLAN: "plans", JobKind.LEVERAGE: "leverage", JobKind.SIMULATION: "simulations"}
    return f"/api/v1/{path[kind]}/{job_id}"


WAIT = Query(0.0, ge=0, le=3600, description="Seconds to wait for the job to finish (capped).")


@dataclass(frozen=True, slots=True)
class JobQuery:
    """The filters and page of a job list (the same query parameters for every kind)."""

    portfolio_id: int | None
    status: JobStatus | None
    limit: int
    offset: int


def job_query(
    portfolio_id: int | None = Query(None, ge=1, le=ID_MAX),
    status: JobStatus | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=ID_MAX),
) -> JobQuery:
    return JobQuery(portfolio_id, status, limit, offset)


def _list(state: ServiceState, kind: JobKind, wanted: JobQuery) -> dict[str, Any]:
    table = JOB_TABLES[kind]
    query = (
        select(table, PortfolioVersion, PortfolioRow.name)
        .options(_NO_RESULT[kind])
        .join(PortfolioVersion, PortfolioVersion.id == table.portfolio_version_id)
        .join(PortfolioRow, PortfolioRow.id == PortfolioVersion.portfolio_id)
    )
    if wanted.portfolio_id is not None:
        query = query.where(PortfolioVersion.portfolio_id == wanted.portfolio_id)
    if wanted.status is not None:
        query = query.where(table.status == wanted.status.value)

    def record(row: Any, version: PortfolioVersion, name: str) -> dict[str, Any]:
        return {**job_record(kind, row, version), "portfolio_name": name}

    with state.db.read() as session:
        query = query.order_by(table.id.desc())
        return page(session, query, wanted.limit, wanted.offset, record)


# -- plans --------------------------------------------------------------------------------


@router.post("/plans", status_code=201, tags=["plans"], summary="Plan a portfolio")
def create_plan(
    body: PlanIn,
    wait_s: float = WAIT,
    who: Principal = Depends(planner),
    state: ServiceState = Depends(service),
) -> JSONResponse:
    options = {"time_limit_s": body.time_limit_s, "gap": body.gap}
    return _create(state, JobKind.PLAN, body, options, who, wait_s)


@router.get("/plans", tags=["plans"], summary="List plans, newest first")
def list_plans(
    wanted: JobQuery = Depends(job_query),
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    return _list(state, JobKind.PLAN, wanted)


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
    record, result = _read(state, JobKind.PLAN, plan_id)
    status = JobStatus(record["status"])
    if status is JobStatus.SUCCEEDED:
        return Response(result, media_type="application/json")
    return JSONResponse(record, status_code=409 if status is JobStatus.FAILED else 202)


@router.get("/plans/{plan_id}/status", tags=["plans"], summary="The plan job's record")
def get_plan_status(
    plan_id: Id,
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    return _record(state, JobKind.PLAN, plan_id)


# -- leverage and simulations ---------------------------------------------------------------


def _with_result(state: ServiceState, kind: JobKind, job_id: int) -> dict[str, Any]:
    record, text = _read(state, kind, job_id)
    return {**record, "result": json.loads(text) if text else None}


@router.post("/leverage", status_code=201, tags=["leverage"], summary="Analyze leverage")
def create_leverage(
    body: LeverageIn,
    wait_s: float = WAIT,
    who: Principal = Depends(planner),
    state: ServiceState = Depends(service),
) -> JSONResponse:
    options = {"time_limit_s": body.time_limit_s, "gap": body.gap}
    return _create(state, JobKind.LEVERAGE, body, options, who, wait_s)


@router.get("/leverage", tags=["leverage"], summary="List leverage analyses, newest first")
def list_leverage(
    wanted: JobQuery = Depends(job_query),
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    return _list(state, JobKind.LEVERAGE, wanted)


@router.get("/leverage/{analysis_id}", tags=["leverage"], summary="A leverage analysis")
def get_leverage(
    analysis_id: Id,
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    return _with_result(state, JobKind.LEVERAGE, analysis_id)


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
    return _create(
        state, JobKind.SIMULATION, body, options, who, wait_s, scenarios_total=body.scenarios
    )


@router.get("/simulations", tags=["simulations"], summary="List simulation runs, newest first")
def list_simulations(
    wanted: JobQuery = Depends(job_query),
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    return _list(state, JobKind.SIMULATION, wanted)


@router.get(
    "/simulations/{run_id}", tags=["simulations"], summary="A simulation run and its progress"
)
def get_simulation(
    run_id: Id,
    _: Principal = Depends(viewer),
    state: ServiceState = Depends(service),
) -> dict[str, Any]:
    return _with_result(state, JobKind.SIMULATION, run_id)
