"""`chipfolio db upgrade` and `chipfolio token`, bad command-line input, and migrations that
match the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

from chipfolio.interfaces.cli.app import main
from chipfolio.interfaces.service.db import Database, current_revision, head_revision, migrate
from chipfolio.interfaces.service.models import Base


def test_db_upgrade_is_idempotent_and_tokens_are_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["db", "upgrade", "--db", url]) == 0
    assert main(["db", "upgrade", "--db", url]) == 0
    assert capsys.readouterr().out.count(f"revision {head_revision()}") == 2
    assert main(["token", "create", "--name", "ci", "--role", "planner", "--db", url]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("cfp_") and len(secret) > 40
    assert main(["token", "list", "--db", url]) == 0
    assert capsys.readouterr().out.split() == ["ci", "planner"]
    assert main(["token", "create", "--name", "ci", "--db", url]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["token", "create", "--name", "x", "--role", "root", "--db", url]) == 2
    assert "unknown role" in capsys.readouterr().err
    assert main(["token", "revoke", "--name", "ci", "--db", url]) == 0
    assert main(["token", "list", "--db", url]) == 0
    assert capsys.readouterr().out.split()[-3:] == ["ci", "planner", "(revoked)"]
    assert main(["token", "revoke", "--name", "nobody", "--db", url]) == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--db", "mysql://x/y"], "expected sqlite:///PATH"),
        (["serve", "--port", "70000"], "--port"),
        (["serve", "--jobs", "0"], "--jobs"),
        (["serve", "--processes", "-1"], "--processes"),
        (["serve", "--data-dir", "/nonexistent/dir"], "not a directory"),
        (["serve", "--admin-token-file", "/nonexistent/token"], "cannot read token"),
        (["db", "upgrade", "--db", "sqlite:///:memory:"], "in-memory"),
        (["serve", "--lease-s", "0.1"], "--lease-s"),
        (["serve", "--tls-cert", "/nonexistent/cert.pem"], "go together"),
        (["serve", "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k"], "readable"),
        (["serve", "--tls-cert", __file__, "--tls-key", __file__], "not a PEM certificate"),
    ],
)
def test_bad_serve_input_is_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_short_admin_token_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHIPFOLIO_ADMIN_TOKEN", "short")
    monkeypatch.setenv("CHIPFOLIO_HOME", str(tmp_path))
    assert main(["serve", "--port", "1"]) == 2
    assert "CHIPFOLIO_ADMIN_TOKEN" in capsys.readouterr().err


def test_migrations_build_exactly_the_models(db_url: str, tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    if db_url.startswith("sqlite"):
        db_url = f"sqlite:///{tmp_path / 'schema.db'}"
    database = Database(db_url)
    try:
        migrate(database)
        engine = create_engine(db_url)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        engine.dispose()
        assert diff == []
        assert current_revision(database.write_engine) == head_revision()
    finally:
        database.dispose()


def test_sqlite_runs_in_wal_with_foreign_keys_and_full_sync(tmp_path: Path) -> None:
    from sqlalchemy import text

    database = Database(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        migrate(database)
        with database.write() as session:
            pragmas = {
                name: session.execute(text(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
            }
    finally:
        database.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "synchronous": 2,
        "busy_timeout": 30_000,
    }


def test_wheel_ships_the_dashboard_and_migrations(tmp_path: Path) -> None:
    """An installed package finds its static files and Alembic scripts (no alembic.ini)."""
    import shutil
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).resolve().parents[3]
    source = tmp_path / "source"  # a copy, so the build leaves nothing in the work tree
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(root / "src", source / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, source / name)
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "--wheel-dir", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("chipfolio-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    base = "chipfolio/interfaces/service/"
    for name in (
        "static/index.html",
        "static/dashboard.js",
        "static/dashboard.css",
        "migrations/env.py",
        "migrations/versions/0001_initial.py",
    ):
        assert base + name in names


def test_upgrade_from_the_first_revision_keeps_the_data(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import text

    from chipfolio.interfaces.service.db import _alembic_config

    database = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        config = _alembic_config(database.write_engine)
        with database.write_engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
        with database.write_engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO catalog_snapshots (id, created, offers, sources, bundled, "
                    "recorded_at) VALUES ('old', '2026-01-01', 3, '[]', 0, '2026-01-01')"
                )
            )
        assert current_revision(database.write_engine) == "0001"
        migrate(database)
        with database.read() as session:
            row = session.execute(
                text("SELECT id, offers, offers_csv FROM catalog_snapshots WHERE id = 'old'")
            ).one()
        assert tuple(row) == ("old", 3, None)
        assert current_revision(database.write_engine) == head_revision() == "0003"
        with database.read() as session:  # 0003: job leases and the revocation counter
            epochs = session.execute(text("SELECT name, value FROM service_epochs")).all()
            session.execute(text("SELECT lease_owner, lease_expires_at, attempts FROM plans"))
        assert [tuple(r) for r in epochs] == [("tokens", 0)]
    finally:
        database.dispose()
