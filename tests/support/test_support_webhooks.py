"""``POST /webhooks/chatwoot`` and ``/webhooks/freescout`` with the products' documented
payloads: exactly once however often delivered, tolerant of order and unknown events, routed
by the contact's e-mail, refused when not signed as the product signs."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from desk_fakes import chatwoot_signed, freescout_signed, support_settings
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api_support import TenantWorld
from fleetcore.app import create_app
from fleetcore.core.db import DbContext, context_session
from fleetcore.core.orm import new_id


def _conversation_created(conversation_id: int, email: str, *, status: str = "open",
                          updated_at: float = 1_796_000_000.0) -> dict[str, Any]:
    """Chatwoot's conversation_created: messages[] carry an *integer* message_type."""
    return {
        "event": "conversation_created", "id": conversation_id, "inbox_id": 1, "status": status,
        "contact_inbox": {"source_id": "405f-aa"}, "timestamp": int(updated_at),
        "updated_at": updated_at, "additional_attributes": {},
        "meta": {"sender": {"id": 14, "name": "Driver A", "email": email, "type": "contact"},
                 "assignee": None},
        "messages": [
            {"id": conversation_id * 10, "content": "Where is my payout?", "message_type": 0,
             "private": False, "created_at": 1_796_000_000,
             "sender": {"id": 14, "name": "Driver A", "type": "contact"}},
            {"id": conversation_id * 10 + 1, "content": "Conversation was opened",
             "message_type": 2, "private": False, "created_at": 1_796_000_000},
        ],
    }


def _message_created(conversation_id: int, message_id: int, email: str, content: str, *,
                     message_type: str = "incoming", private: bool = False) -> dict[str, Any]:
    sender = ({"id": 14, "name": "Driver A", "type": "contact", "email": email}
              if message_type == "incoming" else
              {"id": 2, "name": "Agent", "type": "user", "email": "agent@fleetcore.test"})
    return {"event": "message_created", "id": message_id, "content": content,
            "message_type": message_type, "content_type": "text", "private": private,
            "created_at": "2026-11-24T10:00:00.000Z", "sender": sender,
            "inbox": {"id": 1, "name": "Drivers"},
            "conversation": {"id": conversation_id, "inbox_id": 1, "status": "open",
                             "contact_inbox": {"source_id": "405f-aa"}},
            "account": {"id": 1, "name": "Acme Fleet"}}


def _post(client: TestClient, document: dict[str, Any], **signing: Any) -> Any:
    body = json.dumps(document).encode()
    return client.post("/webhooks/chatwoot", content=body, headers=chatwoot_signed(body, **signing))


@pytest.fixture
def driver_email(tenant_a: TenantWorld, sessions: Any) -> tuple[uuid.UUID, str]:
    """A driver of tenant A with a unique e-mail (the contact the desk knows)."""
    email = f"driver-{uuid.uuid4().hex[:8]}@example.com"
    driver_id = new_id()
    with context_session(sessions, DbContext.for_tenant(tenant_a.id)) as session:
        session.execute(_insert_driver, {"t": tenant_a.id, "id": driver_id, "e": email})
    return driver_id, email


_insert_driver = text(
    "INSERT INTO rid_drivers (tenant_id, id, first_name, last_name, status, email,"
    " date_of_birth, licence_number, licence_country, licence_issued_on, licence_expires_on)"
    " VALUES (:t, :id, 'Ana', 'Martin', 'active', :e, '1990-05-01', 'L-1', 'FR', '2010-01-01',"
    " '2035-01-01')")


def _tickets(read_system: Callable[..., list[Any]], system: str, external_id: str) -> list[Any]:
    return read_system(
        "SELECT t.tenant_id, t.id, t.reporter_type, t.reporter_id, t.status, t.subject,"
        " (SELECT count(*) FROM sup_ticket_messages m WHERE m.tenant_id = t.tenant_id"
        "   AND m.ticket_id = t.id) AS messages"
        " FROM sup_tickets t WHERE external_system = :s AND external_id = :e",
        s=system, e=external_id)


def test_a_chatwoot_conversation_appears_once_however_often_delivered(
    desk_client: TestClient, tenant_a: TenantWorld, driver_email: tuple[uuid.UUID, str],
    read_system: Callable[..., list[Any]],
) -> None:
    driver_id, email = driver_email
    conversation = 700_000 + int(uuid.uuid4().int % 100_000)
    document = _conversation_created(conversation, email)
    first = _post(desk_client, document, delivery=str(uuid.uuid4()))
    assert first.status_code == 200, first.text
    assert first.json() == {"status": "processed"}
    # The same delivery retried, then the same conversation under new delivery ids.
    body = json.dumps(document).encode()
    again = desk_client.post("/webhooks/chatwoot", content=body,
                             headers=chatwoot_signed(body, delivery="fixed-delivery"))
    assert again.json() == {"status": "processed"}
    assert desk_client.post("/webhooks/chatwoot", content=body, headers=chatwoot_signed(
        body, delivery="fixed-delivery")).json() == {"status": "duplicate"}
    for _ in range(2):
        assert _post(desk_client, document, delivery=str(uuid.uuid4())).json() == {
            "status": "processed"}
    rows = _tickets(read_system, "chatwoot", str(conversation))
    assert len(rows) == 1
    ticket = rows[0]
    assert (ticket.tenant_id, ticket.reporter_type, ticket.reporter_id) == (
        tenant_a.id, "driver", driver_id)
    assert ticket.messages == 1  # the activity message is not a message
    recorded = read_system(
        "SELECT status, tenant_id FROM adm_webhook_deliveries WHERE provider = 'chatwoot'"
        " AND delivery_id = 'fixed-delivery'")
    assert [(r.status, r.tenant_id) for r in recorded] == [("processed", tenant_a.id)]


def test_messages_before_their_conversation_and_old_statuses_after_new_ones(
    desk_client: TestClient, driver_email: tuple[uuid.UUID, str],
    read_system: Callable[..., list[Any]],
) -> None:
    _, email = driver_email
    conversation = 800_000 + int(uuid.uuid4().int % 100_000)
    # The reply arrives before the conversation itself.
    assert _post(desk_client, _message_created(
        conversation, conversation * 10 + 5, email, "Also: my plate changed")).status_code == 200
    resolved = _conversation_created(conversation, email, status="resolved",
                                     updated_at=1_796_000_900.0)
    resolved["event"] = "conversation_status_changed"
    assert _post(desk_client, resolved).status_code == 200
    # The older "open" state is delivered last: it does not reopen the ticket.
    assert _post(desk_client, _conversation_created(conversation, email)).status_code == 200
    rows = _tickets(read_system, "chatwoot", str(conversation))
    assert len(rows) == 1
    assert rows[0].status == "resolved"
    assert rows[0].messages == 2


def test_agent_notes_stay_internal_and_replies_count_as_first_response(
    desk_client: TestClient, driver_email: tuple[uuid.UUID, str],
    read_system: Callable[..., list[Any]],
) -> None:
    _, email = driver_email
    conversation = 900_000 + int(uuid.uuid4().int % 100_000)
    _post(desk_client, _conversation_created(conversation, email))
    _post(desk_client, _message_created(conversation, conversation * 10 + 7, email,
                                        "Check batch 48", message_type="outgoing", private=True))
    _post(desk_client, _message_created(conversation, conversation * 10 + 8, email,
                                        "We are looking", message_type="outgoing"))
    rows = read_system(
        "SELECT m.body, m.is_internal_note, m.sender_type, t.first_response_at IS NOT NULL AS fr,"
        " t.status FROM sup_ticket_messages m JOIN sup_tickets t ON t.tenant_id = m.tenant_id"
        " AND t.id = m.ticket_id WHERE t.external_system = 'chatwoot' AND t.external_id = :e"
        " ORDER BY m.sent_at, m.body", e=str(conversation))
    notes = {r.body: (r.is_internal_note, r.sender_type) for r in rows}
    assert notes["Check batch 48"] == (True, "provider_employee")
    assert notes["We are looking"] == (False, "provider_employee")
    assert rows[0].fr
    assert rows[0].status == "pending"


def test_an_unknown_contact_stays_with_staff(
    desk_client: TestClient, read_system: Callable[..., list[Any]],
) -> None:
    conversation = 600_000 + int(uuid.uuid4().int % 100_000)
    document = _conversation_created(conversation, f"nobody-{uuid.uuid4().hex}@example.com")
    for _ in range(2):  # two deliveries of the same conversation (distinct delivery ids)
        answer = _post(desk_client, document, delivery=str(uuid.uuid4()))
        assert answer.json() == {"status": "processed"}
    assert _tickets(read_system, "chatwoot", str(conversation)) == []
    kept = read_system(
        "SELECT contact_email, jsonb_array_length(messages) AS n FROM sup_unrouted_conversations"
        " WHERE external_system = 'chatwoot' AND external_id = :e", e=str(conversation))
    assert len(kept) == 1
    assert kept[0].n == 1


def test_unknown_events_are_acknowledged_and_recorded(
    desk_client: TestClient, read_system: Callable[..., list[Any]],
) -> None:
    delivery = str(uuid.uuid4())
    response = _post(desk_client, {"event": "conversation_typing_on", "id": 1},
                     delivery=delivery)
    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    assert read_system("SELECT status FROM adm_webhook_deliveries WHERE provider = 'chatwoot'"
                       " AND delivery_id = :d", d=delivery)[0].status == "ignored"


def test_bad_signature_stale_timestamp_and_malformed_json_are_refused(
    desk_client: TestClient, read_system: Callable[..., list[Any]],
) -> None:
    delivery = str(uuid.uuid4())
    body = json.dumps({"event": "conversation_created", "id": 5}).encode()
    tampered = chatwoot_signed(body, delivery=delivery)
    forged = desk_client.post("/webhooks/chatwoot", content=body.replace(b"5", b"6"),
                              headers=tampered)
    assert forged.status_code == 401
    assert forged.json()["type"].endswith("invalid-signature")
    wrong_key = desk_client.post("/webhooks/chatwoot", content=body,
                                 headers=chatwoot_signed(body, secret="other"))
    assert wrong_key.status_code == 401
    stale = desk_client.post("/webhooks/chatwoot", content=body,
                             headers=chatwoot_signed(body, at=int(time.time()) - 600))
    assert stale.status_code == 401
    assert "5 minutes" in stale.json()["detail"]
    unsigned = desk_client.post("/webhooks/chatwoot", content=body,
                                headers={"content-type": "application/json"})
    assert unsigned.status_code == 401
    malformed = b'{"event": "message_created", '
    broken = desk_client.post("/webhooks/chatwoot", content=malformed,
                              headers=chatwoot_signed(malformed))
    assert broken.status_code == 400
    not_object = b"[1, 2]"
    assert desk_client.post("/webhooks/chatwoot", content=not_object,
                            headers=chatwoot_signed(not_object)).status_code == 400
    assert read_system("SELECT count(*) FROM adm_webhook_deliveries WHERE delivery_id = :d",
                       d=delivery)[0][0] == 0


def test_unsigned_chatwoot_only_when_no_secret_and_explicitly_allowed(
    signing_key: str, app_engine: Engine,
) -> None:
    body = json.dumps({"event": "contact_created", "id": 3}).encode()
    plain = {"content-type": "application/json"}
    refused = create_app(support_settings(signing_key, chatwoot_webhook_secret=None), app_engine)
    with TestClient(refused) as client:
        assert client.post("/webhooks/chatwoot", content=body, headers=plain).status_code == 503
    allowed = create_app(support_settings(signing_key, chatwoot_webhook_secret=None,
                                          chatwoot_allow_unsigned=True), app_engine)
    with TestClient(allowed) as client:
        answer = client.post("/webhooks/chatwoot", content=body, headers=plain)
        assert answer.status_code == 200
        assert answer.json() == {"status": "ignored"}
    # A secret set wins over the permission: unsigned is refused.
    both = create_app(support_settings(signing_key, chatwoot_allow_unsigned=True), app_engine)
    with TestClient(both) as client:
        assert client.post("/webhooks/chatwoot", content=body, headers=plain).status_code == 401


# --- FreeScout -------------------------------------------------------------------------------


def _freescout_conversation(conversation_id: int, email: str, threads: list[dict[str, Any]],
                            status: str = "active") -> dict[str, Any]:
    return {"id": conversation_id, "number": conversation_id, "type": "email", "status": status,
            "state": "published", "subject": "Brake noise", "mailboxId": 2,
            "customer": {"id": 9, "firstName": "Ana", "lastName": "Martin", "email": email},
            "createdAt": "2026-12-07T09:00:00Z", "updatedAt": "2026-12-07T09:00:00Z",
            "_embedded": {"threads": threads}}


def _thread(thread_id: int, kind: str, body: str, email: str) -> dict[str, Any]:
    author = ({"id": 9, "type": "customer", "email": email} if kind == "customer"
              else {"id": 1, "type": "user", "email": "agent@fleetcore.test"})
    return {"id": thread_id, "type": kind, "body": body, "createdBy": author,
            "createdAt": "2026-12-07T09:00:00Z"}


def test_a_freescout_conversation_appears_once_with_its_threads(
    desk_client: TestClient, tenant_a: TenantWorld, driver_email: tuple[uuid.UUID, str],
    read_system: Callable[..., list[Any]],
) -> None:
    _, email = driver_email
    conversation = 500_000 + int(uuid.uuid4().int % 100_000)
    created = _freescout_conversation(conversation, email, [
        _thread(conversation * 10, "customer", "Brakes squeal since Monday", email)])
    body = json.dumps(created).encode()
    for _ in range(3):
        answer = desk_client.post("/webhooks/freescout", content=body,
                                  headers=freescout_signed(body, "convo.created"))
        assert answer.status_code == 200, answer.text
    replied = _freescout_conversation(conversation, email, [
        _thread(conversation * 10, "customer", "Brakes squeal since Monday", email),
        _thread(conversation * 10 + 1, "note", "Book the garage", email),
        _thread(conversation * 10 + 2, "lineitem", "Assigned to Sam", email)], status="pending")
    reply_body = json.dumps(replied).encode()
    desk_client.post("/webhooks/freescout", content=reply_body,
                     headers=freescout_signed(reply_body, "convo.note.created"))
    rows = _tickets(read_system, "freescout", str(conversation))
    assert len(rows) == 1
    assert (rows[0].tenant_id, rows[0].subject, rows[0].status, rows[0].messages) == (
        tenant_a.id, "Brake noise", "pending", 2)

    deleted = desk_client.post("/webhooks/freescout", content=reply_body,
                               headers=freescout_signed(reply_body, "convo.deleted"))
    assert deleted.status_code == 200
    assert read_system("SELECT deleted_at IS NOT NULL AS gone FROM sup_tickets WHERE"
                       " external_system = 'freescout' AND external_id = :e",
                       e=str(conversation))[0].gone


def test_freescout_refuses_a_bad_signature_and_a_missing_event(desk_client: TestClient) -> None:
    body = json.dumps({"id": 1}).encode()
    signed = freescout_signed(body, "convo.created")
    signed["X-FreeScout-Signature"] = signed["X-FreeScout-Signature"][:-4] + "AAAA"
    assert desk_client.post("/webhooks/freescout", content=body,
                            headers=signed).status_code == 401
    no_event = freescout_signed(body, "convo.created")
    del no_event["X-FreeScout-Event"]
    assert desk_client.post("/webhooks/freescout", content=body,
                            headers=no_event).status_code == 400
    broken = b"{not json"
    assert desk_client.post("/webhooks/freescout", content=broken, headers=freescout_signed(
        broken, "convo.created")).status_code == 400
    customer = json.dumps({"id": 4, "email": "x@example.com"}).encode()
    answer = desk_client.post("/webhooks/freescout", content=customer,
                              headers=freescout_signed(customer, "customer.updated"))
    assert answer.json() == {"status": "ignored"}
