"""Plans from the real wide catalog export to specs that validate and that SkyPilot can place.

Every Kubernetes object of the kueue and ray exports validates against the real CRD schemas;
every SkyPilot task loads with ``sky.Task.from_yaml`` and gets a feasible resource from
SkyPilot's optimizer against the wide catalog files themselves (offline, see sky_offline.py);
every allocation is either in a launchable spec or counted in the export report with a reason.
Skipped when ``../shared/data/skypilot-catalog-wide`` is absent.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from export_validators import HAVE_SKY, document_errors
from wide_plans import WIDE, catalog_plan, solver_plan

from chipfolio.catalog.sources.skypilot_csv import import_skypilot_dir
from chipfolio.export import ExportResult, export_plan, read_plan
from chipfolio.export.accelerators import SKYPILOT_UNLAUNCHABLE

pytestmark = pytest.mark.skipif(
    not (WIDE / "v8" / "gcp" / "vms.csv").is_file(), reason="shared wide catalog absent"
)
COMMON = WIDE.parent / "skypilot-catalog" / "v8" / "common" / "accelerators.csv"


@pytest.fixture(scope="module")
def plans() -> dict[str, Any]:
    offers, _ = import_skypilot_dir(WIDE)
    return {
        "solver": read_plan(solver_plan(), "wide-lab.plan.json"),
        "catalog": read_plan(catalog_plan(offers), "wide-catalog.plan.json"),
    }


def _docs(result: ExportResult) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f.path, doc)
        for f in result.files
        if f.path.endswith(".yaml")
        for doc in yaml.safe_load_all(f.render())
        if doc is not None
    ]


def _accounted(result: ExportResult, plan: Any) -> None:
    """Every workload allocation is in the export or counted under a reason."""
    workload = [a for a in plan.allocations if a.workload is not None]
    skipped = [s for s in result.skipped if s.chip_hours > 0]
    specs = [f for f in result.files if f.path.endswith(".yaml") and "00-queues" not in f.path]
    assert len(specs) + len(skipped) == len(workload), result.skip_counts()
    assert all(s.reason for s in result.skipped)


@pytest.mark.parametrize("which", ["solver", "catalog"])
@pytest.mark.parametrize("target", ["kueue", "ray"])
def test_kubernetes_exports_validate(plans: dict[str, Any], which: str, target: str) -> None:
    plan = plans[which]
    result = export_plan(plan, target)
    docs = _docs(result)
    assert docs
    for path, doc in docs:
        assert document_errors(doc) == [], (path, doc.get("kind"))
    _accounted(result, plan)
    assert not any("no known Kubernetes" in s.reason for s in result.skipped)


@pytest.mark.skipif(not HAVE_SKY, reason="the export extra (skypilot) is not installed")
@pytest.mark.slow
def test_skypilot_tasks_load_and_are_feasible_on_the_wide_catalog(plans: dict[str, Any]) -> None:
    from sky_offline import feasibility

    tasks: dict[str, str] = {}
    reports: dict[str, Counter[str]] = {}
    for which, plan in plans.items():
        result = export_plan(plan, "skypilot")
        _accounted(result, plan)
        reports[which] = Counter(result.skip_counts())
        for f in result.files:
            if f.path.endswith(".yaml"):
                tasks[f"{which}-{Path(f.path).stem}"] = f.render()
    catalogs = {"gcp": WIDE / "v8" / "gcp" / "vms.csv", "azure": WIDE / "v8" / "azure" / "vms.csv"}
    verdicts = feasibility(tasks, catalogs, COMMON)
    refused = {name: v["error"] for name, v in verdicts.items() if not v["ok"]}
    assert refused == {}
    assert len(verdicts) == len(tasks) > 40
    # the solver's plan holds reserved Trainium2: counted, with the route to Kubernetes
    assert reports["solver"][SKYPILOT_UNLAUNCHABLE[("aws", "trainium2")]] == 2
