"""Simulation: Monte Carlo of futures with events, re-planning as they land.

``simulate(problem, scenarios=N, seed=S, ...)`` runs every strategy through the same sampled
futures on an executor (``LocalExecutor`` by default, ``RayExecutor`` for clusters) and
returns a ``Simulation`` whose ``to_json()`` is the document of ``chipfolio simulate``.
See docs/simulation.md.
"""

from chipfolio.simulation.demand import DemandAssumptions
from chipfolio.simulation.events import EventAssumptions
from chipfolio.simulation.model import Reaction, Schedule
from chipfolio.simulation.runners import Executor, LocalExecutor, RayExecutor
from chipfolio.simulation.strategies import ReplanMode, StrategyName
from chipfolio.simulation.study import Simulation, simulate

__all__ = [
    "DemandAssumptions",
    "EventAssumptions",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "Reaction",
    "ReplanMode",
    "Schedule",
    "Simulation",
    "StrategyName",
    "simulate",
]
