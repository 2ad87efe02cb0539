"""SkyPilot export: golden files, SkyPilot's own task schema, and the round trip to the plan."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from export_cases import LAUNCH, check_golden, fixture_plan, plan_data
from export_validators import HAVE_SKY, skypilot_errors

from chipfolio.catalog import registry
from chipfolio.catalog.sources.parts import name_variant
from chipfolio.export import export_plan, read_plan
from chipfolio.export.accelerators import (
    SKYPILOT_ACCELERATORS,
    SKYPILOT_CLOUDS,
    SKYPILOT_NEEDS_INSTANCE_TYPE,
    SKYPILOT_TPU_SLICES,
    SKYPILOT_UNLAUNCHABLE,
    launch_region,
    skypilot_accelerator,
)

pytestmark = pytest.mark.skipif(not HAVE_SKY, reason="the export extra (skypilot) is not installed")


def _export(data: dict[str, Any] | None = None, **launch: Any) -> Any:
    plan = fixture_plan() if data is None else read_plan(data, "test.json")
    return export_plan(plan, "skypilot", launch or LAUNCH)


def _tasks(result: Any) -> dict[str, dict[str, Any]]:
    return {f.path: yaml.safe_load(f.render()) for f in result.files if f.path.endswith(".yaml")}


def test_golden_files() -> None:
    check_golden(_export())


def test_every_task_passes_skypilots_own_schemas() -> None:
    tasks = _tasks(_export())
    assert len(tasks) == len(_exportable())
    for path, task in tasks.items():
        assert skypilot_errors(task) == [], path


@pytest.mark.parametrize(
    "broken",
    [
        {"resouces": {"cloud": "aws"}},  # misspelled field
        {"num_nodes": "2"},  # wrong type
        {"resources": {"cloud": "crusoe"}},  # not a SkyPilot cloud
        {"resources": {"use_spot": "yes"}},
        {"service": {"replicas": 2, "readiness": "/health"}},
    ],
)
def test_the_validator_catches_broken_tasks(broken: dict[str, Any]) -> None:
    task = next(iter(_tasks(_export()).values()))
    for key, value in broken.items():
        if isinstance(value, dict) and isinstance(task.get(key), dict):
            task[key] = {**task[key], **value}
        else:
            task[key] = value
    assert skypilot_errors(task)


def _read_back(tasks: dict[str, dict[str, Any]]) -> Counter[tuple[str, str | None, int, str]]:
    """(chip, region, chips, cloud) of each task, read only from SkyPilot's fields."""
    out: Counter[tuple[str, str | None, int, str]] = Counter()
    for task in tasks.values():
        res = task["resources"]
        name = res["accelerators"]
        if ":" in name:
            accelerator, per_node = name.split(":")
            chip, count = registry().get(accelerator).id, int(per_node)
        else:
            tpu = registry().tpu_slice(name)
            assert tpu is not None, name
            chip, count = tpu.chip_id, tpu.chips
        nodes = task["service"]["replicas"] if "service" in task else task["num_nodes"]
        out[(chip, res.get("region"), count * nodes, res["cloud"])] += 1
    return out


def _exportable() -> list[Any]:
    return [
        a
        for a in fixture_plan().allocations
        if a.workload is not None
        and a.provider in SKYPILOT_CLOUDS
        and a.chip != "maia-200"
        and (a.provider, a.chip) not in SKYPILOT_UNLAUNCHABLE
    ]


def test_round_trip_gives_the_plans_chips_counts_and_regions() -> None:
    result = _export()
    plan = fixture_plan()
    exported = _exportable()
    assert {a.provider for a in exported} == {"gcp"}  # aws here is Trainium2 only
    expected = Counter(
        (a.chip, a.region if launch_region(a.provider, a.region) else None, a.chips, a.provider)
        for a in exported
    )
    assert _read_back(_tasks(result)) == expected
    # every allocation is either a task or a counted skip
    assert len(exported) + len(result.skipped) == len(plan.allocations)


def test_skips_are_counted_with_their_reasons() -> None:
    counts = _export().skip_counts()
    allocations = fixture_plan().allocations
    maia = sum(a.chip == "maia-200" and a.workload is not None for a in allocations)
    crusoe = sum(a.provider == "crusoe" and a.workload is not None for a in allocations)
    idle = sum(a.workload is None for a in allocations)
    trn2 = sum(a.chip == "trainium2" and a.workload is not None for a in allocations)
    expected = {
        SKYPILOT_UNLAUNCHABLE[("aws", "trainium2")]: trn2,
        "chip 'maia-200' has no SkyPilot accelerator name": maia,
        "provider 'crusoe' is not a SkyPilot cloud": crusoe,
        "unused commitment (no workload to launch)": idle,
    }
    assert maia and crusoe and trn2
    assert counts == {k: v for k, v in expected.items() if v}


def test_training_is_a_multi_node_task_and_inference_a_service() -> None:
    tasks = _tasks(_export())
    finetune = tasks["skypilot/finetune-8b-tpu-v6e-gcp-h0-336.yaml"]
    assert finetune["num_nodes"] == 2 and "service" not in finetune
    assert finetune["resources"]["accelerators"] == "tpu-v6e-1"
    # SkyPilot refuses an instance type for a TPU VM: the slice name alone says it
    assert "instance_type" not in finetune["resources"]
    # the offer was priced for the area "asia-northeast": no region that no node carries
    assert "region" not in finetune["resources"]
    assert finetune["run"].startswith("python train.py")
    chat = tasks["skypilot/chat-tpu-v6e-gcp-h0-672.yaml"]
    planned = next(
        a for a in fixture_plan().allocations if a.workload == "chat" and a.chip == "tpu-v6e"
    )
    assert chat["service"]["replicas"] == planned.instances and chat["num_nodes"] == 1
    assert chat["resources"]["region"] == "us-east5"
    assert chat["resources"]["image_id"] == "docker:vllm/vllm-openai:v0.6.3"
    assert chat["resources"]["use_spot"] is False
    assert not any("trainium2" in path for path in tasks)  # routed to the Kubernetes exports
    code = tasks["skypilot/code-tpu-v6e-gcp-h0-672.yaml"]
    assert "exit 1" in code["run"]  # no launch section: a placeholder that fails loudly


def test_launch_script_lists_one_command_per_task() -> None:
    result = _export()
    script = next(f for f in result.files if f.path == "skypilot/launch.sh").render()
    assert script.startswith("#!/usr/bin/env bash\n")
    lines = [line for line in script.splitlines() if line.startswith("sky ")]
    assert len(lines) == len(_exportable())
    inference = sum(a.kind == "inference" for a in _exportable())
    assert sum(line.startswith("sky serve up") for line in lines) == inference
    assert any(line.startswith("sky launch -y -c finetune-8b") for line in lines)


def test_spot_allocations_use_spot_and_managed_jobs(tmp_path: Path) -> None:
    data = plan_data()
    a = next(x for x in data["allocations"] if x["workload"] == "finetune-8b")
    data["allocations"] = [
        {**a, "offer": "gcp:tpu-v6e-1:us-east5:us-east5-b:spot", "region": "us-east5"}
    ]
    # old plans: pricing, instance type and zone read from the catalog id
    for key in ("pricing", "instance_type", "zone"):
        data["allocations"][0].pop(key)
    result = _export(data)
    task = next(iter(_tasks(result).values()))
    assert task["resources"]["use_spot"] is True
    assert task["resources"]["zone"] == "us-east5-b"
    assert skypilot_errors(task) == []
    script = next(f for f in result.files if f.path.endswith(".sh")).render()
    assert "sky jobs launch -y -n finetune-8b" in script


def test_every_skypilot_name_resolves_to_its_chip_in_the_registry() -> None:
    # names that also cover other parts resolve to the chip only with the instance type's word
    words = {"a100-40gb": "sxm", "a100-80gb-pcie": "pcie", "h100-pcie": "pcie", "h100-nvl": "nvl"}
    for chip, name in SKYPILOT_ACCELERATORS.items():
        if chip in SKYPILOT_NEEDS_INSTANCE_TYPE:
            variant = name_variant(name, words[chip])
            found = variant.chip if variant is not None else registry().get(name).id
            assert found == chip, name
        else:
            assert registry().get(name).id == chip
        assert skypilot_accelerator(chip, 8) == f"{name}:8"
    assert skypilot_accelerator("h100-nvl", 1, "azure") == "H100:1"  # Azure's catalog name
    for chip, (_prefix, cores) in SKYPILOT_TPU_SLICES.items():
        slice_name = skypilot_accelerator(chip, 4)
        assert slice_name is not None
        tpu = registry().tpu_slice(slice_name)
        assert tpu is not None and tpu.chip_id == chip and tpu.chips == 4, slice_name
        assert slice_name.endswith(f"-{4 * cores}")
    assert skypilot_accelerator("maia-200", 4) is None


def test_known_clouds_are_skypilots_clouds() -> None:
    from sky.skylet import constants

    assert set(constants.ALL_CLOUDS) >= SKYPILOT_CLOUDS
    assert "crusoe" not in SKYPILOT_CLOUDS


def test_exported_share_is_the_exported_chip_hours() -> None:
    plan = fixture_plan()
    total = sum(a.chip_hours for a in plan.allocations if a.workload is not None)
    exported = sum(a.chip_hours for a in _exportable())
    share = _export().exported_share(plan)
    assert 0 < share < 1
    assert share == pytest.approx(exported / total)
