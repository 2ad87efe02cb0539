"""The solve flags `plan` and `procure` share (--time-limit, --gap, --require-gap), checked."""

from __future__ import annotations

from chipfolio.errors import InputError


def check_solve_flags(time_limit: float, gap: float, require_gap: float | None) -> None:
    """``--time-limit`` > 0 and ``--gap`` / ``--require-gap`` in [0, 1), else one-line errors."""
    if not time_limit > 0:
        raise InputError(f"must be > 0, got {time_limit}", field="--time-limit")
    if not 0 <= gap < 1:
        raise InputError(f"must be in [0, 1), got {gap}", field="--gap")
    if require_gap is not None and not 0 <= require_gap < 1:
        raise InputError(f"must be in [0, 1), got {require_gap}", field="--require-gap")
