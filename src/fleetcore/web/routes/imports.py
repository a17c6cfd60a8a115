"""Platform report imports: the list, the upload form, an import's preview (accounts to link
to drivers, row errors, unknown columns), commit and roll back.

Every step is ``fleetcore.revenue.service`` (reading, validating, committing, rolling back) or
``fleetcore.trips.service`` (linking an account, which also updates the waiting previews and
rows): the pages only collect the form and show what the service recorded in the import's
``summary``. The upload is one synchronous request; the form shows its progress (the bytes
sent, then "checking the rows") through HTMX, and works as a plain form without JavaScript.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, StringConstraints
from starlette.datastructures import UploadFile

from fleetcore.core.errors import Conflict, Problem
from fleetcore.core.pagination import PageParams
from fleetcore.core.schemas import Currency
from fleetcore.core.versioning import etag
from fleetcore.documents.api import document_storage
from fleetcore.drivers import queries as drivers_queries
from fleetcore.reference import queries as reference_queries
from fleetcore.revenue import service as revenue_service
from fleetcore.revenue.models import ImportStatus, ReportType, RevenueImport
from fleetcore.revenue.permissions import ImportsRead, ImportsWrite
from fleetcore.revenue.reconciliation_service import TRIP_MONEY_REPORTS
from fleetcore.revenue.reports.mapping import mappings
from fleetcore.revenue.schemas import ImportOut
from fleetcore.trips import queries as trips_queries
from fleetcore.trips import service as trips_service
from fleetcore.trips.filters import PlatformAccountFilter
from fleetcore.trips.models import PlatformAccount
from fleetcore.trips.permissions import TripsWrite
from fleetcore.trips.schemas import PlatformAccountCreate, PlatformAccountUpdate
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import (
    FormInvalid,
    FormState,
    apply_problem,
    attempt,
    build,
    parse_date,
    text_values,
)
from fleetcore.web.i18n import N_, gettext
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import (
    BadLink,
    enum_value,
    form_if_match,
    page,
    page_router,
    uuid_value,
)

router = page_router()

FIELDS = ("platform", "report_type", "currency", "period_start", "decimal_mark", "commit")
REPORT_TYPES: dict[str, str] = {
    ReportType.PAYMENTS_ORDER.value: N_("Payments, per transaction"),
    ReportType.PAYMENTS_DRIVER.value: N_("Payments, weekly per driver"),
    ReportType.TRIP_ACTIVITY.value: N_("Trip activity"),
    ReportType.BOLT_WEEKLY.value: N_("Weekly earnings per driver"),
    ReportType.BOLT_ORDERS.value: N_("Orders (Fleet API JSON)"),
}
"""How people call each report type (the platform is shown beside it)."""
STATUSES = [(s.value, s.value.replace("_", " ").capitalize()) for s in (
    ImportStatus.VALIDATED, ImportStatus.COMMITTED, ImportStatus.ROLLED_BACK,
    ImportStatus.FAILED)]
DECIMAL_MARKS = [(".", N_("A point: 1,234.50")), (",", N_("A comma: 1 234,50"))]


class UploadForm(BaseModel):
    """What the upload form says about the file: the form fields ``POST /v1/revenue-imports``
    takes, with the same limits."""

    model_config = ConfigDict(extra="forbid")

    platform: Annotated[str, StringConstraints(max_length=40, to_lower=True)] | None = None
    report_type: ReportType | None = None
    currency: Currency | None = None
    period_start: date | None = None
    decimal_mark: Literal[".", ","] | None = None
    commit: bool = False


# --- shared with the reconciliation and settlement pages -------------------------------------


def reader_platforms() -> list[str]:
    """The codes of the platforms whose reports the reader knows (``uber``, ``bolt``)."""
    return sorted({m.platform for m in mappings()})


def report_type_options() -> list[tuple[str, str]]:
    """``(report_type, "Platform — kind")`` of every report the reader knows."""
    return [(m.report_type, f"{m.platform.capitalize()} — {gettext(REPORT_TYPES[m.report_type])}")
            for m in sorted(mappings(), key=lambda m: (m.platform, m.report_type))]


def platform_names(c: Console, ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """The names of a page's platforms (one query)."""
    found = {i for i in ids if i is not None}
    return {p.id: p.name for p in reference_queries.platform_labels(c.session, ids=found)}


def period_text(c: Console, start: datetime | None, end: datetime | None) -> str:
    """``2026-11-16 to 2026-11-22`` (French: ``du 16/11/2026 au 22/11/2026``): the local days
    of ``[start, end)`` in the tenant's zone."""
    if start is None or end is None:
        return ""
    first = c.fmt.local(start).date()
    last = (c.fmt.local(end) - timedelta(microseconds=1)).date()
    if first == last:
        return c.fmt.date(first)
    return gettext("%(first)s to %(last)s", first=c.fmt.date(first), last=c.fmt.date(last))


def if_match(form: Any, what: str) -> str:
    """The ``If-Match`` of a form: the version of the row the page showed."""
    return form_if_match(form.get("version"), what)


# --- list and upload -------------------------------------------------------------------------


@router.get("/imports")
def import_list(c: Ctx, _: ImportsRead, status: str | None = None,
                platform: str | None = None, report_type: str | None = None,
                cursor: str | None = None) -> HTMLResponse:
    """Imports, newest first, with their counts, platform and period."""
    choices = reference_queries.platform_labels(c.session, codes=reader_platforms())
    platform_id = uuid_value(platform, "platform")
    rows, next_cursor = revenue_service.list_imports(
        c.session, c.actor, page(cursor), status=enum_value(ImportStatus, status, "status"),
        platform_id=platform_id,
        report_type=enum_value(ReportType, report_type, "report type"))
    names = {p.id: p.name for p in choices}
    missing = {r.platform_id for r in rows if r.platform_id and r.platform_id not in names}
    if missing:  # a platform the reader no longer offers: still named
        names.update(platform_names(c, set(missing)))
    params = {"status": status, "platform": platform_id, "report_type": report_type}
    return c.render("revenue/imports_list.html", imports=rows, next_cursor=next_cursor,
                    names=names, params=params, statuses=STATUSES,
                    platforms=[(str(p.id), p.name) for p in choices],
                    report_types=report_type_options(), kinds=REPORT_TYPES,
                    period=lambda s, e: period_text(c, s, e))


def _upload_form(c: Console, state: FormState, status_code: int = 200, *,
                 existing: str | None = None) -> HTMLResponse:
    choices = reference_queries.platform_labels(c.session, codes=reader_platforms())
    return c.render("revenue/import_form.html", status_code=status_code, state=state,
                    platforms=[(p.code, p.name) for p in choices],
                    report_types=report_type_options(), decimal_marks=DECIMAL_MARKS,
                    existing=existing)


@router.get("/imports/new")
def new_import(c: Ctx, _: ImportsWrite) -> HTMLResponse:
    """The upload form (the currency defaults to the fleet's)."""
    return _upload_form(c, FormState(values={"currency": c.tenant.currency}))


@router.post("/imports")
def upload_import(c: Ctx, _: ImportsWrite, form: Form) -> Response:
    """Read, store and validate a report (with "commit straight away", commit it too); the
    form comes back with the reason next to the field when the file is refused."""
    state = FormState(values=text_values(form, FIELDS))
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        state.add("file", gettext("choose the report file (CSV, XLSX, Bolt orders JSON, or a zip)"))
    values: dict[str, Any] = {k: v for k, v in state.values.items() if v}
    if "currency" in values:
        values["currency"] = values["currency"].upper()
    values["period_start"] = parse_date(values.get("period_start"), name="period_start",
                                        state=state)
    values["commit"] = bool(values.get("commit"))
    try:
        data = build(UploadForm, values, state)
        assert isinstance(upload, UploadFile)
        # Copied to a file of its own and read from there in bounded batches.
        with revenue_service.spooled_upload(upload.file) as path:
            imports = attempt(c.session, lambda: revenue_service.upload_import(
                c.session, c.actor, document_storage(c.request),
                upload=revenue_service.ImportUpload(
                    file_name=upload.filename or "report", data=path,
                    platform=data.platform, report_type=data.report_type.value
                    if data.report_type else None, currency=data.currency,
                    period_start=data.period_start, decimal_mark=data.decimal_mark),
                commit=data.commit))
    except FormInvalid:
        return _upload_form(c, state, 422)
    except Problem as problem:
        existing = problem.extensions.get("existing_import_id")
        return _upload_form(c, apply_problem(state, problem), problem.status,
                            existing=str(existing) if existing else None)
    if len(imports) == 1:
        imp = imports[0]
        return redirect(c.request, f"/app/imports/{imp.id}", flash=_uploaded(imp))
    return redirect(c.request, "/app/imports",
                    flash=f"{len(imports)} reports read from {upload.filename}: "
                          + "; ".join(_uploaded(i) for i in imports))


def _uploaded(imp: RevenueImport) -> str:
    """What an upload did, in a sentence."""
    errors = gettext(", %(rows_invalid)s with errors",
    rows_invalid=imp.rows_invalid) if imp.rows_invalid else ""
    if imp.status == ImportStatus.COMMITTED.value:
        return gettext("%(file_name)s: %(rows_valid)s rows committed%(errors)s.",
        file_name=imp.file_name, rows_valid=imp.rows_valid, errors=errors)
    return (gettext("%(file_name)s: %(rows_total)s rows read%(errors)s. Check the preview, then "
                    "commit.", file_name=imp.file_name, rows_total=imp.rows_total, errors=errors))


# --- one import ------------------------------------------------------------------------------


def _platform_of(c: Console, imp: RevenueImport) -> reference_queries.PlatformLabel | None:
    """The import's platform (code and name)."""
    if imp.platform_id is None:
        return None
    found = reference_queries.platform_labels(c.session, ids={imp.platform_id})
    return found[0] if found else None


def _detail(c: Console, imp: RevenueImport, *, status_code: int = 200,
            refusal: str | None = None, link_error: tuple[str, FormState] | None = None
            ) -> HTMLResponse:
    """The import's page: its preview as the service recorded it, with today's links."""
    label = _platform_of(c, imp)
    out = ImportOut.of(imp, label.code if label else None)
    refs = {a.platform_account for a in out.accounts if a.platform_account}
    linked = (trips_queries.account_drivers(c.session, c.tenant.id, imp.platform_id, refs)
              if imp.platform_id else {})
    # An account in conflict (its phone and e-mail name two drivers) shows no driver.
    drivers_of = {a.platform_account: None if a.conflict else (
        a.driver_id or linked.get(a.platform_account or "")) for a in out.accounts}
    waiting = [a for a in out.accounts if a.platform_account and not a.conflict
               and not drivers_of[a.platform_account]]
    can_link = c.can("trips:write") and imp.status in (ImportStatus.VALIDATED.value,
                                                       ImportStatus.COMMITTED.value)
    choices = (drivers_queries.driver_choices(c.session, c.tenant.id, status=None)
               if can_link and waiting else [])
    driver_names = drivers_queries.driver_names(c.session, c.tenant.id,
                                                {d for d in drivers_of.values() if d})
    return c.render(
        "revenue/import_detail.html", status_code=status_code, imp=imp, out=out,
        platform=label.name if label else "",
        kind=gettext(REPORT_TYPES.get(imp.report_type or "", imp.report_type or "")),
        period=period_text(c, imp.period_start, imp.period_end), drivers_of=drivers_of,
        driver_names=driver_names, waiting=len(waiting), can_link=can_link,
        choices=choices, refusal=refusal, link_error=link_error,
        week=c.fmt.local(imp.period_start).date() if imp.period_start else None,
        reconcilable=imp.report_type in TRIP_MONEY_REPORTS)


@router.get("/imports/{import_id}")
def import_detail(c: Ctx, _: ImportsRead, import_id: uuid.UUID) -> HTMLResponse:
    """Counts, accounts (link the unknown ones), row errors, unknown columns, actions."""
    return _detail(c, revenue_service.get_import(c.session, c.actor, import_id))


@router.get("/imports/{import_id}/errors.csv")
def import_errors(c: Ctx, _: ImportsRead, import_id: uuid.UUID) -> StreamingResponse:
    """Every row error of the import as CSV (the page lists the first 1,000)."""
    imp = revenue_service.get_import(c.session, c.actor, import_id)
    return StreamingResponse(
        revenue_service.import_errors(document_storage(c.request), imp),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{imp.id}-errors.csv"'})


def _existing_account(c: Console, platform_id: uuid.UUID, ref: str) -> PlatformAccount | None:
    """The live account the platform already has with this identifier (one not linked to a
    driver yet: then it is linked, not created again)."""
    found, _more = trips_service.list_platform_accounts(
        c.session, c.actor, PageParams(limit=1),
        PlatformAccountFilter(platform_id=platform_id, external_account_id=ref))
    return found[0] if found else None


@router.post("/imports/{import_id}/link")
def link_account(c: Ctx, _: ImportsRead, __: TripsWrite, import_id: uuid.UUID,
                 form: Form) -> Response:
    """Link one of the import's unknown accounts to a driver: the platform account is
    created (or the driverless one linked), which gives the driver every row waiting for it
    and updates the preview."""
    imp = revenue_service.get_import(c.session, c.actor, import_id)
    ref = str(form.get("platform_account") or "").strip()
    state = FormState(values=text_values(form, ("driver_id",)))
    label = _platform_of(c, imp)
    summary_refs = {a.get("platform_account") for a in (imp.summary or {}).get("accounts", [])}
    if not ref or ref not in summary_refs or label is None:
        raise BadLink(gettext("This account is not one of the import's."))
    if imp.status not in (ImportStatus.VALIDATED.value, ImportStatus.COMMITTED.value):
        raise Conflict(gettext("This import is %(replace)s: link its accounts from an import that "
                               "is waiting or committed.", replace=imp.status.replace('_', ' ')))
    platform_id, code = label.id, label.code
    driver_id = uuid_value(state.value("driver_id"), "driver") if state.value(
        "driver_id") else None
    if driver_id is None:
        state.add("driver_id", gettext("choose the driver this account belongs to"))
        return _detail(c, imp, status_code=422, link_error=(ref, state))

    def link() -> PlatformAccount:
        existing = _existing_account(c, platform_id, ref)
        if existing is not None and existing.driver_id is not None:
            message = gettext("this account is already linked to a driver")
            raise Conflict(gettext("Account %(ref)s is already linked to a driver: reload the "
                                   "page.", ref=ref),
                           errors=[{"field": "driver_id", "message": message}])
        if existing is not None:
            return trips_service.update_platform_account(
                c.session, c.actor, existing.id, data=PlatformAccountUpdate(driver_id=driver_id),
                if_match=etag(existing.version))
        return trips_service.create_platform_account(c.session, c.actor, data=(
            PlatformAccountCreate(platform=code, external_account_id=ref, driver_id=driver_id)))

    try:
        attempt(c.session, link)
    except Problem as problem:
        return _detail(c, imp, status_code=problem.status,
                       link_error=(ref, apply_problem(state, problem)))
    name = drivers_queries.driver_names(c.session, c.tenant.id, {driver_id}).get(
        driver_id, "the driver")
    return redirect(c.request, f"/app/imports/{import_id}#accounts",
                    flash=gettext("Account %(ref)s linked to %(name)s: its rows are theirs now.",
                                  ref=ref, name=name))


def _act(c: Console, import_id: uuid.UUID, form: Any, action: str) -> Response:
    """Commit, check again, roll back or discard the import the page showed (its version as
    ``If-Match``); a refusal is said at the top of the import's page."""
    storage = document_storage(c.request)
    imp = revenue_service.get_import(c.session, c.actor, import_id)
    expected = if_match(form, "import")
    calls = {
        "commit": lambda: revenue_service.commit_import(
            c.session, c.actor, storage, import_id, if_match=expected),
        "validate": lambda: revenue_service.revalidate_import(
            c.session, c.actor, storage, import_id, if_match=expected),
        "rollback": lambda: revenue_service.rollback_import(
            c.session, c.actor, import_id, if_match=expected),
        "discard": lambda: revenue_service.discard_import(
            c.session, c.actor, storage, import_id, if_match=expected),
    }
    try:
        done = attempt(c.session, calls[action])
    except Problem as problem:
        if problem.status == 404:
            raise
        detail = problem.detail
        if problem.status == 412:
            detail = (gettext("This import changed since you opened the page (an account was "
                              "linked or it was checked again): look at the preview below, then "
                              "try again."))
        c.session.refresh(imp)
        return _detail(c, imp, status_code=problem.status,
                       refusal=f"Not {_DONE[action]}: {detail}")
    if done is None:  # discarded: the import is gone
        return redirect(c.request, "/app/imports",
                        flash=gettext("Discarded the preview of %(file_name)s: nothing was "
                                      "written.",
                                      file_name=imp.file_name))
    messages = {
        "commit": gettext("Committed: %(rows_valid)s rows written, trips and driver revenues "
                          "updated.", rows_valid=done.rows_valid),
        "validate": gettext("Checked again: %(rows_valid)s valid rows, %(rows_invalid)s with "
                            "errors.", rows_valid=done.rows_valid, rows_invalid=done.rows_invalid),
        "rollback": gettext("Rolled back: its rows and the trips it wrote are gone; the file may "
                            "be imported again."),
    }
    return redirect(c.request, f"/app/imports/{import_id}", flash=messages[action])


_DONE = {"commit": "committed", "validate": "checked again", "rollback": "rolled back",
         "discard": "discarded"}


@router.post("/imports/{import_id}/commit")
def commit_import(c: Ctx, _: ImportsWrite, import_id: uuid.UUID, form: Form) -> Response:
    """Write the valid rows, their trips and driver revenues (all or nothing)."""
    return _act(c, import_id, form, "commit")


@router.post("/imports/{import_id}/validate")
def revalidate_import(c: Ctx, _: ImportsWrite, import_id: uuid.UUID, form: Form) -> Response:
    """Validate the preview again against the database as it is now."""
    return _act(c, import_id, form, "validate")


@router.post("/imports/{import_id}/rollback")
def rollback_import(c: Ctx, _: ImportsWrite, import_id: uuid.UUID, form: Form) -> Response:
    """Undo a committed import while no confirmed settlement covers its period."""
    return _act(c, import_id, form, "rollback")


@router.post("/imports/{import_id}/discard")
def discard_import(c: Ctx, _: ImportsWrite, import_id: uuid.UUID, form: Form) -> Response:
    """Delete a preview that will not be committed (its file goes with it)."""
    return _act(c, import_id, form, "discard")
