"""Prometheus metrics of one app (own registry, so several apps in one process stay apart)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """Plans solved, solve seconds, jobs by kind and state, HTTP requests."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.plans_solved = Counter(
            "chipfolio_plans_solved",
            "Plans solved, by outcome (optimal, feasible, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self.solve_seconds = Histogram(
            "chipfolio_plan_solve_seconds",
            "Wall seconds per plan job (parse, build, solve).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.jobs = Counter(
            "chipfolio_jobs",
            "Background jobs finished, by kind and final status.",
            ["kind", "status"],
            registry=self.registry,
        )
        self.jobs_in_flight = Gauge(
            "chipfolio_jobs_in_flight",
            "Background jobs queued or running in this process, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.job_engine = Counter(
            "chipfolio_job_engine",
            "Background jobs started, by kind and where they compute (local or ray).",
            ["kind", "engine"],
            registry=self.registry,
        )
        self.requests = Counter(
            "chipfolio_http_requests",
            "HTTP requests answered, by method and status code.",
            ["method", "code"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
