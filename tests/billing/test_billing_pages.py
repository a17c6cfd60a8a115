"""The console's billing page and the API's invoices and usage: the fleet's plan, invoices
(with lines) and usage; another fleet's invoice is not found; members without
``billing:read`` do not see it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from api_support import TenantWorld
from fleetcore.billing import service
from fleetcore.billing.schemas import PlanCreate
from fleetcore.core.db import DbContext, context_session
from web_support import Browser


def test_the_billing_page_shows_plan_invoices_lines_and_usage(
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
    signed_in: Callable[..., Browser],
) -> None:
    world, other = make_tenant(trial_days=0), make_tenant(trial_days=0)
    code = f"c{uuid.uuid4().hex[:12]}"
    with context_session(sessions, DbContext.system()) as session:
        service.create_plan(session, None, PlanCreate.model_validate({
            "code": code, "name": "Console plan",
            "monthly_fee": {"amount": "75.50", "currency": "EUR"},
            "included": {"drivers": 0}, "overage": {"drivers": "3.25"}}))
        session.execute(text(
            "INSERT INTO rid_drivers (tenant_id, id, first_name, last_name, status)"
            " VALUES (:t, gen_random_uuid(), 'A', 'B', 'active')"), {"t": world.id})
        service.subscribe(session, None, world.id, code,
                          now=datetime(2026, 1, 1, tzinfo=UTC))
        invoice = service.advance_subscription(session, world.id,
                                               now=datetime(2026, 2, 2, tzinfo=UTC))[0]
        number = service.finalise_invoice(session, world.id, invoice.id).invoice_number
    browser = signed_in(world)
    listing = browser.get("/app/billing")
    assert listing.status_code == 200, listing.text[:500]
    assert "Console plan" in listing.text
    assert str(number) in listing.text
    assert "78.75" in listing.text  # 75.50 + one driver beyond none included at 3.25
    detail = browser.get(f"/app/billing/invoices/{invoice.id}")
    assert detail.status_code == 200
    assert "Overage: active drivers" in detail.text
    assert "3.25" in detail.text
    # Another fleet's owner: its own (empty) page, and this invoice is not found.
    stranger = signed_in(other)
    assert "no subscription" in stranger.get("/app/billing").text
    assert stranger.get(f"/app/billing/invoices/{invoice.id}").status_code == 404
    # A viewer does not hold billing:read.
    assert signed_in(world, "viewer").get("/app/billing").status_code == 403


def test_invoices_and_usage_through_the_api_stay_in_their_fleet(
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
    client: TestClient, auth: Callable[..., dict[str, str]],
) -> None:
    world, other = make_tenant(trial_days=0), make_tenant(trial_days=0)
    code = f"a{uuid.uuid4().hex[:12]}"
    with context_session(sessions, DbContext.system()) as session:
        service.create_plan(session, None, PlanCreate.model_validate({
            "code": code, "name": code, "monthly_fee": {"amount": "12.34", "currency": "EUR"}}))
        service.subscribe(session, None, world.id, code, now=datetime(2026, 1, 1, tzinfo=UTC))
        invoice = service.advance_subscription(session, world.id,
                                               now=datetime(2026, 2, 2, tzinfo=UTC))[0]
    mine = client.get(f"/v1/billing/invoices/{invoice.id}", headers=auth(world))
    assert mine.status_code == 200
    body = mine.json()
    assert (body["status"], body["invoice_number"], body["total"]) == (
        "draft", None, {"amount": "12.34", "currency": "EUR"})
    assert [line["line_type"] for line in body["lines"]] == ["base"]
    assert mine.headers["etag"]
    assert [i["id"] for i in client.get("/v1/billing/invoices", headers=auth(world)
                                        ).json()["items"]] == [str(invoice.id)]
    usage = client.get("/v1/billing/usage", headers=auth(world)).json()["items"]
    assert sorted(u["metric"] for u in usage) == [
        "active_drivers", "active_vehicles", "distance_km", "trips"]
    # Another fleet: not found, nothing listed.
    assert client.get(f"/v1/billing/invoices/{invoice.id}", headers=auth(other)
                      ).status_code == 404
    assert client.get("/v1/billing/invoices", headers=auth(other)).json()["items"] == []
    assert client.get("/v1/billing/usage", headers=auth(other)).json()["items"] == []
