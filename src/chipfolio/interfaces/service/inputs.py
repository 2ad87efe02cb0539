"""Portfolios sent to the API: parse YAML text or a JSON object, and report each bad field.

A chipfolio ``InputError`` becomes a 422 whose ``detail`` lists every bad field with its
location, line and message (the same words the CLI prints). Trace files named by a portfolio
resolve only inside the service's data directory: a request cannot read the server's files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from chipfolio.errors import InputError, SchemaError
from chipfolio.workloads.spec import (
    LineIndex,
    Portfolio,
    parse_portfolio_text,
    portfolio_from_data,
)

PORTFOLIO_FILE = "portfolio"


class RequestInputError(Exception):
    """A request whose content is invalid: ``detail`` is FastAPI-shaped (list of issues)."""

    def __init__(self, detail: list[dict[str, Any]]) -> None:
        super().__init__(detail[0]["msg"] if detail else "invalid input")
        self.detail = detail


def _path_parts(field: str | None) -> list[str | int]:
    if not field:
        return []
    parts: list[str | int] = []
    for chunk in field.replace("]", "").split("."):
        name, *indices = chunk.split("[")
        if name:
            parts.append(name)
        parts.extend(int(i) if i.isdigit() else i for i in indices)
    return parts


def error_detail(exc: InputError, prefix: tuple[str, ...]) -> list[dict[str, Any]]:
    """Each bad field of ``exc`` as ``{loc, field, line, msg, type}``."""
    if isinstance(exc, SchemaError) and exc.issues:
        return [
            {
                "loc": [*prefix, *_path_parts(i.field)],
                "field": i.field,
                "line": i.line,
                "msg": i.message,
                "type": "invalid_portfolio",
            }
            for i in exc.issues
        ]
    where = exc.location
    return [
        {
            "loc": [*prefix, *_path_parts(where.field)],
            "field": where.field,
            "line": where.line,
            "msg": exc.reason,
            "type": "invalid_portfolio",
        }
    ]


@dataclass(frozen=True, slots=True)
class PortfolioInput:
    """A validated portfolio with its stored form (the text exactly as it will be kept)."""

    portfolio: Portfolio
    format: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def _check_traces(portfolio: Portfolio, data_dir: Path | None) -> None:
    for i, w in enumerate(portfolio.spec.workloads):
        trace = getattr(w, "trace", None)
        if trace is None:
            continue
        where = ("workloads", i, "trace", "file")
        if data_dir is None:
            raise portfolio.error(
                "trace files are not available on this service (start it with --data-dir)",
                *where,
            )
        rel = PurePosixPath(trace.file.replace("\\", "/"))
        if rel.is_absolute() or ".." in rel.parts or ":" in trace.file:
            raise portfolio.error(
                "expected a path relative to the service's data directory", *where
            )
        root = data_dir.resolve()
        if not (root / rel).resolve().is_relative_to(root):
            raise portfolio.error("path leaves the service's data directory", *where)


def parse_stored(fmt: str, text: str, data_dir: Path | None) -> Portfolio:
    """A stored portfolio version as a Portfolio (trace paths resolve in ``data_dir``)."""
    base = data_dir or Path("/nonexistent")
    if fmt == "json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InputError(f"invalid JSON: {exc}", file=PORTFOLIO_FILE) from exc
        portfolio = portfolio_from_data(data, PORTFOLIO_FILE, base, LineIndex())
    else:
        try:
            portfolio = parse_portfolio_text(text, PORTFOLIO_FILE, base)
        except yaml.YAMLError as exc:  # the YAML reader refuses some control characters early
            raise InputError(f"invalid YAML: {exc}", file=PORTFOLIO_FILE) from exc
    _check_traces(portfolio, data_dir)
    return portfolio


def parse_input(
    value: str | dict[str, Any], data_dir: Path | None, prefix: tuple[str, ...]
) -> PortfolioInput:
    """Validate a portfolio given as YAML text or as a JSON object; 422 detail on failure."""
    if isinstance(value, str):
        fmt, text = "yaml", value
    else:
        try:
            text = json.dumps(value, indent=2, allow_nan=False, ensure_ascii=False)
        except ValueError as exc:
            issue = {"loc": list(prefix), "field": None, "line": None, "type": "invalid_portfolio"}
            raise RequestInputError([{**issue, "msg": f"not valid JSON: {exc}"}]) from exc
        fmt = "json"
    try:
        portfolio = parse_stored(fmt, text, data_dir)
    except InputError as exc:
        raise RequestInputError(error_detail(exc, prefix)) from exc
    return PortfolioInput(portfolio=portfolio, format=fmt, text=text)
