"""The chipfolio service: a FastAPI app over a SQL database, with a web dashboard.

``create_app(config)`` builds the ASGI app; ``chipfolio serve`` runs it with uvicorn. The
database (SQLite by default, PostgreSQL by URL) holds catalog snapshots, versioned portfolios,
plans, leverage analyses, simulation runs, API tokens and the audit log; its schema is managed
by the Alembic migrations shipped in ``migrations/``. See docs/service.md.
"""

from chipfolio.interfaces.service.app import create_app
from chipfolio.interfaces.service.config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]
