"""Fleetcore's own side of the demo: the plans on offer and a sales pipeline.

Written in the provider (system) context through the billing and CRM services, so the rows
obey the same rules as staff-made ones (numbered contracts, stage probabilities, plan prices in
minor units). It gives the staff pages ("Sign in as Fleetcore staff" in development) something
to show: plans, leads at every step, deals at every stage, a draft and a sent contract.

No contract is signed here: signing provisions a new fleet (decision 0014's numbers, the
owner's invitation), which is what a visitor should try from the console. The two demo fleets
themselves are not subscribed: their lifecycle events already say they are on the ``fleet``
plan, and the hourly billing job would start invoicing them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetcore.billing import service as billing
from fleetcore.billing.models import BillingPlan
from fleetcore.billing.schemas import Included, Overage, PlanCreate
from fleetcore.core.auth import ALL_PERMISSIONS, Actor
from fleetcore.core.db import ActorType
from fleetcore.core.schemas import MoneyIn
from fleetcore.crm import service as crm
from fleetcore.crm.models import LeadPriority, LeadStatus, OpportunityStage
from fleetcore.crm.schemas import (
    ContractCreate,
    ContractUpdate,
    LeadCreate,
    OpportunityCreate,
)

DEMO_ACTOR = Actor(type=ActorType.SYSTEM, id=uuid.UUID(int=0), clerk_user_id="demo",
                   tenant_id=None, tenant_status=None,
                   permissions=frozenset({ALL_PERMISSIONS}))
"""Who the demo's provider rows are by: Fleetcore itself (no staff member is created)."""

PLANS: tuple[dict[str, Any], ...] = (
    {"code": "starter", "name": "Starter", "description": "Up to 10 vehicles",
     "monthly_fee": MoneyIn(amount="79.00", currency="EUR"), "trial_days": 30,
     "included": Included(vehicles=10, drivers=20, trips=2000),
     "overage": Overage(vehicles="9.00", drivers="3.00", trips="0.03")},
    {"code": "fleet", "name": "Fleet", "description": "Up to 50 vehicles",
     "monthly_fee": MoneyIn(amount="249.00", currency="EUR"), "trial_days": 14,
     "included": Included(vehicles=50, drivers=100, trips=10000),
     "overage": Overage(vehicles="6.00", drivers="2.00", trips="0.02")},
    {"code": "fleet_uk", "name": "Fleet (UK)", "description": "Up to 50 vehicles, billed in GBP",
     "monthly_fee": MoneyIn(amount="219.00", currency="GBP"), "trial_days": 14,
     "included": Included(vehicles=50, drivers=100, trips=10000),
     "overage": Overage(vehicles="5.00", drivers="2.00", trips="0.02")},
)

# company, contact, country, fleet size, source, lead status, priority, deal (stage, value,
# plan) or None, contract ("draft"/"sent") or None
_PIPELINE: tuple[tuple[Any, ...], ...] = (
    ("Azur Chauffeurs", "Camille Roux", "FR", 12, "website", LeadStatus.NEW,
     LeadPriority.NORMAL, None, None),
    ("Riviera Drive SAS", "Mehdi Benali", "FR", 30, "referral", LeadStatus.CONTACTED,
     LeadPriority.HIGH, None, None),
    ("Lyon Premium Cars", "Sophie Garnier", "FR", 45, "event", LeadStatus.QUALIFIED,
     LeadPriority.HIGH, (OpportunityStage.PROPOSAL, "2988.00", "fleet"), None),
    ("Bordeaux VTC Services", "Julien Martin", "FR", 8, "website", LeadStatus.QUALIFIED,
     LeadPriority.NORMAL, (OpportunityStage.NEGOTIATION, "948.00", "starter"), "draft"),
    ("Nantes Mobilité", "Claire Petit", "FR", 25, "partner", LeadStatus.QUALIFIED,
     LeadPriority.URGENT, (OpportunityStage.NEGOTIATION, "2988.00", "fleet"), "sent"),
    ("Manchester Executive Cars", "Oliver Hughes", "GB", 40, "website", LeadStatus.QUALIFIED,
     LeadPriority.NORMAL, (OpportunityStage.PROSPECTING, "2628.00", "fleet_uk"), None),
    ("Lille Transport Express", "Thomas Leroy", "FR", 3, "cold call",
     LeadStatus.DISQUALIFIED, LeadPriority.LOW, None, None),
)


@dataclass(frozen=True, slots=True)
class ProviderDemo:
    """What the provider side of the demo wrote."""

    plans: int
    leads: int
    opportunities: int
    contracts: int


def write_provider_demo(session: Session, today: date) -> ProviderDemo:
    """Plans and the sales pipeline, in the caller's transaction (provider context bound).

    Plans whose code exists already are reused (a database that had plans before the demo),
    so loading never fails on them.
    """
    plans: dict[str, uuid.UUID] = {}
    created = 0
    for spec in PLANS:
        existing = session.scalar(select(BillingPlan.id).where(
            BillingPlan.code == spec["code"]).order_by(BillingPlan.plan_version.desc()))
        if existing is None:
            existing = billing.create_plan(session, DEMO_ACTOR, PlanCreate(**spec)).id
            created += 1
        plans[spec["code"]] = existing
    opportunities = contracts = 0
    for n, (company, contact, country, size, source, status, priority, deal,
            contract) in enumerate(_PIPELINE):
        slug = company.lower().replace(" ", "-").replace("é", "e")
        lead = crm.create_lead(session, DEMO_ACTOR, LeadCreate(
            company_name=company, contact_name=contact, country=country, fleet_size=size,
            email=f"contact@{slug}.example", source=source,
            status=LeadStatus.NEW if deal else status, priority=priority,
            disqualification_reason=("Three cars, all owner-driven: not a fleet yet."
                                     if status is LeadStatus.DISQUALIFIED else None)))
        if deal is None:
            continue
        stage, value, plan = deal
        currency = "GBP" if country == "GB" else "EUR"
        opportunity = crm.create_opportunity(session, DEMO_ACTOR, OpportunityCreate(
            lead_id=lead.id, name=f"{size} cars, yearly", stage=stage,
            expected_value=MoneyIn(amount=value, currency=currency),
            expected_close_on=today + timedelta(days=14 + 7 * n),
            proposed_plan_id=plans[plan]))
        opportunities += 1
        if contract is None:
            continue
        made = crm.create_contract(session, DEMO_ACTOR, ContractCreate(
            opportunity_id=opportunity.id, signatory_name=contact,
            starts_on=today.replace(day=1) + timedelta(days=40),
            customer_vat_number=None))
        if contract == "sent":
            crm.update_contract(session, DEMO_ACTOR, made.id, ContractUpdate(status="sent"),
                                if_match=None)
        contracts += 1
    return ProviderDemo(plans=created, leads=len(_PIPELINE), opportunities=opportunities,
                        contracts=contracts)
