"""``/openapi.json`` documents every ``/v1`` operation well enough to call it without reading
the code: a summary, the schema of its success response, an example of every request body and
of every response body — and each example is valid against the schema it illustrates, so an
example cannot drift from the API it documents.

Examples may sit on the media type (``example``/``examples``) or on the schema (``examples``,
pydantic's ``json_schema_extra``); a page of items or a list is illustrated by its item's
examples; ``X | null`` by ``X``'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        if path.startswith("/v1/"):
            for method in METHODS:
                if method in item:
                    yield f"{method.upper()} {path}", item[method]


def _name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while (name := _name(schema)) is not None:
        schema = spec["components"]["schemas"][name]
    return schema


def _illustrated(spec: dict[str, Any], schema: dict[str, Any]
                 ) -> list[tuple[dict[str, Any], Any]] | None:
    """The (schema, example) pairs that illustrate ``schema``; None when nothing does."""
    resolved = _resolve(spec, schema)
    if resolved.get("examples"):
        return [(schema, example) for example in resolved["examples"]]
    options = [s for s in resolved.get("anyOf", []) if s.get("type") != "null"]
    if len(options) == 1:
        return _illustrated(spec, options[0])
    properties = resolved.get("properties", {})
    if {"items", "next_cursor"} <= set(properties):
        return _illustrated(spec, properties["items"]["items"])
    if resolved.get("type") == "array" and "items" in resolved:
        return _illustrated(spec, resolved["items"])
    return None


def _nullable(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    resolved = _resolve(spec, schema)
    return resolved.get("type") == "null" or any(
        _nullable(spec, option) for option in resolved.get("anyOf", []))


def _with_nulls(spec: dict[str, Any], schema: dict[str, Any], example: Any) -> Any:
    """``example`` as written: FastAPI drops ``null`` values from the examples it puts in
    ``/openapi.json`` (``jsonable_encoder(exclude_none=True)``), so a required nullable field
    whose example value was null is missing there; it is put back before validating."""
    resolved = _resolve(spec, schema)
    options = [o for o in resolved.get("anyOf", []) if _resolve(spec, o).get("type") != "null"]
    if len(options) == 1:
        return _with_nulls(spec, options[0], example)
    if isinstance(example, dict) and "properties" in resolved:
        restored = dict(example)
        for name, prop in resolved["properties"].items():
            if name in restored:
                restored[name] = _with_nulls(spec, prop, restored[name])
            elif name in resolved.get("required", []) and _nullable(spec, prop):
                restored[name] = None
        return restored
    if isinstance(example, list) and "items" in resolved:
        return [_with_nulls(spec, resolved["items"], item) for item in example]
    return example


def _media_examples(media: dict[str, Any]) -> list[Any]:
    if "example" in media:
        return [media["example"]]
    return [e.get("value") for e in media.get("examples", {}).values()]


def _documented(spec: dict[str, Any], content: dict[str, Any]
                ) -> tuple[bool, list[tuple[dict[str, Any], Any]]]:
    """Whether every media type of ``content`` carries an example; the JSON ones to validate."""
    pairs: list[tuple[dict[str, Any], Any]] = []
    for media_type, media in content.items():
        schema = media.get("schema")
        examples = _media_examples(media)
        if examples:
            if schema is not None and "json" in media_type:
                pairs += [(schema, e) for e in examples]
            continue
        found = _illustrated(spec, schema) if schema is not None else None
        if not found:
            return False, pairs
        if "json" in media_type:
            pairs += found
    return True, pairs


def _check(spec: dict[str, Any]) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {
        "no summary": [], "no success response schema": [], "request body without example": [],
        "response without example": [], "example not valid against its schema": [],
    }
    to_validate: list[tuple[str, dict[str, Any], Any]] = []
    for name, operation in _operations(spec):
        if not str(operation.get("summary", "")).strip():
            problems["no summary"].append(name)
        successes = {code: r for code, r in operation["responses"].items()
                     if code.startswith("2")}
        content: dict[str, Any] = {}
        for code, response in successes.items():
            content = response.get("content", {})
            if code != "204" and (not content or any("schema" not in m
                                                     for m in content.values())):
                problems["no success response schema"].append(f"{name} {code}")
            elif content:
                documented, pairs = _documented(spec, content)
                if not documented:
                    problems["response without example"].append(f"{name} {code}")
                to_validate += [(f"{name} {code}", s, e) for s, e in pairs]
        if not successes:
            problems["no success response schema"].append(name)
        body = operation.get("requestBody")
        if body is not None:
            documented, pairs = _documented(spec, body.get("content", {}))
            if not documented:
                problems["request body without example"].append(name)
            to_validate += [(f"{name} body", s, e) for s, e in pairs]
    for where, schema, example in to_validate:
        validator = jsonschema_rs.Draft202012Validator(
            {**schema, "components": spec["components"]})
        errors = [str(e) for e in validator.iter_errors(_with_nulls(spec, schema, example))]
        if errors:
            problems["example not valid against its schema"].append(f"{where}: {errors[0]}")
    return {kind: found for kind, found in problems.items() if found}


def test_every_operation_is_documented_with_valid_examples(spec: dict[str, Any]) -> None:
    operations = list(_operations(spec))
    assert len(operations) >= 150  # the walker sees the API (not vacuously green)
    assert _check(spec) == {}


def test_the_walker_notices_what_is_missing(spec: dict[str, Any]) -> None:
    """The checks can fail: a copy of the spec with a summary, an example and a schema taken
    away, and an example made wrong, is reported on each count."""
    broken: dict[str, Any] = {**spec, "paths": {}, "components": {
        "schemas": dict(spec["components"]["schemas"])}}
    broken["paths"]["/v1/x"] = {
        "get": {"responses": {"200": {"content": {"application/json": {}}}}},
        "post": {"summary": "Make an x",
                 "requestBody": {"content": {"application/json": {
                     "schema": {"$ref": "#/components/schemas/Naked"}}}},
                 "responses": {"201": {"content": {"application/json": {
                     "schema": {"$ref": "#/components/schemas/Wrong"}}}}}},
    }
    broken["components"]["schemas"]["Naked"] = {"type": "object"}
    broken["components"]["schemas"]["Wrong"] = {
        "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
        "examples": [{"n": "not a number"}]}
    found = _check(broken)
    assert found["no summary"] == ["GET /v1/x"]
    assert found["no success response schema"] == ["GET /v1/x 200"]
    assert found["request body without example"] == ["POST /v1/x"]
    assert [e.split(":")[0] for e in found["example not valid against its schema"]] == [
        "POST /v1/x 201"]


OPERATION_ID = re.compile(r"^[a-z][a-zA-Z0-9]*$")


def test_operation_ids_read_well_and_are_unique(spec: dict[str, Any]) -> None:
    ids = [op.get("operationId") for _, op in _operations(spec)]
    assert len(ids) >= 150
    assert [i for i in ids if not i or not OPERATION_ID.match(i)] == []
    assert len(set(ids)) == len(ids)
    assert "listVehicles" in ids
    assert "getVehicle" in ids


def test_every_operation_documents_its_problems(spec: dict[str, Any]) -> None:
    problem_schema = {**spec["components"]["schemas"]["Problem"],
                      "components": spec["components"]}
    validator = jsonschema_rs.Draft202012Validator(problem_schema)
    missing: list[str] = []
    for name, operation in _operations(spec):
        method, path = name.split(" ", 1)
        expected = {"401", "403"}
        if "{" in path:
            expected.add("404")
        if method != "GET":
            expected.add("409")
        responses = operation["responses"]
        missing += [f"{name} {s}" for s in sorted(expected - set(responses))]
        for status in {"401", "403", "404", "409", "412", "422", "428"} & set(responses):
            media = responses[status].get("content", {}).get("application/problem+json")
            if media is None or media["schema"] != {"$ref": "#/components/schemas/Problem"}:
                missing.append(f"{name} {status} not a problem")
                continue
            assert validator.is_valid(media["example"]), (name, status)
    assert missing == []
    assert "HTTPValidationError" not in spec["components"]["schemas"]
