"""Explain infeasibility: which requirement families conflict, and by how much."""

from __future__ import annotations

from chipfolio.planner.problem import Problem
from chipfolio.planner.solvers.base import SolveOptions


def diagnose(problem: Problem, options: SolveOptions) -> list[str]:
    return []
