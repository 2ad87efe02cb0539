"""Prometheus text exposition (format 0.0.4) of the gateway state, with no client library."""

from __future__ import annotations

from typing import Any

_BREAKER = {"closed": 0, "half_open": 1, "open": 2}


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**kv: str) -> str:
    return "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in kv.items()) + "}"


def render_metrics(state: dict[str, Any]) -> str:
    """Render ``Gateway.state()`` as Prometheus text."""
    out: list[str] = []

    def family(name: str, kind: str, help_text: str, rows: list[tuple[str, float]]) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(f"{name}{labels} {value:g}" for labels, value in rows)

    pools = [(w, p) for w, ps in state["workloads"].items() for p in ps]

    def per_pool(key: str) -> list[tuple[str, float]]:
        return [(_labels(workload=w, pool=p["name"]), float(p[key])) for w, p in pools]

    family(
        "chipfolio_gateway_pool_weight",
        "gauge",
        "Routing weight from the plan.",
        per_pool("weight"),
    )
    family(
        "chipfolio_gateway_pool_breaker_state",
        "gauge",
        "Circuit breaker: 0 closed, 1 half-open, 2 open.",
        [(_labels(workload=w, pool=p["name"]), float(_BREAKER[p["breaker"]])) for w, p in pools],
    )
    family(
        "chipfolio_gateway_pool_breaker_trips_total",
        "counter",
        "Times the breaker opened.",
        per_pool("breaker_trips"),
    )
    family(
        "chipfolio_gateway_pool_healthy",
        "gauge",
        "1 when the active health check passes.",
        [(_labels(workload=w, pool=p["name"]), 1.0 if p["healthy"] else 0.0) for w, p in pools],
    )
    family(
        "chipfolio_gateway_pool_available",
        "gauge",
        "1 when the pool can take a request.",
        [(_labels(workload=w, pool=p["name"]), 1.0 if p["available"] else 0.0) for w, p in pools],
    )
    family(
        "chipfolio_gateway_pool_attempts_total",
        "counter",
        "Attempts sent to the pool.",
        per_pool("attempts"),
    )
    family(
        "chipfolio_gateway_pool_successes_total",
        "counter",
        "Attempts the pool answered.",
        per_pool("successes"),
    )
    family(
        "chipfolio_gateway_pool_failures_total",
        "counter",
        "Failed attempts by reason.",
        [
            (_labels(workload=w, pool=p["name"], reason=r), float(n))
            for w, p in pools
            for r, n in p["failures"].items()
        ],
    )
    family(
        "chipfolio_gateway_pool_in_flight", "gauge", "Attempts in flight.", per_pool("in_flight")
    )
    family(
        "chipfolio_gateway_pool_health_checks_total",
        "counter",
        "Active health checks.",
        per_pool("health_checks"),
    )
    _usage_families(state, pools, family)
    g = state["gateway"]
    family(
        "chipfolio_gateway_requests_total",
        "counter",
        "Client requests by route and status.",
        [
            (_labels(route=r["route"], status=str(r["status"])), float(r["count"]))
            for r in g["requests"]
        ],
    )
    family(
        "chipfolio_gateway_retries_total",
        "counter",
        "Retries on another pool.",
        [("", float(g["retries"]))],
    )
    family(
        "chipfolio_gateway_stream_cuts_total",
        "counter",
        "Streams ended with an error event after an upstream cut.",
        [("", float(g["stream_cuts"]))],
    )
    family(
        "chipfolio_gateway_in_flight",
        "gauge",
        "Client requests in flight.",
        [("", float(g["in_flight"]))],
    )
    family(
        "chipfolio_gateway_retry_budget_balance",
        "gauge",
        "Retries the budget allows now.",
        [("", float(state["retry_budget"]["balance"]))],
    )
    family(
        "chipfolio_gateway_unauthorized_total",
        "counter",
        "Requests refused for a missing or unknown client key (401).",
        [("", float(g.get("unauthorized", 0)))],
    )
    family(
        "chipfolio_gateway_client_requests_total",
        "counter",
        "Requests by client key name: admitted, forbidden (403), rate_limited (429).",
        [
            (_labels(client=name, outcome=outcome), float(n))
            for name, counts in g.get("clients", {}).items()
            for outcome, n in counts.items()
        ],
    )
    family(
        "chipfolio_gateway_reloads_total",
        "counter",
        "Plan reloads.",
        [("", float(state["reloads"]))],
    )
    return "\n".join(out) + "\n"


def _usage_families(state: dict[str, Any], pools: list[tuple[str, Any]], family: Any) -> None:
    """Served tokens per pool and vendor next to the plan's (plan against actual)."""
    metered = [(w, p) for w, p in pools if "usage" in p]

    def usage(key: str) -> list[tuple[str, float]]:
        return [(_labels(workload=w, pool=p["name"]), float(p["usage"][key])) for w, p in metered]

    family(
        "chipfolio_gateway_pool_prompt_tokens_total",
        "counter",
        "Prompt tokens of answers that reported usage.",
        usage("prompt_tokens"),
    )
    family(
        "chipfolio_gateway_pool_completion_tokens_total",
        "counter",
        "Completion (output) tokens of answers that reported usage.",
        usage("completion_tokens"),
    )
    family(
        "chipfolio_gateway_pool_unmetered_answers_total",
        "counter",
        "Answers without usage (e.g. streams without stream_options.include_usage).",
        usage("unmetered_answers"),
    )
    family(
        "chipfolio_gateway_pool_served_tokens_per_s",
        "gauge",
        "Completion tokens/s over the last 60 s.",
        usage("recent_completion_tokens_per_s"),
    )
    family(
        "chipfolio_gateway_pool_planned_tokens_per_s",
        "gauge",
        "Output tokens/s the plan gives the pool.",
        [(_labels(workload=w, pool=p["name"]), float(p["planned_tokens_per_s"])) for w, p in pools],
    )
    pva = state.get("plan_vs_actual")
    if not pva:
        return
    vendor_of = {
        r["pool"]: r["vendor"] or "unknown" for wl in pva["workloads"].values() for r in wl["pools"]
    }
    planned: dict[str, float] = {}
    served: dict[str, float] = {}
    for _, p in pools:
        v = vendor_of.get(p["name"], "unknown")
        planned[v] = planned.get(v, 0.0) + float(p["planned_tokens_per_s"])
        if "usage" in p:
            served[v] = served.get(v, 0.0) + float(p["usage"]["recent_completion_tokens_per_s"])
    family(
        "chipfolio_gateway_vendor_planned_tokens_per_s",
        "gauge",
        "Output tokens/s the plan gives the vendor's pools.",
        [(_labels(vendor=v), x) for v, x in sorted(planned.items())],
    )
    family(
        "chipfolio_gateway_vendor_served_tokens_per_s",
        "gauge",
        "Completion tokens/s the vendor's pools served over the last 60 s.",
        [(_labels(vendor=v), served.get(v, 0.0)) for v in sorted(planned)],
    )
    family(
        "chipfolio_gateway_pool_served_share",
        "gauge",
        "The pool's share of its workload's served tokens since start (plan: pool_weight).",
        [
            (_labels(workload=w, pool=r["pool"]), float(r["served_share"]))
            for w, wl in pva["workloads"].items()
            for r in wl["pools"]
        ],
    )
    family(
        "chipfolio_gateway_workload_departure_cost_usd",
        "gauge",
        "Served tokens since start at the plan's prices minus the same tokens routed as planned.",
        [
            (_labels(workload=w), float(wl["departure_cost_usd"]))
            for w, wl in pva["workloads"].items()
            if wl["departure_cost_usd"] is not None
        ],
    )
