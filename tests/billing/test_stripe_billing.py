"""Stripe Billing against a local fake speaking Stripe's wire format (the real SDK in front):
usage goes to meters once per usage row, whatever the reruns; ``/webhooks/stripe`` billing
events are verified, recorded once by event id, order-tolerant, and drive dunning
(past_due → suspended → active, each with its lifecycle event)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from api_support import TenantWorld
from fleetcore.app import create_app
from fleetcore.billing import service
from fleetcore.billing.reporting import mirror_invoice, report_usage
from fleetcore.billing.schemas import PlanCreate
from fleetcore.core.db import DbContext, bind_context, context_session
from fleetcore.core.errors import Conflict
from fleetcore.integrations.stripe.billing import StripeInvoices, StripeMeters
from fleetcore.settings import Settings
from json_http_fake import JsonHandler, serving

SECRET = "whsec_test_billing_secret"
JAN = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class FakeStripe:
    """``POST /v1/billing/meter_events`` as Stripe answers it (an identifier counts once), and
    invoices, invoice items and finalisation (a repeated idempotency key answers the first
    result)."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    events: dict[str, dict[str, str]] = field(default_factory=dict)
    by_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    url: str = ""


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
            form = dict(urllib.parse.parse_qsl(body))
            fake.requests.append({"path": self.path, "form": form,
                                  "key": self.headers.get("idempotency-key", "")})
            key = self.headers.get("idempotency-key", "")
            if key and key in fake.by_key:
                self._answer(200, fake.by_key[key])
                return
            if self.path in ("/v1/invoices", "/v1/invoiceitems") or (
                    self.path.startswith("/v1/invoices/") and self.path.endswith("/finalize")):
                fake.by_key[key] = self._invoicing(form)
                self._answer(200, fake.by_key[key])
                return
            if self.path != "/v1/billing/meter_events":
                self._answer(404, {"error": {"type": "invalid_request_error",
                                             "message": f"Unrecognized request URL {self.path}"}})
                return
            fake.events.setdefault(form["identifier"], form)
            self._answer(200, {"object": "billing.meter_event", "created": int(time.time()),
                               "event_name": form["event_name"],
                               "identifier": form["identifier"], "livemode": False,
                               "payload": {"stripe_customer_id":
                                           form["payload[stripe_customer_id]"],
                                           "value": form["payload[value]"]},
                               "timestamp": int(form["timestamp"])})

        def _invoicing(self, form: dict[str, str]) -> dict[str, Any]:
            if self.path == "/v1/invoices":
                invoice_id = f"in_{uuid.uuid4().hex[:16]}"
                fake.invoices[invoice_id] = {
                    "id": invoice_id, "object": "invoice", "status": "draft",
                    "customer": form["customer"], "currency": form["currency"],
                    "number": form.get("number"), "total": 0, "lines": [],
                    "metadata": {k[9:-1]: v for k, v in form.items()
                                 if k.startswith("metadata[")},
                    "hosted_invoice_url": None, "invoice_pdf": None}
                return fake.invoices[invoice_id]
            if self.path == "/v1/invoiceitems":
                invoice = fake.invoices[form["invoice"]]
                item = {"id": f"ii_{uuid.uuid4().hex[:16]}", "object": "invoiceitem",
                        "amount": int(form["amount"]), "invoice": invoice["id"],
                        "description": form["description"]}
                invoice["lines"].append(item)
                invoice["total"] += item["amount"]
                return item
            invoice = fake.invoices[self.path.split("/")[3]]
            invoice.update(status="open",
                           hosted_invoice_url=f"https://invoice.stripe.com/i/{invoice['id']}",
                           invoice_pdf=f"https://pay.stripe.com/invoice/{invoice['id']}/pdf")
            return invoice

    return Handler


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    with serving(_handler(fake)) as url:
        fake.url = url
        yield fake


@pytest.fixture(scope="module")
def stripe_client(api_settings: Settings, app_engine: Engine,
                  fake_stripe: FakeStripe) -> Iterator[TestClient]:
    settings = api_settings.model_copy(update={
        "stripe_api_key": "sk_test_billing", "stripe_webhook_secret": SECRET,
        "stripe_api_base": fake_stripe.url})
    app: FastAPI = create_app(settings, app_engine)
    with TestClient(app) as client:
        yield client


def _signed(payload: dict[str, Any], *, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload)
    stamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return body.encode(), {"Stripe-Signature": f"t={stamp},v1={signature}",
                           "content-type": "application/json"}


def _event(kind: str, obj: dict[str, Any], *, created: int) -> dict[str, Any]:
    return {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "api_version": "2026-10-28",
            "created": created, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": kind,
            "data": {"object": obj}}


def _post(client: TestClient, event: dict[str, Any], **options: Any) -> Any:
    body, headers = _signed(event, **options)
    return client.post("/webhooks/stripe", content=body, headers=headers)


def _system(sessions: sessionmaker[Session]) -> Any:
    return context_session(sessions, DbContext.system())


@dataclass
class Billed:
    tenant: TenantWorld
    customer: str
    invoice_id: uuid.UUID
    stripe_invoice: str


def _billed(sessions: sessionmaker[Session], world: TenantWorld) -> Billed:
    """A tenant with a Stripe customer, an active subscription and one open invoice (its
    Stripe twin known by id)."""
    tag = uuid.uuid4().hex[:12]
    customer, stripe_invoice = f"cus_{tag}", f"in_{tag}"
    with _system(sessions) as session:
        session.execute(text("UPDATE adm_tenants SET stripe_customer_id = :c, status = 'active'"
                             " WHERE id = :t"), {"c": customer, "t": world.id})
        code = f"w{tag}"
        service.create_plan(session, None, PlanCreate.model_validate({
            "code": code, "name": code, "monthly_fee": {"amount": "120.00", "currency": "EUR"}}))
        service.subscribe(session, None, world.id, code, now=JAN)
        invoice = service.advance_subscription(session, world.id,
                                               now=datetime(2026, 2, 2, tzinfo=UTC))[0]
        service.finalise_invoice(session, world.id, invoice.id)
        invoice.stripe_invoice_id = stripe_invoice
    return Billed(world, customer, invoice.id, stripe_invoice)


def _invoice_obj(billed: Billed, status: str, **extra: Any) -> dict[str, Any]:
    return {"id": billed.stripe_invoice, "object": "invoice", "customer": billed.customer,
            "status": status, "amount_paid": 12000 if status == "paid" else 0,
            "amount_due": 12000, "currency": "eur",
            "hosted_invoice_url": f"https://invoice.stripe.com/i/{billed.stripe_invoice}",
            "invoice_pdf": f"https://pay.stripe.com/invoice/{billed.stripe_invoice}/pdf",
            "metadata": {"tenant_id": str(billed.tenant.id),
                         "invoice_id": str(billed.invoice_id)}, **extra}


def _state(sessions: sessionmaker[Session], billed: Billed) -> tuple[Any, ...]:
    with _system(sessions) as session:
        return tuple(session.execute(text(
            "SELECT t.status, s.status, i.status FROM adm_tenants t"
            " JOIN bil_tenant_subscriptions s ON s.tenant_id = t.id AND s.status <> 'cancelled'"
            " JOIN bil_tenant_invoices i ON i.tenant_id = t.id AND i.id = :i WHERE t.id = :t"),
            {"t": billed.tenant.id, "i": billed.invoice_id}).one())


def _events(sessions: sessionmaker[Session], tenant: uuid.UUID) -> list[str]:
    with _system(sessions) as session:
        return list(session.scalars(text(
            "SELECT event_type FROM adm_tenant_lifecycle_events WHERE tenant_id = :t"
            " ORDER BY created_at, id"), {"t": tenant}))


# --- usage to meters -----------------------------------------------------------------------


def test_usage_reported_twice_counts_once(
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
    fake_stripe: FakeStripe,
) -> None:
    world = make_tenant(trial_days=0)
    billed = _billed(sessions, world)
    meters = StripeMeters("sk_test_billing", api_base=fake_stripe.url, max_network_retries=0)
    now = datetime(2026, 2, 3, tzinfo=UTC)
    before = len(fake_stripe.requests)
    # A run that dies after Stripe accepted its events, before its commit: nothing is marked.
    with sessions() as session:
        bind_context(session, DbContext.system())
        session.begin()
        assert report_usage(session, meters, world.id, now=now) == 4
        session.rollback()  # the process died here
    with _system(sessions) as session:
        assert report_usage(session, meters, world.id, now=now) == 4
    with _system(sessions) as session:
        assert report_usage(session, meters, world.id, now=now) == 0
        # Recomputing a reported period changes nothing.
        service.compute_usage(session, world.id, JAN, datetime(2026, 2, 1, tzinfo=UTC))
        rows = session.execute(text(
            "SELECT id, stripe_meter_event_id, reported_at FROM bil_tenant_usage_metrics"
            " WHERE tenant_id = :t"), {"t": world.id}).all()
    sent = fake_stripe.requests[before:]
    assert len(sent) == 8  # 4 sent by the run that died, the same 4 again
    assert {r["key"] for r in sent} == {f"usage-{r.id}" for r in rows}
    assert {r["form"]["identifier"] for r in sent} == {r.stripe_meter_event_id for r in rows}
    counted = [e for k, e in fake_stripe.events.items() if k in {r["key"] for r in sent}]
    assert len(counted) == 4  # Stripe counts each identifier once
    assert {e["payload[stripe_customer_id]"] for e in counted} == {billed.customer}
    assert all(r.reported_at == now for r in rows)


def test_a_finalised_invoice_goes_to_stripe_once_with_our_number_and_lines(
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
    fake_stripe: FakeStripe,
) -> None:
    world = make_tenant(trial_days=0)
    tag = uuid.uuid4().hex[:12]
    with _system(sessions) as session:
        session.execute(text("UPDATE adm_tenants SET stripe_customer_id = :c WHERE id = :t"),
                        {"c": f"cus_{tag}", "t": world.id})
        code = f"m{tag}"
        service.create_plan(session, None, PlanCreate.model_validate({
            "code": code, "name": code, "monthly_fee": {"amount": "99.99", "currency": "EUR"},
            "included": {"trips": 0}, "overage": {"trips": "0.0333"}}))
        service.subscribe(session, None, world.id, code, now=JAN)
        invoice = service.advance_subscription(session, world.id,
                                               now=datetime(2026, 2, 2, tzinfo=UTC))[0]
        mirror = StripeInvoices("sk_test_billing", api_base=fake_stripe.url,
                                max_network_retries=0)
        with pytest.raises(Conflict):
            mirror_invoice(session, mirror, world.id, invoice.id)  # a draft stays ours
        final = service.finalise_invoice(session, world.id, invoice.id)
        number, total = final.invoice_number, final.total
    # The first push dies before its commit; the rerun reuses every key.
    with sessions() as session:
        bind_context(session, DbContext.system())
        session.begin()
        first = mirror_invoice(session, mirror, world.id, invoice.id)
        session.rollback()
    with _system(sessions) as session:
        second = mirror_invoice(session, mirror, world.id, invoice.id)
    with _system(sessions) as session:
        assert mirror_invoice(session, mirror, world.id, invoice.id) is None  # already there
        row = session.execute(text(
            "SELECT stripe_invoice_id, hosted_invoice_url, invoice_pdf_url, metadata"
            " FROM bil_tenant_invoices WHERE tenant_id = :t AND id = :i"),
            {"t": world.id, "i": invoice.id}).one()
    assert first is not None
    assert second == first
    twins = [i for i in fake_stripe.invoices.values()
             if i["metadata"].get("invoice_id") == str(invoice.id)]
    assert len(twins) == 1
    twin = twins[0]
    assert (twin["id"], twin["number"], twin["status"]) == (row.stripe_invoice_id, number, "open")
    # Decision 0013: the twin carries our number (and says so in its metadata); Stripe shows
    # no number of its own, so no external reference is kept.
    assert twin["metadata"]["fleetcore_number"] == number
    assert "stripe_number" not in row.metadata
    assert twin["total"] == int(total * 100)
    assert len(twin["lines"]) == 1
    assert row.hosted_invoice_url == twin["hosted_invoice_url"]
    assert row.invoice_pdf_url == twin["invoice_pdf"]


# --- webhooks ------------------------------------------------------------------------------


def test_a_number_stripe_shows_that_is_not_ours_is_kept_as_a_reference_only(
    stripe_client: TestClient, sessions: sessionmaker[Session],
    make_tenant: Callable[..., TenantWorld],
) -> None:
    billed = _billed(sessions, make_tenant(trial_days=0))
    with _system(sessions) as session:
        ours = session.scalar(text("SELECT invoice_number FROM bil_tenant_invoices"
                                   " WHERE tenant_id = :t AND id = :i"),
                              {"t": billed.tenant.id, "i": billed.invoice_id})
    t0 = int(datetime(2026, 2, 3, tzinfo=UTC).timestamp())
    same = _event("invoice.updated", _invoice_obj(billed, "open", number=ours), created=t0)
    other = _event("invoice.updated", _invoice_obj(billed, "open", number="A1B2C3D4-0001"),
                   created=t0 + 60)
    for event in (same, other):
        assert _post(stripe_client, event).json() == {"status": "processed"}
    with _system(sessions) as session:
        row = session.execute(text(
            "SELECT invoice_number, metadata ->> 'stripe_number' AS theirs"
            " FROM bil_tenant_invoices WHERE tenant_id = :t AND id = :i"),
            {"t": billed.tenant.id, "i": billed.invoice_id}).one()
    assert tuple(row) == (ours, "A1B2C3D4-0001")


def test_bad_signature_is_400_and_an_unconfigured_secret_503(
    stripe_client: TestClient, api_settings: Settings, app_engine: Engine,
    sessions: sessionmaker[Session], make_tenant: Callable[..., TenantWorld],
) -> None:
    billed = _billed(sessions, make_tenant(trial_days=0))
    event = _event("invoice.payment_failed", _invoice_obj(billed, "open"), created=1)
    refused = _post(stripe_client, event, secret="whsec_wrong")
    assert refused.status_code == 400
    assert refused.json()["type"].endswith("invalid-signature")
    app = create_app(api_settings.model_copy(update={"stripe_webhook_secret": None}), app_engine)
    with TestClient(app) as unconfigured:
        assert _post(unconfigured, event).status_code == 503
    # Neither was recorded nor applied.
    assert _state(sessions, billed) == ("active", "active", "open")
    with _system(sessions) as session:
        assert session.scalar(text("SELECT count(*) FROM adm_webhook_deliveries"
                                   " WHERE delivery_id = :d"), {"d": event["id"]}) == 0


def test_dunning_past_due_then_suspended_then_reactivated_with_lifecycle_events(
    stripe_client: TestClient, sessions: sessionmaker[Session],
    make_tenant: Callable[..., TenantWorld], auth: Callable[..., Any],
) -> None:
    world = make_tenant(trial_days=0)
    billed = _billed(sessions, world)
    t0 = int(datetime(2026, 2, 20, tzinfo=UTC).timestamp())
    failed = _event("invoice.payment_failed", _invoice_obj(billed, "open"), created=t0)
    assert _post(stripe_client, failed).json() == {"status": "processed"}
    assert _state(sessions, billed) == ("past_due", "past_due", "open")
    # Replayed: recorded once, nothing changes.
    assert _post(stripe_client, failed).json() == {"status": "duplicate"}
    assert _events(sessions, world.id).count("past_due") == 1
    # Past due is still usable; after the grace period the fleet is suspended (read-only).
    assert stripe_client.post("/v1/billing/subscription", json={"plan_code": "x"},
                              headers=auth(world)).status_code != 403
    with _system(sessions) as session:
        since = datetime.fromtimestamp(t0, UTC)
        grace = service.grace_period(14)
        assert service.suspend_overdue(session, now=since + timedelta(days=13), grace=grace) == 0
        assert service.suspend_overdue(session, now=since + timedelta(days=15), grace=grace) >= 1
    assert _state(sessions, billed) == ("suspended", "past_due", "open")
    refused = stripe_client.post("/v1/billing/subscription", json={"plan_code": "x"},
                                 headers=auth(world))
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("tenant-suspended")
    paid = _event("invoice.paid", _invoice_obj(billed, "paid"), created=t0 + 86400 * 16)
    assert _post(stripe_client, paid).json() == {"status": "processed"}
    assert _state(sessions, billed) == ("active", "active", "paid")
    assert _events(sessions, world.id)[-3:] == ["past_due", "suspended", "reactivated"]
    with _system(sessions) as session:
        row = session.execute(text(
            "SELECT amount_paid, paid_at, hosted_invoice_url, invoice_pdf_url"
            " FROM bil_tenant_invoices WHERE tenant_id = :t AND id = :i"),
            {"t": world.id, "i": billed.invoice_id}).one()
    assert str(row.amount_paid) == "120.0000"
    assert row.hosted_invoice_url.endswith(billed.stripe_invoice)
    assert row.invoice_pdf_url.endswith("/pdf")


def test_reordered_events_leave_the_state_of_the_latest(
    stripe_client: TestClient, sessions: sessionmaker[Session],
    make_tenant: Callable[..., TenantWorld],
) -> None:
    world = make_tenant(trial_days=0)
    billed = _billed(sessions, world)
    t0 = int(datetime(2026, 2, 20, tzinfo=UTC).timestamp())
    # The payment succeeded on retry; the earlier failure is delivered after it.
    paid = _event("invoice.paid", _invoice_obj(billed, "paid"), created=t0 + 3600)
    failed = _event("invoice.payment_failed", _invoice_obj(billed, "open"), created=t0)
    finalized = _event("invoice.finalized", _invoice_obj(billed, "open"), created=t0 - 60)
    for event in (paid, failed, finalized):
        assert _post(stripe_client, event).status_code == 200
    assert _state(sessions, billed) == ("active", "active", "paid")
    assert "past_due" not in _events(sessions, world.id)


def test_unknown_types_and_unknown_objects_are_acknowledged_recorded_and_ignored(
    stripe_client: TestClient, sessions: sessionmaker[Session],
    make_tenant: Callable[..., TenantWorld],
) -> None:
    world = make_tenant(trial_days=0)
    billed = _billed(sessions, world)
    events = [
        _event("balance.available", {"object": "balance"}, created=1),
        _event("invoice.paid", {"id": "in_nobodyknows", "object": "invoice",
                                "customer": "cus_nobody", "metadata": {}}, created=1),
        _event("customer.subscription.deleted", {"id": "sub_nobodyknows",
                                                 "object": "subscription"}, created=1),
        _event("payment_method.attached", {"id": "pm_nobody", "object": "payment_method",
                                           "type": "card", "customer": "cus_nobody"}, created=1),
    ]
    for event in events:
        answer = _post(stripe_client, event)
        assert answer.status_code == 200
        assert answer.json() == {"status": "ignored"}
    with _system(sessions) as session:
        recorded = session.execute(text(
            "SELECT delivery_id, status FROM adm_webhook_deliveries WHERE provider = 'stripe'"
            " AND delivery_id = ANY(:ids)"), {"ids": [e["id"] for e in events]}).all()
    assert sorted(r.status for r in recorded) == ["ignored"] * 4
    # A customer event about a known customer, and a card it attached, are kept.
    assert _post(stripe_client, _event("customer.updated", {"id": billed.customer,
                                                            "object": "customer"},
                                       created=2)).json() == {"status": "processed"}
    card = {"id": f"pm_{uuid.uuid4().hex[:12]}", "object": "payment_method", "type": "card",
            "customer": billed.customer,
            "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030}}
    assert _post(stripe_client, _event("payment_method.attached", card,
                                       created=3)).json() == {"status": "processed"}
    assert _post(stripe_client, _event("payment_method.detached", {**card, "customer": None},
                                       created=5)).json() == {"status": "processed"}
    # An older update delivered late does not bring the detached card back.
    _post(stripe_client, _event("payment_method.updated", {
        **card, "card": {**card["card"], "exp_year": 2031}}, created=4))
    with _system(sessions) as session:
        method = session.execute(text(
            "SELECT status, last4, exp_year FROM bil_payment_methods WHERE tenant_id = :t"),
            {"t": world.id}).one()
    assert tuple(method) == ("detached", "4242", 2030)
