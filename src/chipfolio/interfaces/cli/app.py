"""The `chipfolio` command: builds the Typer app from one module per command group.

Each command module exposes ``register(app: typer.Typer) -> None``. ``main`` is the only
place that turns chipfolio errors into one-line messages and exit codes.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from chipfolio.errors import ChipfolioError

# Command modules, in the order their commands appear in --help.
COMMAND_MODULES: tuple[str, ...] = (
    "chips_cmd",
    "catalog_cmd",
    "estimate_cmd",
    "calibrate_cmd",
    "profile_cmd",
    "plan_cmd",
    "procure_cmd",
    "leverage_cmd",
    "report_cmd",
    "simulate_cmd",
    "export_cmd",
    "gateway_cmd",
    "serve_cmd",
)

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="chipfolio",
        help="Plan, hedge and run AI compute across every accelerator vendor at once.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for name in COMMAND_MODULES:
        importlib.import_module(f"chipfolio.interfaces.cli.{name}").register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, print chipfolio errors as one line, return the exit code.

    Typer runs in standalone mode, so usage errors are reported by it with exit code 2;
    chipfolio's own errors propagate here and become one line on stderr.
    """
    app = build_app()
    try:
        app(args=argv, prog_name="chipfolio")
    except ChipfolioError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", markup=True)
        return exc.exit_code
    except SystemExit as exc:
        if exc.code is None:
            return 0
        return exc.code if isinstance(exc.code, int) else 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
