"""One exception root for chipfolio, and the tree that hangs from it.

::

    ChipfolioError                 anything chipfolio raises on purpose
    ├── InputError                 bad user input: names file, line and field (CLI exit 2)
    │   ├── UnknownNameError       an unknown chip / model / offer name, with "did you mean"
    │   └── SchemaError            a file whose fields fail validation (one or more issues)
    ├── CatalogError               a snapshot that cannot be found, read or written
    ├── ModelError                 the performance model cannot answer (e.g. missing spec)
    ├── InfeasibleError            no plan satisfies the requirements (carries the conflicts)
    ├── SolverError                the solver failed or is not installed (CLI exit 3)
    └── GapNotMetError             a plan exists but is not proven within --require-gap (exit 4)

Foreign exceptions (OSError, yaml.YAMLError, pydantic.ValidationError, highspy failures) are
translated at the boundary where they occur with ``raise ... from exc`` so the CLI prints a
single line and never a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class ChipfolioError(Exception):
    """Root of every error chipfolio raises on purpose."""

    exit_code: int = 1


@dataclass(frozen=True, slots=True)
class Location:
    """Where in the user's input a problem was found."""

    file: str | None = None
    line: int | None = None
    field: str | None = None

    def render(self) -> str:
        parts: list[str] = []
        if self.file:
            parts.append(self.file if self.line is None else f"{self.file}:{self.line}")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.field:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)


class InputError(ChipfolioError):
    """The user's input is wrong; the message says where and what was expected."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.location = Location(file=file, line=line, field=field)
        self.reason = message
        where = self.location.render()
        super().__init__(f"{where}: {message}" if where else message)


class UnknownNameError(InputError):
    """An unknown name; suggests the closest known ones."""

    def __init__(
        self,
        kind: str,
        name: str,
        known: Iterable[str],
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        known_list = sorted(set(known))
        self.suggestions: list[str] = difflib.get_close_matches(
            name.lower(), [k.lower() for k in known_list], n=3, cutoff=0.5
        )
        lowered = {k.lower(): k for k in known_list}
        self.suggestions = [lowered[s] for s in self.suggestions]
        hint = (
            f"; did you mean {', '.join(repr(s) for s in self.suggestions)}?"
            if (self.suggestions)
            else ""
        )
        super().__init__(f"unknown {kind} '{name}'{hint}", file=file, line=line, field=field)
        self.kind = kind
        self.name = name


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """One validation problem inside a file."""

    field: str
    message: str
    line: int | None = None


class SchemaError(InputError):
    """A file whose content fails validation; lists every bad field."""

    def __init__(self, file: str | None, issues: Sequence[FieldIssue]) -> None:
        self.issues = list(issues)
        first = self.issues[0] if self.issues else FieldIssue("?", "invalid")
        rest = f" (+{len(self.issues) - 1} more)" if len(self.issues) > 1 else ""
        details = "; ".join(
            f"{i.field}{f' (line {i.line})' if i.line else ''}: {i.message}" for i in self.issues
        )
        super().__init__(
            f"{first.message}{rest} [{details}]" if rest else first.message,
            file=file,
            line=first.line,
            field=first.field,
        )


class CatalogError(ChipfolioError):
    """A catalog snapshot cannot be found, read or written."""

    exit_code = 2


class ModelError(ChipfolioError):
    """The performance model cannot produce an estimate."""

    exit_code = 2


class InfeasibleError(ChipfolioError):
    """No plan meets the requirements; ``conflicts`` says which and by how much."""

    exit_code = 2

    def __init__(self, message: str, conflicts: Sequence[str] = ()) -> None:
        self.conflicts = list(conflicts)
        super().__init__(message)


class SolverError(ChipfolioError):
    """The solver failed, timed out without a solution, or is unavailable."""

    exit_code = 3


class GapNotMetError(ChipfolioError):
    """A plan was found, but not proven within the gap the caller required."""

    exit_code = 4
