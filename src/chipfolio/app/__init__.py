"""The use cases the CLI and the service share: plan, leverage, simulate and procure.

Each takes a loaded portfolio (or procurement file) and plain options, chooses the catalog,
builds the problem and calls the core's public entry points, so "load, choose the catalog,
build, refuse what the analysis cannot take, run" is written once. Interfaces read their
inputs (a file, a request body, a database row) and present the results; nothing here
reads the environment or imports a CLI or web framework.
"""

from chipfolio.app.leverage import leverage_options, leverage_portfolio
from chipfolio.app.plan import plan_portfolio
from chipfolio.app.problem import problem_for, require_least_cost
from chipfolio.app.procure import procure_file
from chipfolio.app.simulate import SimulationRequest, simulate_portfolio

__all__ = [
    "SimulationRequest",
    "leverage_options",
    "leverage_portfolio",
    "plan_portfolio",
    "problem_for",
    "procure_file",
    "require_least_cost",
    "simulate_portfolio",
]
