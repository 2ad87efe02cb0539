"""The chipfolio command line (Typer + Rich)."""
