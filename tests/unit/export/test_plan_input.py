"""The exporters' input: plan JSON checking, names, peaks, offer details, launch sections."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from export_cases import EXAMPLE, plan_data
from hypothesis import given
from hypothesis import strategies as st

from chipfolio.errors import InputError
from chipfolio.export import (
    export_plan,
    launch_infos,
    offer_details,
    read_plan,
)
from chipfolio.export.model import PlannedAllocation, dns_name, peak_chips
from chipfolio.planner.plan import Allocation
from chipfolio.workloads.spec import load_portfolio

DNS = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _broken(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(plan_data())
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "field", "message"),
    [
        (("allocations",), KeyError, "allocations", "expected a list"),
        (("allocations",), {"a": 1}, "allocations", "expected a list"),
        (("allocations", 0), "x", "allocations[0]", "expected an object"),
        (("allocations", 0, "workload"), 3, "allocations[0].workload", "non-empty string"),
        (("allocations", 0, "workload"), "ghost", "allocations[0].workload", "not listed"),
        (("allocations", 1, "instances"), -1, "allocations[1].instances", "integer"),
        (("allocations", 1, "instances"), True, "allocations[1].instances", "integer"),
        (("allocations", 1, "instances"), 2.5, "allocations[1].instances", "integer"),
        (("allocations", 1, "chips"), 10**12, "allocations[1].chips", "integer"),
        (("allocations", 1, "from_hour"), math.nan, "allocations[1].from_hour", "finite"),
        (("allocations", 1, "to_hour"), "soon", "allocations[1].to_hour", "number"),
        (("allocations", 1, "to_hour"), 0.0, "allocations[1].to_hour", "after from_hour"),
        (("allocations", 1, "provider"), "", "allocations[1].provider", "non-empty"),
        (("allocations", 1, "chip"), "x" * 501, "allocations[1].chip", "non-empty"),
        (("allocations", 1, "pricing"), "free", "allocations[1].pricing", "on_demand"),
        (("allocations", 1, "chips_per_instance"), 0, "allocations[1].chips_per_instance", ""),
        (("allocations", 1, "chips_per_instance"), 3, "allocations[1].chips", "instances x"),
        (("workloads",), "chat", "workloads", "expected a list"),
        (("workloads", 0, "kind"), "batch", "workloads[0].kind", "training"),
    ],
)
def test_bad_plans_name_the_field(
    path: tuple[Any, ...], value: Any, field: str, message: str
) -> None:
    with pytest.raises(InputError) as info:
        read_plan(_broken(path, value), "plan.json")
    text = str(info.value)
    assert text.startswith(f"plan.json, field '{field}'"), text
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize("data", [None, [], "plan", 3])
def test_non_objects_are_refused(data: Any) -> None:
    with pytest.raises(InputError, match="expected a plan object"):
        read_plan(data, "plan.json")


def test_old_plans_without_pricing_or_chips_per_instance_still_read() -> None:
    data = plan_data()
    for a in data["allocations"]:
        a.pop("pricing")
        a.pop("chips_per_instance")
    plan = read_plan(data, "old.json")
    catalog = [a for a in plan.allocations if a.offer.count(":") == 4]
    assert catalog and all(a.pricing == "on_demand" for a in catalog)
    assert all(a.pricing is None for a in plan.allocations if a.offer.count(":") != 4)
    assert all(a.chips == a.instances * a.chips_per_instance for a in plan.allocations)
    data["allocations"][0]["chips"] += 1
    with pytest.raises(InputError, match="do not split evenly"):
        read_plan(data, "old.json")


def test_the_fixture_has_every_key_the_planner_writes_today() -> None:
    keys = set(Allocation("w", "o", "p", "v", "c", "r", 1, 1, 0.0, 0.0, 0.0, 1.0).to_json())
    keys.add("uncalibrated_estimate")  # written by Plan.to_json beside each allocation
    for a in plan_data()["allocations"]:
        assert set(a) == keys, "regenerate the fixture: chipfolio plan ... --json"


@given(st.text(max_size=200), st.text(max_size=30))
def test_dns_names_are_always_valid(a: str, b: str) -> None:
    name = dns_name(a, b, limit=40)
    assert DNS.match(name) and len(name) <= 40, name


def test_long_names_sharing_a_prefix_stay_distinct() -> None:
    long = "w" * 80
    assert dns_name(long + "a") != dns_name(long + "b")
    assert len(dns_name(long + "a")) == 63
    assert dns_name("Chat_Model.v2") == "chat-model-v2"
    assert dns_name("8b-tune") == "x-8b-tune"


def _alloc(start: float, end: float, chips: int) -> PlannedAllocation:
    return PlannedAllocation(0, "w", "training", "o", "p", "v", "c", "r", 1, chips, chips,
                             None, start, end)  # fmt: skip


def test_peak_chips_counts_overlaps_only() -> None:
    assert peak_chips([_alloc(0, 10, 4), _alloc(10, 20, 6)]) == 6  # back to back
    assert peak_chips([_alloc(0, 10, 4), _alloc(5, 20, 6), _alloc(6, 7, 1)]) == 11
    assert peak_chips([]) == 0


def test_older_plans_get_instance_type_and_zone_from_catalog_offer_ids() -> None:
    data = copy.deepcopy(plan_data())
    first = data["allocations"][0]
    rows = [
        ("aws:p5.48xlarge:us-east-1:us-east-1a:spot", "p5.48xlarge", "us-east-1a"),
        ("gcp:tpu-v6e-8:us-east5:-:on_demand", "tpu-v6e-8", None),
        ("azure-maia200-lease", None, None),
    ]
    data["allocations"] = []
    for offer, _, _ in rows:
        a = {k: v for k, v in first.items() if k not in ("instance_type", "zone")}
        data["allocations"].append({**a, "offer": offer, "pricing": None})
    plan = read_plan(data, "old.json")
    for a, (_, instance_type, zone) in zip(plan.allocations, rows, strict=True):
        assert (a.instance_type, a.zone) == (instance_type, zone)


def _portfolio_with_launch(tmp_path: Path, extra: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("data/Azure", str(EXAMPLE.parent / "data" / "Azure"))
    text = text.replace(
        "    frameworks: [pytorch, vllm]\n  - name: code",
        f"    frameworks: [pytorch, vllm]\n{extra}  - name: code",
    )
    text = text.replace(
        "    chips_per_instance: 16\n",
        "    chips_per_instance: 16\n    instance_type: trn2.48xlarge\n",
    )
    path = tmp_path / "lab.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_launch_sections_and_private_instance_types_come_from_the_portfolio(
    tmp_path: Path,
) -> None:
    extra = (
        "    launch:\n      image: vllm/vllm-openai:v0.6.3\n      run: vllm serve x\n"
        "      envs: {HF_TOKEN: ''}\n      port: 8080\n"
    )
    portfolio = load_portfolio(_portfolio_with_launch(tmp_path, extra))
    launch = launch_infos(portfolio)
    assert set(launch) == {"chat"}
    assert launch["chat"].port == 8080 and launch["chat"].envs == {"HF_TOKEN": ""}
    plan = read_plan(plan_data(), "p.json")
    details = offer_details(plan, portfolio)
    assert details["aws-trn2-reserved"].instance_type == "trn2.48xlarge"
    assert "azure-maia200-lease" not in details
    result = export_plan(plan, "skypilot", launch, details)
    text = "".join(f.render() for f in result.files if "chat-tpu-v6e" in f.path)
    assert "ports: 8080" in text
    # Trainium2 goes to Kubernetes, where the private offer's instance type selects the nodes
    kueue = export_plan(plan, "kueue", launch, details)
    text = "".join(f.render() for f in kueue.files if "chat-trainium2" in f.path)
    assert "node.kubernetes.io/instance-type: trn2.48xlarge" in text


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("    launch: {envs: {'1BAD': x}}\n", "workloads[2].launch.envs"),
        ("    launch: {port: 70000}\n", "workloads[2].launch.port"),
        ("    launch: {image: 'two words'}\n", "workloads[2].launch.image"),
        ("    launch: {command: run}\n", "workloads[2].launch.command"),
    ],
)
def test_bad_launch_sections_name_the_field(tmp_path: Path, extra: str, field: str) -> None:
    with pytest.raises(InputError) as info:
        load_portfolio(_portfolio_with_launch(tmp_path, extra))
    assert field in str(info.value)


def test_unknown_target_is_refused() -> None:
    with pytest.raises(InputError, match="unknown target 'nomad'"):
        export_plan(read_plan(plan_data(), "p.json"), "nomad")


def test_aws_instance_types_agree_with_the_catalog_importer() -> None:
    from chipfolio.catalog.sources.parts import AWS_INSTANCE_CHIPS
    from chipfolio.export.accelerators import AWS_INSTANCE_TYPES

    for (chip, per_instance), instance_type in AWS_INSTANCE_TYPES.items():
        assert AWS_INSTANCE_CHIPS.get(instance_type) == (chip, per_instance), instance_type


def test_gke_and_fallback_node_labels() -> None:
    from chipfolio.export.accelerators import node_target

    mega = node_target("gcp", "nvidia", "h100-sxm", "us-east4", 8, "a3-megagpu-8g")
    plain = node_target("gcp", "nvidia", "h100-sxm", "us-east4", 8, "a3-highgpu-8g")
    assert mega is not None and plain is not None
    assert mega.labels["cloud.google.com/gke-accelerator"] == "nvidia-h100-mega-80gb"
    assert plain.labels["cloud.google.com/gke-accelerator"] == "nvidia-h100-80gb"
    gb200 = node_target("gcp", "nvidia", "gb200", "us-east4", 4, None)
    assert gb200 is not None
    assert gb200.labels == {
        "chipfolio.dev/accelerator": "gb200",
        "topology.kubernetes.io/region": "us-east4",  # GKE sets it on every node
    }
    assert gb200.operator_labels == ("chipfolio.dev/accelerator=gb200",)
    neo = node_target("lambda", "nvidia", "h100-sxm", "us-east-1", 8, "gpu_8x_h100_sxm5")
    assert neo is not None and "topology.kubernetes.io/region" not in neo.labels
    assert node_target("azure", "microsoft", "maia-200", "eastus", 4, None) is None


def _one_workload_plan(names: list[str], **changes: Any) -> dict[str, Any]:
    """The fixture's chat allocation on Trainium2, once per name, with ``changes`` applied."""
    data = plan_data()
    chat = next(
        a for a in data["allocations"] if a["chip"] == "tpu-v6e" and a["workload"] == "chat"
    )
    data["allocations"] = [{**chat, "workload": n, **changes} for n in names]
    data["workloads"] = [
        {"name": n, "kind": "inference", "demand_tokens_per_s": 1.0} for n in names
    ]
    return data


@pytest.mark.parametrize("name", ["a\nb", "tab\there", "nul\x00"])
def test_control_characters_are_refused(name: str) -> None:
    with pytest.raises(InputError, match="control characters"):
        read_plan(_one_workload_plan([name]), "p.json")


def test_hostile_names_stay_inert_in_the_generated_shell() -> None:
    import subprocess

    name = "it's $(touch pwned); `id`"
    plan = read_plan(_one_workload_plan([name]), "p.json")
    task = yaml.safe_load(export_plan(plan, "skypilot").files[0].render())
    run = subprocess.run(["bash", "-c", task["run"]], capture_output=True, text=True, check=False)
    assert run.returncode == 1 and name in run.stderr
    ray = export_plan(plan, "ray").files[0]
    assert ray.path.startswith("ray/gcp-us-east5/")
    doc = yaml.safe_load(ray.render())
    assert doc["metadata"]["name"].startswith("it-s-touch-pwned-id")


@pytest.mark.parametrize("target", ["skypilot", "kueue", "ray"])
def test_braces_in_names_are_plain_text(target: str) -> None:
    plan = read_plan(_one_workload_plan(["chat {x}"], offer="offer-{0}"), "p.json")
    result = export_plan(plan, target)
    assert result.files and not result.skipped
    assert any("chat {x}" in line for f in result.files for line in f.header)
    assert any("offer-{0}" in f.render() for f in result.files)


def test_queue_names_that_would_collide_are_kept_apart() -> None:
    plan = read_plan(_one_workload_plan(["Chat", "chat"]), "p.json")
    result = export_plan(plan, "kueue")
    queues = [
        d["metadata"]["name"]
        for f in result.files
        for d in yaml.safe_load_all(f.render())
        if d["kind"] == "ClusterQueue"
    ]
    assert len(queues) == len(set(queues)) == 2


def test_odd_regions_get_no_region_label() -> None:
    plan = read_plan(_one_workload_plan(["chat"], region="US East (N. Virginia)"), "p.json")
    result = export_plan(plan, "kueue")
    flavor = next(
        d for f in result.files for d in yaml.safe_load_all(f.render())
        if d["kind"] == "ResourceFlavor"
    )  # fmt: skip
    assert "topology.kubernetes.io/region" not in flavor["spec"]["nodeLabels"]
    assert result.files[0].path == "kueue/gcp-us-east-n-virginia/00-queues.yaml"


@pytest.mark.parametrize("target", ["skypilot", "kueue", "ray"])
def test_an_area_region_is_no_launch_target_and_says_what_to_fill_in(target: str) -> None:
    # a price source gave "Asia Northeast": gcp has asia-northeast1..3, no "asia-northeast"
    plan = read_plan(_one_workload_plan(["chat"], region="asia-northeast"), "p.json")
    result = export_plan(plan, target)
    text = "".join(f.render() for f in result.files)
    assert result.files and not result.skipped
    assert "region: asia-northeast\n" not in text
    assert "topology.kubernetes.io/region" not in text
    assert any("asia-northeast" in item and "region" in item for item in result.fill_ins())
