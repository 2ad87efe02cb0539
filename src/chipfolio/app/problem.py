"""A portfolio's planning problem: the catalog it asks for, loaded, and the problem built."""

from __future__ import annotations

from pathlib import Path

from chipfolio.catalog import load_catalog
from chipfolio.errors import InputError
from chipfolio.planner import Problem, build_problem
from chipfolio.planner.build import catalog_choice
from chipfolio.workloads.spec import Portfolio


def problem_for(portfolio: Portfolio, catalog_home: Path | None) -> Problem:
    """Build ``portfolio``'s problem with the catalog snapshot it names (read from
    ``catalog_home``, else the bundled ones), or none when it brings its own offers."""
    wanted, snapshot = catalog_choice(portfolio)
    catalog = load_catalog(snapshot, home=catalog_home) if wanted else None
    return build_problem(portfolio, catalog)


def require_least_cost(portfolio: Portfolio, problem: Problem, analysis: str) -> None:
    """Refuse a budget-capped portfolio for an analysis that needs a least-cost one."""
    if problem.budget_usd is not None:
        raise InputError(
            f"the {analysis} needs a least-cost portfolio; remove 'budget_usd'",
            file=portfolio.file,
            line=portfolio.line_of("budget_usd"),
            field="budget_usd",
        )
