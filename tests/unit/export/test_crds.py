"""The CRD schemas the exports are validated against: vendored copies equal the shared ones."""

from __future__ import annotations

import gzip
import json

import crds
import pytest

needs_shared = pytest.mark.skipif(not crds.SHARED.is_dir(), reason="shared k8s-schemas absent")


@pytest.mark.parametrize(("api_version", "kind"), sorted(crds.CRDS))
def test_every_vendored_schema_is_present_and_loads(api_version: str, kind: str) -> None:
    path = crds._vendored_path(api_version, kind)
    data = json.loads(gzip.decompress(path.read_bytes()))
    assert data["type"] == "object" and "spec" in data["properties"]


@needs_shared
@pytest.mark.parametrize(("api_version", "kind"), sorted(crds.CRDS))
def test_vendored_schema_equals_the_shared_crd(api_version: str, kind: str) -> None:
    path = crds._vendored_path(api_version, kind)
    assert json.loads(gzip.decompress(path.read_bytes())) == crds.shared_schema(api_version, kind)
    entry = crds.crd_version(api_version, kind)
    assert entry["served"] and not entry.get("deprecated"), (api_version, kind)


@needs_shared
def test_kueue_v1beta1_is_deprecated_upstream() -> None:
    folder, name = crds.CRDS[("kueue.x-k8s.io/v1beta2", "ClusterQueue")]
    entry = crds.crd_entry(folder, name, "v1beta1")
    assert entry["deprecated"] is True
    assert "v1beta2" in entry["deprecationWarning"]
