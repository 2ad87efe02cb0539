"""The ASGI app: API routers, health and metrics, the dashboard, and start-up work.

Start-up opens the database, applies migrations, seeds the first admin token (if given),
records the catalog snapshots on offer and re-queues unfinished jobs.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from chipfolio.errors import ChipfolioError, InputError
from chipfolio.interfaces.service.auth import TokenCache, seed_admin
from chipfolio.interfaces.service.config import ServiceConfig
from chipfolio.interfaces.service.db import Database, migrate
from chipfolio.interfaces.service.inputs import RequestInputError, error_detail
from chipfolio.interfaces.service.jobs import JobRunner
from chipfolio.interfaces.service.metrics import Metrics
from chipfolio.interfaces.service.middleware import Guard
from chipfolio.interfaces.service.routes import admin, catalog, portfolios, runs
from chipfolio.interfaces.service.state import ServiceState

log = logging.getLogger("chipfolio.service")
STATIC = files("chipfolio.interfaces.service").joinpath("static")


@functools.cache
def _plotly_js() -> bytes:
    import plotly.offline

    text: str = plotly.offline.get_plotlyjs()
    return text.encode("utf-8")


def _static(name: str) -> bytes:
    return STATIC.joinpath(name).read_bytes()


def _add_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestInputError)
    async def _invalid(_: Request, exc: RequestInputError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=422)

    @app.exception_handler(InputError)
    async def _input(_: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": error_detail(exc, ("query",))}, status_code=422)

    @app.exception_handler(ChipfolioError)
    async def _chipfolio(_: Request, exc: ChipfolioError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)


def _add_health(app: FastAPI) -> None:
    @app.get("/healthz", tags=["health"], summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="The database answers and is migrated, and the worker processes have started",
    )
    def readyz(request: Request) -> JSONResponse:
        state: ServiceState = request.app.state.service
        database = state.db.ping() and state.db.migrated()
        workers = state.runner.ready()
        ok = database and workers
        body = {
            "status": "ready" if ok else "not ready",
            "database": state.db.dialect if database else "unavailable",
            "workers": "ready" if workers else "starting",
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics")
    def metrics(request: Request) -> Response:
        state: ServiceState = request.app.state.service
        return Response(state.metrics.render(), media_type="text/plain; version=0.0.4")


def _add_dashboard(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return Response(_static("index.html"), media_type="text/html; charset=utf-8")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        headers = {"Cache-Control": "public, max-age=86400"}
        return Response(_plotly_js(), media_type="text/javascript", headers=headers)

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")


def startup(state: ServiceState) -> None:
    migrate(state.db)
    if state.config.admin_token and seed_admin(state.db, state.config.admin_token):
        log.info("registered the admin token from the command line / environment")
    catalog.record_bundled(state)
    unfinished = state.runner.resume()
    if unfinished:
        log.info("%d unfinished jobs in the database", unfinished)
    state.runner.start()


def create_app(config: ServiceConfig) -> FastAPI:
    """The service app for ``config``; the database is opened and migrated at start-up."""
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(config.db_url)
        tokens = TokenCache(db, config.token_cache_s, config.revocation_poll_s)
        state = ServiceState(config, db, JobRunner(db, config, metrics), metrics, tokens)
        try:
            startup(state)
        except BaseException:
            state.runner.close()
            db.dispose()
            raise
        app.state.service = state
        try:
            yield
        finally:
            state.runner.close()
            db.dispose()

    app = FastAPI(
        title="chipfolio",
        version=_version(),
        summary="Plan, hedge and run AI compute across every accelerator vendor at once.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    for router in (portfolios.router, runs.router, catalog.router, admin.router):
        app.include_router(router)
    _add_handlers(app)
    _add_health(app)
    _add_dashboard(app)
    app.add_middleware(Guard, max_body_bytes=config.max_body_bytes, metrics=metrics)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chipfolio")
    except PackageNotFoundError:
        return "0"


def run(config: ServiceConfig, host: str, port: int, **uvicorn_options: Any) -> None:
    """Serve ``config`` with uvicorn (one process: the job runner lives in it)."""
    import uvicorn

    uvicorn.run(create_app(config), host=host, port=port, workers=1, **uvicorn_options)
