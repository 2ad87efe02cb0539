"""The real CRD schemas of the launchers we export to, and a strict validator over them.

Schemas are the ``openAPIV3Schema`` of the pinned releases in ``../shared/data/k8s-schemas``
(Kueue v0.19.2, KubeRay v1.7.0, JobSet v0.12.0; Apache-2.0, see that folder's SOURCE.md). A
bare clone lacks ``shared/``, so the versions we validate against are also vendored here, in
``schemas/crd/*.json.gz``, with their ``description`` texts dropped (nothing else changed);
``python tests/unit/export/crds.py`` rewrites them from the shared copy and a test checks the
two agree whenever the shared copy is present.

Validation is stricter than a cluster's default in one way, as ``kubectl --validate=strict``
is: an object whose schema lists its properties rejects unknown fields (a typo would otherwise
be pruned silently), unless the schema says ``x-kubernetes-preserve-unknown-fields``. CEL rules
(``x-kubernetes-validations``) are not evaluated by JSON Schema; the create-time rules our
objects could break are written out in ``cel_errors``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

HERE = Path(__file__).parent
VENDORED = HERE / "schemas" / "crd"
SHARED = HERE.parents[2].parent / "shared" / "data" / "k8s-schemas"

# (apiVersion, kind) -> (release folder, CRD file)
CRDS: Mapping[tuple[str, str], tuple[str, str]] = {
    ("kueue.x-k8s.io/v1beta2", "ResourceFlavor"): (
        "kueue-v0.19.2",
        "kueue.x-k8s.io_resourceflavors.yaml",
    ),
    ("kueue.x-k8s.io/v1beta2", "ClusterQueue"): (
        "kueue-v0.19.2",
        "kueue.x-k8s.io_clusterqueues.yaml",
    ),
    ("kueue.x-k8s.io/v1beta2", "LocalQueue"): (
        "kueue-v0.19.2",
        "kueue.x-k8s.io_localqueues.yaml",
    ),
    ("jobset.x-k8s.io/v1alpha2", "JobSet"): (
        "jobset-v0.12.0",
        "jobset.x-k8s.io_jobsets.yaml",
    ),
    ("ray.io/v1", "RayJob"): ("kuberay-v1.7.0", "ray.io_rayjobs.yaml"),
    ("ray.io/v1", "RayCluster"): ("kuberay-v1.7.0", "ray.io_rayclusters.yaml"),
}


def _vendored_path(api_version: str, kind: str) -> Path:
    version = api_version.rsplit("/", 1)[1]
    return VENDORED / f"{CRDS[(api_version, kind)][1].removesuffix('.yaml')}.{version}.json.gz"


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def crd_version(api_version: str, kind: str) -> dict[str, Any]:
    """The CRD's entry for ``api_version`` (name, served, deprecated, schema) from the shared
    copy; raises FileNotFoundError when ``shared/`` is absent."""
    folder, name = CRDS[(api_version, kind)]
    return crd_entry(folder, name, api_version.rsplit("/", 1)[1])


def crd_entry(folder: str, name: str, version: str) -> dict[str, Any]:
    """One version's entry of a shared CRD file."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load((SHARED / folder / name).read_text(encoding="utf-8"), Loader=loader)
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            return dict(entry)
    raise KeyError(f"{name} has no version {version}")


def shared_schema(api_version: str, kind: str) -> dict[str, Any]:
    """The ``openAPIV3Schema`` without descriptions, read from ``shared/``."""
    schema: dict[str, Any] = _strip(crd_version(api_version, kind)["schema"]["openAPIV3Schema"])
    return schema


@cache
def schema(api_version: str, kind: str) -> dict[str, Any]:
    """The schema from ``shared/`` when present, else the vendored copy."""
    if SHARED.is_dir():
        return shared_schema(api_version, kind)
    packed = _vendored_path(api_version, kind).read_bytes()
    data: dict[str, Any] = json.loads(gzip.decompress(packed))
    return data


def _strict(node: Any) -> Any:
    """Close every object schema that lists properties (unknown fields are errors)."""
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(_strict(schema(api_version, kind)))


def schema_errors(doc: Mapping[str, Any]) -> list[str]:
    """JSON Schema errors of ``doc`` against its kind's CRD (unknown kinds are an error)."""
    key = (str(doc.get("apiVersion")), str(doc.get("kind")))
    if key not in CRDS:
        return [f"no CRD schema for {key}"]
    return [
        f"{key[1]}: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in _validator(*key).iter_errors(dict(doc))
    ]


# ----- CEL rules (x-kubernetes-validations) written out ---------------------------------------


def _tolerations(items: list[Mapping[str, Any]], where: str) -> Iterator[str]:
    effects = ("NoSchedule", "PreferNoSchedule", "NoExecute")
    for i, t in enumerate(items):
        at = f"{where}[{i}]"
        if "key" not in t and t.get("operator") != "Exists":
            yield f"{at}: a toleration without a key must use operator Exists"
        if "tolerationSeconds" in t and t.get("effect") != "NoExecute":
            yield f"{at}: tolerationSeconds needs effect NoExecute"
        if "operator" in t and t["operator"] not in ("Equal", "Exists"):
            yield f"{at}: operator must be Equal or Exists"
        if t.get("operator") == "Exists" and "value" in t:
            yield f"{at}: operator Exists takes no value"
        if "effect" in t and t["effect"] not in effects:
            yield f"{at}: effect must be one of {effects}"


def _cluster_queue(spec: Mapping[str, Any]) -> Iterator[str]:
    groups = spec.get("resourceGroups", [])
    if "cohortName" not in spec:
        for g in groups:
            for f in g.get("flavors", []):
                if any("borrowingLimit" in r for r in f.get("resources", [])):
                    yield "spec: borrowingLimit needs a cohortName"
    for i, g in enumerate(groups):
        covered = g.get("coveredResources", [])
        for f in g.get("flavors", []):
            if len(f.get("resources", [])) != len(covered):
                yield f"spec.resourceGroups[{i}]: flavor {f.get('name')} must list every covered"
    preemption = spec.get("preemption", {})
    borrow = preemption.get("borrowWithinCohort", {})
    never_reclaim = preemption.get("reclaimWithinCohort") == "Never"
    if never_reclaim and borrow.get("policy", "Never") != "Never":
        yield "spec.preemption: borrowWithinCohort needs reclaimWithinCohort other than Never"
    fungibility = spec.get("flavorFungibility", {})
    if "preference" in fungibility and not (
        fungibility.get("whenCanBorrow") == fungibility.get("whenCanPreempt") == "TryNextFlavor"
    ):
        yield "spec.flavorFungibility: preference needs TryNextFlavor for borrow and preempt"


def _managed_by(spec: Mapping[str, Any], where: str) -> Iterator[str]:
    if "managedBy" in spec and spec["managedBy"] not in (
        "ray.io/kuberay-operator",
        "kueue.x-k8s.io/multikueue",
    ):
        yield f"{where}.managedBy: not a known manager"


def cel_errors(doc: Mapping[str, Any]) -> list[str]:
    """The CRDs' create-time CEL rules that exported objects could break, checked in code.

    Transition rules (``self == oldSelf``) only apply to updates and are left out.
    """
    kind, spec = doc.get("kind"), doc.get("spec", {})
    errors: list[str] = []
    if kind == "ResourceFlavor":
        if "topologyName" in spec and not spec.get("nodeLabels"):
            errors.append("spec: topologyName needs nodeLabels")
        errors += _tolerations(spec.get("tolerations", []), "spec.tolerations")
        for i, taint in enumerate(spec.get("nodeTaints", [])):
            if taint.get("effect") not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
                errors.append(f"spec.nodeTaints[{i}]: bad effect")
    elif kind == "ClusterQueue":
        errors += _cluster_queue(spec)
    elif kind == "JobSet":
        in_order = spec.get("startupPolicy", {}).get("startupPolicyOrder") == "InOrder"
        if in_order and any("dependsOn" in rj for rj in spec.get("replicatedJobs", [])):
            errors.append("spec: startupPolicyOrder InOrder cannot be used with dependsOn")
    elif kind == "RayCluster":
        errors += _managed_by(spec, "spec")
    elif kind == "RayJob":
        errors += _managed_by(spec, "spec")
        errors += _managed_by(spec.get("rayClusterSpec", {}), "spec.rayClusterSpec")
        deletion = spec.get("deletionStrategy")
        if deletion is not None:
            legacy = "onSuccess" in deletion or "onFailure" in deletion
            if legacy and "deletionRules" in deletion:
                errors.append("spec.deletionStrategy: onSuccess/onFailure or deletionRules")
            both = "onSuccess" in deletion and "onFailure" in deletion
            if not (both or "deletionRules" in deletion):
                errors.append("spec.deletionStrategy: needs onSuccess and onFailure, or rules")
    return errors


def vendor() -> list[Path]:
    """Rewrite the vendored schemas from ``shared/`` (run by hand; returns the files)."""
    VENDORED.mkdir(parents=True, exist_ok=True)
    written = []
    for api_version, kind in CRDS:
        path = _vendored_path(api_version, kind)
        text = json.dumps(shared_schema(api_version, kind), sort_keys=True, separators=(",", ":"))
        path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in vendor():
        print(f"{written_path.relative_to(HERE)}: {written_path.stat().st_size} bytes")
