"""``/v1/crm``: Fleetcore's own sales pipeline (staff only) — leads, opportunities, the
forecast, contracts, and signing a contract, which provisions the customer's tenant.

Routes on one row find it first and check the permission after, so any unknown or hidden id
(a fleet sees no CRM row but its own contract) is a 404 before anyone gets a 403.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor
from fleetcore.core.deps import CurrentActor, DbSession, bounded_body
from fleetcore.core.errors import NotFound
from fleetcore.core.export import Column, MoneyColumns, attribute_columns
from fleetcore.core.money import Money
from fleetcore.core.orm import new_id
from fleetcore.core.resource import ResourceRoutes, no_content, pager, parameter, route_function
from fleetcore.core.schemas import money_out
from fleetcore.core.versioning import RequiredIfMatch, check_if_match, etag
from fleetcore.crm import service
from fleetcore.crm.models import (
    Contract,
    ContractStatus,
    Lead,
    LeadPriority,
    LeadStatus,
    Opportunity,
    OpportunityStage,
)
from fleetcore.crm.permissions import CrmRead, CrmWrite, check_staff, outside_tenant
from fleetcore.crm.schemas import (
    ContractCreate,
    ContractOut,
    ContractSign,
    ContractUpdate,
    ForecastMonth,
    ForecastOut,
    LeadCreate,
    LeadOut,
    LeadUpdate,
    OpportunityCreate,
    OpportunityOut,
    OpportunityUpdate,
    SignedOut,
)
from fleetcore.documents import service as documents_service
from fleetcore.documents.api import Storage, content_disposition
from fleetcore.documents.storage import StorageError, StoredObjectMissing, delete_after_commit
from fleetcore.settings import Settings

router = APIRouter(prefix="/v1/crm", tags=["crm"])

Reason = Annotated[str | None, Query(max_length=1000, description="Why it is deleted.")]
Month = Annotated[str | None, Query(pattern=r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$",
                                    description="YYYY-MM (included).")]


def _with_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def _money(amount_field: str) -> Any:
    def read(row: Any) -> Money | None:
        amount = getattr(row, amount_field)
        return None if amount is None else Money(amount, row.currency)

    return read


@dataclass(frozen=True, slots=True)
class StaffRoutes:
    """The create / get / update / delete routes of a CRM row, declared once: staff only, a
    creation outside any fleet (``Location`` under ``/v1/crm``); on one row the row is found
    first and the staff permission checked after, so an id a fleet may not see is a 404 before
    anyone gets a 403. ``routes`` (core.resource) also declares the list and the export."""

    routes: ResourceRoutes
    find: Callable[[Session, uuid.UUID], Any]

    def _found(self, session: Session, actor: Actor, row_id: uuid.UUID, permission: str) -> Any:
        row = self.find(session, row_id)
        check_staff(actor, permission)
        return row

    def create(self, summary: str, body: type[BaseModel], make: Callable[..., Any]) -> None:
        r = self.routes

        def run(actor: Actor, session: Session, data: BaseModel) -> Response:
            outside_tenant(actor)
            row = make(session, actor, data)
            return r.answer(row, status.HTTP_201_CREATED, Location=f"/v1/crm/{r.path}/{row.id}")

        router.add_api_route(
            f"/{r.path}", route_function(f"create_{r.noun}", [
                parameter("actor", CrmWrite), parameter("session", DbSession),
                parameter("data", body)], run),
            methods=["POST"], status_code=status.HTTP_201_CREATED, summary=summary,
            response_model=r.model, name=f"create_{r.noun}")

    def get_and_update(self, get_summary: str, update_summary: str, body: type[BaseModel],
                       update: Callable[..., Any]) -> None:
        def change(session: Session, actor: Actor, row_id: uuid.UUID, *, data: BaseModel,
                   if_match: str) -> Any:
            self._found(session, actor, row_id, "crm:write")
            return update(session, actor, row_id, data, if_match=if_match)

        anyone = replace(self.routes, read=CurrentActor, write=CurrentActor)
        anyone.get(get_summary, lambda session, actor, row_id: self._found(
            session, actor, row_id, "crm:read"), include_deleted=False)
        anyone.update(update_summary, body, change)

    def delete(self, summary: str, remove: Callable[..., None]) -> None:
        r = self.routes

        def run(actor: Actor, if_match: str, session: Session, reason: str | None,
                **row: uuid.UUID) -> Response:
            row_id = row[r.param]
            self._found(session, actor, row_id, "crm:write")
            remove(session, actor, row_id, reason=reason, if_match=if_match)
            return no_content()

        router.add_api_route(
            f"/{r.path}/{{{r.param}}}", route_function(f"delete_{r.noun}", [
                parameter("actor", CurrentActor), parameter("if_match", RequiredIfMatch),
                parameter("session", DbSession), parameter(r.param, uuid.UUID),
                parameter("reason", Reason, None)], run),
            methods=["DELETE"], status_code=status.HTTP_204_NO_CONTENT, summary=summary,
            name=f"delete_{r.noun}")


# --- leads ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeadFilter:
    status: str | None = None
    priority: str | None = None
    owner_id: uuid.UUID | None = None
    source: str | None = None
    country: str | None = None


def _lead_filter(
    lead_status: Annotated[LeadStatus | None, Query(alias="status")] = None,
    priority: LeadPriority | None = None,
    owner_id: uuid.UUID | None = None,
    source: Annotated[str | None, Query(max_length=100)] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
) -> LeadFilter:
    return LeadFilter(status=lead_status.value if lead_status else None,
                      priority=priority.value if priority else None, owner_id=owner_id,
                      source=source, country=country)


LeadFilterQuery = Annotated[LeadFilter, Depends(_lead_filter)]


def _leads(actor: Any, filters: LeadFilter) -> Any:
    return service.leads_query(status=filters.status, priority=filters.priority,
                               owner_id=filters.owner_id, source=filters.source,
                               country=filters.country)


_LEAD_CSV = attribute_columns(
    "id", "company_name", "contact_name", "email", "phone", "country", "fleet_size", "source",
    "status", "priority", "owner_id", "disqualification_reason", "converted_at", "created_at")
_lead_routes = ResourceRoutes(router, "leads", "lead_id", "lead", [], LeadOut,
                              LeadOut.model_validate, CrmRead, CrmWrite)
_lead_routes.listing("List leads (staff)", LeadFilterQuery, pager(_leads, Lead.id),
                     page_first=True)
_lead_routes.export("Export the filtered leads as CSV (staff)", LeadFilterQuery, _leads,
                    _LEAD_CSV, "leads.csv", order_by=[Lead.id])


_leads_staff = StaffRoutes(_lead_routes, service.get_lead)
_leads_staff.create("Create a lead (staff)", LeadCreate, service.create_lead)
_leads_staff.get_and_update("Get a lead (staff)",
                            "Update a lead: qualify, disqualify, reassign (staff)", LeadUpdate,
                            service.update_lead)
_leads_staff.delete("Delete a lead with no opportunity (soft) (staff)", service.delete_lead)


# --- opportunities -------------------------------------------------------------------------


def _opportunity_filter(
    stage: OpportunityStage | None = None,
    lead_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
    currency: Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")] = None,
    close_since: Annotated[date | None, Query(description="Expected close on or after.")] = None,
    close_until: Annotated[date | None, Query(description="Expected close before.")] = None,
) -> service.OpportunityFilter:
    return service.OpportunityFilter(stage=stage.value if stage else None, lead_id=lead_id,
                                     owner_id=owner_id, currency=currency,
                                     close_since=close_since, close_until=close_until)


OpportunityFilterQuery = Annotated[service.OpportunityFilter, Depends(_opportunity_filter)]


def _opportunities(actor: Any, filters: service.OpportunityFilter) -> Any:
    return service.opportunities_query(filters)


_OPPORTUNITY_CSV: list[Column] = [
    *attribute_columns("id", "lead_id", "name", "stage"),
    MoneyColumns("expected_value", _money("expected_value")),
    *attribute_columns("probability_pct", "expected_close_on", "proposed_plan_id", "owner_id",
                       "closed_at", "lost_reason", "created_at"),
]
_opportunity_routes = ResourceRoutes(router, "opportunities", "opportunity_id", "opportunity",
                                     [], OpportunityOut, OpportunityOut.of, CrmRead, CrmWrite,
                                     plural="opportunities")
_opportunity_routes.listing("List opportunities (staff)", OpportunityFilterQuery,
                            pager(_opportunities, Opportunity.id), page_first=True)
_opportunity_routes.export("Export the filtered opportunities as CSV (staff)",
                           OpportunityFilterQuery, _opportunities, _OPPORTUNITY_CSV,
                           "opportunities.csv", order_by=[Opportunity.id])


_opportunities_staff = StaffRoutes(_opportunity_routes, service.get_opportunity)
_opportunities_staff.create("Open an opportunity with a lead (staff)", OpportunityCreate,
                            service.create_opportunity)
_opportunities_staff.get_and_update(
    "Get an opportunity (staff)",
    "Update an opportunity: stage, value, probability, close month (staff)", OpportunityUpdate,
    service.update_opportunity)
_opportunities_staff.delete("Delete an opportunity with no contract (soft) (staff)",
                            service.delete_opportunity)


@router.get("/forecast", summary="The weighted forecast of open deals by close month (staff)")
def get_forecast(actor: CrmRead, session: DbSession, since: Month = None, until: Month = None,
                 owner_id: uuid.UUID | None = None,
                 currency: Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$")] = None,
                 ) -> ForecastOut:
    rows = service.forecast(session, since=since, until=until, owner_id=owner_id,
                            currency=currency)
    months = []
    for r in rows:
        pipeline, weighted = money_out(r.pipeline, r.currency), money_out(r.weighted, r.currency)
        assert pipeline is not None
        assert weighted is not None
        months.append(ForecastMonth(month=r.month, currency=r.currency,
                                    open_deals=r.open_deals, pipeline=pipeline,
                                    weighted=weighted))
    return ForecastOut(since=since, until=until, months=months)


# --- contracts -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContractFilter:
    status: str | None = None
    opportunity_id: uuid.UUID | None = None
    tenant_id: uuid.UUID | None = None


def _contract_filter(
    contract_status: Annotated[ContractStatus | None, Query(alias="status")] = None,
    opportunity_id: uuid.UUID | None = None,
    tenant_id: uuid.UUID | None = None,
) -> ContractFilter:
    return ContractFilter(status=contract_status.value if contract_status else None,
                          opportunity_id=opportunity_id, tenant_id=tenant_id)


ContractFilterQuery = Annotated[ContractFilter, Depends(_contract_filter)]


def _contracts(actor: Any, filters: ContractFilter) -> Any:
    return service.contracts_query(status=filters.status, opportunity_id=filters.opportunity_id,
                                   tenant_id=filters.tenant_id)


_CONTRACT_CSV: list[Column] = [
    *attribute_columns("id", "contract_number", "opportunity_id", "tenant_id", "status",
                       "customer_legal_name", "customer_vat_number", "signatory_name",
                       "signatory_email", "plan_id", "starts_on", "ends_on"),
    MoneyColumns("value", _money("value")),
    *attribute_columns("sent_at", "signed_at", "terminated_at", "created_at"),
]
_contract_routes = ResourceRoutes(router, "contracts", "contract_id", "contract", [],
                                  ContractOut, ContractOut.of, CrmRead, CrmWrite)
_contract_routes.listing("List contracts (staff)", ContractFilterQuery,
                         pager(_contracts, Contract.id), page_first=True)
_contract_routes.export("Export the filtered contracts as CSV (staff)", ContractFilterQuery,
                        _contracts, _CONTRACT_CSV, "contracts.csv", order_by=[Contract.id])


_contracts_staff = StaffRoutes(_contract_routes, service.get_contract)
_contracts_staff.create("Draft a contract for an opportunity: numbered at once (staff)",
                        ContractCreate, service.create_contract)
_contracts_staff.get_and_update(
    "Get a contract (staff)",
    "Change an unsigned contract's terms, send it, or terminate it (staff)", ContractUpdate,
    service.update_contract)
_contracts_staff.delete("Delete an unsigned contract (soft) (staff)", service.delete_contract)


@router.post("/contracts/{contract_id}/sign", summary="Sign the contract: provisions the "
             "customer's tenant, owner invitation and trial subscription at once (staff)",
             responses={200: {"model": SignedOut,
                              "description": "Signed before (a retry): the same tenant."},
                        201: {"description": "Signed now: the tenant was provisioned."}},
             status_code=status.HTTP_201_CREATED)
def sign_contract(actor: CurrentActor, if_match: RequiredIfMatch, session: DbSession,
                  contract_id: uuid.UUID, response: Response,
                  data: ContractSign | None = None) -> SignedOut:
    service.get_contract(session, contract_id)
    check_staff(actor, "crm:write")
    signed = service.sign_contract(session, actor, contract_id, data or ContractSign(),
                                   if_match=if_match)
    if signed.already_signed:
        response.status_code = status.HTTP_200_OK
    _with_etag(response, signed.contract.version)
    response.headers["Location"] = f"/v1/tenants/{signed.tenant_id}"
    return SignedOut(contract_id=signed.contract.id,
                     contract_number=signed.contract.contract_number,
                     tenant_id=signed.tenant_id, tenant_slug=signed.tenant_slug,
                     owner_member_id=signed.owner_member_id,
                     subscription_id=signed.subscription_id,
                     invitation_id=signed.invitation_id, already_signed=signed.already_signed)


# --- the contract's file ---------------------------------------------------------------------


async def _upload(request: Request) -> bytes:
    settings: Settings = request.app.state.settings
    return await bounded_body(request, settings.document_max_bytes)


Upload = Annotated[bytes, Depends(_upload)]
_PDF_EXAMPLE = "%PDF-1.7 … (the signed contract)"


@router.put("/contracts/{contract_id}/document",
            summary="Store the contract's file (PDF or scan; the body is the file) (staff)",
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/octet-stream": {
                    "schema": {"type": "string", "format": "binary",
                               "description": "The file's bytes: PDF, JPEG, PNG, WebP or HEIC, "
                               "judged on its content (a Content-Type of application/pdf "
                               "or the image's type is checked against it)."},
                    "example": _PDF_EXAMPLE}}}})
def put_contract_document(actor: CurrentActor, if_match: RequiredIfMatch, session: DbSession,
                 storage: Storage, request: Request, body: Upload, contract_id: uuid.UUID,
                 response: Response,
                 file_name: Annotated[str | None, Query(max_length=255)] = None) -> ContractOut:
    contract = service.get_contract(session, contract_id, lock=True)
    check_staff(actor, "crm:write")
    check_if_match(if_match, contract.version)
    settings: Settings = request.app.state.settings
    received = documents_service.receive_file(
        io.BytesIO(body), max_bytes=settings.document_max_bytes,
        declared_type=request.headers.get("content-type"))
    # Contract files are the provider's: keyed by contract, a new key per version of the file.
    key = f"{contract.id}/{new_id()}"
    try:
        with received.spool:
            storage.put(key, received.spool, received.mime_type)
    except StorageError as exc:
        raise documents_service._storage_problem(exc) from exc
    previous = service.attach_document(session, actor, contract, key=key, file={
        "file_name": documents_service.clean_file_name(file_name or
                                                       f"{contract.contract_number}.pdf"),
        "mime_type": received.mime_type, "size_bytes": received.size,
        "sha256": received.sha256})
    if previous:
        delete_after_commit(session, storage, [previous])
    _with_etag(response, contract.version)
    return ContractOut.of(contract)


@router.get("/contracts/{contract_id}/document", summary="Download the contract's file (staff)",
            response_class=StreamingResponse, responses={200: {"content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"},
                                    "example": _PDF_EXAMPLE}},
                "description": "The file."}, 404: {"description": "No file stored."}})
def get_contract_document(actor: CurrentActor, session: DbSession, storage: Storage,
                 contract_id: uuid.UUID) -> StreamingResponse:
    contract = service.get_contract(session, contract_id)
    check_staff(actor, "crm:read")
    file = (contract.extra or {}).get("document")
    if not contract.document_storage_key or not file:
        raise NotFound("This contract has no stored file.")
    try:
        chunks = storage.open(contract.document_storage_key)
    except StoredObjectMissing as exc:
        raise NotFound("The contract's file is missing from the store.") from exc
    return StreamingResponse(chunks, media_type=file["mime_type"], headers={
        "Content-Disposition": content_disposition(file["file_name"]),
        "Content-Length": str(file["size_bytes"]), "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff"})
