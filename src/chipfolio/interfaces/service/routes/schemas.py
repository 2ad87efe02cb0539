"""Request bodies of the API (responses are plain JSON documents, described in docs)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, model_validator

PortfolioValue = Annotated[
    str | dict[str, Any],
    Field(description="The portfolio: YAML text, or the same fields as a JSON object."),
]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
_Strict = ConfigDict(extra="forbid")
ID_MAX = 2**31 - 1  # ids are 32-bit integers in every supported database
Id = Annotated[int, Path(ge=1, le=ID_MAX)]


class PortfolioIn(BaseModel):
    model_config = _Strict
    name: Name | None = Field(
        default=None, description="Store under this name (default: the portfolio's own name)."
    )
    portfolio: PortfolioValue


class JobIn(BaseModel):
    """A job runs on an inline portfolio (stored as a new version) or a stored one."""

    model_config = _Strict
    portfolio: PortfolioValue | None = None
    portfolio_id: Annotated[int, Field(ge=1, le=ID_MAX)] | None = None
    version: Annotated[int, Field(ge=1, le=ID_MAX)] | None = Field(
        default=None, description="Version of portfolio_id (default: its newest)."
    )
    name: Name | None = Field(default=None, description="Name to store an inline portfolio as.")

    @model_validator(mode="after")
    def _one_source(self) -> JobIn:
        if (self.portfolio is None) == (self.portfolio_id is None):
            raise ValueError("give exactly one of 'portfolio' or 'portfolio_id'")
        if self.version is not None and self.portfolio_id is None:
            raise ValueError("'version' goes with 'portfolio_id'")
        return self


class PlanIn(JobIn):
    time_limit_s: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)] = 60.0
    gap: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.001


class LeverageIn(JobIn):
    # the whole analysis's wall-clock limit (answers it cuts short are marked in the result)
    time_limit_s: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)] = 600.0
    gap: Annotated[float, Field(ge=0, lt=0.1, allow_inf_nan=False)] = 0.001


class SimulationIn(JobIn):
    scenarios: Annotated[int, Field(ge=1, le=1_000_000)] = 200
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0
    strategies: Annotated[str, Field(min_length=1, max_length=200)] = "cheapest,capped,n1"


class TokenIn(BaseModel):
    model_config = _Strict
    name: Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[^\x00-\x1f]+$")]
    role: Annotated[str, Field(pattern=r"^(viewer|planner|admin)$")] = "viewer"
