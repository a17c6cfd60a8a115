"""CRM test helpers: a staff member's headers, a plan on offer, a lead → opportunity →
contract chain made through the API."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from crm_support import Headers, made
from fastapi.testclient import TestClient

from api_support import Staff


@pytest.fixture
def staff(make_staff: Callable[..., Staff], staff_auth: Callable[..., Headers]) -> Headers:
    """A Fleetcore employee with every permission, outside any tenant."""
    return staff_auth(make_staff())


@pytest.fixture
def plan(client: TestClient, staff: Headers) -> dict[str, Any]:
    """A plan on offer with a 30-day trial."""
    return made(client.post("/v1/billing/plans", headers=staff, json={
        "code": f"crm{uuid.uuid4().hex[:10]}", "name": "Fleet",
        "monthly_fee": {"amount": "199.00", "currency": "EUR"}, "trial_days": 30}))


@pytest.fixture
def deal(client: TestClient, staff: Headers, plan: dict[str, Any]
         ) -> Callable[..., dict[str, Any]]:
    """``deal(**contract)``: a lead (FR), its opportunity and a draft contract; the contract."""

    def make(**contract: Any) -> dict[str, Any]:
        tag = uuid.uuid4().hex[:8]
        lead = made(client.post("/v1/crm/leads", headers=staff, json={
            "company_name": f"Lumière VTC {tag}", "contact_name": "Inès Martin",
            "email": f"ines-{tag}@lumiere-vtc.fr", "country": "FR", "source": "website"}))
        opportunity = made(client.post("/v1/crm/opportunities", headers=staff, json={
            "lead_id": lead["id"], "name": "40 cars", "stage": "negotiation",
            "expected_value": {"amount": "2388.00", "currency": "EUR"},
            "expected_close_on": "2026-04-30", "proposed_plan_id": plan["id"]}))
        return made(client.post("/v1/crm/contracts", headers=staff, json={
            "opportunity_id": opportunity["id"], "starts_on": "2026-05-01",
            "customer_vat_number": "FR40123456824", **contract}))

    return make
