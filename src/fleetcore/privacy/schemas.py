"""Request and response models of the personal-data routes."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from fleetcore.privacy.service import Erasure, ExportFile


class ErasureRequest(BaseModel):
    """Why the person's data is erased (kept in the audit trail: say who asked, not who they
    are)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"reason": "Erasure request received by e-mail on 2026-12-01"}]})

    reason: str = Field(min_length=3, max_length=500,
                        examples=["Erasure request received by e-mail on 2026-12-01"])


class ErasureOut(BaseModel):
    """What an erasure did."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "person_type": "driver", "id": "0193f0a2-6c1e-7d3a-9b4f-2a1c3e5d7f90",
        "anonymised_at": "2026-12-07T11:30:00+00:00",
        "rows_anonymised": {"rid_drivers": 1, "trp_platform_accounts": 2, "doc_documents": 3},
        "documents_deleted": 3, "audit_entries_scrubbed": 14}]})

    person_type: str = Field(examples=["driver"])
    id: uuid.UUID
    anonymised_at: AwareDatetime
    rows_anonymised: dict[str, int] = Field(
        description="Rows changed (or deleted) per table.",
        examples=[{"rid_drivers": 1, "trp_platform_accounts": 2, "doc_documents": 3}])
    documents_deleted: int
    audit_entries_scrubbed: int


ZIP_MEDIA_TYPE = "application/zip"

EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {200: {
    "description": "One zip: `<driver|member>.json` (every row about the person, table by "
                   "table, and the audit entries about those rows) and `documents/` (the "
                   "person's document files).",
    "content": {ZIP_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"},
                                 "example": "(zip archive)"}},
}}
"""The OpenAPI ``responses`` of a personal-data export route."""


def export_response(export: ExportFile) -> Response:
    """A personal-data export as the zip download it is served as."""
    return Response(export.content, media_type=ZIP_MEDIA_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{export.file_name}"'})


def erasure_out(erasure: Erasure) -> ErasureOut:
    """The response body of an erasure."""
    return ErasureOut(
        person_type=erasure.person_type, id=erasure.id, anonymised_at=erasure.anonymised_at,
        rows_anonymised=erasure.rows_anonymised, documents_deleted=erasure.documents_deleted,
        audit_entries_scrubbed=erasure.audit_entries_scrubbed)
