"""KubeRay export: goldens, RayJob/RayCluster schemas with pod templates checked by the
Kubernetes models, and worker groups sized from the plan."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from export_cases import LAUNCH, check_golden, fixture_plan
from export_validators import document_errors

from chipfolio.export import LaunchInfo, export_plan
from chipfolio.export.accelerators import DEVICE_RESOURCES
from chipfolio.export.ray import entrypoint

pytest.importorskip("kubernetes", reason="the export extra (kubernetes) is not installed")


@pytest.fixture(scope="module")
def result() -> Any:
    return export_plan(fixture_plan(), "ray", LAUNCH)


def _docs(result: Any) -> list[dict[str, Any]]:
    return [yaml.safe_load(f.render()) for f in result.files]


def test_golden_files(result: Any) -> None:
    check_golden(result)


def test_every_spec_validates_and_matches_its_allocation(result: Any) -> None:
    docs = _docs(result)
    planned = [a for a in fixture_plan().allocations if a.workload and a.chip != "maia-200"]
    assert len(docs) == len(planned)
    by_key = {
        (
            d["metadata"]["annotations"]["chipfolio.dev/offer"],
            d["metadata"]["annotations"]["chipfolio.dev/hours"],
            d["metadata"]["labels"]["chipfolio.dev/workload"],
        ): d
        for d in docs
    }
    for a in planned:
        doc = by_key[(a.offer, f"{a.from_hour:g}-{a.to_hour:g}", a.workload)]
        assert document_errors(doc) == [], a.label
        assert doc["kind"] == ("RayCluster" if a.kind == "inference" else "RayJob")
        spec = doc["spec"] if a.kind == "inference" else doc["spec"]["rayClusterSpec"]
        (group,) = spec["workerGroupSpecs"]
        assert group["replicas"] == group["minReplicas"] == group["maxReplicas"] == a.instances
        pod = group["template"]["spec"]
        limits = pod["containers"][0]["resources"]["limits"]
        assert limits == {DEVICE_RESOURCES[a.vendor]: str(a.chips_per_instance)}
        assert pod["nodeSelector"] and pod["tolerations"]
        head = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
        assert "limits" not in head["resources"]  # no chips on the head


def test_validator_catches_a_broken_worker_template(result: Any) -> None:
    doc = copy.deepcopy(next(d for d in _docs(result) if d["kind"] == "RayJob"))
    group = doc["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
    group["template"]["spec"]["containers"][0]["resource"] = {}
    assert any("resource: not a field of V1Container" in e for e in document_errors(doc))
    group["replicas"] = group["maxReplicas"] + 1
    assert any("outside" in e for e in document_errors(doc))
    doc["spec"]["entrypoints"] = doc["spec"].pop("entrypoint")
    assert any("entrypoints" in e for e in document_errors(doc))


def test_entrypoint_runs_setup_then_run_or_fails_loudly() -> None:
    assert entrypoint("w", LaunchInfo(run="python train.py\n")) == "python train.py"
    both = entrypoint("w", LaunchInfo(setup="pip install x", run="python train.py"))
    assert both == "bash -c 'pip install x\npython train.py'"
    missing = entrypoint("w", LaunchInfo())
    assert "exit 1" in missing and "launch.run" in missing


def test_envs_become_the_runtime_env() -> None:
    plan = fixture_plan()
    launch = {"finetune-8b": LaunchInfo(run="python t.py", envs={"B": "2", "A": "x y"})}
    result = export_plan(plan, "ray", launch)
    job = next(d for d in _docs(result) if d["kind"] == "RayJob")
    assert yaml.safe_load(job["spec"]["runtimeEnvYAML"]) == {"env_vars": {"A": "x y", "B": "2"}}
    assert document_errors(job) == []
