"""Fleetcore staff's billing pages (``/app/provider/...``, no fleet open): plans and their
versions (publishing one, with If-Match from the form), every fleet's subscription, invoices
(lines, Stripe links) and usage per period; members reach none of them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from html import unescape
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from api_support import PROVIDER_ORG, Staff
from fleet_support import Fleet
from fleetcore.billing import service
from fleetcore.billing.schemas import PlanCreate
from fleetcore.core.db import DbContext, context_session
from web_support import Browser

JAN = datetime(2026, 1, 1, tzinfo=UTC)


def _system(sessions: sessionmaker[Session]) -> Any:
    return context_session(sessions, DbContext.system())


def _billed_fleet(sessions: sessionmaker[Session], fleet: Fleet) -> tuple[str, uuid.UUID]:
    """The fleet on a new plan since Jan 1, January closed (usage, invoice, number), its
    payment failed; (plan code, invoice id)."""
    code = f"p{uuid.uuid4().hex[:12]}"
    at = datetime(2026, 2, 2, tzinfo=UTC)
    with _system(sessions) as session:
        service.create_plan(session, None, PlanCreate.model_validate({
            "code": code, "name": f"Plan {code}",
            "monthly_fee": {"amount": "49.00", "currency": "EUR"},
            "included": {"vehicles": 0}, "overage": {"vehicles": "3.00"}}))
        service.subscribe(session, None, fleet.world.id, code, now=JAN)
        invoice = service.advance_subscription(session, fleet.world.id, now=at)[0]
        service.finalise_invoice(session, fleet.world.id, invoice.id, now=at)
        session.execute(text(
            "UPDATE bil_tenant_invoices SET hosted_invoice_url = :h WHERE id = :i"),
            {"h": f"https://invoice.stripe.com/i/{invoice.id}", "i": invoice.id})
        service.mark_past_due(session, fleet.world.id, at=datetime(2026, 11, 2, tzinfo=UTC),
                              reason="card declined", grace=service.grace_period(14))
    return code, invoice.id


def _staff(browser: Browser, token: Callable[..., str], make_staff: Callable[..., Staff],
           permissions: list[str] | None = None) -> Browser:
    browser.sign_in(token(make_staff(permissions).user_id, PROVIDER_ORG))
    return browser


def test_staff_see_every_fleets_subscription_invoices_and_usage(
    fleet: Fleet, other_fleet: Fleet, browser: Browser, token: Callable[..., str],
    make_staff: Callable[..., Staff], sessions: sessionmaker[Session],
) -> None:
    vehicle = fleet.vehicle()
    fleet.sql("UPDATE flt_vehicles SET status = 'active' WHERE id = :v", v=vehicle["id"])
    code, invoice_id = _billed_fleet(sessions, fleet)
    other_code, _ = _billed_fleet(sessions, other_fleet)
    b = _staff(browser, token, make_staff)
    slug = fleet.world.slug

    home = b.get("/app/provider")
    for entry in ("Plans", "Subscriptions", "Invoices", "Usage"):
        assert f">{entry}<" in home.text

    subs = b.get(f"/app/provider/subscriptions?fleet={slug}")
    assert subs.status_code == 200, subs.text[:500]
    assert f"{code} v1" in subs.text
    assert other_code not in subs.text  # the filter keeps one fleet
    assert "past due since 2026-11-02" in subs.text
    everyone = b.get("/app/provider/subscriptions?status=past_due")
    assert code in everyone.text
    assert other_code in everyone.text

    invoices = b.get(f"/app/provider/invoices?fleet={slug}")
    assert invoices.status_code == 200
    number = f"FC-{slug.upper()}-2026-000001"
    assert number in invoices.text
    assert f"https://invoice.stripe.com/i/{invoice_id}" in invoices.text
    one = b.get(f"/app/provider/invoices/{invoice_id}")
    assert one.status_code == 200
    assert "Monthly subscription" in one.text
    assert "Overage: active vehicles" in one.text  # one active vehicle, none included
    assert fleet.world.slug in one.text
    assert b.get(f"/app/provider/invoices/{uuid.uuid4()}").status_code == 404

    usage = b.get(f"/app/provider/usage?fleet={slug}&period=2026-01-15")
    assert usage.status_code == 200
    row = usage.text.split(f'id="usage-{fleet.world.id}-2026-01-01"', 1)[1].split("</tr>")[0]
    assert ">1<" in row  # the active vehicle
    assert "Not yet" in row
    assert 'id="usage-' not in b.get(
        f"/app/provider/usage?fleet={slug}&period=2025-06-01").text
    assert b.get("/app/provider/usage?fleet=no-such-fleet").status_code == 404
    assert b.get("/app/provider/usage?period=June").status_code == 400


def test_staff_publish_a_new_plan_version_from_its_page(
    browser: Browser, token: Callable[..., str], make_staff: Callable[..., Staff],
    sessions: sessionmaker[Session],
) -> None:
    code = f"v{uuid.uuid4().hex[:12]}"
    with _system(sessions) as session:
        plan = service.create_plan(session, None, PlanCreate.model_validate({
            "code": code, "name": "Starter", "monthly_fee": {"amount": "29.00",
                                                             "currency": "EUR"},
            "included": {"vehicles": 5}}))
        plan_id, version = plan.id, plan.version
    b = _staff(browser, token, make_staff)
    listed = b.get(f"/app/provider/plans?code={code}")
    assert listed.status_code == 200
    assert f'id="plan-{plan_id}"' in listed.text
    page = f"/app/provider/plans/{plan_id}"
    shown = b.get(page)
    assert "Publish version 2" in shown.text
    form = {"name": "Starter", "monthly_fee": "35,00", "trial_days": "0",
            "included_vehicles": "5", "overage_vehicles": "4.50", "version": str(version)}

    bad = b.post(f"{page}/versions", {**form, "monthly_fee": "lots"}, page=page)
    assert bad.status_code == 422
    stale = b.post(f"{page}/versions", {**form, "version": str(version + 7)}, page=page)
    assert stale.status_code == 412

    published = b.post(f"{page}/versions", form, page=page)
    assert published.status_code == 303, published.text[:500]
    new_page = published.headers["location"]
    shown = unescape(b.get(new_page).text)
    assert "v2" in shown
    assert "Publish version 3" in shown
    with _system(sessions) as session:
        rows = session.execute(text(
            "SELECT plan_version, status, monthly_fee, overage_vehicle_price"
            " FROM bil_billing_plans WHERE code = :c ORDER BY plan_version"), {"c": code}).all()
    assert [tuple(r) for r in rows] == [(1, "archived", 29, None), (2, "active", 35, 4.5)]
    # The archived version offers no form: versions are published from the offered one.
    assert "Publish version" not in b.get(page).text


def test_staff_without_the_permission_and_members_reach_none_of_them(
    fleet: Fleet, browser: Browser, token: Callable[..., str],
    make_staff: Callable[..., Staff], signed_in: Callable[..., Browser],
) -> None:
    pages = ("/app/provider/plans", "/app/provider/subscriptions", "/app/provider/invoices",
             "/app/provider/usage")
    reader = _staff(browser, token, make_staff, ["tenants:read"])
    for path in pages:
        assert reader.get(path).status_code == 403, path
    assert ">Plans<" not in reader.get("/app/provider").text
    member = signed_in(fleet.world)
    for path in pages:
        assert member.get(path).status_code == 403, path
