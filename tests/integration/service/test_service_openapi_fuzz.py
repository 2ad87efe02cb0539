"""Property test against the OpenAPI schema: generated requests never get a 500.

For every operation the schema documents, hypothesis draws path and query parameters and
JSON bodies from the schema itself (``_from_schema`` below reads the JSON Schema subset that
FastAPI emits: types, bounds, lengths, patterns, enums, anyOf, objects), mixed with values just
outside the bounds and raw junk bodies, and sends them with an admin token; every answer must
be a success or a 4xx refusal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_fixtures import ADMIN, make_config

from chipfolio.interfaces.service import create_app

AUTH = {"Authorization": f"Bearer {ADMIN}"}
EXAMPLES = 30


def _resolve(node: Any, components: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            return _resolve(components[ref.rsplit("/", 1)[-1]], components)
        return {k: _resolve(v, components) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, components) for v in node]
    return node


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
)


def _number(schema: dict[str, Any], integer: bool) -> st.SearchStrategy[Any]:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    inside: st.SearchStrategy[Any]
    if integer:
        inside = st.integers(None if low is None else int(low), None if high is None else int(high))
    else:
        inside = st.floats(low, high, allow_nan=False, allow_infinity=False)
    edges = [v for v in (low, high) if v is not None]
    outside = st.sampled_from([e + d for e in edges for d in (-1, 1)]) if edges else inside
    return st.one_of(inside, inside, outside)


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), min(schema.get("maxLength", 40), 40)
    text = st.text(min_size=low, max_size=max(low, high))
    if "pattern" in schema:
        return st.one_of(st.from_regex(schema["pattern"], fullmatch=True), text)
    return text


def _from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A strategy for values of ``schema`` (plus some near misses to exercise validation)."""
    if "enum" in schema:
        return st.one_of(st.sampled_from(schema["enum"]), st.text(max_size=8))
    if "const" in schema:
        return st.just(schema["const"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([_from_schema(s) for s in schema[key]])
    kind = schema.get("type")
    if kind == "integer":
        return _number(schema, integer=True)
    if kind == "number":
        return _number(schema, integer=False)
    if kind == "string":
        return _string(schema)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(_from_schema(schema.get("items", {})), max_size=3)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        fixed = {k: _from_schema(v) for k, v in props.items() if k in required}
        optional = {k: _from_schema(v) for k, v in props.items() if k not in required}
        if not props:
            return st.dictionaries(st.text(max_size=10), JUNK, max_size=4)
        return st.fixed_dictionaries(fixed, optional=optional)
    return JUNK


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    components = schema.get("components", {}).get("schemas", {})
    out = []
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            out.append((method.upper(), path, _resolve(op, components)))
    return out


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("fuzz")
    config = make_config(f"sqlite:///{tmp / 'fuzz.db'}", tmp, max_scenarios=20)
    with TestClient(create_app(config), raise_server_exceptions=False) as c:
        yield c


def _request(draw: st.DrawFn, method: str, path: str, op: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    url = path
    for p in op.get("parameters", []):
        if p["in"] not in ("path", "query"):
            continue
        if p["in"] == "query" and not p.get("required") and draw(st.booleans()):
            continue
        value = draw(_from_schema(p.get("schema", {})))
        if value is None:
            continue
        text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        if isinstance(value, bool):
            text = text.lower()
        if p["in"] == "path":
            url = url.replace("{" + p["name"] + "}", quote(text, safe="") or "x")
        else:
            params[p["name"]] = text
    request: dict[str, Any] = {"method": method, "url": url, "params": params}
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        if draw(st.integers(0, 4)) == 0:
            request["content"] = draw(st.binary(max_size=200))
            request["headers"] = {**AUTH, "Content-Type": "application/json"}
        else:
            request["json"] = draw(_from_schema(body["schema"]))
    return request


def test_no_generated_request_gets_a_500(client: TestClient, tmp_path: Path) -> None:
    operations = _operations(client.get("/openapi.json").json())
    assert len(operations) >= 15

    @st.composite
    def requests(draw: st.DrawFn) -> dict[str, Any]:
        method, path, op = draw(st.sampled_from(operations))
        return _request(draw, method, path, op)

    seen: set[tuple[str, int]] = set()

    @settings(
        max_examples=EXAMPLES * len(operations),
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(requests())
    def check(request: dict[str, Any]) -> None:
        headers = request.pop("headers", AUTH)
        response = client.request(headers=headers, **request)
        seen.add((request["url"].split("?")[0], response.status_code))
        assert response.status_code < 500, (request, response.text[:500])

    check()
    assert {code for _, code in seen} & {200, 201}  # some requests got through validation
