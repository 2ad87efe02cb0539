"""Procurement: which commitments to sign, with whom, for how long and when, under uncertain
demand — a multi-stage stochastic MILP solved through the planner's solver seam.

Entry points: ``load_procurement(path)`` / ``parse_procurement_text(text)`` -> ``Procurement``;
``solve_procurement(procurement, options)`` -> ``ProcurementResult`` (``to_json()``);
``build_model`` for the formulation alone. docs/procurement.md states the model.
"""

from chipfolio.procurement.model import ProcurementModel, Tree, build_model, build_tree
from chipfolio.procurement.result import (
    Commitment,
    PeriodSummary,
    ProcurementResult,
    ScenarioOutcome,
    cvar,
    weighted_quantile,
)
from chipfolio.procurement.solve import decode, solve_procurement
from chipfolio.procurement.spec import (
    Procurement,
    ProcurementSpec,
    load_procurement,
    parse_procurement_text,
    procurement_from_data,
)

__all__ = [
    "Commitment",
    "PeriodSummary",
    "Procurement",
    "ProcurementModel",
    "ProcurementResult",
    "ProcurementSpec",
    "ScenarioOutcome",
    "Tree",
    "build_model",
    "build_tree",
    "cvar",
    "decode",
    "load_procurement",
    "parse_procurement_text",
    "procurement_from_data",
    "solve_procurement",
    "weighted_quantile",
]
