"""`--json OUT` for every command: a document written as indented JSON, '-' for stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from chipfolio.errors import InputError


def write_json(doc: dict[str, Any], out: str, what: str) -> None:
    """``doc`` as indented JSON to ``out`` ('-' = stdout); a write failure names ``--json``."""
    text = json.dumps(doc, indent=2)
    if out == "-":
        typer.echo(text)
        return
    try:
        Path(out).write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot write {what}: {exc.strerror or exc}", file=out, field="--json"
        ) from exc
