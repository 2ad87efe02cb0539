"""Performance model: how fast a workload runs on a given number of chips.

The functions the planner and the CLI call live in :mod:`chipfolio.perfmodel.api`; the
result types are re-exported here with them.
"""

from chipfolio.perfmodel.api import (
    default_calibration,
    estimate_inference,
    estimate_training,
    fit_calibration,
    get_model,
    inference_capability,
    load_models_yaml,
    load_results_csv,
    training_capability,
)
from chipfolio.perfmodel.efficiency import Calibration, StackEfficiency, load_calibration
from chipfolio.perfmodel.inference import InferenceEstimate, ReplicaCapability
from chipfolio.perfmodel.measurements import Measurement, Metric
from chipfolio.perfmodel.training import Layout, LayoutHint, TrainingEstimate
from chipfolio.workloads.models import ModelArch

__all__ = [
    "Calibration",
    "InferenceEstimate",
    "Layout",
    "LayoutHint",
    "Measurement",
    "Metric",
    "ModelArch",
    "ReplicaCapability",
    "StackEfficiency",
    "TrainingEstimate",
    "default_calibration",
    "estimate_inference",
    "estimate_training",
    "fit_calibration",
    "get_model",
    "inference_capability",
    "load_calibration",
    "load_models_yaml",
    "load_results_csv",
    "training_capability",
]
