"""Fleetcore's own sales pipeline: leads, opportunities, the forecast, contracts, and signing a
contract, which provisions the customer's tenant.

Every function runs inside the caller's transaction (it may flush, never commits) in the
provider context (Fleetcore staff): the ``crm_`` tables are provider-only under row-level
security, so a fleet's member finds no lead or opportunity, and no contract but its own.

Signing (:func:`sign_contract`) is one transaction that makes everything or nothing: the tenant
(admin's provisioning: row, built-in roles, invited owner, ``created`` event), the owner's
invitation e-mail (admin's notification job), the trial subscription on the contract's plan
(billing, which writes the ``trial_started``/``activated`` event), and the contract, opportunity
and lead moved to signed, won and converted. The contract row is locked first, so a retried or
concurrent sign waits for the first and then answers with the tenant it made: never two.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from babel.core import get_global
from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session

from fleetcore.admin import jobs as admin_jobs
from fleetcore.admin import service as admin_service
from fleetcore.admin.models import Member
from fleetcore.admin.notifications import language_for
from fleetcore.admin.numbering import format_number, yearly_series
from fleetcore.admin.schemas import OwnerInvitation, TenantProvision
from fleetcore.billing import service as billing_service
from fleetcore.billing.models import BillingPlan
from fleetcore.core.auth import Actor
from fleetcore.core.errors import (
    FOREIGN_KEY_VIOLATION,
    Conflict,
    ConstraintProblem,
    NotFound,
    ValidationProblem,
    flush_checked,
)
from fleetcore.core.money import round_minor
from fleetcore.core.pagination import equal_filters, range_filter
from fleetcore.core.versioning import check_if_match, refresh_version
from fleetcore.crm.models import (
    Contract,
    ContractStatus,
    Lead,
    LeadStatus,
    Opportunity,
    OpportunityStage,
)
from fleetcore.crm.schemas import (
    ContractCreate,
    ContractSign,
    ContractUpdate,
    LeadCreate,
    LeadUpdate,
    OpportunityCreate,
    OpportunityUpdate,
)

CONTRACT_SERIES = "crm_contract"
"""The numbering series of contracts (per year): ``CT-2026-0001``."""
CONTRACT_PADDING = 4

OPEN_STAGES = (OpportunityStage.PROSPECTING.value, OpportunityStage.PROPOSAL.value,
               OpportunityStage.NEGOTIATION.value)
CLOSED_STAGES = (OpportunityStage.CLOSED_WON.value, OpportunityStage.CLOSED_LOST.value)
STAGE_PROBABILITY: dict[str, Decimal] = {
    OpportunityStage.PROSPECTING.value: Decimal(10),
    OpportunityStage.PROPOSAL.value: Decimal(40),
    OpportunityStage.NEGOTIATION.value: Decimal(70),
    OpportunityStage.CLOSED_WON.value: Decimal(100),
    OpportunityStage.CLOSED_LOST.value: Decimal(0),
}
"""The probability an opportunity gets when none is given (a closed one always has these)."""

_OWNER = {FOREIGN_KEY_VIOLATION: ConstraintProblem(
    "owner_id", "No such Fleetcore employee.", ValidationProblem)}


def _problem(field: str, message: str) -> ValidationProblem:
    return ValidationProblem(message, errors=[{"field": field, "message": message}])


# --- leads ---------------------------------------------------------------------------------


def leads_query(*, status: str | None = None, priority: str | None = None,
                owner_id: uuid.UUID | None = None, source: str | None = None,
                country: str | None = None) -> Select[Any]:
    """Live leads, filtered (list and CSV export)."""
    return equal_filters(select(Lead).where(Lead.deleted_at.is_(None)), {
        Lead.status: status, Lead.priority: priority, Lead.owner_id: owner_id,
        Lead.source: source, Lead.country: country.upper() if country else None})


def get_lead(session: Session, lead_id: uuid.UUID, *, lock: bool = False) -> Lead:
    """A live lead, or 404 (also for a fleet: row-level security shows it none)."""
    stmt = select(Lead).where(Lead.id == lead_id, Lead.deleted_at.is_(None))
    lead = session.scalar(stmt.with_for_update() if lock else stmt)
    if lead is None:
        raise NotFound("No such lead.")
    return lead


def _check_lead_status(lead: Lead, status: str | None, previous: str | None) -> None:
    if status == previous:
        return
    if status == LeadStatus.CONVERTED.value:
        raise _problem("status", "A lead is converted by signing its contract.")
    if previous == LeadStatus.CONVERTED.value:
        raise Conflict("A converted lead is a customer now: its status no longer changes.",
                       errors=[{"field": "status", "message": "already converted"}])
    if status == LeadStatus.DISQUALIFIED.value and not lead.disqualification_reason:
        raise _problem("disqualification_reason", "Say why the lead is disqualified.")


def create_lead(session: Session, actor: Actor, data: LeadCreate) -> Lead:
    """A new lead (any status but ``converted``, which only signing sets)."""
    values = data.model_dump(exclude={"status", "priority", "email"})
    lead = Lead(**values, email=str(data.email) if data.email else None,
                status=data.status.value, priority=data.priority.value,
                created_by=actor.id, updated_by=actor.id)
    _check_lead_status(lead, lead.status, None)
    session.add(lead)
    flush_checked(session, _OWNER)
    session.refresh(lead)
    return lead


def update_lead(session: Session, actor: Actor, lead_id: uuid.UUID, data: LeadUpdate, *,
                if_match: str | None) -> Lead:
    """Change the fields sent (``null`` clears an optional one)."""
    lead = get_lead(session, lead_id, lock=True)
    check_if_match(if_match, lead.version)
    previous = lead.status
    changes = data.model_dump(exclude_unset=True)
    for field in ("company_name", "status", "priority"):
        if field in changes and changes[field] is None:
            raise _problem(field, f"{field} cannot be empty.")
    for field, value in changes.items():
        setattr(lead, field, str(value) if field == "email" and value is not None else value)
    _check_lead_status(lead, lead.status, previous)
    lead.updated_by = actor.id
    flush_checked(session, _OWNER)
    refresh_version(session, lead)
    return lead


def delete_lead(session: Session, actor: Actor, lead_id: uuid.UUID, *, reason: str | None,
                if_match: str | None) -> None:
    """Soft-delete a lead that has no live opportunity (delete those first)."""
    lead = get_lead(session, lead_id, lock=True)
    check_if_match(if_match, lead.version)
    if session.scalar(select(func.count()).select_from(Opportunity).where(
            Opportunity.lead_id == lead.id, Opportunity.deleted_at.is_(None))):
        raise Conflict("The lead has opportunities: delete them first.")
    lead.mark_deleted(actor.id, reason)
    session.flush()


# --- opportunities -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpportunityFilter:
    stage: str | None = None
    lead_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    currency: str | None = None
    close_since: date | None = None
    close_until: date | None = None


def opportunities_query(filters: OpportunityFilter) -> Select[Any]:
    """Live opportunities, filtered (list, CSV export and the pipeline board)."""
    stmt = equal_filters(select(Opportunity).where(Opportunity.deleted_at.is_(None)), {
        Opportunity.stage: filters.stage, Opportunity.lead_id: filters.lead_id,
        Opportunity.owner_id: filters.owner_id,
        Opportunity.currency: filters.currency.upper() if filters.currency else None})
    return range_filter(stmt, Opportunity.expected_close_on, since=filters.close_since,
                        until=filters.close_until)


def get_opportunity(session: Session, opportunity_id: uuid.UUID, *,
                    lock: bool = False) -> Opportunity:
    """A live opportunity, or 404."""
    stmt = select(Opportunity).where(Opportunity.id == opportunity_id,
                                     Opportunity.deleted_at.is_(None))
    opportunity = session.scalar(stmt.with_for_update() if lock else stmt)
    if opportunity is None:
        raise NotFound("No such opportunity.")
    return opportunity


def _check_plan(session: Session, plan_id: uuid.UUID | None, field: str) -> BillingPlan | None:
    if plan_id is None:
        return None
    plan = session.get(BillingPlan, plan_id)
    if plan is None:
        raise _problem(field, "No such billing plan.")
    return plan


def _apply_stage(opportunity: Opportunity, stage: str, *, probability_given: bool,
                 now: datetime) -> None:
    """Closing sets ``closed_at`` and the closed probability; reopening clears them."""
    was_closed = opportunity.closed_at is not None
    opportunity.stage = stage
    if stage in CLOSED_STAGES:
        opportunity.probability_pct = STAGE_PROBABILITY[stage]
        if not was_closed:
            opportunity.closed_at = now
    else:
        opportunity.closed_at = None
        if not probability_given and (was_closed or opportunity.probability_pct is None):
            opportunity.probability_pct = STAGE_PROBABILITY[stage]
    if stage == OpportunityStage.CLOSED_LOST.value and not opportunity.lost_reason:
        raise _problem("lost_reason", "Say why the deal was lost.")


def create_opportunity(session: Session, actor: Actor, data: OpportunityCreate) -> Opportunity:
    """A deal with a lead (which becomes ``qualified`` if it was new or contacted)."""
    lead = get_lead(session, data.lead_id, lock=True)
    if lead.status == LeadStatus.DISQUALIFIED.value:
        raise Conflict("The lead is disqualified: requalify it first.",
                       errors=[{"field": "lead_id", "message": "disqualified lead"}])
    _check_plan(session, data.proposed_plan_id, "proposed_plan_id")
    money = data.expected_value.to_money() if data.expected_value else None
    opportunity = Opportunity(
        lead_id=lead.id, name=data.name, expected_value=money.amount if money else None,
        currency=money.currency if money else None, probability_pct=data.probability_pct,
        expected_close_on=data.expected_close_on, proposed_plan_id=data.proposed_plan_id,
        owner_id=data.owner_id, lost_reason=data.lost_reason,
        created_by=actor.id, updated_by=actor.id)
    _apply_stage(opportunity, data.stage.value, probability_given=data.probability_pct is not None,
                 now=datetime.now(UTC))
    if lead.status in (LeadStatus.NEW.value, LeadStatus.CONTACTED.value):
        lead.status = LeadStatus.QUALIFIED.value
        lead.updated_by = actor.id
    session.add(opportunity)
    flush_checked(session, _OWNER)
    session.refresh(opportunity)
    return opportunity


def update_opportunity(session: Session, actor: Actor, opportunity_id: uuid.UUID,
                       data: OpportunityUpdate, *, if_match: str | None) -> Opportunity:
    """Change the fields sent; a stage change closes or reopens the deal."""
    opportunity = get_opportunity(session, opportunity_id, lock=True)
    check_if_match(if_match, opportunity.version)
    changes = data.model_fields_set
    for field in ("name", "stage"):
        if field in changes and getattr(data, field) is None:
            raise _problem(field, f"{field} cannot be empty.")
    if "expected_value" in changes:
        money = data.expected_value.to_money() if data.expected_value else None
        opportunity.expected_value = money.amount if money else None
        opportunity.currency = money.currency if money else None
    if "proposed_plan_id" in changes:
        _check_plan(session, data.proposed_plan_id, "proposed_plan_id")
    for field in ("name", "probability_pct", "expected_close_on", "proposed_plan_id",
                  "owner_id", "lost_reason"):
        if field in changes:
            setattr(opportunity, field, getattr(data, field))
    stage = data.stage.value if data.stage is not None else opportunity.stage
    if stage == OpportunityStage.CLOSED_WON.value and opportunity.stage != stage:
        raise _problem("stage", "A deal is won by signing its contract.")
    _apply_stage(opportunity, stage, probability_given="probability_pct" in changes,
                 now=datetime.now(UTC))
    opportunity.updated_by = actor.id
    flush_checked(session, _OWNER)
    refresh_version(session, opportunity)
    return opportunity


def delete_opportunity(session: Session, actor: Actor, opportunity_id: uuid.UUID, *,
                       reason: str | None, if_match: str | None) -> None:
    """Soft-delete an opportunity with no live contract."""
    opportunity = get_opportunity(session, opportunity_id, lock=True)
    check_if_match(if_match, opportunity.version)
    if session.scalar(select(func.count()).select_from(Contract).where(
            Contract.opportunity_id == opportunity.id, Contract.deleted_at.is_(None))):
        raise Conflict("The opportunity has a contract: delete the contract first.")
    opportunity.mark_deleted(actor.id, reason)
    session.flush()


# --- forecast ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ForecastRow:
    """One month and currency of the forecast (exact sums, weighted rounded once)."""

    month: str
    currency: str
    open_deals: int
    pipeline: Decimal
    weighted: Decimal


_FORECAST = text("""
    SELECT to_char(expected_close_on, 'YYYY-MM') AS month, currency, count(*) AS open_deals,
           sum(expected_value) AS pipeline,
           sum(expected_value * coalesce(probability_pct, 0) / 100) AS weighted
      FROM crm_opportunities
     WHERE deleted_at IS NULL AND stage IN ('prospecting', 'proposal', 'negotiation')
       AND expected_close_on IS NOT NULL AND expected_value IS NOT NULL
       AND (CAST(:since AS date) IS NULL OR expected_close_on >= CAST(:since AS date))
       AND (CAST(:until AS date) IS NULL OR expected_close_on < CAST(:until AS date))
       AND (CAST(:owner AS uuid) IS NULL OR owner_id = CAST(:owner AS uuid))
       AND (CAST(:currency AS text) IS NULL OR currency = CAST(:currency AS text))
     GROUP BY 1, 2
     ORDER BY 1, 2""")


def month_start(month: str) -> date:
    """``YYYY-MM`` → its first day."""
    year, number = month.split("-")
    return date(int(year), int(number), 1)


def _next_month(day: date) -> date | None:
    """The first day of the next month (None after December 9999: no upper bound)."""
    if day.year == date.max.year and day.month == 12:
        return None
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def forecast(session: Session, *, since: str | None = None, until: str | None = None,
             owner_id: uuid.UUID | None = None, currency: str | None = None
             ) -> list[ForecastRow]:
    """The open pipeline by expected close month and currency, ``since`` to ``until``
    (``YYYY-MM``, both included): the unweighted sum and the sum of value x probability,
    summed exactly in ``numeric`` (one query), rounded once per month to the minor unit."""
    rows = session.execute(_FORECAST, {
        "since": month_start(since) if since else None,
        "until": _next_month(month_start(until)) if until else None,
        "owner": owner_id, "currency": currency.upper() if currency else None})
    return [ForecastRow(r.month, r.currency, int(r.open_deals), r.pipeline,
                        round_minor(r.weighted, r.currency)) for r in rows]


# --- contracts -----------------------------------------------------------------------------


def contracts_query(*, status: str | None = None, opportunity_id: uuid.UUID | None = None,
                    tenant_id: uuid.UUID | None = None) -> Select[Any]:
    """Live contracts, filtered (list and CSV export)."""
    return equal_filters(select(Contract).where(Contract.deleted_at.is_(None)), {
        Contract.status: status, Contract.opportunity_id: opportunity_id,
        Contract.tenant_id: tenant_id})


def get_contract(session: Session, contract_id: uuid.UUID, *, lock: bool = False) -> Contract:
    """A live contract, or 404."""
    stmt = select(Contract).where(Contract.id == contract_id, Contract.deleted_at.is_(None))
    if lock:
        # A sign waiting on this lock must see what the first one committed.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    contract = session.scalar(stmt)
    if contract is None:
        raise NotFound("No such contract.")
    return contract


def take_contract_number(session: Session, year: int) -> str:
    """The next number of the year's contract series, gapless (decision 0014).

    ``adm_number_sequences`` is per tenant and a contract belongs to no tenant yet, so the
    series is locked with a transaction-scoped advisory lock on its name (concurrent creations
    queue; a rollback gives its number back) and the next value follows the highest taken,
    deleted contracts included (a number is never given twice)."""
    series = yearly_series(CONTRACT_SERIES, year)
    prefix = f"CT-{year:04d}-"
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:series))"), {"series": series})
    last = session.scalar(text(
        "SELECT max(substring(contract_number FROM '[0-9]+$')::int) FROM crm_contracts"
        " WHERE contract_number LIKE :prefix || '%'"), {"prefix": prefix})
    return format_number(prefix, int(last or 0) + 1, CONTRACT_PADDING)


def create_contract(session: Session, actor: Actor, data: ContractCreate) -> Contract:
    """A draft contract for an open (or won) opportunity, numbered at once."""
    opportunity = get_opportunity(session, data.opportunity_id, lock=True)
    if opportunity.stage == OpportunityStage.CLOSED_LOST.value:
        raise Conflict("The opportunity was lost: reopen it first.",
                       errors=[{"field": "opportunity_id", "message": "lost opportunity"}])
    lead = get_lead(session, opportunity.lead_id)
    plan_id = data.plan_id or opportunity.proposed_plan_id
    if plan_id is None:
        raise _problem("plan_id", "Choose the plan (the opportunity proposes none).")
    _check_plan(session, plan_id, "plan_id")
    if data.value is not None:
        value = data.value.to_money()
        amount, currency = value.amount, value.currency
    elif opportunity.expected_value is not None and opportunity.currency is not None:
        amount, currency = opportunity.expected_value, opportunity.currency
    else:
        raise _problem("value", "Give the contract's value (the opportunity has none).")
    if data.ends_on is not None and data.ends_on < data.starts_on:
        raise _problem("ends_on", "The contract ends before it starts.")
    email = data.signatory_email or lead.email
    contract = Contract(
        opportunity_id=opportunity.id,
        contract_number=take_contract_number(session, datetime.now(UTC).year),
        customer_legal_name=data.customer_legal_name or lead.company_name,
        customer_vat_number=data.customer_vat_number,
        signatory_name=data.signatory_name or lead.contact_name,
        signatory_email=str(email) if email else None, plan_id=plan_id,
        starts_on=data.starts_on, ends_on=data.ends_on, value=amount, currency=currency,
        status=ContractStatus.DRAFT.value, created_by=actor.id, updated_by=actor.id)
    session.add(contract)
    flush_checked(session)
    session.refresh(contract)
    return contract


_TERMS = ("customer_legal_name", "customer_vat_number", "signatory_name", "signatory_email",
          "plan_id", "starts_on", "ends_on", "value")
_UNSIGNED = (ContractStatus.DRAFT.value, ContractStatus.SENT.value)
_SIGNED = (ContractStatus.SIGNED.value, ContractStatus.ACTIVE.value)


def update_contract(session: Session, actor: Actor, contract_id: uuid.UUID,
                    data: ContractUpdate, *, if_match: str | None) -> Contract:
    """Change the terms of an unsigned contract, send it, or terminate a signed one."""
    contract = get_contract(session, contract_id, lock=True)
    check_if_match(if_match, contract.version)
    changes = data.model_fields_set
    terms = [f for f in _TERMS if f in changes]
    if terms and contract.status not in _UNSIGNED:
        raise Conflict(f"A {contract.status} contract's terms no longer change.",
                       errors=[{"field": f, "message": "contract signed"} for f in terms])
    for field in ("customer_legal_name", "plan_id", "starts_on", "value"):
        if field in changes and getattr(data, field) is None:
            raise _problem(field, f"{field} cannot be empty.")
    if "plan_id" in changes:
        _check_plan(session, data.plan_id, "plan_id")
    if data.value is not None:
        money = data.value.to_money()
        contract.value, contract.currency = money.amount, money.currency
    for field in ("customer_legal_name", "customer_vat_number", "signatory_name", "plan_id",
                  "starts_on", "ends_on"):
        if field in changes:
            setattr(contract, field, getattr(data, field))
    if "signatory_email" in changes:
        contract.signatory_email = str(data.signatory_email) if data.signatory_email else None
    if contract.ends_on is not None and contract.ends_on < contract.starts_on:
        raise _problem("ends_on", "The contract ends before it starts.")
    if data.status is not None and data.status.value != contract.status:
        _move(contract, data.status.value, data.termination_reason)
    contract.updated_by = actor.id
    flush_checked(session)
    refresh_version(session, contract)
    return contract


def _move(contract: Contract, status: str, reason: str | None) -> None:
    now = datetime.now(UTC)
    if status == ContractStatus.SENT.value and contract.status == ContractStatus.DRAFT.value:
        contract.sent_at = now
    elif status == ContractStatus.DRAFT.value and contract.status == ContractStatus.SENT.value:
        contract.sent_at = None
    elif status == ContractStatus.TERMINATED.value and contract.status in _SIGNED:
        if not reason:
            raise _problem("termination_reason", "Say why the contract is terminated.")
        contract.terminated_at, contract.termination_reason = now, reason
    elif status in _SIGNED:
        raise _problem("status", "A contract is signed with POST …/sign.")
    else:
        raise Conflict(f"A {contract.status} contract cannot become {status}.",
                       errors=[{"field": "status", "message": f"not from {contract.status}"}])
    contract.status = status


def delete_contract(session: Session, actor: Actor, contract_id: uuid.UUID, *,
                    reason: str | None, if_match: str | None) -> None:
    """Soft-delete an unsigned contract (a signed one is the tenant's history: terminate it)."""
    contract = get_contract(session, contract_id, lock=True)
    check_if_match(if_match, contract.version)
    if contract.status not in _UNSIGNED:
        raise Conflict(f"A {contract.status} contract is kept: terminate it instead.")
    contract.mark_deleted(actor.id, reason)
    session.flush()


def attach_document(session: Session, actor: Actor, contract: Contract, *, key: str,
                    file: dict[str, Any]) -> str | None:
    """Record the stored contract file (``key``); returns the replaced file's key, to delete
    once the transaction commits."""
    previous = contract.document_storage_key
    contract.document_storage_key = key
    contract.extra = {**(contract.extra or {}), "document": file}
    contract.updated_by = actor.id
    refresh_version(session, contract)
    return previous


# --- signing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signed:
    """What signing made (or, on a retry, had made)."""

    contract: Contract
    tenant_id: uuid.UUID
    tenant_slug: str
    owner_member_id: uuid.UUID
    subscription_id: uuid.UUID | None
    invitation_id: uuid.UUID | None
    already_signed: bool


def _zone_of(country: str) -> str | None:
    """The country's time zone when it has exactly one (CLDR territory zones)."""
    zones: Sequence[str] = get_global("territory_zones").get(country, ())
    return zones[0] if len(zones) == 1 else None


def _slug_base(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:50].strip("-")
    return slug or "fleet"


def _free_slug(session: Session, name: str) -> str:
    """A slug made of ``name`` that no tenant has (``-2``, ``-3``… appended when taken)."""
    base = _slug_base(name)
    taken = set(session.scalars(text(
        "SELECT slug FROM adm_tenants WHERE slug = :base OR slug LIKE :base || '-%'"),
        {"base": base}))
    if base not in taken:
        return base
    return next(f"{base}-{n}" for n in range(2, len(taken) + 3) if f"{base}-{n}" not in taken)


def _split_name(name: str | None) -> tuple[str | None, str | None]:
    if not name:
        return None, None
    first, _, last = name.strip().partition(" ")
    return first or None, last.strip() or None


@dataclass(frozen=True, slots=True)
class ContractsAdvanced:
    """What :func:`advance_contracts` moved."""

    activated: int
    expired: int


def advance_contracts(session: Session, *, today: date | None = None) -> ContractsAdvanced:
    """Move signed contracts along their dates, in one statement (the nightly job's body).

    A signed contract becomes ``active`` on its ``starts_on``; a signed or active one becomes
    ``expired`` the day after its ``ends_on``. "Today" is the day in the customer's time zone
    (a signed contract always has its tenant); ``today`` overrides it (tests, replays).
    Terminated, draft and sent contracts are left alone; running it twice changes nothing.
    """
    rows = session.execute(text("""
        WITH due AS (
          SELECT c.id, coalesce(CAST(:today AS date),
                                (now() AT TIME ZONE t.timezone)::date) AS today
            FROM crm_contracts c JOIN adm_tenants t ON t.id = c.tenant_id
           WHERE c.status IN ('signed', 'active') AND c.deleted_at IS NULL
        )
        UPDATE crm_contracts c
           SET status = CASE WHEN c.ends_on < d.today THEN 'expired' ELSE 'active' END,
               updated_at = now(), updated_by = NULL
          FROM due d
         WHERE c.id = d.id
           AND (c.ends_on < d.today OR (c.status = 'signed' AND c.starts_on <= d.today))
        RETURNING c.status"""), {"today": today}).scalars().all()
    return ContractsAdvanced(activated=sum(1 for r in rows if r == "active"),
                             expired=sum(1 for r in rows if r == "expired"))


def _existing(session: Session, contract: Contract) -> Signed:
    assert contract.tenant_id is not None
    tenant = admin_service.get_tenant(session, None, contract.tenant_id)
    recorded = (tenant.extra or {}).get("crm", {}).get("owner_member_id")
    owner = uuid.UUID(recorded) if recorded else None
    sub = billing_service.current_subscription(session, tenant.id)
    invitation = session.scalar(text(
        "SELECT id FROM adm_notifications WHERE tenant_id = :t AND reason = :r"
        " AND entity_id = :m"), {"t": tenant.id, "r": admin_jobs.INVITATION_REASON, "m": owner})
    if owner is None:
        raise Conflict("The tenant of this contract does not record its owner.")
    return Signed(contract, tenant.id, tenant.slug, owner, sub.id if sub else None,
                  invitation, already_signed=True)


def sign_contract(session: Session, actor: Actor, contract_id: uuid.UUID, data: ContractSign,
                  *, if_match: str | None) -> Signed:
    """Sign the contract and provision its tenant, in the caller's one transaction.

    Idempotent: the contract row is locked first; a contract already signed answers with the
    tenant it provisioned (``already_signed``), whatever ``If-Match`` says, so a retry after a
    lost response, or a second click racing the first, never makes a second tenant.
    """
    contract = get_contract(session, contract_id, lock=True)
    if contract.tenant_id is not None:
        return _existing(session, contract)
    check_if_match(if_match, contract.version)
    if contract.status not in _UNSIGNED:
        raise Conflict(f"A {contract.status} contract cannot be signed.")
    opportunity = get_opportunity(session, contract.opportunity_id, lock=True)
    lead = get_lead(session, opportunity.lead_id, lock=True)
    country = data.country or lead.country
    if country is None:
        raise _problem("country", "The lead has no country: send the tenant's country.")
    timezone = data.timezone or _zone_of(country)
    if timezone is None:
        raise _problem("timezone", f"{country} has several time zones: send the tenant's.")
    if not contract.signatory_email:
        raise _problem("signatory_email",
                       "The contract names no signatory e-mail: the owner to invite.")
    plan = _check_plan(session, contract.plan_id, "plan_id")
    assert plan is not None
    name = data.name or lead.company_name
    first, last = _split_name(contract.signatory_name)
    now = data.signed_at or datetime.now(UTC)
    number = contract.contract_number
    tenant = admin_service.provision_tenant(session, actor, status_event=False,
                                            data=TenantProvision(
        name=name, slug=data.slug or _free_slug(session, name),
        legal_name=contract.customer_legal_name, country=country,
        default_currency=contract.currency, timezone=timezone,
        contact_email=contract.signatory_email, trial_days=plan.trial_days,
        owner=OwnerInvitation(email=contract.signatory_email, first_name=first, last_name=last),
        reason=f"Contract {number} signed."))
    if contract.customer_vat_number:
        tenant.vat_number = contract.customer_vat_number
    owner_member = session.scalars(select(Member).where(Member.tenant_id == tenant.id)).one()
    owner = owner_member.id
    # The owner reads the invitation in the customer's language (a French fleet in French),
    # not in the column's default: nobody has told us theirs yet (they can change it later).
    owner_member.preferred_language = language_for(None, country)
    tenant.extra = {**(tenant.extra or {}), "crm": {
        "contract_id": str(contract.id), "contract_number": number,
        "owner_member_id": str(owner)}}
    subscription = billing_service.subscribe(session, actor, tenant.id, plan.code, now=now)
    invitation = admin_jobs.send_invitation(session, tenant.id, owner)
    contract.tenant_id = tenant.id
    contract.status = ContractStatus.SIGNED.value
    contract.signed_at = now
    contract.stripe_subscription_id = subscription.stripe_subscription_id
    contract.updated_by = actor.id
    if opportunity.stage != OpportunityStage.CLOSED_WON.value:
        opportunity.stage = OpportunityStage.CLOSED_WON.value
        opportunity.probability_pct = STAGE_PROBABILITY[OpportunityStage.CLOSED_WON.value]
        opportunity.closed_at = now
        opportunity.updated_by = actor.id
    if lead.status != LeadStatus.CONVERTED.value:
        lead.status = LeadStatus.CONVERTED.value
        lead.converted_at = now
        lead.updated_by = actor.id
    session.flush()
    refresh_version(session, contract)
    return Signed(contract, tenant.id, tenant.slug, owner, subscription.id, invitation,
                  already_signed=False)
