"""``POST /webhooks/resend``: Svix signatures checked, deliveries recorded once, bounces and
complaints suppress the address for the tenant that sent the message."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from svix.webhooks import Webhook

from fleetcore.app import create_app
from fleetcore.core.db import DbContext, context_session, session_factory
from fleetcore.core.orm import new_id
from fleetcore.settings import Settings

SECRET = "whsec_" + base64.b64encode(b"fleetcore-test-resend-webhook-key").decode()


@pytest.fixture
def client(app_engine: Engine) -> Iterator[TestClient]:
    settings = Settings(fleetcore_env="test", resend_webhook_secret=SECRET)
    with TestClient(create_app(settings, app_engine)) as test_client:
        yield test_client


@pytest.fixture
def sent(app_engine: Engine) -> dict[str, Any]:
    """A committed tenant with a notification Resend accepted as ``email_id``."""
    sessions = session_factory(app_engine)
    tenant, email_id = new_id(), str(uuid.uuid4())
    with context_session(sessions, DbContext.system()) as session:
        session.execute(
            text("INSERT INTO adm_tenants (id, name, slug, country, default_currency, timezone)"
                 " VALUES (:id, 'Hook Cabs', :slug, 'FR', 'EUR', 'Europe/Paris')"),
            {"id": tenant, "slug": f"hook-{tenant.hex[-12:]}"},
        )
    with context_session(sessions, DbContext.for_tenant(tenant)) as session:
        session.execute(
            text("INSERT INTO adm_notifications (tenant_id, id, entity_type, entity_id, reason,"
                 " channel, recipient_type, recipient_email, idempotency_key, status, sent_at,"
                 " provider_message_id) VALUES (:t, :id, 'document', :e, 'document_expiring',"
                 " 'email', 'external', 'driver@x.test', :key, 'sent', now(), :mid)"),
            {"t": tenant, "id": new_id(), "e": new_id(), "key": f"k-{email_id}", "mid": email_id},
        )
    return {"tenant": tenant, "email_id": email_id}


def _event(email_id: str, event_type: str = "email.bounced", tags: Any = None) -> bytes:
    return json.dumps({
        "type": event_type, "created_at": "2026-11-24T10:00:00.000Z",
        "data": {"created_at": "2026-11-24T09:59:58.000Z", "email_id": email_id,
                 "message_id": "<abc@resend.dev>", "from": "Fleetcore <no-reply@fleet.test>",
                 "to": ["driver@x.test"], "subject": "Docs expiring",
                 "bounce": {"type": "Permanent", "subType": "General", "message": "no such user"},
                 **({"tags": tags} if tags is not None else {})},
    }).encode()


def _headers(body: bytes, delivery_id: str, secret: str = SECRET) -> dict[str, str]:
    now = datetime.now(UTC)
    signature = Webhook(secret).sign(delivery_id, now, body.decode())
    return {"svix-id": delivery_id, "svix-timestamp": str(int(now.timestamp())),
            "svix-signature": signature, "content-type": "application/json"}


def _deliveries(app_engine: Engine, delivery_id: str) -> list[Any]:
    with context_session(session_factory(app_engine), DbContext.system()) as session:
        return list(session.execute(
            text("SELECT status, tenant_id, event_type FROM adm_webhook_deliveries"
                 " WHERE provider = 'resend' AND delivery_id = :id"), {"id": delivery_id}))


def _suppressions(app_engine: Engine, tenant: uuid.UUID) -> list[Any]:
    with context_session(session_factory(app_engine), DbContext.for_tenant(tenant)) as session:
        return list(session.execute(text(
            "SELECT email, reason, source_event_id, detail FROM adm_email_suppressions")))


def test_a_bad_signature_is_refused_and_nothing_is_stored(
    client: TestClient, app_engine: Engine, sent: dict[str, Any]
) -> None:
    body = _event(sent["email_id"])
    other_secret = "whsec_" + base64.b64encode(b"somebody-else").decode()
    for headers in (
        _headers(body, "msg_bad_1", secret=other_secret),
        {**_headers(body, "msg_bad_2"), "svix-signature": "v1,AAAA"},
        {"content-type": "application/json"},
    ):
        response = client.post("/webhooks/resend", content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    tampered = _headers(body, "msg_bad_3")
    response = client.post("/webhooks/resend", content=body.replace(b"driver@", b"victim@"),
                           headers=tampered)
    assert response.status_code == 400
    for delivery in ("msg_bad_1", "msg_bad_2", "msg_bad_3"):
        assert _deliveries(app_engine, delivery) == []
    assert _suppressions(app_engine, sent["tenant"]) == []


@pytest.mark.parametrize("depth", [200_000, 100])
def test_a_deeply_nested_body_with_a_valid_signature_is_400_and_stores_nothing(
    client: TestClient, app_engine: Engine, sent: dict[str, Any], depth: int
) -> None:
    body = (b'{"type": "email.bounced", "data": {"email_id": "' + sent["email_id"].encode()
            + b'", "to": ["driver@x.test"], "tags": ' + b"[" * depth + b"]" * depth + b"}}")
    delivery = f"msg_deep_{depth}"
    response = client.post("/webhooks/resend", content=body, headers=_headers(body, delivery))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "levels deep" in response.json()["detail"]
    assert _deliveries(app_engine, delivery) == []
    assert _suppressions(app_engine, sent["tenant"]) == []


def test_a_body_over_the_webhook_limit_is_413_and_stores_nothing(
    client: TestClient, app_engine: Engine, sent: dict[str, Any]
) -> None:
    from fleetcore.core.deps import MAX_WEBHOOK_BODY_BYTES

    body = (b'{"type": "email.bounced", "data": {"email_id": "' + sent["email_id"].encode()
            + b'", "to": ["driver@x.test"], "pad": "' + b"x" * MAX_WEBHOOK_BODY_BYTES + b'"}}')
    response = client.post("/webhooks/resend", content=body,
                           headers=_headers(body, "msg_too_large"))
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert _deliveries(app_engine, "msg_too_large") == []
    assert _suppressions(app_engine, sent["tenant"]) == []


@pytest.mark.parametrize("tags", [None, {"tenant_id": "x"}, [{"name": "reason", "value": "y"}]])
def test_a_signed_bounce_suppresses_the_address_once(
    client: TestClient, app_engine: Engine, sent: dict[str, Any], tags: Any
) -> None:
    body = _event(sent["email_id"], tags=tags if tags != {"tenant_id": "x"}
                  else {"tenant_id": str(sent["tenant"])})
    delivery = f"msg_{uuid.uuid4().hex}"
    first = client.post("/webhooks/resend", content=body, headers=_headers(body, delivery))
    again = client.post("/webhooks/resend", content=body, headers=_headers(body, delivery))
    assert first.status_code == 200
    assert first.json() == {"status": "processed"}
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    assert _deliveries(app_engine, delivery) == [("processed", sent["tenant"], "email.bounced")]
    (suppression,) = _suppressions(app_engine, sent["tenant"])
    assert suppression[:3] == ("driver@x.test", "bounce", delivery)
    assert "Permanent" in suppression[3]


def test_a_complaint_suppresses_and_a_delivery_is_only_recorded(
    client: TestClient, app_engine: Engine, sent: dict[str, Any]
) -> None:
    delivered = _event(sent["email_id"], "email.delivered")
    client.post("/webhooks/resend", content=delivered, headers=_headers(delivered, "msg_d1"))
    assert _suppressions(app_engine, sent["tenant"]) == []
    assert _deliveries(app_engine, "msg_d1") == [("processed", sent["tenant"],
                                                  "email.delivered")]
    complaint = _event(sent["email_id"], "email.complained")
    client.post("/webhooks/resend", content=complaint, headers=_headers(complaint, "msg_c1"))
    assert [s[1] for s in _suppressions(app_engine, sent["tenant"])] == ["complaint"]


def test_an_event_for_an_unknown_message_is_recorded_as_ignored(
    client: TestClient, app_engine: Engine
) -> None:
    body = _event(str(uuid.uuid4()))
    response = client.post("/webhooks/resend", content=body, headers=_headers(body, "msg_u1"))
    assert response.json() == {"status": "ignored"}
    assert _deliveries(app_engine, "msg_u1") == [("ignored", None, "email.bounced")]


def test_without_a_secret_the_endpoint_is_unavailable(app_engine: Engine) -> None:
    with TestClient(create_app(Settings(fleetcore_env="test"), app_engine)) as client:
        response = client.post("/webhooks/resend", content=b"{}")
    assert response.status_code == 503
