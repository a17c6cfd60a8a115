"""Read-only queries of leads, deals and contracts the provider's CRM pages show: pages in
their keyset order and the open deals and leads of the pipeline board and its selects.

Reads only (no writes, no business rule), like the other domains' ``queries.py``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from fleetcore.core.pagination import PageParams, keyset_page
from fleetcore.crm.models import Contract, Lead, LeadStatus, Opportunity, OpportunityStage
from fleetcore.crm.service import (
    OPEN_STAGES,
    OpportunityFilter,
    contracts_query,
    leads_query,
    opportunities_query,
)


def leads_page(session: Session, params: PageParams, *, status: str | None
               ) -> tuple[list[Lead], str | None]:
    """Leads by id (creation order)."""
    return keyset_page(session, leads_query(status=status), [Lead.id], params)


def contracts_page(session: Session, params: PageParams, *, status: str | None
                   ) -> tuple[list[Contract], str | None]:
    """Contracts by id (creation order)."""
    return keyset_page(session, contracts_query(status=status), [Contract.id], params)


def open_deals(session: Session, *, limit: int) -> list[Opportunity]:
    """The deals still open, soonest expected close first (undated last)."""
    return list(session.scalars(
        opportunities_query(OpportunityFilter())
        .where(Opportunity.stage.in_(OPEN_STAGES))
        .order_by(Opportunity.expected_close_on.asc().nulls_last(), Opportunity.id)
        .limit(limit)))


def live_deals(session: Session, *, limit: int) -> list[Opportunity]:
    """The deals not lost, by name (what a contract can be made from)."""
    return list(session.scalars(
        opportunities_query(OpportunityFilter())
        .where(Opportunity.stage != OpportunityStage.CLOSED_LOST.value)
        .order_by(Opportunity.name).limit(limit)))


def open_leads(session: Session, *, limit: int) -> list[Lead]:
    """The leads not yet converted or lost (new, contacted, qualified), by company name."""
    return list(session.scalars(leads_query().where(
        Lead.status.in_((LeadStatus.NEW.value, LeadStatus.CONTACTED.value,
                         LeadStatus.QUALIFIED.value))).order_by(Lead.company_name)
        .limit(limit)))
