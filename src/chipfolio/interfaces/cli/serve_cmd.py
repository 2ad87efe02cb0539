"""`chipfolio serve`, `chipfolio db upgrade`, `chipfolio token create|list|revoke`: the service."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from chipfolio.errors import InputError
from chipfolio.interfaces.settings import chipfolio_home

if TYPE_CHECKING:
    from chipfolio.interfaces.service.db import Database

ADMIN_TOKEN_ENV = "CHIPFOLIO_ADMIN_TOKEN"
DB_ENV = "CHIPFOLIO_DB"

DB_OPTION = typer.Option(
    None,
    "--db",
    metavar="URL",
    help="sqlite:///PATH or postgresql://USER@HOST/DB "
    f"(default: ${DB_ENV}, else $CHIPFOLIO_HOME/service.db).",
)


def _require_extra() -> None:
    try:
        import chipfolio.interfaces.service.config  # noqa: F401
    except ModuleNotFoundError as exc:
        raise InputError(
            f"the service needs its extra: pip install 'chipfolio[service]' ({exc.name} missing)"
        ) from exc


def db_url(given: str | None) -> str:
    _require_extra()
    from chipfolio.interfaces.service.config import normalize_db_url, sqlite_url

    url = given or os.environ.get(DB_ENV)
    return normalize_db_url(url) if url else sqlite_url(chipfolio_home() / "service.db")


def _admin_token(file: Path | None) -> str | None:
    from chipfolio.interfaces.service.auth import check_token_text

    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read token: {exc}", file=str(file)) from exc
        return check_token_text(text, "--admin-token-file")
    env = os.environ.get(ADMIN_TOKEN_ENV)
    return check_token_text(env, ADMIN_TOKEN_ENV) if env else None


def _check_port(port: int) -> None:
    if not 0 < port < 65536:
        raise InputError(f"must be from 1 to 65535, got {port}", field="--port")


def _check_dir(path: Path | None, flag: str) -> Path | None:
    if path is not None and not path.is_dir():
        raise InputError("not a directory", file=str(path), field=flag)
    return path


def _tls_options(cert: Path | None, key: Path | None) -> dict[str, str]:
    """uvicorn's TLS settings from --tls-cert/--tls-key (both or neither), checked readable."""
    if cert is None and key is None:
        return {}
    if cert is None or key is None:
        raise InputError("--tls-cert and --tls-key go together", field="--tls-cert")
    import ssl

    for path, flag in ((cert, "--tls-cert"), (key, "--tls-key")):
        if not path.is_file():
            raise InputError("not a readable file", file=str(path), field=flag)
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise InputError(
            f"not a PEM certificate and its private key ({exc})", file=str(cert), field="--tls-cert"
        ) from exc
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


def _register_serve(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        db: str | None = DB_OPTION,
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
        port: int = typer.Option(8000, "--port", help="TCP port."),
        admin_token_file: Path | None = typer.Option(
            None,
            "--admin-token-file",
            metavar="FILE",
            help=f"Register the token in FILE as an admin (or set ${ADMIN_TOKEN_ENV}).",
        ),
        data_dir: Path | None = typer.Option(
            None,
            "--data-dir",
            metavar="DIR",
            help="Folder that portfolios' trace files are read from (none by default).",
        ),
        workers: int = typer.Option(2, "--jobs", metavar="N", help="Background job threads."),
        processes: int = typer.Option(
            2,
            "--processes",
            metavar="P",
            help="Worker processes for plan and leverage solves (0 = solve in the job threads).",
        ),
        log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
        lease_s: float = typer.Option(
            30.0,
            "--lease-s",
            metavar="S",
            help="Seconds a claimed job stays this instance's without a heartbeat; another "
            "instance on the same database takes it over after that.",
        ),
        tls_cert: Path | None = typer.Option(
            None, "--tls-cert", metavar="FILE", help="Serve HTTPS with this PEM certificate."
        ),
        tls_key: Path | None = typer.Option(
            None, "--tls-key", metavar="FILE", help="The PEM private key of --tls-cert."
        ),
        ray_address: str | None = typer.Option(
            None,
            "--ray-address",
            metavar="ADDR",
            help="Run plan, leverage and simulation jobs on this Ray cluster "
            "('auto', 'local' or HOST:PORT); local worker processes by default.",
        ),
    ) -> None:
        """The API, the database and the web dashboard (FastAPI + SQLAlchemy)."""
        _check_port(port)
        if not 1 <= workers <= 64:
            raise InputError(f"must be from 1 to 64, got {workers}", field="--jobs")
        if not 0 <= processes <= 64:
            raise InputError(f"must be from 0 to 64, got {processes}", field="--processes")
        if not 1.0 <= lease_s <= 3600.0:
            raise InputError(f"must be from 1 to 3600 seconds, got {lease_s}", field="--lease-s")
        tls = _tls_options(tls_cert, tls_key)
        url = db_url(db)
        from chipfolio.interfaces.service.app import run
        from chipfolio.interfaces.service.config import ServiceConfig

        config = ServiceConfig(
            db_url=url,
            catalog_home=chipfolio_home() / "catalogs",
            data_dir=_check_dir(data_dir, "--data-dir"),
            admin_token=_admin_token(admin_token_file),
            job_workers=workers,
            job_processes=processes,
            lease_s=lease_s,
            ray_address=ray_address.strip() if ray_address else None,
        )
        if host not in ("127.0.0.1", "localhost", "::1") and not tls:
            typer.echo(
                f"warning: listening on {host} over plain HTTP; put a TLS proxy in front",
                err=True,
            )
        run(config, host, port, log_level=log_level, **tls)


@contextmanager
def _database(given: str | None) -> Iterator[Database]:
    """The service database at ``given`` (or the default), migrated, closed afterwards."""
    from chipfolio.interfaces.service.db import Database, migrate

    database = Database(db_url(given))
    try:
        migrate(database)
        yield database
    finally:
        database.dispose()


def _register_db(app: typer.Typer) -> None:
    group = typer.Typer(help="The service database.", no_args_is_help=True)

    @group.command("upgrade")
    def upgrade(db: str | None = DB_OPTION) -> None:
        """Apply the service's database migrations."""
        from chipfolio.interfaces.service.db import head_revision

        with _database(db):
            typer.echo(f"database at revision {head_revision()}")

    app.add_typer(group, name="db")


def _register_token(app: typer.Typer) -> None:
    group = typer.Typer(help="API tokens of the service.", no_args_is_help=True)

    @group.command("create")
    def create(
        name: str = typer.Option(..., "--name", help="Who or what uses the token."),
        role: str = typer.Option("viewer", "--role", help="viewer, planner or admin."),
        db: str | None = DB_OPTION,
    ) -> None:
        """Create a token and print its secret (shown once; only its hash is stored)."""
        from chipfolio.interfaces.service.auth import create_token, parse_role

        wanted = parse_role(role)
        with _database(db) as database:
            secret = create_token(database, name, wanted, "(cli)")
        typer.echo(secret)

    @group.command("revoke")
    def revoke(
        name: str = typer.Option(..., "--name", help="The token to revoke."),
        db: str | None = DB_OPTION,
    ) -> None:
        """Revoke a token: it is refused from the next request on."""
        from chipfolio.interfaces.service.auth import revoke_token

        with _database(db) as database:
            revoke_token(database, name, "(cli)")
        typer.echo(f"revoked {name}")

    @group.command("list")
    def list_tokens(db: str | None = DB_OPTION) -> None:
        """Names and roles of the tokens (never the secrets)."""
        from sqlalchemy import select

        from chipfolio.interfaces.service.models import ApiToken

        with _database(db) as database, database.read() as session:
            for row in session.scalars(select(ApiToken).order_by(ApiToken.id)):
                state = " (revoked)" if row.revoked_at else ""
                typer.echo(f"{row.name}\t{row.role}{state}")

    app.add_typer(group, name="token")


def register(app: typer.Typer) -> None:
    _register_serve(app)
    _register_db(app)
    _register_token(app)
