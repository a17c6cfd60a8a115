"""Optimistic concurrency over HTTP: ``ETag`` from a row's ``version``, ``If-Match`` required.

Every ``/v1`` update, delete and state transition of an existing resource takes
:data:`RequiredIfMatch`: without ``If-Match`` it is refused with 428 before anything is read
(so the answer says nothing about whether the id exists), and a stale one is a 412 — the
client re-reads and retries instead of overwriting a change it never saw.

``If-Match: *`` is refused with 428 too. RFC 9110 lets ``*`` match any current
representation, which is exactly the blind overwrite the requirement exists to prevent: a
client must name the version it read. Services keep taking ``if_match: str | None``: ``None``
is the system acting locally (the CLI, jobs), which has no representation to have read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from fleetcore.core.errors import PreconditionFailed, PreconditionRequired

IF_MATCH_DESCRIPTION = (
    "Required: the `ETag` of the resource as last read (`*` is not accepted). Without it the "
    "request is refused with 428, with a version that is no longer current with 412 (re-read "
    "and apply the change again)."
)


def etag(version: int) -> str:
    """The strong ETag of a row at ``version``."""
    return f'"{version}"'


def _tags(if_match: str) -> list[str]:
    return [t.strip() for t in if_match.split(",") if t.strip()]


def require_if_match(
    if_match: Annotated[str | None, Header(alias="If-Match",
                                           description=IF_MATCH_DESCRIPTION)] = None,
) -> str:
    """The request's ``If-Match``; 428 when it is absent, empty or ``*``."""
    tags = _tags(if_match or "")
    if not tags:
        raise PreconditionRequired(
            "Send If-Match with the ETag of the resource as you read it: updates, deletes and "
            "state transitions apply only to the version you have seen.", header="If-Match")
    if "*" in tags:
        raise PreconditionRequired(
            "If-Match: * names no version; send the ETag of the resource as you read it.",
            header="If-Match")
    return if_match or ""


RequiredIfMatch = Annotated[str, Depends(require_if_match)]
"""The ``If-Match`` of a route that changes an existing resource (428 without it)."""


def check_if_match(if_match: str | None, version: int) -> None:
    """Raise 412 unless ``if_match`` names the current ``version`` (``None``: the system
    acting locally, never an HTTP client — routes take :data:`RequiredIfMatch`)."""
    if if_match is None:
        return
    tags = _tags(if_match)
    if "*" in tags:
        return
    current = etag(version)
    if not any(t.removeprefix("W/") == current for t in tags):
        raise PreconditionFailed(
            f"The resource is at version {version}; re-read it and apply your change again.",
            current_etag=current,
        )


def lock_and_check_if_match(session: Session, model: Any, if_match: str,
                            *where: ColumnElement[bool]) -> None:
    """For a service that takes no ``if_match``: lock the live row of ``model`` matching
    ``where`` (row-level security keeps it to the tenant) and 412 unless ``if_match`` names its
    version. The service then reads the same row under this lock, so nothing changes between
    the check and the change; a row not found is left to the service's 404."""
    stmt = select(model.version).where(*where)
    if hasattr(model, "deleted_at"):
        stmt = stmt.where(model.deleted_at.is_(None))
    version = session.scalar(stmt.with_for_update())
    if version is not None:
        check_if_match(if_match, version)


def if_match_version(if_match: str) -> int:
    """The version a (required) ``If-Match`` names; 412 when it is not an ETag of this API."""
    tag = _tags(if_match)[0].removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise PreconditionFailed(f"If-Match {if_match!r} is not an ETag of this API.")
    return int(tag)


def refresh_version(session: Session, row: Any) -> None:
    """Flush ``row`` and read back what the touch trigger set (``version``, ``updated_at``),
    so the response carries the new ETag."""
    session.flush()
    session.refresh(row, ["version", "updated_at"])


def _operations(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict):
                yield operation


def document_required_if_match(app: FastAPI) -> None:
    """Make ``/openapi.json`` declare the ``If-Match`` of :data:`RequiredIfMatch` as
    ``required: true`` with its 428 response (FastAPI marks a header with a default as
    optional; the default is there so that its absence is a 428, not a 422)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for operation in _operations(schema):
            params = [p for p in operation.get("parameters", [])
                      if p.get("in") == "header" and p.get("name") == "If-Match"
                      and p.get("description") == IF_MATCH_DESCRIPTION]
            for param in params:
                param["required"] = True
                param["schema"] = {"type": "string", "minLength": 1, "title": "If-Match"}
            if params:
                operation.setdefault("responses", {}).setdefault("428", {
                    "description": "If-Match is missing (or `*`): send the ETag you read.",
                })
                operation["responses"].setdefault("412", {
                    "description": "The resource changed since that ETag was read.",
                })
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
