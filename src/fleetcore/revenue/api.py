"""``/v1/revenue-imports``: upload a platform report, preview it, commit it, roll it back."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetcore.core.deps import DbSession
from fleetcore.core.export import CsvColumn, csv_response, csv_responses
from fleetcore.core.pagination import Page, Pagination
from fleetcore.core.versioning import RequiredIfMatch, etag
from fleetcore.documents.api import Storage
from fleetcore.reference.models import Platform
from fleetcore.revenue import service
from fleetcore.revenue.models import ImportStatus, ReportType, RevenueImport
from fleetcore.revenue.permissions import ImportsRead, ImportsWrite
from fleetcore.revenue.schemas import ImportOut, ImportUploadOut

router = APIRouter(prefix="/v1")
TAGS: list[Any] = ["revenue imports"]


def _codes(session: Session, rows: list[RevenueImport]) -> dict[uuid.UUID, str]:
    ids = {r.platform_id for r in rows if r.platform_id is not None}
    if not ids:
        return {}
    found = session.execute(select(Platform.id, Platform.code).where(Platform.id.in_(ids)))
    return {row[0]: row[1] for row in found}


def _out(session: Session, imp: RevenueImport, response: Response | None = None) -> ImportOut:
    if response is not None:
        response.headers["ETag"] = etag(imp.version)
    codes = _codes(session, [imp])
    return ImportOut.of(imp, codes.get(imp.platform_id) if imp.platform_id else None)


@router.post(
    "/revenue-imports", tags=TAGS, status_code=status.HTTP_201_CREATED,
    summary="Upload a platform report (CSV, XLSX, Bolt orders JSON, or a zip of them)",
    description=(
        "Reads the file, detects (or is told) the platform and report type, validates every "
        "row and stores the preview: counts, the platform accounts found (linked to a driver "
        "or waiting), and row errors. Nothing is committed unless `commit` is true. The same "
        "file is refused while an earlier import of it is validated or committed (409 with "
        "`existing_import`). A file that cannot be read as a whole is refused with one reason "
        "(422 `unreadable-report`); a file, or what a zip inflates to, over the size limits is a "
        "413 `report-too-large` (limits: `docs/imports.md`)."),
    responses={413: {"description": "The file, or what it inflates to, is over the limit."}},
    openapi_extra={"requestBody": {"content": {"multipart/form-data": {"example": {
        "file": "2026-11-16-payments_order.csv", "platform": "uber",
        "report_type": "payments_order", "currency": "EUR", "commit": False,
    }}}}},
)
def upload_import(
    actor: ImportsWrite, session: DbSession, storage: Storage, response: Response,
    file: Annotated[UploadFile, File(description="The report as downloaded from the platform.")],
    platform: Annotated[str | None, Form(max_length=40, description=(
        "`uber` or `bolt`; detected from the headers when absent."))] = None,
    report_type: Annotated[ReportType | None, Form(description=(
        "Detected from the headers when absent."))] = None,
    currency: Annotated[str | None, Form(min_length=3, max_length=3, description=(
        "ISO 4217 currency of files that carry none (Uber payments files)."))] = None,
    period_start: Annotated[date | None, Form(description=(
        "Any day of the week a weekly summary covers (those files have no dates)."))] = None,
    decimal_mark: Annotated[Literal[".", ","] | None, Form(description=(
        "The decimal mark, for a file whose amounts cannot show it (all like `1,234`)."))]
    = None,
    commit: Annotated[bool, Form(description="Commit straight away when the file is valid.")]
    = False,
) -> ImportUploadOut:
    # Starlette spools the body to disk; it is copied to a file of its own and read from there
    # in bounded batches, never held whole in memory.
    with service.spooled_upload(file.file) as path:
        upload = service.ImportUpload(
            file_name=file.filename or "report", data=path,
            platform=platform.strip().lower() if platform else None,
            report_type=report_type.value if report_type else None,
            currency=currency.upper() if currency else None, period_start=period_start,
            decimal_mark=decimal_mark)
        imports = service.upload_import(session, actor, storage, upload=upload, commit=commit)
    if imports:
        response.headers["Location"] = f"/v1/revenue-imports/{imports[0].id}"
    codes = _codes(session, imports)
    return ImportUploadOut(imports=[
        ImportOut.of(i, codes.get(i.platform_id) if i.platform_id else None) for i in imports])


@router.get("/revenue-imports", tags=TAGS, summary="List imports, newest first")
def list_imports(
    actor: ImportsRead, session: DbSession, page: Pagination,
    import_status: Annotated[ImportStatus | None, Query(alias="status")] = None,
    platform_id: uuid.UUID | None = None, report_type: ReportType | None = None,
) -> Page[ImportOut]:
    rows, cursor = service.list_imports(
        session, actor, page, status=import_status.value if import_status else None,
        platform_id=platform_id, report_type=report_type.value if report_type else None)
    codes = _codes(session, rows)
    return Page(items=[ImportOut.of(r, codes.get(r.platform_id) if r.platform_id else None,
                                    listed=True) for r in rows], next_cursor=cursor)


def _attr(name: str) -> Any:
    return lambda row: getattr(row, name)


_IMPORT_CSV = [CsvColumn(n, _attr(n)) for n in (
    "id", "platform_id", "report_type", "status", "file_name", "sha256", "period_start",
    "period_end", "rows_total", "rows_valid", "rows_invalid", "rows_duplicate", "created_at",
    "validated_at", "committed_at", "rolled_back_at")]


@router.get("/revenue-imports/export.csv", tags=TAGS,
            summary="Export the filtered imports as CSV", response_class=StreamingResponse,
            responses=csv_responses(_IMPORT_CSV))
def export_imports(
    actor: ImportsRead, session: DbSession,
    import_status: Annotated[ImportStatus | None, Query(alias="status")] = None,
    platform_id: uuid.UUID | None = None, report_type: ReportType | None = None,
) -> StreamingResponse:
    stmt = service.imports_query(
        actor, status=import_status.value if import_status else None, platform_id=platform_id,
        report_type=report_type.value if report_type else None).order_by(RevenueImport.id)
    return csv_response(session, stmt, _IMPORT_CSV, filename="revenue-imports.csv")


@router.get("/revenue-imports/{import_id}", tags=TAGS, summary="Get an import and its preview")
def get_import(actor: ImportsRead, session: DbSession, import_id: uuid.UUID,
               response: Response) -> ImportOut:
    return _out(session, service.get_import(session, actor, import_id), response)


@router.get("/revenue-imports/{import_id}/errors.csv", tags=TAGS,
            summary="Download every row error of an import as CSV",
            response_class=StreamingResponse, responses=csv_responses(
                [CsvColumn(n, _attr(n)) for n in ("row", "column", "value", "reason")],
                description="Every row error: line number (header = 1), column, value, reason."))
def import_errors(actor: ImportsRead, session: DbSession, storage: Storage,
                  import_id: uuid.UUID) -> StreamingResponse:
    imp = service.get_import(session, actor, import_id)
    return StreamingResponse(
        service.import_errors(storage, imp), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{imp.id}-errors.csv"'})


@router.post("/revenue-imports/{import_id}/validate", tags=TAGS,
             summary="Validate a previewed import again (after linking accounts)")
def revalidate_import(actor: ImportsWrite, session: DbSession, if_match: RequiredIfMatch,
storage: Storage,
                      import_id: uuid.UUID, response: Response) -> ImportOut:
    imp = service.revalidate_import(session, actor, storage, import_id, if_match=if_match)
    return _out(session, imp, response)


@router.post("/revenue-imports/{import_id}/commit", tags=TAGS,
             summary="Commit a validated import: rows, trips and driver revenues, atomically")
def commit_import(actor: ImportsWrite, session: DbSession, if_match: RequiredIfMatch,
storage: Storage,
                  import_id: uuid.UUID, response: Response) -> ImportOut:
    imp = service.commit_import(session, actor, storage, import_id, if_match=if_match)
    return _out(session, imp, response)


@router.post("/revenue-imports/{import_id}/rollback", tags=TAGS,
             summary="Roll back a committed import while its period is not settled")
def rollback_import(actor: ImportsWrite, session: DbSession, if_match: RequiredIfMatch,
import_id: uuid.UUID,
                    response: Response) -> ImportOut:
    imp = service.rollback_import(session, actor, import_id, if_match=if_match)
    return _out(session, imp, response)


@router.delete("/revenue-imports/{import_id}", tags=TAGS, status_code=status.HTTP_204_NO_CONTENT,
               summary="Discard a preview (an import that wrote nothing)",
               description=(
                   "Deletes a `validated` (or `failed`) import and, once the request commits, its "
                   "stored file and errors CSV. A committed import is rolled back instead "
                   "(`POST …/rollback`): 409. Uploading the same file again also replaces its "
                   "preview."))
def discard_import(actor: ImportsWrite, session: DbSession, if_match: RequiredIfMatch,
storage: Storage,
                   import_id: uuid.UUID) -> Response:
    service.discard_import(session, actor, storage, import_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
