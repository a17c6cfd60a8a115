"""``/v1`` drivers endpoints: drivers, their documents, cooperation terms, requests, blacklist,
training and performance figures."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import Enum
from typing import Annotated

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
    DerivedColumns,
    attribute_columns,
    csv_response,
    csv_responses,
    money_columns,
)
from fleetcore.core.pagination import Page, Pagination
from fleetcore.core.resource import ResourceRoutes, no_content, page_response, value_of
from fleetcore.core.schemas import from_row, model_response, money_out
from fleetcore.core.versioning import RequiredIfMatch, etag, lock_and_check_if_match
from fleetcore.documents.models import Document
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
    DriverRequestOut,
    DriverUpdate,
    PerformanceOut,
    ReasonIn,
    TermsTermination,
    TrainingCreate,
    TrainingOut,
    TrainingUpdate,
    driver_request_out,
)
from fleetcore.privacy import service as privacy_service
from fleetcore.privacy.api import personal_data_routes

router = APIRouter(prefix="/v1")

DRIVERS: list[str | Enum] = ["drivers"]
DOCUMENTS: list[str | Enum] = ["driver documents"]
TERMS: list[str | Enum] = ["driver cooperation terms"]
REQUESTS: list[str | Enum] = ["driver requests"]
BLACKLISTS: list[str | Enum] = ["driver blacklists"]
TRAINING: list[str | Enum] = ["driver training"]
PERFORMANCES: list[str | Enum] = ["driver performances"]
IncludeDeleted = Annotated[bool, Query(description="Also list soft-deleted rows.")]


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


_DRIVER_CSV = attribute_columns(
    "id", "first_name", "last_name", "email", "phone", "status", "date_of_birth",
    "licence_number", "licence_country", "licence_issued_on", "licence_expires_on",
    "professional_card_type", "professional_card_number", "professional_card_expires_on",
    "hired_on", "rating", "created_at", "deleted_at")


_drivers = ResourceRoutes(router, "drivers", "driver_id", "driver", DRIVERS, DriverOut,
                          DriverOut.model_validate, DriversRead, DriversWrite)
_drivers.listing("List drivers", DriverFilterQuery, service.list_drivers)
export_drivers = _drivers.export("Export the filtered drivers as CSV", DriverFilterQuery,
                                 service.drivers_query, _DRIVER_CSV, "drivers.csv")
_drivers.create("Create a driver", DriverCreate, service.create_driver)
_drivers.get("Get a driver", service.get_driver, include_deleted=False)
_drivers.update("Update a driver", DriverUpdate, service.update_driver)
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
    return from_row(
        DriverDocumentOut, link, document_type=doc.document_type,
        document_number=doc.document_number, file_name=doc.file_name, expires_on=doc.expires_on,
        expired=doc.expires_on is not None and doc.expires_on < today,
        document_deleted=doc.deleted_at is not None)


def _document_answer(found: tuple[DriverDocument, Document], status_code: int = 200,
                     **headers: str) -> Response:
    """A driver's document with its ``ETag``: the link's version, which changes name."""
    return model_response(_document_out(*found), {"ETag": etag(found[0].version), **headers},
                          status_code=status_code)


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
             status_code=status.HTTP_201_CREATED, response_model=DriverDocumentOut,
             summary="Attach an uploaded document to a driver")
def attach_driver_document(
    actor: DriversWrite, session: DbSession, driver_id: uuid.UUID, data: DriverDocumentAttach,
) -> Response:
    found = service.attach_document(session, actor, driver_id, data=data)
    return _document_answer(found, status.HTTP_201_CREATED,
                            Location=f"/v1/drivers/{driver_id}/documents/{found[1].id}")


@router.get("/drivers/{driver_id}/documents/{document_id}", tags=DOCUMENTS,
            response_model=DriverDocumentOut,
            summary="One of a driver's documents (its ETag is what changes to it name)")
def get_driver_document(
    actor: DriversRead, session: DbSession, driver_id: uuid.UUID, document_id: uuid.UUID,
) -> Response:
    return _document_answer(service.driver_document(session, actor, driver_id, document_id))


@router.patch("/drivers/{driver_id}/documents/{document_id}", tags=DOCUMENTS,
              response_model=DriverDocumentOut,
              summary="Change whether a driver's document is required")
def update_driver_document(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch,
    driver_id: uuid.UUID, document_id: uuid.UUID, data: DriverDocumentUpdate,
) -> Response:
    return _document_answer(service.update_driver_document(
        session, actor, driver_id, document_id, data=data, if_match=if_match))


def _check_link(session: DbSession, if_match: str, driver_id: uuid.UUID,
                document_id: uuid.UUID) -> None:
    """412 unless ``if_match`` is the ETag of the driver's document as read here (the link's
    version, the ETag this resource's reads and changes carry)."""
    lock_and_check_if_match(session, DriverDocument, if_match,
                            DriverDocument.driver_id == driver_id,
                            DriverDocument.document_id == document_id)


@router.post("/drivers/{driver_id}/documents/{document_id}/verify", tags=DOCUMENTS,
             response_model=DriverDocumentOut, summary="Verify a driver's document")
def verify_driver_document(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch, driver_id: uuid.UUID,
    document_id: uuid.UUID,
) -> Response:
    _check_link(session, if_match, driver_id, document_id)
    return _document_answer(verification_service.verify_driver_document(
        session, actor, driver_id, document_id))


@router.post("/drivers/{driver_id}/documents/{document_id}/reject", tags=DOCUMENTS,
             response_model=DriverDocumentOut, summary="Reject a driver's document with a reason")
def reject_driver_document(
    actor: DriversWrite, session: DbSession, if_match: RequiredIfMatch, driver_id: uuid.UUID,
    document_id: uuid.UUID, data: ReasonIn,
) -> Response:
    _check_link(session, if_match, driver_id, document_id)
    return _document_answer(verification_service.reject_driver_document(
        session, actor, driver_id, document_id, reason=data.reason))


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
    return from_row(
        CooperationTermsOut, t,
        accepted_ip=str(t.accepted_ip) if t.accepted_ip is not None else None,
        rent=money_out(t.rent_amount, t.currency),
        deposit=money_out(t.deposit_amount, t.currency),
        weekly_deposit_instalment=money_out(t.weekly_deposit_instalment, t.currency))


_TERMS_CSV: list[Column] = [
    *attribute_columns(
        "id", "driver_id", "terms_version", "status", "settlement_model", "effective_from",
        "effective_to", "fleet_share_pct", "rent_period", "accepted_at"),
    money_columns("rent", "rent_amount"),
]


@router.get("/drivers/{driver_id}/cooperation-terms", tags=TERMS,
            response_model=Page[CooperationTermsOut],
            summary="A driver's cooperation terms, oldest first")
def list_driver_terms(
    actor: DriversRead, session: DbSession, driver_id: uuid.UUID, page: Pagination,
    include_deleted: IncludeDeleted = False,
) -> Response:
    return page_response(*service.list_cooperation_terms(
        session, actor, page, TermsFilter(driver_id=driver_id, include_deleted=include_deleted)
    ), _terms_out)


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
    return TermsFilter(driver_id=driver_id, status=value_of(terms_status),
                       include_deleted=include_deleted)


TermsFilterQuery = Annotated[TermsFilter, Depends(_terms_filter)]


_terms = ResourceRoutes(router, "driver-cooperation-terms", "terms_id", "terms", TERMS,
                        CooperationTermsOut, _terms_out, DriversRead, DriversWrite,
                        plural="terms")
_terms.listing("List cooperation terms", TermsFilterQuery, service.list_cooperation_terms,
               page_first=True)
_terms.export("Export the filtered cooperation terms as CSV", TermsFilterQuery,
              service.cooperation_terms_query, _TERMS_CSV, "driver-cooperation-terms.csv",
              order_by=(DriverCooperationTerms.id,))
_terms.create("Offer cooperation terms to a driver (pending until accepted)",
              CooperationTermsCreate, service.create_cooperation_terms)
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
    service.delete_cooperation_terms, reason="body",
    description="Only terms the driver never accepted can be deleted. Accepted terms are the "
                "record of the contract (settlements are computed from them): they are "
                "terminated with `POST /v1/driver-cooperation-terms/{terms_id}/terminate`, "
                "never deleted, and a delete is refused with 409.")
_terms.restore("Restore deleted cooperation terms", service.restore_cooperation_terms)
_terms.action("terminate", "Terminate terms in force, or withdraw an offer", TermsTermination,
              service.terminate_cooperation_terms, lock=DriverCooperationTerms)


# --- driver requests ---------------------------------------------------------------------------


def _request_filter(
    driver_id: uuid.UUID | None = None,
    request_status: Annotated[DriverRequestStatus | None, Query(alias="status")] = None,
    request_type: DriverRequestType | None = None,
) -> RequestFilter:
    return RequestFilter(driver_id=driver_id, status=value_of(request_status),
                         request_type=value_of(request_type))


RequestFilterQuery = Annotated[RequestFilter, Depends(_request_filter)]


_REQUEST_CSV: list[Column] = [
    *attribute_columns(
        "id", "driver_id", "request_type", "status", "period_start", "period_end", "reason",
        "requested_vehicle_id", "reviewed_at", "resolution_notes", "created_at"),
    money_columns("amount"),
]


_requests = ResourceRoutes(router, "driver-requests", "request_id", "request", REQUESTS,
                           DriverRequestOut, driver_request_out, DriverRequestsRead,
                           DriverRequestsWrite)
_requests.listing("List driver requests, newest first", RequestFilterQuery,
                  service.list_driver_requests)
_requests.export("Export the filtered driver requests as CSV", RequestFilterQuery,
                 service.driver_requests_query, _REQUEST_CSV, "driver-requests.csv",
                 order_by=(DriverRequest.id.desc(),))
_requests.get("Get a driver request", service.get_driver_request, include_deleted=False)


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


_BLACKLIST_CSV = attribute_columns(
    "id", "driver_id", "category", "status", "reason", "starts_at", "ends_at", "lifted_at",
    "lift_reason", "created_at", "deleted_at")


_blacklists = ResourceRoutes(router, "driver-blacklists", "entry_id", "blacklist", BLACKLISTS,
                             BlacklistOut, BlacklistOut.model_validate, DriversRead,
                             DriversWrite)
_blacklists.listing("List blacklist entries", BlacklistFilterQuery, service.list_blacklists)
_blacklists.export("Export the filtered blacklist entries as CSV", BlacklistFilterQuery,
                   service.blacklists_query, _BLACKLIST_CSV, "driver-blacklists.csv",
                   order_by=(DriverBlacklist.id,))
_blacklists.create("Blacklist a driver", BlacklistCreate, service.create_blacklist)
_blacklists.get("Get a blacklist entry", service.get_blacklist, include_deleted=False)
_blacklists.update("Update a blacklist entry", BlacklistUpdate, service.update_blacklist)
_blacklists.action("lift", "Lift a blacklist entry with a reason", ReasonIn,
                   lambda s, a, i, data: service.lift_blacklist(s, a, i, reason=data.reason),
                   lock=DriverBlacklist)
_blacklists.delete("Delete an entry recorded by mistake (soft, with a reason)",
                   service.delete_blacklist, reason="body")
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


_TRAINING_CSV = attribute_columns(
    "id", "driver_id", "training_name", "training_type", "provider", "status", "scheduled_on",
    "completed_on", "expires_on", "score", "created_at", "deleted_at")


_training = ResourceRoutes(router, "driver-training", "training_id", "training", TRAINING,
                           TrainingOut, TrainingOut.model_validate, DriversRead, DriversWrite)
_training.listing("List trainings", TrainingFilterQuery, service.list_training,
                  name="list_training")
_training.export("Export the filtered trainings as CSV", TrainingFilterQuery,
                 service.training_query, _TRAINING_CSV, "driver-training.csv",
                 order_by=(DriverTraining.id,), name="export_training")
_training.create("Record a training for a driver", TrainingCreate, service.create_training)
_training.get("Get a training", service.get_training, include_deleted=False)
_training.update("Update a training", TrainingUpdate, service.update_training)
_training.delete("Delete a training (soft, with a reason)", service.delete_training,
                 reason="body")
_training.restore("Restore a deleted training", service.restore_training)


# --- performances ------------------------------------------------------------------------------


def _performance_out(p: DriverPerformance) -> PerformanceOut:
    return from_row(PerformanceOut, p, gross_revenue=money_out(p.gross_revenue, p.currency),
                    net_revenue=money_out(p.net_revenue, p.currency))


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


_PERFORMANCE_CSV: list[Column] = [
    *attribute_columns(
        "id", "driver_id", "platform_id", "period_start", "period_end", "trips_completed",
        "trips_cancelled", "acceptance_rate_pct", "average_rating", "hours_online",
        "distance_km"),
    money_columns("gross_revenue"),
    money_columns("net_revenue"),
]


# Read-only: the figures are computed from the platforms' imports.
_performances = ResourceRoutes(
    router, "driver-performances", "performance_id", "performance", PERFORMANCES,
    PerformanceOut, _performance_out, DriversRead, None)
_performances.listing("List drivers' computed performance figures (read-only)",
                      PerformanceFilterQuery, service.list_performances)
_performances.export("Export the filtered performance figures as CSV", PerformanceFilterQuery,
                     service.performances_query, _PERFORMANCE_CSV, "driver-performances.csv",
                     order_by=(DriverPerformance.id,))


# --- personal data (docs/privacy.md) -------------------------------------------------------


personal_data_routes(router, "drivers", "driver_id", "driver", DRIVERS, Driver,
                     privacy_service.export_driver, privacy_service.erase_driver)
