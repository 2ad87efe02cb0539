"""Exported SkyPilot tasks load with SkyPilot 0.14.1's ``Task.from_yaml`` and its optimizer finds
a feasible resource for each, offline, against the catalog rows the plan was priced from.

One child process runs SkyPilot for the whole module (see sky_offline.py): about 6 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from export_cases import LAUNCH, fixture_plan
from export_validators import HAVE_SKY
from sky_offline import feasibility

from chipfolio.export import export_plan

pytestmark = [
    pytest.mark.skipif(not HAVE_SKY, reason="the export extra (skypilot) is not installed"),
    pytest.mark.slow,
]

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared" / "data" / "skypilot-catalog" / "v8"
FIXTURE = REPO / "tests" / "fixtures" / "catalog" / "skypilot-launch" / "v8"

# What SkyPilot refused before the export changed (the two cases), kept as controls:
# they must still be refused, or the check would prove nothing.
REFUSED = {
    "control-tpu-with-instance-type": (
        "resources: {cloud: gcp, region: us-east5, accelerators: tpu-v6e-8, "
        "instance_type: tpu-v6e-8}\nrun: echo\n"
    ),
    "control-trainium2": (
        "resources: {cloud: aws, region: us-east-1, accelerators: 'Trainium2:16'}\nrun: echo\n"
    ),
}


def _catalogs() -> tuple[dict[str, Path], Path]:
    if SHARED.is_dir():  # the catalog the bundled snapshot (and so the fixture plan) came from
        extract = "vms.extract.csv"
        found = {"aws": SHARED / "aws" / extract, "gcp": SHARED / "gcp" / extract}
        return found, SHARED / "common" / "accelerators.csv"
    found = {"aws": FIXTURE / "aws" / "vms.csv", "gcp": FIXTURE / "gcp" / "vms.csv"}
    return found, FIXTURE / "common" / "accelerators.csv"


@pytest.fixture(scope="module")
def checked() -> tuple[Any, dict[str, dict[str, Any]]]:
    result = export_plan(fixture_plan(), "skypilot", LAUNCH)
    tasks = {Path(f.path).stem: f.render() for f in result.files if f.path.endswith(".yaml")}
    catalogs, common = _catalogs()
    return result, feasibility({**tasks, **REFUSED}, catalogs, common)


def test_every_exported_task_loads_and_is_feasible(
    checked: tuple[Any, dict[str, dict[str, Any]]],
) -> None:
    result, verdicts = checked
    names = [Path(f.path).stem for f in result.files if f.path.endswith(".yaml")]
    assert names
    for name in names:
        assert verdicts[name]["ok"], (name, verdicts[name]["error"])
        assert verdicts[name]["best"].startswith("GCP("), verdicts[name]


def test_the_controls_are_still_refused(checked: tuple[Any, dict[str, dict[str, Any]]]) -> None:
    _, verdicts = checked
    tpu = verdicts["control-tpu-with-instance-type"]
    assert not tpu["ok"] and "Cannot specify instance type" in tpu["error"]
    trn2 = verdicts["control-trainium2"]
    assert not trn2["ok"] and "Catalog does not contain any instances" in trn2["error"]
