"""Calibration: the shipped fit, refits, priors, and error reporting."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from chipfolio.domain import SoftwareStack
from chipfolio.errors import InputError
from chipfolio.perfmodel.calibration import data_loss, evaluate, fit_calibration, summarize
from chipfolio.perfmodel.efficiency import (
    UNCALIBRATED,
    Calibration,
    StackEfficiency,
    default_calibration,
    load_calibration,
)
from chipfolio.perfmodel.measurements import ResultsFile
from chipfolio.perfmodel.predict import predict


def test_shipped_calibration_meets_the_accuracy_target(published: ResultsFile) -> None:
    results = evaluate(published.measurements, default_calibration())
    summary = summarize(results)
    assert summary.rows >= 30 and summary.chips >= 5 and summary.vendors >= 3
    assert summary.median_abs_pct <= 15.0


def test_shipped_calibration_covers_the_measured_stacks() -> None:
    cal = default_calibration()
    assert {
        SoftwareStack.CUDA,
        SoftwareStack.XLA,
        SoftwareStack.NEURON,
        SoftwareStack.SYNAPSE,
    } <= set(cal.stacks)
    assert not cal.is_calibrated(SoftwareStack.ROCM)
    assert cal.for_stack(SoftwareStack.ROCM) is cal.default
    for eff in (cal.default, *cal.stacks.values()):
        assert 0 < eff.matmul <= 1 and 0 < eff.hbm <= 1


def test_fit_recovers_a_known_calibration(published: ResultsFile) -> None:
    truth = dataclasses.replace(
        UNCALIBRATED,
        default=StackEfficiency(0.5, 0.7, 40.0, 300.0, 3.0),
        stacks={SoftwareStack.CUDA: StackEfficiency(0.45, 0.85, 15.0, 150.0, 2.0)},
    )
    rows = [m for m in published.measurements if m.chip.stack is SoftwareStack.CUDA]
    synthetic = [dataclasses.replace(m, value=predict(m, truth)) for m in rows]
    fitted = fit_calibration(synthetic)
    errors = [abs(predict(m, fitted) / m.value - 1) for m in synthetic]
    assert max(errors) < 0.05
    assert fitted.for_stack(SoftwareStack.CUDA).hbm == pytest.approx(0.85, abs=0.1)


def test_refit_from_the_default_keeps_unmeasured_stacks(published: ResultsFile) -> None:
    base = default_calibration()
    rows = [m for m in published.measurements if m.chip.stack is SoftwareStack.SYNAPSE]
    refit = fit_calibration(rows, base, label="user")
    assert refit.for_stack(SoftwareStack.XLA) == base.for_stack(SoftwareStack.XLA)
    assert refit.rows == len(rows) and refit.label == "user"
    # Starting from the prior centre, the fit can only lower the loss on its rows.
    assert data_loss(rows, refit) < data_loss(rows, base)


def test_user_measurements_override_the_defaults(published: ResultsFile) -> None:
    """A user whose H100s serve at 60% of the published speed gets estimates to match."""
    base = default_calibration()
    rows = [
        m for m in published.measurements if m.chip.id == "h100-sxm" and not m.metric.is_training
    ]
    slower = [dataclasses.replace(m, value=0.6 * predict(m, base)) for m in rows]
    refit = fit_calibration(slower, base)
    for m in slower:
        assert predict(m, refit) == pytest.approx(m.value, rel=0.1)


def test_fit_without_usable_rows_is_an_input_error() -> None:
    with pytest.raises(InputError, match="nothing to fit"):
        fit_calibration([])


def test_calibration_round_trips_through_json(tmp_path: Path) -> None:
    cal = default_calibration()
    path = tmp_path / "cal.json"
    cal.save(path)
    back = load_calibration(path)
    assert back.to_json() == json.loads(path.read_text())
    assert back.for_stack(SoftwareStack.CUDA) == cal.for_stack(SoftwareStack.CUDA)


@pytest.mark.parametrize("content", ["{", "[]", '{"stacks": {}}', '{"default": {"matmul": 2}}'])
def test_bad_calibration_files_are_input_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "cal.json"
    path.write_text(content)
    with pytest.raises(InputError):
        load_calibration(path)


def test_efficiencies_are_bounded() -> None:
    with pytest.raises(InputError):
        StackEfficiency(1.5, 0.8, 1.0, 1.0)
    with pytest.raises(InputError):
        StackEfficiency(0.5, 0.8, -1.0, 1.0)
    assert isinstance(UNCALIBRATED, Calibration)
