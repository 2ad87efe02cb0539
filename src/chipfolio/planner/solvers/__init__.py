"""Solver adapters: the only modules that import a solver library; ``get_solver`` picks one."""

from __future__ import annotations

from chipfolio.errors import UnknownNameError
from chipfolio.planner.solvers.base import Solver

SOLVERS = ("highs",)


def get_solver(name: str = "highs") -> Solver:
    """The solver adapter called ``name`` (its library is imported only when it solves)."""
    if name == "highs":
        from chipfolio.planner.solvers.highs import HighsSolver

        return HighsSolver()
    raise UnknownNameError("solver", name, SOLVERS)
