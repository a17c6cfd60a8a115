"""Stripe Connect payouts: transfers carry an idempotency key derived from the payment id
(the SDK talks to a local fake speaking Stripe's wire format), and ``/webhooks/stripe`` is
verified, recorded once, and order-independent: a replayed or reordered event changes
nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from payout_fixtures import committed_fleet, draft
from sqlalchemy import Engine

from api_support import TenantWorld, if_match
from fleetcore.app import create_app
from fleetcore.core.db import DbContext, context_session
from fleetcore.finance import payout_service as service
from fleetcore.finance.models import PaymentBatchMethod
from fleetcore.settings import Settings
from json_http_fake import JsonHandler, serving

SECRET = "whsec_test_payouts_secret"
BATCHES = "/v1/driver-payment-batches"


@dataclass
class FakeStripe:
    """``POST /v1/transfers`` as Stripe answers it, idempotency keys included."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    by_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    url: str = ""


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
            form = dict(urllib.parse.parse_qsl(body))
            key = self.headers.get("idempotency-key", "")
            fake.requests.append({"path": self.path, "form": form, "key": key,
                                  "auth": self.headers.get("authorization")})
            if form.get("destination") == "acct_refused":
                self._answer(400, {"error": {"type": "invalid_request_error",
                                             "message": "No such destination: acct_refused"}})
                return
            if key not in fake.by_key:
                fake.by_key[key] = {
                    "id": "tr_" + hashlib.sha256(key.encode()).hexdigest()[:24],
                    "object": "transfer", "amount": int(form["amount"]),
                    "currency": form["currency"], "destination": form["destination"],
                    "reversed": False, "metadata": {k[9:-1]: v for k, v in form.items()
                                                    if k.startswith("metadata[")}}
            self._answer(200, fake.by_key[key])

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
        "stripe_api_key": "sk_test_payouts", "stripe_webhook_secret": SECRET,
        "stripe_api_base": fake_stripe.url})
    app: FastAPI = create_app(settings, app_engine)
    with TestClient(app) as client:
        yield client


def _signed(payload: dict[str, Any] | str, *, at: int | None = None,
            secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    stamp = int(time.time()) if at is None else at
    signature = hmac.new(secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return body.encode(), {"Stripe-Signature": f"t={stamp},v1={signature}",
                           "content-type": "application/json"}


def _event(kind: str, obj: dict[str, Any], *, created: int = 1_795_550_000,
           **extra: Any) -> dict[str, Any]:
    return {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "api_version": "2026-10-28",
            "created": created, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": kind,
            "data": {"object": obj}, **extra}


def _post(client: TestClient, event: dict[str, Any] | str, **options: Any) -> Any:
    body, headers = _signed(event, **options)
    return client.post("/webhooks/stripe", content=body, headers=headers)


def _stripe_batch(sessions: Any, world: TenantWorld, accounts: list[str],
                  amounts: list[str]) -> tuple[Any, list[Any], Any]:
    fleet = committed_fleet(sessions, world.id)
    drivers = []
    for n, (acct, amount) in enumerate(zip(accounts, amounts, strict=True)):
        driver = fleet.driver(f"D{n}")
        fleet.owe(driver, amount)
        fleet.insert("fin_accounts", owner_type="driver", driver_id=driver,
                     kind="stripe_connect", name="Stripe", currency="EUR",
                     stripe_account_id=acct, allow_negative=True)
        drivers.append(driver)
    with context_session(sessions, DbContext.for_tenant(world.id)) as session:
        batch = service.draft_batch(session, fleet.actor,
                                    data=draft(PaymentBatchMethod.STRIPE_CONNECT))
    return fleet, drivers, batch


def _payment(fleet: Any, driver: Any) -> Any:
    return fleet.sql("SELECT * FROM fin_driver_payments WHERE tenant_id = :t AND driver_id = :d",
                     t=fleet.tenant_id, d=driver)[0]


def test_transfers_are_keyed_by_payment_and_post_once(
    stripe_client: TestClient, fake_stripe: FakeStripe, sessions: Any, tenant_a: TenantWorld,
    auth: Any,
) -> None:
    tag = uuid.uuid4().hex[:8]
    fleet, drivers, batch = _stripe_batch(
        sessions, tenant_a, [f"acct_ok{tag}", "acct_refused"], ["80.25", "10.00"])
    owner = auth(tenant_a, "owner")
    url = f"{BATCHES}/{batch.id}"
    approved = stripe_client.post(f"{url}/approve", headers=if_match(stripe_client, url, owner))
    assert approved.status_code == 200, approved.text
    before = len(fake_stripe.requests)
    sent = stripe_client.post(f"{url}/transfers", headers=if_match(stripe_client, url, owner))
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "partially_failed"
    paid, refused = _payment(fleet, drivers[0]), _payment(fleet, drivers[1])
    assert paid.status == "paid"
    assert refused.status == "failed"
    assert "No such destination" in refused.failure_reason
    calls = fake_stripe.requests[before:]
    ok = next(c for c in calls if c["form"]["destination"] == f"acct_ok{tag}")
    assert ok["key"] == f"fleetcore-payment-{paid.id}-1"
    assert ok["form"]["amount"] == "8025"
    assert ok["form"]["metadata[payment_id]"] == str(paid.id)
    assert paid.stripe_transfer_id == fake_stripe.by_key[ok["key"]]["id"]
    assert fleet.balance(drivers[0]) == 0
    assert fleet.balance(drivers[1]) == Decimal("10.00")
    # Sending again sends nothing: no pending payment is left.
    again = stripe_client.post(f"{url}/transfers", headers=if_match(stripe_client, url, owner))
    assert again.status_code == 200
    assert len(fake_stripe.requests) == before + len(calls)


def test_webhook_replays_and_reordering_change_nothing(
    stripe_client: TestClient, sessions: Any, tenant_a: TenantWorld, read_system: Any,
) -> None:
    tag = uuid.uuid4().hex[:8]
    fleet, drivers, batch = _stripe_batch(sessions, tenant_a, [f"acct_a{tag}", f"acct_b{tag}"],
                                          ["50.00", "30.00"])
    with context_session(sessions, DbContext.for_tenant(tenant_a.id)) as session:
        service.approve_batch(session, fleet.actor, batch.id, None)
    first, second = _payment(fleet, drivers[0]), _payment(fleet, drivers[1])
    meta = {"tenant_id": str(tenant_a.id)}
    # The transfer for the first payment was made but its request never recorded it: the
    # webhook does. Delivered twice, it pays once.
    created = _event("transfer.created", {"id": f"tr_{tag}a", "object": "transfer",
                                          "reversed": False,
                                          "metadata": {**meta, "payment_id": str(first.id)}})
    assert _post(stripe_client, created).json() == {"status": "processed"}
    assert _post(stripe_client, created).json() == {"status": "duplicate"}
    assert _payment(fleet, drivers[0]).status == "paid"
    assert fleet.balance(drivers[0]) == 0
    # Later reversed: the posting is reversed once, whatever the redeliveries.
    reversed_ = _event("transfer.reversed", {"id": f"tr_{tag}a", "object": "transfer",
                                             "reversed": True, "metadata": meta})
    assert _post(stripe_client, reversed_).json() == {"status": "processed"}
    assert _post(stripe_client, reversed_).json() == {"status": "duplicate"}
    again = _event("transfer.updated", {"id": f"tr_{tag}a", "object": "transfer",
                                        "reversed": True, "metadata": meta})
    assert _post(stripe_client, again).json() == {"status": "ignored"}
    assert _payment(fleet, drivers[0]).status == "failed"
    assert fleet.balance(drivers[0]) == Decimal("50.00")
    # Out of order for the second payment: the reversal arrives before the creation.
    rev2 = _event("transfer.reversed", {"id": f"tr_{tag}b", "object": "transfer",
                                        "reversed": True,
                                        "metadata": {**meta, "payment_id": str(second.id)}})
    cre2 = _event("transfer.created", {"id": f"tr_{tag}b", "object": "transfer",
                                       "reversed": False,
                                       "metadata": {**meta, "payment_id": str(second.id)}})
    assert _post(stripe_client, rev2).json() == {"status": "processed"}
    assert _post(stripe_client, cre2).json() == {"status": "ignored"}
    assert _payment(fleet, drivers[1]).status == "failed"
    assert fleet.balance(drivers[1]) == Decimal("30.00")
    assert fleet.ledger_sums_to_zero()
    payouts = fleet.sql("SELECT transaction_type, count(*) FROM fin_transactions WHERE"
                        " tenant_id = :t AND payment_id IS NOT NULL GROUP BY 1",
                        t=fleet.tenant_id)
    assert dict(payouts) == {"payout": 1, "reversal": 1}
    deliveries = read_system("SELECT count(*) FROM adm_webhook_deliveries WHERE"
                             " provider = 'stripe' AND delivery_id = :d", d=created["id"])
    assert deliveries[0][0] == 1


def test_payout_events_keep_the_latest_status(
    stripe_client: TestClient, sessions: Any, tenant_a: TenantWorld,
) -> None:
    acct = f"acct_p{uuid.uuid4().hex[:8]}"
    fleet, _, _ = _stripe_batch(sessions, tenant_a, [acct], ["5.00"])
    newer = _event("payout.paid", {"id": "po_2", "object": "payout", "status": "paid"},
                   created=2_000, account=acct)
    older = _event("payout.failed", {"id": "po_1", "object": "payout", "status": "failed"},
                   created=1_000, account=acct)
    assert _post(stripe_client, newer).json() == {"status": "processed"}
    assert _post(stripe_client, older).json() == {"status": "ignored"}
    stored = fleet.sql("SELECT metadata -> 'last_payout' FROM fin_accounts"
                       " WHERE stripe_account_id = :a", a=acct)[0][0]
    assert stored["id"] == "po_2"
    assert stored["status"] == "paid"


def test_bad_deliveries_are_refused_and_leave_no_trace(
    stripe_client: TestClient, read_system: Any,
) -> None:
    event = _event("transfer.created", {"id": "tr_nobody", "object": "transfer"})
    body, headers = _signed(event, secret="whsec_wrong")
    assert stripe_client.post("/webhooks/stripe", content=body, headers=headers
                              ).status_code == 400
    assert _post(stripe_client, event, at=int(time.time()) - 3600).status_code == 400
    assert stripe_client.post("/webhooks/stripe", content=json.dumps(event)).status_code == 400
    assert _post(stripe_client, "{not json").status_code == 400
    seen = read_system("SELECT count(*) FROM adm_webhook_deliveries WHERE delivery_id = :d",
                       d=event["id"])
    assert seen[0][0] == 0
    unknown = _event("customer.created", {"id": "cus_1", "object": "customer"})
    assert _post(stripe_client, unknown).json() == {"status": "ignored"}
    nobody = _post(stripe_client, event)
    assert nobody.json() == {"status": "ignored"}
