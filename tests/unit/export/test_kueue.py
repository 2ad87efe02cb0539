"""Kueue export: goldens, Kubernetes and Kueue schemas, quotas, and queue wiring."""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

import pytest
import yaml
from export_cases import LAUNCH, check_golden, fixture_plan, plan_data
from export_validators import document_errors

from chipfolio.export import export_plan, read_plan
from chipfolio.export.accelerators import DEVICE_RESOURCES

pytest.importorskip("kubernetes", reason="the export extra (kubernetes) is not installed")


def _docs(result: Any) -> dict[str, list[dict[str, Any]]]:
    return {f.path: list(yaml.safe_load_all(f.render())) for f in result.files}


@pytest.fixture(scope="module")
def result() -> Any:
    return export_plan(fixture_plan(), "kueue", LAUNCH)


def test_golden_files(result: Any) -> None:
    check_golden(result)


def test_every_document_validates(result: Any) -> None:
    kinds: set[str] = set()
    for path, docs in _docs(result).items():
        for doc in docs:
            assert document_errors(doc) == [], (path, doc["kind"])
            kinds.add(doc["kind"])
    assert kinds == {
        "Namespace",
        "ResourceFlavor",
        "ClusterQueue",
        "LocalQueue",
        "Deployment",
        "JobSet",
    }


def _first(result: Any, kind: str) -> dict[str, Any]:
    for docs in _docs(result).values():
        for doc in docs:
            if doc["kind"] == kind:
                return copy.deepcopy(doc)
    raise AssertionError(kind)


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "JobSet":
        return doc["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def test_validator_catches_a_misspelled_pod_field(result: Any) -> None:
    doc = _first(result, "Deployment")
    _pod(doc)["contianers"] = _pod(doc).pop("containers")
    errors = document_errors(doc)
    assert any("contianers: not a field of V1PodSpec" in e for e in errors), errors


def test_validator_catches_a_mistyped_count(result: Any) -> None:
    doc = _first(result, "Deployment")
    doc["spec"]["replicas"] = "3"
    assert any("replicas: expected int" in e for e in document_errors(doc))


def test_validator_catches_a_missing_name_and_a_bad_quantity(result: Any) -> None:
    doc = _first(result, "JobSet")
    container = _pod(doc)["containers"][0]
    del container["name"]  # required by the Kubernetes API (the image is not)
    container["resources"]["limits"] = {"google.com/tpu": "eight"}
    errors = document_errors(doc)
    assert any("V1Container name" in e for e in errors), errors
    assert any("not a Kubernetes quantity" in e for e in errors), errors


def test_validator_catches_broken_kueue_objects(result: Any) -> None:
    flavor = _first(result, "ResourceFlavor")
    flavor["spec"]["nodeLabel"] = flavor["spec"].pop("nodeLabels")
    assert document_errors(flavor)
    queue = _first(result, "ClusterQueue")
    queue["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["name"] = "cpu"
    assert any("lists ['cpu']" in e for e in document_errors(queue))
    queue = _first(result, "ClusterQueue")
    queue["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"] = -4
    assert document_errors(queue)
    local = _first(result, "LocalQueue")
    del local["metadata"]["namespace"]
    assert document_errors(local)


def test_quotas_are_each_workloads_peak_chips_per_cluster(result: Any) -> None:
    plan = fixture_plan()
    for path, docs in _docs(result).items():
        if not path.endswith("00-queues.yaml"):
            continue
        cluster = path.split("/")[1]
        for cq in (d for d in docs if d["kind"] == "ClusterQueue"):
            allocations = [
                a
                for a in plan.allocations
                if a.workload == cq["metadata"]["name"]
                and f"{a.provider}-{a.region}" == cluster
                and a.chip != "maia-200"
            ]
            assert allocations, (cluster, cq["metadata"]["name"])
            peak = max(
                sum(b.chips for b in allocations if b.from_hour <= a.from_hour < b.to_hour)
                for a in allocations
            )
            quotas = [
                r["nominalQuota"]
                for g in cq["spec"]["resourceGroups"]
                for f in g["flavors"]
                for r in f["resources"]
            ]
            assert sum(quotas) == peak, (cluster, cq["metadata"]["name"])


def test_queues_are_wired_within_each_cluster(result: Any) -> None:
    objects: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    queued: list[tuple[str, str]] = []
    cohorts = set()
    for path, docs in _docs(result).items():
        cluster = path.split("/")[1]
        for doc in docs:
            kind, name = doc["kind"], doc["metadata"]["name"]
            objects[cluster][kind].add(name)
            if kind == "ClusterQueue":
                cohorts.add(doc["spec"]["cohortName"])
                for group in doc["spec"]["resourceGroups"]:
                    for flavor in group["flavors"]:
                        queued.append((cluster, f"ResourceFlavor/{flavor['name']}"))
            elif kind == "LocalQueue":
                queued.append((cluster, f"ClusterQueue/{doc['spec']['clusterQueue']}"))
            elif kind in ("Deployment", "JobSet", "Job"):
                label = doc["metadata"]["labels"]["kueue.x-k8s.io/queue-name"]
                queued.append((cluster, f"LocalQueue/{label}"))
                assert doc["spec"].get("suspend", True) is True
    assert cohorts == {"chipfolio"}
    for cluster, ref in queued:
        kind, name = ref.split("/")
        assert name in objects[cluster][kind], (cluster, ref)


def test_device_resources_and_platform_labels(result: Any) -> None:
    docs = _docs(result)
    flavors = {
        (path.split("/")[1], d["metadata"]["name"]): d
        for path, ds in docs.items()
        for d in ds
        if d["kind"] == "ResourceFlavor"
    }
    tpu = flavors[("gcp-us-east5", "gcp-tpu-v6e")]["spec"]["nodeLabels"]
    assert tpu == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v6e-slice",
        "cloud.google.com/gke-tpu-topology": "2x4",
        "topology.kubernetes.io/region": "us-east5",
    }
    trn = flavors[("aws-us-east-1", "aws-trainium2")]["spec"]["nodeLabels"]
    assert trn["node.kubernetes.io/instance-type"] == "trn2.48xlarge"
    amd = flavors[("crusoe-us-central", "crusoe-mi300x")]["spec"]
    assert amd["nodeLabels"] == {"chipfolio.dev/accelerator": "mi300x"}
    assert amd["tolerations"][0]["key"] == "amd.com/gpu"
    assert "node label chipfolio.dev/accelerator=mi300x on mi300x nodes" in result.fill_ins()
    for a in fixture_plan().allocations:
        if a.workload is None or a.chip == "maia-200":
            continue
        matches = [
            d
            for ds in docs.values()
            for d in ds
            if d.get("metadata", {}).get("annotations", {}).get("chipfolio.dev/hours")
            == f"{a.from_hour:g}-{a.to_hour:g}"
            and d["metadata"]["annotations"]["chipfolio.dev/offer"] == a.offer
            and d["metadata"]["labels"]["chipfolio.dev/workload"] == a.workload
        ]
        assert len(matches) == 1, a.label
        limits = _pod(matches[0])["containers"][0]["resources"]["limits"]
        assert limits == {DEVICE_RESOURCES[a.vendor]: str(a.chips_per_instance)}
        spec = matches[0]["spec"]
        pods = spec.get("replicas") or spec["replicatedJobs"][0]["template"]["spec"]["parallelism"]
        assert pods == a.instances


def test_pods_select_the_nodes_of_their_flavor(result: Any) -> None:
    docs = _docs(result)
    flavors: dict[str, list[dict[str, str]]] = defaultdict(list)
    for path, ds in docs.items():
        for d in ds:
            if d["kind"] == "ResourceFlavor":
                flavors[path.split("/")[1]].append(d["spec"]["nodeLabels"])
    workloads = [(p, ds[0]) for p, ds in docs.items() if not p.endswith("00-queues.yaml")]
    assert workloads
    for path, doc in workloads:
        assert _pod(doc)["nodeSelector"] in flavors[path.split("/")[1]], path


def test_maia_is_skipped_with_a_reason(result: Any) -> None:
    counts = result.skip_counts()
    maia = sum(a.chip == "maia-200" for a in fixture_plan().allocations if a.workload)
    assert (
        counts["chip 'maia-200' (microsoft) has no known Kubernetes device-plugin resource"] == maia
    )


def test_single_instance_training_is_a_plain_job() -> None:
    data = plan_data()
    a = next(x for x in data["allocations"] if x["workload"] == "finetune-8b")
    data["allocations"] = [{**a, "instances": 1, "chips": 1}]
    result = export_plan(read_plan(data, "t.json"), "kueue", {})
    jobs = [d for ds in _docs(result).values() for d in ds if d["kind"] == "Job"]
    assert len(jobs) == 1 and document_errors(jobs[0]) == []
    assert jobs[0]["spec"]["suspend"] is True
    assert jobs[0]["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
        "fill-in.invalid/"
    )


def test_spot_allocations_get_their_own_flavor_on_spot_nodes() -> None:
    data = plan_data()
    tune = next(x for x in data["allocations"] if x["workload"] == "finetune-8b")
    data["allocations"] = [
        {**tune, "pricing": "spot"},
        {**tune, "from_hour": 336.0, "to_hour": 672.0},
    ]
    result = export_plan(read_plan(data, "t.json"), "kueue", {})
    docs = [d for f in result.files for d in yaml.safe_load_all(f.render())]
    flavors = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "ResourceFlavor"}
    assert set(flavors) == {"gcp-tpu-v6e", "gcp-tpu-v6e-spot"}
    assert flavors["gcp-tpu-v6e-spot"]["nodeLabels"]["cloud.google.com/gke-spot"] == "true"
    assert "cloud.google.com/gke-spot" not in flavors["gcp-tpu-v6e"]["nodeLabels"]
    for doc in docs:
        assert document_errors(doc) == [], doc["kind"]
    (queue,) = [d for d in docs if d["kind"] == "ClusterQueue"]
    (group,) = queue["spec"]["resourceGroups"]
    assert [f["name"] for f in group["flavors"]] == ["gcp-tpu-v6e", "gcp-tpu-v6e-spot"]


def test_spot_on_aks_tolerates_the_spot_taint_and_neoclouds_ask_for_a_label() -> None:
    from chipfolio.export.accelerators import node_target

    aks = node_target("azure", "nvidia", "h100-sxm", "eastus", 8, "Standard_ND96isr_H100_v5", True)
    assert aks is not None
    assert aks.labels["kubernetes.azure.com/scalesetpriority"] == "spot"
    assert {"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal",
            "value": "spot", "effect": "NoSchedule"} in aks.tolerations  # fmt: skip
    eks = node_target("aws", "nvidia", "h100-sxm", "us-east-1", 8, None, spot=True)
    assert eks is not None and eks.labels["eks.amazonaws.com/capacityType"] == "SPOT"
    assert eks.labels["node.kubernetes.io/instance-type"] == "p5.48xlarge"
    neo = node_target("lambda", "nvidia", "h100-sxm", "us-east-1", 8, None, spot=True)
    assert neo is not None and any("spot" in label for label in neo.operator_labels)


def test_kueue_objects_are_v1beta2_with_cohort_name(result: Any) -> None:
    queue = _first(result, "ClusterQueue")
    assert queue["apiVersion"] == "kueue.x-k8s.io/v1beta2"
    assert "cohortName" in queue["spec"] and "cohort" not in queue["spec"]
    # the deprecated shape is refused: v1beta1 has no schema here, v1beta2 has no spec.cohort
    old = copy.deepcopy(queue)
    old["apiVersion"] = "kueue.x-k8s.io/v1beta1"
    assert document_errors(old)
    old = copy.deepcopy(queue)
    old["spec"]["cohort"] = old["spec"].pop("cohortName")
    assert any("'cohort' was unexpected" in e for e in document_errors(old))


def test_crd_cel_rules_are_checked(result: Any) -> None:
    flavor = _first(result, "ResourceFlavor")
    flavor["spec"]["tolerations"] = [{"operator": "Exists", "value": "x", "effect": "NoSchedule"}]
    assert any("takes no value" in e for e in document_errors(flavor))
    queue = _first(result, "ClusterQueue")
    del queue["spec"]["cohortName"]
    queue["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["borrowingLimit"] = 1
    assert any("borrowingLimit needs a cohortName" in e for e in document_errors(queue))
