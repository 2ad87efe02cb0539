"""The curated public API: `chipfolio.__all__` is exactly what the package promises."""

from __future__ import annotations

import importlib
import subprocess
import sys

import chipfolio


def test_all_names_resolve() -> None:
    for name in chipfolio.__all__:
        assert hasattr(chipfolio, name), name


def test_no_public_name_outside_all() -> None:
    public = {
        n
        for n in vars(chipfolio)
        if not n.startswith("_")
        and not isinstance(getattr(chipfolio, n), type(importlib))  # submodules are not API
    }
    assert public <= set(chipfolio.__all__), public - set(chipfolio.__all__)


def test_import_is_light() -> None:
    """Importing the package must not pull in solvers, dataframes, plotting or the CLI."""
    code = (
        "import sys, chipfolio; "
        "heavy = [m for m in ('highspy', 'polars', 'plotly', 'typer', 'ray', 'torch') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
