"""chipfolio: plan, hedge and run AI compute across every accelerator vendor at once."""

from chipfolio.domain import Chip, Offer, Precision, PricingModel, SiliconVendor, SoftwareStack
from chipfolio.errors import (
    CatalogError,
    ChipfolioError,
    InfeasibleError,
    InputError,
    ModelError,
    SchemaError,
    SolverError,
    UnknownNameError,
)

__version__ = "0.1.0"

__all__ = [
    "CatalogError",
    "Chip",
    "ChipfolioError",
    "InfeasibleError",
    "InputError",
    "ModelError",
    "Offer",
    "Precision",
    "PricingModel",
    "SchemaError",
    "SiliconVendor",
    "SoftwareStack",
    "SolverError",
    "UnknownNameError",
    "__version__",
]
