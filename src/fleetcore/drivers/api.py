"""``/v1`` drivers endpoints: drivers, their documents, cooperation terms, requests, blacklist,
training and performance figures."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from enum import Enum
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    Query,
    Request,
    Response,
    status,
)
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from fleetcore.core.compliance import ComplianceReport
from fleetcore.core.deps import DbSession, request_info
from fleetcore.core.export import (
    Column,
    CsvColumn,
    DerivedColumns,
    MoneyColumns,
    csv_response,
    csv_responses,
)
from fleetcore.core.money import Money
from fleetcore.core.pagination import Page, Pagination
from fleetcore.core.resource import ResourceRoutes, no_content, page_response, value_of
from fleetcore.core.schemas import money_out
from fleetcore.core.versioning import RequiredIfMatch, etag, lock_and_check_if_match
from fleetcore.documents.api import Storage
from fleetcore.documents.models import Document
from fleetcore.documents.storage import delete_after_commit
from fleetcore.drivers import service, verification_service
from fleetcore.drivers.filters import (
    BlacklistFilter,
    DriverFilter,
    DriverSort,
    PerformanceFilter,
    RequestFilter,
    TermsFilter,
    TrainingFilter,
)
from fleetcore.drivers.models import (
    BlacklistCategory,
    BlacklistStatus,
    CooperationTermsStatus,
    Driver,
    DriverBlacklist,
    DriverCooperationTerms,
    DriverDocument,
    DriverPerformance,
    DriverRequest,
    DriverRequestStatus,
    DriverRequestType,
    DriverStatus,
    DriverTraining,
    TrainingStatus,
    TrainingType,
)
from fleetcore.drivers.permissions import (
    DriverRequestsRead,
    DriverRequestsWrite,
    DriversRead,
    DriversWrite,
)
from fleetcore.drivers.schemas import (
    DRIVER_COMPLIANCE_EXAMPLE,
    BlacklistCreate,
    BlacklistOut,
    BlacklistUpdate,
    CooperationTermsCreate,
    CooperationTermsOut,
    DriverCreate,
    DriverDocumentAttach,
    DriverDocumentOut,
    DriverDocumentUpdate,
    DriverOut,
    DriverRequestCreate,
    DriverRequestOut,
    DriverRequestUpdate,
    DriverUpdate,
    PerformanceOut,
    ReasonIn,
    RequestDecision,
    TermsTermination,
    TrainingCreate,
    TrainingOut,
    TrainingUpdate,
)
from fleetcore.fleet import service as fleet_service
from fleetcore.privacy import service as privacy_service
from fleetcore.privacy.permissions import PrivacyManage
from fleetcore.privacy.schemas import (
    EXPORT_RESPONSES,
    ErasureOut,
    ErasureRequest,
    erasure_out,
    export_response,
)

router = APIRouter(prefix="/v1")

DRIVERS: list[str | Enum] = ["drivers"]
DOCUMENTS: list[str | Enum] = ["driver documents"]
TERMS: list[str | Enum] = ["driver cooperation terms"]
REQUESTS: list[str | Enum] = ["driver requests"]
BLACKLISTS: list[str | Enum] = ["driver blacklists"]
TRAINING: list[str | Enum] = ["driver training"]
PERFORMANCES: list[str | Enum] = ["driver performances"]
IncludeDeleted = Annotated[bool, Query(description="Also list soft-deleted rows.")]


def _with_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def _created(response: Response, path: str, version: int) -> None:
    response.headers["Location"] = path
    _with_etag(response, version)


def _attr(name: str) -> Callable[[Any], Any]:
    def read(row: Any) -> Any:
        return getattr(row, name)

    return read


def _columns(*names: str) -> list[CsvColumn | MoneyColumns]:
    return [CsvColumn(n, _attr(n)) for n in names]


def _locked(model: Any, change: Callable[..., Any]) -> Callable[..., Any]:
    """``change(session, actor, id, data)`` once ``If-Match`` is checked on the locked row."""
    def run(session: Any, actor: Any, row_id: uuid.UUID, data: Any, if_match: str) -> Any:
        lock_and_check_if_match(session, model, if_match, model.id == row_id)
        return change(session, actor, row_id, data)

    return run


# --- drivers -----------------------------------------------------------------------------------


def _driver_filter(
    driver_status: Annotated[DriverStatus | None, Query(alias="status")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Name, e-mail or phone.")] = None,
    hired_since: date | None = None,
    include_deleted: IncludeDeleted = False,
    sort: DriverSort = DriverSort.CREATED,
) -> DriverFilter:
    return DriverFilter(status=value_of(driver_status), q=q or None, hired_since=hired_since,
                        include_deleted=include_deleted, sort=sort)


DriverFilterQuery = Annotated[DriverFilter, Depends(_driver_filter)]


_DRIVER_CSV = _columns(*(
    "id", "first_name", "last_name", "email", "phone", "status", "date_of_birth",
    "licence_number", "licence_country", "licence_issued_on", "licence_expires_on",
    "professional_card_type", "professional_card_number", "professional_card_expires_on",
    "hired_on", "rating", "created_at", "deleted_at",
))


_drivers = ResourceRoutes(router, "drivers", "driver_id", "driver", DRIVERS, DriverOut,
                          DriverOut.model_validate, DriversRead, DriversWrite)
_drivers.listing("List drivers", DriverFilterQuery, service.list_drivers)
_export_drivers = _drivers.export("Export the filtered drivers as CSV", DriverFilterQuery,
                                  service.drivers_query, _DRIVER_CSV, "drivers.csv")


def export_drivers(actor: Any, session: Any, **filters: Any) -> StreamingResponse:
    """The export as the console calls it (web/routes/drivers.py), filters by keyword."""
    return _export_drivers(actor, session, _driver_filter(**filters))


_drivers.create("Create a driver", DriverCreate,
                lambda s, a, d: service.create_driver(s, a, data=d))
_drivers.get("Get a driver", service.get_driver, include_deleted=False)
_drivers.update("Update a driver", DriverUpdate,
                lambda s, a, i, d, m: service.update_driver(s, a, i, data=d, if_match=m))
_drivers.delete("Delete a driver (soft, with a reason; restorable)", lambda s, a, i, r, m:
                service.delete_driver(s, a, i, reason=r, if_match=m), reason="body")
_drivers.restore("Restore a deleted driver", service.restore_driver)


@router.get("/drivers/{driver_id}/compliance", tags=DRIVERS,
            summary="A driver's compliance, rule by rule",
            responses={200: {"content": {"application/json": {
                "example": DRIVER_COMPLIANCE_EXAMPLE}}}})
def driver_compliance(
    actor: DriversRead, session: DbSession, driver_id: uuid.UUID,
    at: Annotated[AwareDatetime | None, Query(description="The instant (now by default).")]
    = None,
) -> ComplianceReport:
    return service.driver_compliance(session, actor, driver_id, at or datetime.now(UTC))


# --- driver documents --------------------------------------------------------------------------


def _document_out(link: DriverDocument, doc: Document) -> DriverDocumentOut:
    today = datetime.now(UTC).date()
    return DriverDocumentOut(
        id=link.id, driver_id=link.driver_id, document_id=link.document_id,
        requirement=link.requirement,
        verification_status=link.verification_status,
        verified_by=link.verified_by, verified_at=link.verified_at,
        rejection_reason=link.rejection_reason, document_type=doc.document_type,
        document_number=doc.document_number, file_name=doc.file_name,
        expires_on=doc.expires_on,
        expired=doc.expires_on is not None and doc.expires_on < today,
        document_deleted=doc.deleted_at is not None, version=link.version,
    )


@router.get("/drivers/{driver_id}/documents", tags=DOCUMENTS,
            summary="A driver's documents with their requirement, verification and expiry")
def list_driver_documents(
    actor: DriversRead, session: DbSession, driver_id: uuid.UUID
) -> list[DriverDocumentOut]:
    return [_document_out(link, doc)
            for link, doc in service.driver_documents(session, actor, driver_id)]


_DOCUMENT_CSV: list[Column] = [DerivedColumns((
    "id", "driver_id", "document_id", "requirement", "verification_status", "verified_by",
    "verified_at", "rejection_reason", "document_type", "document_number", "file_name",
    "expires_on", "expired", "document_deleted",
), lambda row: _document_out(row[0], row[1]))]


@router.get("/drivers/{driver_id}/documents/export.csv", tags=DOCUMENTS,
            summary="Export a driver's documents as CSV",
            response_class=StreamingResponse, responses=csv_responses(_DOCUMENT_CSV))
def export_driver_documents(
    actor: DriversRead, session: DbSession, driver_id: uuid.UUID
) -> StreamingResponse:
    service.get_driver(session, actor, driver_id)
    return csv_response(session, service.driver_documents_query(actor, driver_id),
                        _DOCUMENT_CSV, filename="driver-documents.csv")


@router.post("/drivers/{driver_id}/documents", tags=DOCUMENTS,
             status_code=status.HTTP_201_CREATED,
             summary="Attach an uploaded document to a driver")
def attach_driver_document(
    actor: DriversWrite, session: DbSession, driver_id: uuid.UUID, data: DriverDocumentAttach,
    response: Response,
) -> DriverDocumentOut:
    link, doc = service.attach_document(session, actor, driver_id, data=data)
    _created(response, f"/v1/drivers/{driver_id}/documents/{doc.id}", link.version)
    return _document_out(link, doc)


@router.get("/drivers/{driver_id}/documents/{document_id}", tags=DOCUMENTS,
            summary="One of a driver's documents (its ETag is what changes to it name)")
def get_driver_document(
    actor: DriversRead, session: DbSession, driver_id: uuid.UUID, document_id: uuid.UUID,
    response: Response,
) -> DriverDocumentOut:
    link, doc = service.driver_document(session, actor, driver_id, document_id)
    _with_etag(response, link.version)
    return _document_out(link, doc)


@router.patch("/drivers/{driver_id}/documents/{document_id}", tags=DOCUMENTS,
              summary="Change whether a driver's document is required")
def update_driver_document(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch,
    driver_id: uuid.UUID, document_id: uuid.UUID,
    data: DriverDocumentUpdate, response: Response,
) -> DriverDocumentOut:
    link, doc = service.update_driver_document(session, actor, driver_id, document_id,
                                               data=data, if_match=if_match)
    _with_etag(response, link.version)
    return _document_out(link, doc)


def _check_link(session: DbSession, if_match: str, driver_id: uuid.UUID,
                document_id: uuid.UUID) -> None:
    """412 unless ``if_match`` is the ETag of the driver's document as read here (the link's
    version, the ETag this resource's reads and changes carry)."""
    lock_and_check_if_match(session, DriverDocument, if_match,
                            DriverDocument.driver_id == driver_id,
                            DriverDocument.document_id == document_id)


@router.post("/drivers/{driver_id}/documents/{document_id}/verify", tags=DOCUMENTS,
             summary="Verify a driver's document")
def verify_driver_document(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch, driver_id: uuid.UUID,
    document_id: uuid.UUID, response: Response,
) -> DriverDocumentOut:
    _check_link(session, if_match, driver_id, document_id)
    link, doc = verification_service.verify_driver_document(session, actor, driver_id, document_id)
    _with_etag(response, link.version)
    return _document_out(link, doc)


@router.post("/drivers/{driver_id}/documents/{document_id}/reject", tags=DOCUMENTS,
             summary="Reject a driver's document with a reason")
def reject_driver_document(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch, driver_id: uuid.UUID,
    document_id: uuid.UUID, data: ReasonIn, response: Response,
) -> DriverDocumentOut:
    _check_link(session, if_match, driver_id, document_id)
    link, doc = verification_service.reject_driver_document(session, actor, driver_id, document_id,
                                               reason=data.reason)
    _with_etag(response, link.version)
    return _document_out(link, doc)


@router.delete("/drivers/{driver_id}/documents/{document_id}", tags=DOCUMENTS,
               status_code=status.HTTP_204_NO_CONTENT,
               summary="Detach a document from a driver (the document stays)")
def detach_driver_document(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch, driver_id: uuid.UUID,
    document_id: uuid.UUID,
) -> Response:
    _check_link(session, if_match, driver_id, document_id)
    service.detach_document(session, actor, driver_id, document_id)
    return no_content()


# --- cooperation terms -------------------------------------------------------------------------


def _terms_out(t: DriverCooperationTerms) -> CooperationTermsOut:
    return CooperationTermsOut(
        id=t.id, driver_id=t.driver_id, terms_version=t.terms_version,
        status=t.status,
        accepted_at=t.accepted_at,
        accepted_ip=str(t.accepted_ip) if t.accepted_ip is not None else None,
        accepted_user_agent=t.accepted_user_agent, effective_from=t.effective_from,
        effective_to=t.effective_to,
        settlement_model=t.settlement_model,
        fleet_share_pct=t.fleet_share_pct, rent=money_out(t.rent_amount, t.currency),
        rent_period=t.rent_period,
        currency=t.currency, recharge_fuel=t.recharge_fuel, recharge_tolls=t.recharge_tolls,
        recharge_fines=t.recharge_fines, recharge_other_expenses=t.recharge_other_expenses,
        deposit=money_out(t.deposit_amount, t.currency),
        weekly_deposit_instalment=money_out(t.weekly_deposit_instalment, t.currency),
        termination_reason=t.termination_reason, created_at=t.created_at, version=t.version,
    )


_TERMS_CSV: list[CsvColumn | MoneyColumns] = [
    *_columns(
        "id", "driver_id", "terms_version", "status", "settlement_model", "effective_from",
        "effective_to", "fleet_share_pct", "rent_period", "accepted_at"),
    MoneyColumns("rent", lambda t: Money(t.rent_amount, t.currency)
                 if t.rent_amount is not None else None),
]


@router.get("/drivers/{driver_id}/cooperation-terms", tags=TERMS,
            summary="A driver's cooperation terms, oldest first")
def list_driver_terms(
    actor: DriversRead, session: DbSession, driver_id: uuid.UUID, page: Pagination,
    include_deleted: IncludeDeleted = False,
) -> Page[CooperationTermsOut]:
    rows, cursor = service.list_cooperation_terms(
        session, actor, page, TermsFilter(driver_id=driver_id, include_deleted=include_deleted))
    return Page(items=[_terms_out(t) for t in rows], next_cursor=cursor)


@router.get("/drivers/{driver_id}/cooperation-terms/export.csv", tags=TERMS,
            summary="Export a driver's cooperation terms as CSV, oldest first",
            response_class=StreamingResponse, responses=csv_responses(_TERMS_CSV))
def export_driver_terms(
    actor: DriversRead, session: DbSession, driver_id: uuid.UUID,
    include_deleted: IncludeDeleted = False,
) -> StreamingResponse:
    service.get_driver(session, actor, driver_id)
    stmt = service.cooperation_terms_query(
        actor, TermsFilter(driver_id=driver_id, include_deleted=include_deleted))
    return csv_response(session, stmt.order_by(DriverCooperationTerms.id), _TERMS_CSV,
                        filename="driver-cooperation-terms.csv")


def _terms_filter(
    driver_id: uuid.UUID | None = None,
    terms_status: Annotated[CooperationTermsStatus | None, Query(alias="status")] = None,
    include_deleted: IncludeDeleted = False,
) -> TermsFilter:
    return TermsFilter(driver_id=driver_id, status=terms_status.value if terms_status else None,
                       include_deleted=include_deleted)


TermsFilterQuery = Annotated[TermsFilter, Depends(_terms_filter)]


_terms = ResourceRoutes(router, "driver-cooperation-terms", "terms_id", "terms", TERMS,
                        CooperationTermsOut, _terms_out, DriversRead, DriversWrite,
                        plural="terms")
_terms.listing("List cooperation terms", TermsFilterQuery, service.list_cooperation_terms,
               page_first=True)
_terms.export("Export the filtered cooperation terms as CSV", TermsFilterQuery,
              lambda actor, filters: service.cooperation_terms_query(actor, filters).order_by(
                  DriverCooperationTerms.id), _TERMS_CSV, "driver-cooperation-terms.csv")
_terms.create("Offer cooperation terms to a driver (pending until accepted)",
              CooperationTermsCreate,
              lambda s, a, d: service.create_cooperation_terms(s, a, data=d))
_terms.get("Get a version of cooperation terms", service.get_cooperation_terms,
           include_deleted=False)


@router.post("/driver-cooperation-terms/{terms_id}/accept", tags=TERMS,
             response_model=CooperationTermsOut,
             summary="Record the driver's acceptance (closes the terms in force)")
def accept_terms(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch, terms_id: uuid.UUID,
    request: Request,
) -> Response:
    lock_and_check_if_match(session, DriverCooperationTerms, if_match,
                            DriverCooperationTerms.id == terms_id)
    info = request_info(request)
    return _terms.answer(service.accept_cooperation_terms(
        session, actor, terms_id, ip=info.ip, user_agent=info.user_agent))


_terms.delete(
    "Delete terms offered by mistake (soft, with a reason; restorable)",
    lambda s, a, i, r, m: service.delete_cooperation_terms(s, a, i, reason=r, if_match=m),
    reason="body",
    description="Only terms the driver never accepted can be deleted. Accepted terms are the "
                "record of the contract (settlements are computed from them): they are "
                "terminated with `POST /v1/driver-cooperation-terms/{terms_id}/terminate`, "
                "never deleted, and a delete is refused with 409.")
_terms.restore("Restore deleted cooperation terms", service.restore_cooperation_terms)
_terms.action("terminate", "Terminate terms in force, or withdraw an offer", TermsTermination,
              _locked(DriverCooperationTerms, lambda s, a, i, d:
                      service.terminate_cooperation_terms(s, a, i, data=d)))


# --- driver requests ---------------------------------------------------------------------------


def _request_out(r: DriverRequest) -> DriverRequestOut:
    return DriverRequestOut(
        id=r.id, driver_id=r.driver_id,
        request_type=r.request_type,
        status=r.status,
        period_start=r.period_start, period_end=r.period_end, details=r.details,
        reason=r.reason, amount=money_out(r.amount, r.currency),
        requested_vehicle_id=r.requested_vehicle_id, reviewed_by=r.reviewed_by,
        reviewed_at=r.reviewed_at, resolution_notes=r.resolution_notes,
        resulting_assignment_id=r.resulting_assignment_id, created_at=r.created_at,
        version=r.version,
    )


def _request_filter(
    driver_id: uuid.UUID | None = None,
    request_status: Annotated[DriverRequestStatus | None, Query(alias="status")] = None,
    request_type: DriverRequestType | None = None,
) -> RequestFilter:
    return RequestFilter(driver_id=driver_id, status=value_of(request_status),
                         request_type=value_of(request_type))


RequestFilterQuery = Annotated[RequestFilter, Depends(_request_filter)]


_REQUEST_CSV: list[CsvColumn | MoneyColumns] = [
    *_columns(
        "id", "driver_id", "request_type", "status", "period_start", "period_end", "reason",
        "requested_vehicle_id", "reviewed_at", "resolution_notes", "created_at"),
    MoneyColumns("amount", lambda r: Money(r.amount, r.currency)
                 if r.amount is not None and r.currency else None),
]


_requests = ResourceRoutes(router, "driver-requests", "request_id", "request", REQUESTS,
                           DriverRequestOut, _request_out, DriverRequestsRead,
                           DriverRequestsWrite)
_requests.listing("List driver requests, newest first", RequestFilterQuery,
                  service.list_driver_requests)
_requests.export("Export the filtered driver requests as CSV", RequestFilterQuery,
                 lambda actor, filters: service.driver_requests_query(actor, filters).order_by(
                     DriverRequest.id.desc()), _REQUEST_CSV, "driver-requests.csv")
_requests.create("File a driver request", DriverRequestCreate,
                 lambda s, a, d: service.create_driver_request(s, a, data=d))
_requests.get("Get a driver request", service.get_driver_request, include_deleted=False)
_requests.update(
    "Change an open request (pending or under review)", DriverRequestUpdate,
    lambda s, a, i, d, m: service.update_driver_request(s, a, i, data=d, if_match=m),
    description="Only the fields sent change. A decided request (approved, rejected, "
                "cancelled, completed) is refused with 409 `request-decided`; a stale "
                "`If-Match` with 412.")


def _transition(target: DriverRequestStatus) -> Callable[..., Any]:
    return _locked(DriverRequest, lambda s, a, i, d: service.transition_driver_request(
        s, a, i, target, notes=d.notes if d else None,
        assign_vehicle_change=fleet_service.assign_for_vehicle_change))


for _verb, _target, _summary in (
    ("review", DriverRequestStatus.UNDER_REVIEW, "Start reviewing a pending request"),
    ("approve", DriverRequestStatus.APPROVED, "Approve a request under review (a leave is "
     "refused over planned work; a vehicle change creates the assignment)"),
    ("reject", DriverRequestStatus.REJECTED, "Reject a request under review"),
    ("cancel", DriverRequestStatus.CANCELLED, "Cancel a pending or under-review request"),
    ("complete", DriverRequestStatus.COMPLETED, "Mark an approved request completed"),
):
    _requests.action(_verb, _summary, RequestDecision, _transition(_target), optional=True)


# --- blacklists --------------------------------------------------------------------------------


def _blacklist_filter(
    driver_id: uuid.UUID | None = None,
    entry_status: Annotated[BlacklistStatus | None, Query(alias="status")] = None,
    category: BlacklistCategory | None = None,
    active_at: Annotated[AwareDatetime | None,
                         Query(description="Only entries in force at this instant.")] = None,
    include_deleted: IncludeDeleted = False,
) -> BlacklistFilter:
    return BlacklistFilter(driver_id=driver_id, status=value_of(entry_status),
                           category=value_of(category), active_at=active_at,
                           include_deleted=include_deleted)


BlacklistFilterQuery = Annotated[BlacklistFilter, Depends(_blacklist_filter)]


_BLACKLIST_CSV = _columns(*(
    "id", "driver_id", "category", "status", "reason", "starts_at", "ends_at", "lifted_at",
    "lift_reason", "created_at", "deleted_at"))


_blacklists = ResourceRoutes(router, "driver-blacklists", "entry_id", "blacklist", BLACKLISTS,
                             BlacklistOut, BlacklistOut.model_validate, DriversRead,
                             DriversWrite)
_blacklists.listing("List blacklist entries", BlacklistFilterQuery, service.list_blacklists)
_blacklists.export("Export the filtered blacklist entries as CSV", BlacklistFilterQuery,
                   lambda actor, filters: service.blacklists_query(actor, filters).order_by(
                       DriverBlacklist.id), _BLACKLIST_CSV, "driver-blacklists.csv")
_blacklists.create("Blacklist a driver", BlacklistCreate,
                   lambda s, a, d: service.create_blacklist(s, a, data=d))
_blacklists.get("Get a blacklist entry", service.get_blacklist, include_deleted=False)
_blacklists.update("Update a blacklist entry", BlacklistUpdate,
                   lambda s, a, i, d, m: service.update_blacklist(s, a, i, data=d, if_match=m))
_blacklists.action("lift", "Lift a blacklist entry with a reason", ReasonIn, _locked(
    DriverBlacklist, lambda s, a, i, d: service.lift_blacklist(s, a, i, reason=d.reason)))
_blacklists.delete("Delete an entry recorded by mistake (soft, with a reason)",
                   lambda s, a, i, r, m: service.delete_blacklist(s, a, i, reason=r,
                                                                  if_match=m),
                   reason="body")
_blacklists.restore("Restore a deleted blacklist entry", service.restore_blacklist)


# --- training ----------------------------------------------------------------------------------


def _training_filter(
    driver_id: uuid.UUID | None = None,
    training_status: Annotated[TrainingStatus | None, Query(alias="status")] = None,
    training_type: TrainingType | None = None,
    expiring_before: date | None = None,
    include_deleted: IncludeDeleted = False,
) -> TrainingFilter:
    return TrainingFilter(driver_id=driver_id, status=value_of(training_status),
                          training_type=value_of(training_type),
                          expiring_before=expiring_before, include_deleted=include_deleted)


TrainingFilterQuery = Annotated[TrainingFilter, Depends(_training_filter)]


_TRAINING_CSV = _columns(*(
    "id", "driver_id", "training_name", "training_type", "provider", "status", "scheduled_on",
    "completed_on", "expires_on", "score", "created_at", "deleted_at"))


_training = ResourceRoutes(router, "driver-training", "training_id", "training", TRAINING,
                           TrainingOut, TrainingOut.model_validate, DriversRead, DriversWrite)
_training.listing("List trainings", TrainingFilterQuery, service.list_training,
                  name="list_training")
_training.export("Export the filtered trainings as CSV", TrainingFilterQuery,
                 lambda actor, filters: service.training_query(actor, filters).order_by(
                     DriverTraining.id), _TRAINING_CSV, "driver-training.csv",
                 name="export_training")
_training.create("Record a training for a driver", TrainingCreate,
                 lambda s, a, d: service.create_training(s, a, data=d))
_training.get("Get a training", service.get_training, include_deleted=False)
_training.update("Update a training", TrainingUpdate,
                 lambda s, a, i, d, m: service.update_training(s, a, i, data=d, if_match=m))
_training.delete("Delete a training (soft, with a reason)", lambda s, a, i, r, m:
                 service.delete_training(s, a, i, reason=r, if_match=m), reason="body")
_training.restore("Restore a deleted training", service.restore_training)


# --- performances ------------------------------------------------------------------------------


def _performance_out(p: DriverPerformance) -> PerformanceOut:
    return PerformanceOut(
        id=p.id, driver_id=p.driver_id, platform_id=p.platform_id,
        period_start=p.period_start, period_end=p.period_end,
        trips_completed=p.trips_completed, trips_cancelled=p.trips_cancelled,
        acceptance_rate_pct=p.acceptance_rate_pct,
        cancellation_rate_pct=p.cancellation_rate_pct, average_rating=p.average_rating,
        hours_online=p.hours_online, hours_on_trip=p.hours_on_trip, distance_km=p.distance_km,
        gross_revenue=money_out(p.gross_revenue, p.currency),
        net_revenue=money_out(p.net_revenue, p.currency),
        computed_at=p.computed_at,
    )


def _performance_filter(
    driver_id: uuid.UUID | None = None, platform_id: uuid.UUID | None = None,
    period_since: Annotated[AwareDatetime | None,
                            Query(description="Periods starting at or after.")] = None,
    period_until: Annotated[AwareDatetime | None,
                            Query(description="Periods starting before.")] = None,
) -> PerformanceFilter:
    return PerformanceFilter(driver_id=driver_id, platform_id=platform_id,
                             period_since=period_since, period_until=period_until)


PerformanceFilterQuery = Annotated[PerformanceFilter, Depends(_performance_filter)]


@router.get("/driver-performances", tags=PERFORMANCES, response_model=Page[PerformanceOut],
            summary="List drivers' computed performance figures (read-only)")
def list_performances(
    actor: DriversRead, session: DbSession, filters: PerformanceFilterQuery, page: Pagination,
) -> Response:
    return page_response(*service.list_performances(session, actor, page, filters),
                         _performance_out)


_PERFORMANCE_CSV: list[CsvColumn | MoneyColumns] = [
    *_columns(
        "id", "driver_id", "platform_id", "period_start", "period_end", "trips_completed",
        "trips_cancelled", "acceptance_rate_pct", "average_rating", "hours_online",
        "distance_km"),
    MoneyColumns("gross_revenue", lambda p: Money(p.gross_revenue, p.currency)),
    MoneyColumns("net_revenue", lambda p: Money(p.net_revenue, p.currency)),
]


@router.get("/driver-performances/export.csv", tags=PERFORMANCES,
            summary="Export the filtered performance figures as CSV",
            response_class=StreamingResponse, responses=csv_responses(_PERFORMANCE_CSV))
def export_performances(
    actor: DriversRead, session: DbSession, filters: PerformanceFilterQuery,
) -> StreamingResponse:
    stmt = service.performances_query(actor, filters).order_by(DriverPerformance.id)
    return csv_response(session, stmt, _PERFORMANCE_CSV, filename="driver-performances.csv")


# --- personal data (docs/privacy.md) -------------------------------------------------------


@router.get("/drivers/{driver_id}/export", tags=DRIVERS, response_class=Response,
            summary="Export everything held about a driver (JSON and documents, one zip)",
            responses=EXPORT_RESPONSES)
def export_driver_data(
    actor: PrivacyManage, session: DbSession, storage: Storage, driver_id: uuid.UUID
) -> Response:
    export = privacy_service.export_driver(session, actor, storage, driver_id)
    return export_response(export)


@router.post("/drivers/{driver_id}/erase", tags=DRIVERS,
             summary="Erase a driver's personal data (refused with 409 while retention applies)")
def erase_driver_data(
    actor: PrivacyManage, session: DbSession, if_match: RequiredIfMatch, storage: Storage,
    driver_id: uuid.UUID, data: ErasureRequest,
) -> ErasureOut:
    lock_and_check_if_match(session, Driver, if_match, Driver.id == driver_id)
    erasure = privacy_service.erase_driver(session, actor, driver_id, reason=data.reason)
    # Once the request commits: a rolled-back erasure never deletes a file its rows point to.
    delete_after_commit(session, storage, erasure.storage_keys)
    return erasure_out(erasure)
