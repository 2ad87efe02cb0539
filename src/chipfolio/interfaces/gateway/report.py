"""`chipfolio gateway report`: where live traffic departed from the plan, and what it cost.

Reads a gateway's ``/admin/state`` (a saved file, or fetched with the admin key) and renders its
``plan_vs_actual`` section: per workload and pool, the planned and served output tokens/s and
shares, the departure in percentage points, and the served tokens priced at the plan's prices
against the same tokens routed as planned (see ``chipfolio.routing.actual``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rich.table import Table

from chipfolio.errors import InputError

MAX_STATE_BYTES = 64 * 1024 * 1024


def read_state(
    state_file: Path | None, url: str | None, admin_key_file: Path | None
) -> tuple[dict[str, Any], str]:
    """The state document and where it came from."""
    if (state_file is None) == (url is None):
        raise InputError("give exactly one of --state FILE or --url URL", field="--state")
    if state_file is not None:
        where = str(state_file)
        try:
            if state_file.stat().st_size > MAX_STATE_BYTES:
                raise InputError("the state file is too large", file=where)
            text = state_file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InputError("not UTF-8 text", file=where) from exc
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", file=where) from exc
    else:
        assert url is not None
        where = url.rstrip("/") + "/admin/state"
        if not where.startswith(("http://", "https://")):
            raise InputError("expected an http:// or https:// URL", field="--url")
        if admin_key_file is None:
            raise InputError("--url needs --admin-key-file", field="--admin-key-file")
        try:
            key = admin_key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError("cannot read the admin key", file=str(admin_key_file)) from exc
        req = urllib.request.Request(where, headers={"Authorization": f"Bearer {key}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                text = r.read(MAX_STATE_BYTES).decode("utf-8")
        except urllib.error.HTTPError as exc:
            raise InputError(f"the gateway answered {exc.code}", field="--url") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot fetch {where}: {exc}", field="--url") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg} (line {exc.lineno})", file=where) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("plan_vs_actual"), dict):
        raise InputError(
            "expected a gateway /admin/state document with 'plan_vs_actual'", file=where
        )
    return doc, where


def _usd(x: float | None) -> str:
    if x is None:
        return "—"
    return f"${x:,.2f}" if abs(x) >= 1 or x == 0 else f"${x:.3g}"


def _unmetered(state: dict[str, Any]) -> tuple[int, int]:
    metered = unmetered = 0
    for pools in state.get("workloads", {}).values():
        for p in pools:
            u = p.get("usage") or {}
            metered += int(u.get("metered_answers", 0))
            unmetered += int(u.get("unmetered_answers", 0))
    return metered, unmetered


def render(state: dict[str, Any]) -> tuple[list[Table], list[str]]:
    """One table per workload and the summary lines."""
    pva = state["plan_vs_actual"]
    tables = []
    lines = [f"Over {pva.get('window_s', 0):,.0f} s of gateway uptime; basis: {pva.get('basis')}."]
    for workload, wl in sorted(pva.get("workloads", {}).items()):
        t = Table(title=f"{workload}: plan against actual")
        for col in ("pool", "offer", "vendor"):
            t.add_column(col)
        for col in (
            "planned tok/s",
            "plan share",
            "served tok/s",
            "served share",
            "departure",
            "$/Mtok (plan)",
            "cost at plan prices",
        ):
            t.add_column(col, justify="right")
        for r in wl["pools"]:
            t.add_row(
                r["pool"],
                r["offer"],
                r["vendor"] or "?",
                f"{r['planned_tokens_per_s']:,.0f}",
                f"{r['planned_share']:.1%}",
                f"{r['served_tokens_per_s']:,.1f}",
                f"{r['served_share']:.1%}",
                f"{100 * r['departure']:+.1f} pp",
                "—"
                if r["usd_per_million_tokens"] is None
                else f"{r['usd_per_million_tokens']:.4f}",
                _usd(r["cost_usd"]),
            )
        tables.append(t)
        dep = wl.get("departure_cost_usd")
        line = (
            f"{workload}: served {wl['served_tokens']:,} tokens ({wl['served_tokens_per_s']:,.1f}"
            f" tok/s against {wl['planned_tokens_per_s']:,.0f} planned); at the plan's prices "
            f"{_usd(wl['cost_usd'])}, as planned {_usd(wl['cost_as_planned_usd'])}"
        )
        if dep is not None:
            line += f", departure {'+' if dep >= 0 else '-'}{_usd(abs(dep))}"
        if wl.get("unpriced_tokens"):
            line += f"; {wl['unpriced_tokens']:,} tokens on pools the plan has no price for"
        lines.append(line)
    for vendor, v in sorted(pva.get("vendors", {}).items()):
        lines.append(
            f"vendor {vendor}: {v['served_tokens_per_s']:,.1f} tok/s served, "
            f"{v['planned_tokens_per_s']:,.0f} planned"
        )
    metered, unmetered = _unmetered(state)
    if unmetered:
        share = unmetered / max(1, metered + unmetered)
        lines.append(
            f"{unmetered:,} of {metered + unmetered:,} answers ({share:.1%}) carried no usage "
            "and are not counted: ask streaming clients for stream_options.include_usage"
        )
    return tables, lines
