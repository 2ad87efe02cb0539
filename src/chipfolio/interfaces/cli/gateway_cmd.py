"""`chipfolio gateway`: serve an OpenAI-compatible proxy that routes by the plan's weights."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from chipfolio.errors import InputError

if TYPE_CHECKING:  # the gateway extra is imported only when the command runs
    from chipfolio.interfaces.gateway.config import GatewayConfig


def _weights_table(config: GatewayConfig) -> Table:
    table = Table(title="Routing weights from the plan")
    for name in ("workload", "pool", "offer", "url", "tls", "key from"):
        table.add_column(name)
    table.add_column("planned tok/s", justify="right")
    table.add_column("weight", justify="right")
    for workload, pws in sorted(config.table.workloads.items()):
        for pw in pws:
            tr = config.transports.get(pw.pool.name)
            table.add_row(
                workload,
                pw.pool.name,
                pw.pool.offer,
                pw.pool.url,
                "—" if tr is None or tr.trust is None else tr.trust,
                "—" if tr is None or tr.credential_source is None else tr.credential_source,
                f"{pw.planned_tokens_per_s:,.0f}",
                "fallback" if pw.fallback else f"{pw.weight:.1%}",
            )
    return table


def run_gateway_command(
    plan: Path,
    pools: Path,
    host: str,
    port: int,
    hour: float,
    watch: float,
    workers: int,
    check: bool,
    client_keys: Path | None = None,
    admin_key_file: Path | None = None,
    client_keys_db: str | None = None,
) -> None:
    try:
        from chipfolio.interfaces.gateway.config import load_config
        from chipfolio.interfaces.gateway.run import run_gateway
    except ImportError as exc:
        raise InputError(
            f"the gateway needs its extra: pip install 'chipfolio[gateway]' ({exc.name} missing)"
        ) from exc
    if not 0 <= port <= 65535:
        raise InputError(f"expected a port in 0..65535, got {port}", field="--port")
    if workers < 1 or workers > 64:
        raise InputError(f"expected 1..64 workers, got {workers}", field="--workers")
    if workers > 1 and port == 0:
        raise InputError("several workers need a fixed port, not 0", field="--port")
    config = load_config(
        pools,
        plan,
        hour,
        client_keys=client_keys,
        admin_key_file=admin_key_file,
        client_keys_db=client_keys_db,
    )
    console = Console(stderr=True, highlight=False)
    console.print(_weights_table(config))
    if check:
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    def ready(bound: int) -> None:
        console.print(
            f"chipfolio gateway on http://{host}:{bound}/v1 ({workers} worker"
            f"{'s' if workers > 1 else ''}); POST /admin/reload re-reads {plan} and {pools}"
        )

    try:
        run_gateway(
            config,
            host,
            port,
            hour=hour,
            watch_s=watch if watch > 0 else None,
            workers=workers,
            ready=ready,
        )
    except OSError as exc:
        raise InputError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", field="--port"
        ) from exc


def run_report_command(
    state: Path | None, url: str | None, admin_key_file: Path | None, as_json: bool
) -> None:
    from chipfolio.interfaces.gateway.report import read_state, render

    doc, where = read_state(state, url, admin_key_file)
    if as_json:
        typer.echo(json.dumps(doc["plan_vs_actual"], indent=2))
        return
    tables, lines = render(doc)
    console = Console(highlight=False)
    console.print(f"Gateway state from {where}")
    for t in tables:
        console.print(t)
    for line in lines:
        console.print(line)


def register(app: typer.Typer) -> None:
    gw = typer.Typer(
        invoke_without_command=True,
        no_args_is_help=False,
        help="Serve an OpenAI-compatible proxy routing across vendor pools by the plan's "
        "weights (`chipfolio gateway --plan P --pools F`), or report on one "
        "(`chipfolio gateway report`).",
    )

    @gw.callback()
    def gateway(
        ctx: typer.Context,
        plan: Path | None = typer.Option(
            None, "--plan", help="Plan JSON from `chipfolio plan --json`."
        ),
        pools: Path | None = typer.Option(
            None, "--pools", help="POOLS.yaml: models and pool endpoints."
        ),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
        port: int = typer.Option(8080, "--port", help="Port to listen on."),
        hour: float = typer.Option(
            0.0, "--at-hour", help="Use the plan's allocations active at this hour."
        ),
        watch: float = typer.Option(
            0.0, "--watch", help="Poll both files every N seconds and reload on change (0: off)."
        ),
        workers: int = typer.Option(
            1, "--workers", help="Processes sharing the port (SO_REUSEPORT) and one state."
        ),
        check: bool = typer.Option(
            False, "--check", help="Validate the files, print the weights and exit."
        ),
        client_keys: Path | None = typer.Option(
            None,
            "--client-keys",
            help="YAML list of {name, sha256[, workloads, requests_per_s]}: only these keys "
            "may send requests.",
        ),
        admin_key_file: Path | None = typer.Option(
            None,
            "--admin-key-file",
            help="File holding the admin key that /admin/* needs (without it they are off).",
        ),
        client_keys_db: str | None = typer.Option(
            None,
            "--client-keys-db",
            help="Database URL of `chipfolio serve`: its unrevoked API tokens are client keys "
            "too (re-read every client_keys_refresh_s).",
        ),
    ) -> None:
        """Serve an OpenAI-compatible proxy routing across vendor pools by the plan's weights."""
        if ctx.invoked_subcommand is not None:
            return
        if plan is None:
            raise InputError("missing option (the plan JSON)", field="--plan")
        if pools is None:
            raise InputError("missing option (the POOLS.yaml)", field="--pools")
        run_gateway_command(
            plan,
            pools,
            host,
            port,
            hour,
            watch,
            workers,
            check,
            client_keys,
            admin_key_file,
            client_keys_db,
        )

    @gw.command("report")
    def report(
        state: Path | None = typer.Option(
            None, "--state", help="A saved /admin/state JSON of the gateway."
        ),
        url: str | None = typer.Option(
            None, "--url", help="The gateway's base URL, e.g. http://127.0.0.1:8080."
        ),
        admin_key_file: Path | None = typer.Option(
            None, "--admin-key-file", help="The admin key, to fetch /admin/state from --url."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
    ) -> None:
        """Where served traffic departed from the plan, and what it cost at the plan's prices."""
        run_report_command(state, url, admin_key_file, as_json)

    app.add_typer(gw, name="gateway")
