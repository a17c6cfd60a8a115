"""``/openapi.json`` for client generators: readable operation ids and documented errors.

* Every operation's ``operationId`` is its route function's name in camelCase
  (``list_vehicles`` → ``listVehicles``), so a generated client reads like the API's own words;
  two operations with one name fail at start-up instead of silently getting a suffix.
* Every ``/v1`` operation documents the RFC 9457 problems it can answer with, each with the
  shared ``Problem`` schema and an example: 401 and 403 always (every ``/v1`` operation
  authenticates), 404 where the path names a resource, 409 on writes, 422 where there is
  something to validate (FastAPI's own 422 says ``HTTPValidationError`` in ``application/json``;
  the API answers ``application/problem+json`` with ``errors``). 412 and 428 come from
  :func:`fleetcore.core.versioning.document_required_if_match` on operations taking
  ``If-Match``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from fleetcore.core.errors import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

WRITE_METHODS = ("post", "put", "patch", "delete")

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem: what went wrong, for people (`title`, `detail`) and "
                   "programs (`type`, `status`, and `errors` naming each invalid field).",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "The kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "The request's path."},
        "errors": {
            "type": "array",
            "description": "One entry per invalid field (validation problems).",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}

_ERRORS: dict[str, tuple[str, str, str, str]] = {
    # status: (description, slug, title, detail of the example)
    "401": ("No valid session token.", "unauthorized", "Authentication required",
            "A session token is required (Authorization: Bearer <token>)."),
    "403": ("The caller lacks the permission, or has no fleet open.", "permission-denied",
            "Missing permission", "This needs the permission 'vehicles:write'."),
    "404": ("No such resource in the caller's fleet (another fleet's ids are not found "
            "either).", "not-found", "Not found", "No vehicle 0192f1c4-…."),
    "409": ("The request conflicts with the current state (a duplicate, a rule, a state "
            "transition).", "conflict", "Conflict", "A vehicle with this plate exists."),
    "422": ("The request is not valid: `errors` names each field and the reason.",
            "validation-error", "The request is not valid", "1 field is not valid."),
    "412": ("The resource changed since that ETag was read: read it again.",
            "precondition-failed", "The resource has changed",
            "The vehicle changed since you read it (ETag \"3\"): read it again."),
    "428": ("If-Match is missing (or `*`): send the ETag you read.", "precondition-required",
            "If-Match required", "Send If-Match with the ETag you read."),
}


def operation_id(route: APIRoute) -> str:
    """``listVehicles`` for the route function ``list_vehicles``."""
    head, *rest = route.name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _example(status: str) -> dict[str, Any]:
    _, slug, title, detail = _ERRORS[status]
    example: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title,
                               "status": int(status), "detail": detail}
    if status == "422":
        example["errors"] = [{"field": "licence_plate", "message": "Field required"}]
    return example


def _problem_response(status: str) -> dict[str, Any]:
    return {"description": _ERRORS[status][0], "content": {PROBLEM_MEDIA_TYPE: {
        "schema": {"$ref": "#/components/schemas/Problem"}, "example": _example(status)}}}


def _errors_of(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    statuses = ["401", "403"]
    if "{" in path:
        statuses.append("404")
    if method in WRITE_METHODS:
        statuses.append("409")
    if operation.get("parameters") or operation.get("requestBody") \
            or "422" in operation.get("responses", {}):
        statuses.append("422")
    return statuses


def document_problems(schema: dict[str, Any]) -> None:
    """Add the ``Problem`` schema and each ``/v1`` operation's problem responses to
    ``schema`` (an OpenAPI document, changed in place)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in ("get", *WRITE_METHODS):
                continue
            responses = operation.setdefault("responses", {})
            # Outside /v1 (webhooks, health) only what the operation already declares.
            expected = _errors_of(path, method, operation) if path.startswith("/v1/") else []
            for status in {*expected, *(set(_ERRORS) & set(responses))}:
                # An operation's own description of a status (what makes it a 409 here) is
                # kept; FastAPI's 422 is replaced: the body is a problem, not its schema.
                documented = _problem_response(status)
                own = responses.get(status, {}).get("description")
                if own and status != "422":
                    documented["description"] = own
                responses[status] = documented
    # FastAPI's validation schemas are no longer referenced by any operation.
    for unused in ("HTTPValidationError", "ValidationError"):
        if not _referenced(schema, f"#/components/schemas/{unused}"):
            components.pop(unused, None)


def _referenced(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_referenced(v, ref) for v in node.values())
    if isinstance(node, list):
        return any(_referenced(v, ref) for v in node)
    return False


def install_openapi_documentation(app: FastAPI) -> None:
    """Wrap ``app.openapi`` so the document it builds (once) carries the problems."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        document_problems(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
