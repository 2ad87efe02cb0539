"""Use case: commitments to sign now and later under uncertain demand."""

from __future__ import annotations

from pathlib import Path

from chipfolio.planner import SolveOptions
from chipfolio.procurement import ProcurementResult, load_procurement, solve_procurement

MIN_SOLVE_S = 0.05  # what the solver still gets when reading took the whole limit


def procure_file(
    path: Path, options: SolveOptions, values: bool = True, started: float | None = None
) -> ProcurementResult:
    """Read a procurement file and solve it; the time limit counts from ``started`` (a
    ``time.perf_counter()`` value, default: once the file is parsed)."""
    import time

    proc = load_procurement(path)
    begin = time.perf_counter() if started is None else started
    deadline = max(begin + options.time_limit_s, time.perf_counter() + MIN_SOLVE_S)
    return solve_procurement(proc, options, deadline=deadline, values=values)
