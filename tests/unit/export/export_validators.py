"""Validators of exported specs: SkyPilot's own schemas, the Kubernetes client's models, and
the real CRD schemas of the pinned Kueue, JobSet and KubeRay releases (see crds.py).

Kubernetes objects are checked twice: a walk over the official client's models (every key must
be a field of the model at that place, with the right JSON type: this catches misspelled and
mistyped fields, which the client's own deserializer ignores or coerces) and the client's
deserializer (which enforces required fields).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import crds
import yaml

KUEUE_API = "kueue.x-k8s.io/v1beta2"
# kinds whose CRD or API says scope: Namespaced (the others we emit are cluster-scoped)
NAMESPACED = frozenset({"LocalQueue", "JobSet", "RayJob", "RayCluster", "Job", "Deployment"})
HAVE_SKY = importlib.util.find_spec("sky") is not None
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?([KMGTPE]i|[mkMGTPE]|[eE][0-9]+)?$")

_LIST = re.compile(r"^(?:list|List)\[(.+)\]$")
_DICT = re.compile(r"^(?:dict\(|Dict\[)str, (.+)[\])]$")
_PRIMITIVES: Mapping[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "bool": (bool,),
    "float": (int, float),
    "datetime": (str,),
    "date": (str,),
}


# ----- SkyPilot -----------------------------------------------------------------------------


@cache
def _sky() -> Any:
    """SkyPilot's schema helpers, imported with HOME pointed at a scratch directory so that
    whatever the package writes under ``~/.sky`` on import stays out of the real home."""
    saved = os.environ.get("HOME")
    with tempfile.TemporaryDirectory(prefix="chipfolio-sky-") as home:
        os.environ["HOME"] = home
        try:
            with warnings.catch_warnings():  # the package's own deprecation noise on import
                warnings.simplefilter("ignore")
                import sky  # noqa: F401  (sets up what its schema module needs)
                from sky.utils import common_utils, schemas
        finally:
            if saved is None:
                os.environ.pop("HOME", None)
            else:
                os.environ["HOME"] = saved
    return common_utils, schemas


def skypilot_errors(task: Mapping[str, Any]) -> list[str]:
    """SkyPilot's task schema, then its resources and service schemas, as `sky` applies them."""
    common_utils, schemas = _sky()
    checks = [(task, schemas.get_task_schema(), "task")]
    if "resources" in task:
        checks.append((task["resources"], schemas.get_resources_schema(), "resources"))
    if "service" in task:
        checks.append((task["service"], schemas.get_service_schema(), "service"))
    errors = []
    for obj, schema, what in checks:
        try:
            common_utils.validate_schema(dict(obj), schema, f"Invalid {what}: ")
        except ValueError as exc:
            errors.append(str(exc))
    return errors


# ----- Kubernetes models --------------------------------------------------------------------


def _walk(data: Any, type_name: str, path: str) -> Iterator[str]:
    import kubernetes.client as kc

    m = _LIST.match(type_name)
    if m:
        if not isinstance(data, list):
            yield f"{path}: expected a list ({type_name})"
            return
        for i, item in enumerate(data):
            yield from _walk(item, m.group(1), f"{path}[{i}]")
        return
    m = _DICT.match(type_name)
    if m:
        if not isinstance(data, dict):
            yield f"{path}: expected a mapping ({type_name})"
            return
        for key, item in data.items():
            yield from _walk(item, m.group(1), f"{path}.{key}")
        return
    if type_name == "object":
        return
    if type_name in _PRIMITIVES:
        wanted = _PRIMITIVES[type_name]
        if (isinstance(data, bool) and bool not in wanted) or not isinstance(data, wanted):
            yield f"{path}: expected {type_name}, got {type(data).__name__}"
        return
    cls = getattr(kc, type_name)
    if not isinstance(data, dict):
        yield f"{path}: expected an object ({type_name})"
        return
    fields = {json_name: py for py, json_name in cls.attribute_map.items()}
    for key, value in data.items():
        if key not in fields:
            yield f"{path}.{key}: not a field of {type_name}"
            continue
        yield from _walk(value, cls.openapi_types[fields[key]], f"{path}.{key}")


def kubernetes_errors(data: Mapping[str, Any], type_name: str, path: str = "") -> list[str]:
    """Unknown or mistyped fields (model walk), missing required ones (the deserializer),
    and resource quantities that are not Kubernetes quantities."""
    import kubernetes.client as kc

    errors = list(_walk(data, type_name, path or type_name))
    try:
        kc.ApiClient().deserialize(json.dumps(data), type_name, "application/json")
    except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        errors.append(f"{path or type_name}: " + " ".join(str(exc).split())[:400])
    for quantity_path, value in _quantities(data, path or type_name):
        if not isinstance(value, str) or not QUANTITY.match(value):
            errors.append(f"{quantity_path}: {value!r} is not a Kubernetes quantity")
    return errors


def _quantities(data: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key in ("limits", "requests") and isinstance(value, dict):
                for name, q in value.items():
                    yield f"{path}.{key}.{name}", q
            else:
                yield from _quantities(value, f"{path}.{key}")
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from _quantities(item, f"{path}[{i}]")


# ----- CRDs ---------------------------------------------------------------------------------


def _crd_errors(doc: Mapping[str, Any]) -> list[str]:
    """The real CRD schema (strict about unknown fields) and its CEL rules (see crds.py)."""
    return crds.schema_errors(doc) + crds.cel_errors(doc)


def _cluster_queue_rules(doc: Mapping[str, Any]) -> list[str]:
    """Kueue's rules beyond the schema: each flavor lists the group's covered resources in
    order, and a flavor belongs to one resource group only."""
    errors, seen = [], set()
    for g, group in enumerate(doc.get("spec", {}).get("resourceGroups", [])):
        covered = group.get("coveredResources", [])
        for flavor in group.get("flavors", []):
            names = [r.get("name") for r in flavor.get("resources", [])]
            if names != covered:
                errors.append(f"resourceGroups[{g}]: flavor {flavor.get('name')} lists {names}")
            for r in flavor.get("resources", []):
                quota = r.get("nominalQuota")
                if isinstance(quota, int | float) and quota < 0:  # Kueue's webhook rule
                    errors.append(f"flavor {flavor.get('name')}: negative nominalQuota {quota}")
            if flavor.get("name") in seen:
                errors.append(f"flavor {flavor.get('name')} in more than one resource group")
            seen.add(flavor.get("name"))
    return errors


def _ray_cluster_errors(spec: Mapping[str, Any], path: str) -> list[str]:
    errors = []
    head = spec.get("headGroupSpec", {})
    errors += kubernetes_errors(head.get("template", {}), "V1PodTemplateSpec", f"{path}.head")
    for i, group in enumerate(spec.get("workerGroupSpecs", [])):
        where = f"{path}.workerGroupSpecs[{i}]"
        errors += kubernetes_errors(group.get("template", {}), "V1PodTemplateSpec", where)
        low, n, high = (
            group.get("minReplicas", 0),
            group.get("replicas", 0),
            group.get("maxReplicas", 0),
        )
        if not low <= n <= high:
            errors.append(f"{where}: replicas {n} outside [{low}, {high}]")
    return errors


def document_errors(doc: Mapping[str, Any]) -> list[str]:
    """Every problem found in one exported Kubernetes document."""
    kind = (doc.get("apiVersion"), doc.get("kind"))
    errors: list[str] = []
    core = {
        ("v1", "Namespace"): "V1Namespace",
        ("batch/v1", "Job"): "V1Job",
        ("apps/v1", "Deployment"): "V1Deployment",
    }
    if kind in core:
        errors += kubernetes_errors(doc, core[kind])
    elif kind[0] == KUEUE_API and kind[1] in ("ResourceFlavor", "ClusterQueue", "LocalQueue"):
        errors += _crd_errors(doc)
        if kind[1] == "ClusterQueue":
            errors += _cluster_queue_rules(doc)
    elif kind == ("jobset.x-k8s.io/v1alpha2", "JobSet"):
        errors += _crd_errors(doc)
        for i, rj in enumerate(doc.get("spec", {}).get("replicatedJobs", [])):
            where = f"replicatedJobs[{i}].template"
            errors += kubernetes_errors(rj.get("template", {}), "V1JobTemplateSpec", where)
    elif kind == ("ray.io/v1", "RayJob"):
        errors += _crd_errors(doc)
        errors += _ray_cluster_errors(doc.get("spec", {}).get("rayClusterSpec", {}), "RayJob")
    elif kind == ("ray.io/v1", "RayCluster"):
        errors += _crd_errors(doc)
        errors += _ray_cluster_errors(doc.get("spec", {}), "RayCluster")
    else:
        errors.append(f"no validator for {kind}")
    errors += _name_errors(doc)
    if kind[1] in NAMESPACED and not doc.get("metadata", {}).get("namespace"):
        errors.append(f"{kind[1]} is namespaced: metadata.namespace is missing")
    return errors


def _name_errors(doc: Mapping[str, Any]) -> list[str]:
    meta = doc.get("metadata", {})
    errors = []
    name = meta.get("name", "")
    if not DNS_LABEL.match(name) or len(name) > 63:
        errors.append(f"metadata.name {name!r} is not a DNS-1123 label")
    for key, value in meta.get("labels", {}).items():
        if len(value) > 63 or not LABEL_VALUE.match(value):
            errors.append(f"label {key}={value!r} is not a valid label value")
    return errors


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
