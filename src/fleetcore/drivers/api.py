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
from fleetcore.core.schemas import Deletion, money_out
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

IncludeDeleted = Annotated[bool, Query(description="Also list soft-deleted rows.")]
DRIVERS: list[str | Enum] = ["drivers"]
DOCUMENTS: list[str | Enum] = ["driver documents"]
TERMS: list[str | Enum] = ["driver cooperation terms"]
REQUESTS: list[str | Enum] = ["driver requests"]
BLACKLISTS: list[str | Enum] = ["driver blacklists"]
TRAINING: list[str | Enum] = ["driver training"]
PERFORMANCES: list[str | Enum] = ["driver performances"]


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


def _no_content() -> Response:
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- drivers -----------------------------------------------------------------------------------


def _driver_filter(
    driver_status: Annotated[DriverStatus | None, Query(alias="status")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Name, e-mail or phone.")] = None,
    hired_since: date | None = None,
    include_deleted: IncludeDeleted = False,
    sort: DriverSort = DriverSort.CREATED,
) -> DriverFilter:
    return DriverFilter(status=driver_status.value if driver_status else None, q=q or None,
                        hired_since=hired_since, include_deleted=include_deleted, sort=sort)


@router.get("/drivers", tags=DRIVERS, summary="List drivers")
def list_drivers(
    actor: DriversRead, session: DbSession, page: Pagination,
    driver_status: Annotated[DriverStatus | None, Query(alias="status")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Name, e-mail or phone.")] = None,
    hired_since: date | None = None,
    include_deleted: IncludeDeleted = False,
    sort: DriverSort = DriverSort.CREATED,
) -> Page[DriverOut]:
    spec = _driver_filter(driver_status, q, hired_since, include_deleted, sort)
    rows, cursor = service.list_drivers(session, actor, page, spec)
    return Page(items=[DriverOut.model_validate(d) for d in rows], next_cursor=cursor)


_DRIVER_CSV = _columns(*(
    "id", "first_name", "last_name", "email", "phone", "status", "date_of_birth",
    "licence_number", "licence_country", "licence_issued_on", "licence_expires_on",
    "professional_card_type", "professional_card_number", "professional_card_expires_on",
    "hired_on", "rating", "created_at", "deleted_at",
))


@router.get("/drivers/export.csv", tags=DRIVERS, summary="Export the filtered drivers as CSV",
            response_class=StreamingResponse,
            responses=csv_responses(_DRIVER_CSV))
def export_drivers(
    actor: DriversRead, session: DbSession,
    driver_status: Annotated[DriverStatus | None, Query(alias="status")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Name, e-mail or phone.")] = None,
    hired_since: date | None = None,
    include_deleted: IncludeDeleted = False,
    sort: DriverSort = DriverSort.CREATED,
) -> StreamingResponse:
    spec = _driver_filter(driver_status, q, hired_since, include_deleted, sort)
    return csv_response(session, service.drivers_query(actor, spec), _DRIVER_CSV,
                        filename="drivers.csv")


@router.post("/drivers", tags=DRIVERS, status_code=status.HTTP_201_CREATED,
             summary="Create a driver")
def create_driver(
    actor: DriversWrite, session: DbSession, data: DriverCreate, response: Response
) -> DriverOut:
    driver = service.create_driver(session, actor, data=data)
    _created(response, f"/v1/drivers/{driver.id}", driver.version)
    return DriverOut.model_validate(driver)


@router.get("/drivers/{driver_id}", tags=DRIVERS, summary="Get a driver")
def get_driver(
    actor: DriversRead, session: DbSession, driver_id: uuid.UUID, response: Response
) -> DriverOut:
    driver = service.get_driver(session, actor, driver_id)
    _with_etag(response, driver.version)
    return DriverOut.model_validate(driver)


@router.patch("/drivers/{driver_id}", tags=DRIVERS, summary="Update a driver")
def update_driver(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch,
    driver_id: uuid.UUID, data: DriverUpdate,
    response: Response,
) -> DriverOut:
    driver = service.update_driver(session, actor, driver_id, data=data, if_match=if_match)
    _with_etag(response, driver.version)
    return DriverOut.model_validate(driver)


@router.delete("/drivers/{driver_id}", tags=DRIVERS, status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a driver (soft, with a reason; restorable)")
def delete_driver(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch,
    driver_id: uuid.UUID, data: Deletion | None = None,
) -> Response:
    service.delete_driver(session, actor, driver_id, reason=data.reason if data else None,
                          if_match=if_match)
    return _no_content()


@router.post("/drivers/{driver_id}/restore", tags=DRIVERS, summary="Restore a deleted driver")
def restore_driver(
    actor: DriversWrite, session: DbSession, driver_id: uuid.UUID, response: Response
) -> DriverOut:
    driver = service.restore_driver(session, actor, driver_id)
    _with_etag(response, driver.version)
    return DriverOut.model_validate(driver)


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
    return _no_content()


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


@router.get("/driver-cooperation-terms", tags=TERMS, summary="List cooperation terms")
def list_terms(
    actor: DriversRead, session: DbSession, page: Pagination, filters: TermsFilterQuery,
) -> Page[CooperationTermsOut]:
    rows, cursor = service.list_cooperation_terms(session, actor, page, filters)
    return Page(items=[_terms_out(t) for t in rows], next_cursor=cursor)


@router.get("/driver-cooperation-terms/export.csv", tags=TERMS,
            summary="Export the filtered cooperation terms as CSV",
            response_class=StreamingResponse, responses=csv_responses(_TERMS_CSV))
def export_terms(
    actor: DriversRead, session: DbSession, filters: TermsFilterQuery,
) -> StreamingResponse:
    stmt = service.cooperation_terms_query(actor, filters).order_by(DriverCooperationTerms.id)
    return csv_response(session, stmt, _TERMS_CSV, filename="driver-cooperation-terms.csv")


@router.post("/driver-cooperation-terms", tags=TERMS, status_code=status.HTTP_201_CREATED,
             summary="Offer cooperation terms to a driver (pending until accepted)")
def create_terms(
    actor: DriversWrite, session: DbSession, data: CooperationTermsCreate, response: Response
) -> CooperationTermsOut:
    terms = service.create_cooperation_terms(session, actor, data=data)
    _created(response, f"/v1/driver-cooperation-terms/{terms.id}", terms.version)
    return _terms_out(terms)


@router.get("/driver-cooperation-terms/{terms_id}", tags=TERMS,
            summary="Get a version of cooperation terms")
def get_terms(
    actor: DriversRead, session: DbSession, terms_id: uuid.UUID, response: Response
) -> CooperationTermsOut:
    terms = service.get_cooperation_terms(session, actor, terms_id)
    _with_etag(response, terms.version)
    return _terms_out(terms)


@router.post("/driver-cooperation-terms/{terms_id}/accept", tags=TERMS,
             summary="Record the driver's acceptance (closes the terms in force)")
def accept_terms(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch, terms_id: uuid.UUID,
    request: Request, response: Response,
) -> CooperationTermsOut:
    lock_and_check_if_match(session, DriverCooperationTerms, if_match,
                            DriverCooperationTerms.id == terms_id)
    info = request_info(request)
    terms = service.accept_cooperation_terms(session, actor, terms_id, ip=info.ip,
                                             user_agent=info.user_agent)
    _with_etag(response, terms.version)
    return _terms_out(terms)


@router.delete(
    "/driver-cooperation-terms/{terms_id}", tags=TERMS, status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete terms offered by mistake (soft, with a reason; restorable)",
    description="Only terms the driver never accepted can be deleted. Accepted terms are the "
                "record of the contract (settlements are computed from them): they are "
                "terminated with `POST /v1/driver-cooperation-terms/{terms_id}/terminate`, "
                "never deleted, and a delete is refused with 409.")
def delete_terms(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch,
    terms_id: uuid.UUID, data: Deletion | None = None,
) -> Response:
    service.delete_cooperation_terms(session, actor, terms_id,
                                     reason=data.reason if data else None, if_match=if_match)
    return _no_content()


@router.post("/driver-cooperation-terms/{terms_id}/restore", tags=TERMS,
             summary="Restore deleted cooperation terms")
def restore_terms(
    actor: DriversWrite, session: DbSession, terms_id: uuid.UUID, response: Response
) -> CooperationTermsOut:
    terms = service.restore_cooperation_terms(session, actor, terms_id)
    _with_etag(response, terms.version)
    return _terms_out(terms)


@router.post("/driver-cooperation-terms/{terms_id}/terminate", tags=TERMS,
             summary="Terminate terms in force, or withdraw an offer")
def terminate_terms(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch, terms_id: uuid.UUID,
    data: TermsTermination, response: Response,
) -> CooperationTermsOut:
    lock_and_check_if_match(session, DriverCooperationTerms, if_match,
                            DriverCooperationTerms.id == terms_id)
    terms = service.terminate_cooperation_terms(session, actor, terms_id, data=data)
    _with_etag(response, terms.version)
    return _terms_out(terms)


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


def _request_filter(driver_id: uuid.UUID | None, request_status: DriverRequestStatus | None,
                    request_type: DriverRequestType | None) -> RequestFilter:
    return RequestFilter(driver_id=driver_id,
                         status=request_status.value if request_status else None,
                         request_type=request_type.value if request_type else None)


@router.get("/driver-requests", tags=REQUESTS, summary="List driver requests, newest first")
def list_requests(
    actor: DriverRequestsRead, session: DbSession, page: Pagination,
    driver_id: uuid.UUID | None = None,
    request_status: Annotated[DriverRequestStatus | None, Query(alias="status")] = None,
    request_type: DriverRequestType | None = None,
) -> Page[DriverRequestOut]:
    rows, cursor = service.list_driver_requests(
        session, actor, page, _request_filter(driver_id, request_status, request_type))
    return Page(items=[_request_out(r) for r in rows], next_cursor=cursor)


_REQUEST_CSV: list[CsvColumn | MoneyColumns] = [
    *_columns(
        "id", "driver_id", "request_type", "status", "period_start", "period_end", "reason",
        "requested_vehicle_id", "reviewed_at", "resolution_notes", "created_at"),
    MoneyColumns("amount", lambda r: Money(r.amount, r.currency)
                 if r.amount is not None and r.currency else None),
]


@router.get("/driver-requests/export.csv", tags=REQUESTS,
            summary="Export the filtered driver requests as CSV",
            response_class=StreamingResponse, responses=csv_responses(_REQUEST_CSV))
def export_requests(
    actor: DriverRequestsRead, session: DbSession, driver_id: uuid.UUID | None = None,
    request_status: Annotated[DriverRequestStatus | None, Query(alias="status")] = None,
    request_type: DriverRequestType | None = None,
) -> StreamingResponse:
    stmt = service.driver_requests_query(
        actor, _request_filter(driver_id, request_status, request_type)
    ).order_by(DriverRequest.id.desc())
    return csv_response(session, stmt, _REQUEST_CSV, filename="driver-requests.csv")


@router.post("/driver-requests", tags=REQUESTS, status_code=status.HTTP_201_CREATED,
             summary="File a driver request")
def create_request(
    actor: DriverRequestsWrite, session: DbSession, data: DriverRequestCreate,
    response: Response,
) -> DriverRequestOut:
    request = service.create_driver_request(session, actor, data=data)
    _created(response, f"/v1/driver-requests/{request.id}", request.version)
    return _request_out(request)


@router.get("/driver-requests/{request_id}", tags=REQUESTS, summary="Get a driver request")
def get_request(
    actor: DriverRequestsRead, session: DbSession, request_id: uuid.UUID, response: Response
) -> DriverRequestOut:
    request = service.get_driver_request(session, actor, request_id)
    _with_etag(response, request.version)
    return _request_out(request)


@router.patch("/driver-requests/{request_id}", tags=REQUESTS,
              summary="Change an open request (pending or under review)",
              description="Only the fields sent change. A decided request (approved, rejected, "
                          "cancelled, completed) is refused with 409 `request-decided`; a stale "
                          "`If-Match` with 412.")
def update_request(
    actor: DriverRequestsWrite, session: DbSession, if_match: RequiredIfMatch,
    request_id: uuid.UUID,
    data: DriverRequestUpdate, response: Response,
) -> DriverRequestOut:
    request = service.update_driver_request(session, actor, request_id, data=data,
                                            if_match=if_match)
    _with_etag(response, request.version)
    return _request_out(request)


def _transition(actor: Any, session: DbSession, if_match: str, request_id: uuid.UUID,
                response: Response, target: DriverRequestStatus,
                data: RequestDecision | None) -> DriverRequestOut:
    lock_and_check_if_match(session, DriverRequest, if_match, DriverRequest.id == request_id)
    request = service.transition_driver_request(
        session, actor, request_id, target, notes=data.notes if data else None,
        assign_vehicle_change=fleet_service.assign_for_vehicle_change)
    _with_etag(response, request.version)
    return _request_out(request)


@router.post("/driver-requests/{request_id}/review", tags=REQUESTS,
             summary="Start reviewing a pending request")
def review_request(actor: DriverRequestsWrite, session: DbSession, if_match: RequiredIfMatch,
                   request_id: uuid.UUID, response: Response,
                   data: RequestDecision | None = None) -> DriverRequestOut:
    return _transition(actor, session, if_match, request_id, response,
                       DriverRequestStatus.UNDER_REVIEW, data)


@router.post("/driver-requests/{request_id}/approve", tags=REQUESTS,
             summary="Approve a request under review (a leave is refused over planned work; "
                     "a vehicle change creates the assignment)")
def approve_request(actor: DriverRequestsWrite, session: DbSession, if_match: RequiredIfMatch,
                    request_id: uuid.UUID, response: Response,
                    data: RequestDecision | None = None) -> DriverRequestOut:
    return _transition(actor, session, if_match, request_id, response,
                       DriverRequestStatus.APPROVED, data)


@router.post("/driver-requests/{request_id}/reject", tags=REQUESTS,
             summary="Reject a request under review")
def reject_request(actor: DriverRequestsWrite, session: DbSession, if_match: RequiredIfMatch,
                   request_id: uuid.UUID, response: Response,
                   data: RequestDecision | None = None) -> DriverRequestOut:
    return _transition(actor, session, if_match, request_id, response,
                       DriverRequestStatus.REJECTED, data)


@router.post("/driver-requests/{request_id}/cancel", tags=REQUESTS,
             summary="Cancel a pending or under-review request")
def cancel_request(actor: DriverRequestsWrite, session: DbSession, if_match: RequiredIfMatch,
                   request_id: uuid.UUID, response: Response,
                   data: RequestDecision | None = None) -> DriverRequestOut:
    return _transition(actor, session, if_match, request_id, response,
                       DriverRequestStatus.CANCELLED, data)


@router.post("/driver-requests/{request_id}/complete", tags=REQUESTS,
             summary="Mark an approved request completed")
def complete_request(actor: DriverRequestsWrite, session: DbSession, if_match: RequiredIfMatch,
                     request_id: uuid.UUID, response: Response,
                     data: RequestDecision | None = None) -> DriverRequestOut:
    return _transition(actor, session, if_match, request_id, response,
                       DriverRequestStatus.COMPLETED, data)


# --- blacklists --------------------------------------------------------------------------------


def _blacklist_filter(driver_id: uuid.UUID | None, entry_status: BlacklistStatus | None,
                      category: BlacklistCategory | None, active_at: datetime | None,
                      include_deleted: bool) -> BlacklistFilter:
    return BlacklistFilter(driver_id=driver_id,
                           status=entry_status.value if entry_status else None,
                           category=category.value if category else None, active_at=active_at,
                           include_deleted=include_deleted)


@router.get("/driver-blacklists", tags=BLACKLISTS, summary="List blacklist entries")
def list_blacklists(
    actor: DriversRead, session: DbSession, page: Pagination,
    driver_id: uuid.UUID | None = None,
    entry_status: Annotated[BlacklistStatus | None, Query(alias="status")] = None,
    category: BlacklistCategory | None = None,
    active_at: Annotated[AwareDatetime | None,
                         Query(description="Only entries in force at this instant.")] = None,
    include_deleted: IncludeDeleted = False,
) -> Page[BlacklistOut]:
    spec = _blacklist_filter(driver_id, entry_status, category, active_at, include_deleted)
    rows, cursor = service.list_blacklists(session, actor, page, spec)
    return Page(items=[BlacklistOut.model_validate(b) for b in rows], next_cursor=cursor)


_BLACKLIST_CSV = _columns(*(
    "id", "driver_id", "category", "status", "reason", "starts_at", "ends_at", "lifted_at",
    "lift_reason", "created_at", "deleted_at"))


@router.get("/driver-blacklists/export.csv", tags=BLACKLISTS,
            summary="Export the filtered blacklist entries as CSV",
            response_class=StreamingResponse, responses=csv_responses(_BLACKLIST_CSV))
def export_blacklists(
    actor: DriversRead, session: DbSession, driver_id: uuid.UUID | None = None,
    entry_status: Annotated[BlacklistStatus | None, Query(alias="status")] = None,
    category: BlacklistCategory | None = None,
    active_at: AwareDatetime | None = None,
    include_deleted: IncludeDeleted = False,
) -> StreamingResponse:
    spec = _blacklist_filter(driver_id, entry_status, category, active_at, include_deleted)
    stmt = service.blacklists_query(actor, spec).order_by(
        DriverBlacklist.id)
    return csv_response(session, stmt, _BLACKLIST_CSV, filename="driver-blacklists.csv")


@router.post("/driver-blacklists", tags=BLACKLISTS, status_code=status.HTTP_201_CREATED,
             summary="Blacklist a driver")
def create_blacklist(
    actor: DriversWrite, session: DbSession, data: BlacklistCreate, response: Response
) -> BlacklistOut:
    entry = service.create_blacklist(session, actor, data=data)
    _created(response, f"/v1/driver-blacklists/{entry.id}", entry.version)
    return BlacklistOut.model_validate(entry)


@router.get("/driver-blacklists/{entry_id}", tags=BLACKLISTS, summary="Get a blacklist entry")
def get_blacklist(
    actor: DriversRead, session: DbSession, entry_id: uuid.UUID, response: Response
) -> BlacklistOut:
    entry = service.get_blacklist(session, actor, entry_id)
    _with_etag(response, entry.version)
    return BlacklistOut.model_validate(entry)


@router.patch("/driver-blacklists/{entry_id}", tags=BLACKLISTS,
              summary="Update a blacklist entry")
def update_blacklist(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch,
    entry_id: uuid.UUID, data: BlacklistUpdate,
    response: Response,
) -> BlacklistOut:
    entry = service.update_blacklist(session, actor, entry_id, data=data, if_match=if_match)
    _with_etag(response, entry.version)
    return BlacklistOut.model_validate(entry)


@router.post("/driver-blacklists/{entry_id}/lift", tags=BLACKLISTS,
             summary="Lift a blacklist entry with a reason")
def lift_blacklist(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch, entry_id: uuid.UUID,
    data: ReasonIn, response: Response,
) -> BlacklistOut:
    lock_and_check_if_match(session, DriverBlacklist, if_match, DriverBlacklist.id == entry_id)
    entry = service.lift_blacklist(session, actor, entry_id, reason=data.reason)
    _with_etag(response, entry.version)
    return BlacklistOut.model_validate(entry)


@router.delete("/driver-blacklists/{entry_id}", tags=BLACKLISTS,
               status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete an entry recorded by mistake (soft, with a reason)")
def delete_blacklist(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch,
    entry_id: uuid.UUID, data: Deletion | None = None,
) -> Response:
    service.delete_blacklist(session, actor, entry_id, reason=data.reason if data else None,
                          if_match=if_match)
    return _no_content()


@router.post("/driver-blacklists/{entry_id}/restore", tags=BLACKLISTS,
             summary="Restore a deleted blacklist entry")
def restore_blacklist(
    actor: DriversWrite, session: DbSession, entry_id: uuid.UUID, response: Response
) -> BlacklistOut:
    entry = service.restore_blacklist(session, actor, entry_id)
    _with_etag(response, entry.version)
    return BlacklistOut.model_validate(entry)


# --- training ----------------------------------------------------------------------------------


def _training_filter(driver_id: uuid.UUID | None, training_status: TrainingStatus | None,
                     training_type: TrainingType | None, expiring_before: date | None,
                     include_deleted: bool) -> TrainingFilter:
    return TrainingFilter(driver_id=driver_id,
                          status=training_status.value if training_status else None,
                          training_type=training_type.value if training_type else None,
                          expiring_before=expiring_before, include_deleted=include_deleted)


@router.get("/driver-training", tags=TRAINING, summary="List trainings")
def list_training(
    actor: DriversRead, session: DbSession, page: Pagination,
    driver_id: uuid.UUID | None = None,
    training_status: Annotated[TrainingStatus | None, Query(alias="status")] = None,
    training_type: TrainingType | None = None,
    expiring_before: date | None = None,
    include_deleted: IncludeDeleted = False,
) -> Page[TrainingOut]:
    spec = _training_filter(driver_id, training_status, training_type, expiring_before,
                            include_deleted)
    rows, cursor = service.list_training(session, actor, page, spec)
    return Page(items=[TrainingOut.model_validate(t) for t in rows], next_cursor=cursor)


_TRAINING_CSV = _columns(*(
    "id", "driver_id", "training_name", "training_type", "provider", "status", "scheduled_on",
    "completed_on", "expires_on", "score", "created_at", "deleted_at"))


@router.get("/driver-training/export.csv", tags=TRAINING,
            summary="Export the filtered trainings as CSV",
            response_class=StreamingResponse, responses=csv_responses(_TRAINING_CSV))
def export_training(
    actor: DriversRead, session: DbSession, driver_id: uuid.UUID | None = None,
    training_status: Annotated[TrainingStatus | None, Query(alias="status")] = None,
    training_type: TrainingType | None = None,
    expiring_before: date | None = None,
    include_deleted: IncludeDeleted = False,
) -> StreamingResponse:
    spec = _training_filter(driver_id, training_status, training_type, expiring_before,
                            include_deleted)
    stmt = service.training_query(actor, spec).order_by(DriverTraining.id)
    return csv_response(session, stmt, _TRAINING_CSV, filename="driver-training.csv")


@router.post("/driver-training", tags=TRAINING, status_code=status.HTTP_201_CREATED,
             summary="Record a training for a driver")
def create_training(
    actor: DriversWrite, session: DbSession, data: TrainingCreate, response: Response
) -> TrainingOut:
    training = service.create_training(session, actor, data=data)
    _created(response, f"/v1/driver-training/{training.id}", training.version)
    return TrainingOut.model_validate(training)


@router.get("/driver-training/{training_id}", tags=TRAINING, summary="Get a training")
def get_training(
    actor: DriversRead, session: DbSession, training_id: uuid.UUID, response: Response
) -> TrainingOut:
    training = service.get_training(session, actor, training_id)
    _with_etag(response, training.version)
    return TrainingOut.model_validate(training)


@router.patch("/driver-training/{training_id}", tags=TRAINING, summary="Update a training")
def update_training(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch,
    training_id: uuid.UUID, data: TrainingUpdate,
    response: Response,
) -> TrainingOut:
    training = service.update_training(session, actor, training_id, data=data,
                                       if_match=if_match)
    _with_etag(response, training.version)
    return TrainingOut.model_validate(training)


@router.delete("/driver-training/{training_id}", tags=TRAINING,
               status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a training (soft, with a reason)")
def delete_training(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch,
    training_id: uuid.UUID, data: Deletion | None = None,
) -> Response:
    service.delete_training(session, actor, training_id, reason=data.reason if data else None,
                          if_match=if_match)
    return _no_content()


@router.post("/driver-training/{training_id}/restore", tags=TRAINING,
             summary="Restore a deleted training")
def restore_training(
    actor: DriversWrite, session: DbSession, training_id: uuid.UUID, response: Response
) -> TrainingOut:
    training = service.restore_training(session, actor, training_id)
    _with_etag(response, training.version)
    return TrainingOut.model_validate(training)


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


@router.get("/driver-performances", tags=PERFORMANCES,
            summary="List drivers' computed performance figures (read-only)")
def list_performances(
    actor: DriversRead, session: DbSession, page: Pagination,
    driver_id: uuid.UUID | None = None, platform_id: uuid.UUID | None = None,
    period_since: Annotated[AwareDatetime | None,
                            Query(description="Periods starting at or after.")] = None,
    period_until: Annotated[AwareDatetime | None,
                            Query(description="Periods starting before.")] = None,
) -> Page[PerformanceOut]:
    spec = PerformanceFilter(driver_id=driver_id, platform_id=platform_id,
                             period_since=period_since, period_until=period_until)
    rows, cursor = service.list_performances(session, actor, page, spec)
    return Page(items=[_performance_out(p) for p in rows], next_cursor=cursor)


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
    actor: DriversRead, session: DbSession,
    driver_id: uuid.UUID | None = None, platform_id: uuid.UUID | None = None,
    period_since: AwareDatetime | None = None, period_until: AwareDatetime | None = None,
) -> StreamingResponse:
    spec = PerformanceFilter(driver_id=driver_id, platform_id=platform_id,
                             period_since=period_since, period_until=period_until)
    stmt = service.performances_query(actor, spec).order_by(DriverPerformance.id)
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
