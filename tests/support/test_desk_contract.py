"""One contract, both help desks: every test here runs against Chatwoot and FreeScout, each
faked at the network edge with its documented API and webhook payloads (``desk_fakes``)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from desk_fakes import (
    Recorded,
    chatwoot_fake,
    chatwoot_signed,
    freescout_fake,
    freescout_signed,
)
from fastapi.testclient import TestClient

from api_support import TenantWorld, if_match
from fleetcore.core.db import DbContext, context_session
from fleetcore.integrations.support_desk.chatwoot import ChatwootDesk
from fleetcore.support.desk import (
    DeskUnavailable,
    InvalidWebhook,
    OutboundMessage,
    OutboundTicket,
    SupportDesk,
)
from fleetcore.support.jobs import push_now


@dataclass
class Desk:
    name: str
    desk: SupportDesk
    recorded: Recorded
    echo: Callable[[str], tuple[bytes, dict[str, str]]]

    def unknown_event(self) -> tuple[bytes, dict[str, str]]:
        """A delivery the desk sends that carries no conversation."""
        if self.name == "chatwoot":
            body = json.dumps({"event": "contact_created", "id": 4, "name": "X"}).encode()
            return body, chatwoot_signed(body)
        body = json.dumps({"id": 4, "email": "x@example.com"}).encode()
        return body, freescout_signed(body, "customer.created")


@pytest.fixture(params=["chatwoot", "freescout"])
def desk(request: pytest.FixtureRequest) -> Iterator[Desk]:
    fake = chatwoot_fake if request.param == "chatwoot" else freescout_fake
    with fake() as (connector, recorded, echo):
        yield Desk(request.param, connector, recorded, echo)


def _ticket(email: str = "driver@example.com") -> OutboundTicket:
    return OutboundTicket(ticket_id=uuid.uuid4(), subject="Payout missing",
                          body="Nothing arrived this week.", contact_email=email,
                          contact_name="Ana Martin")


def _message(**values: Any) -> OutboundMessage:
    defaults: dict[str, Any] = {"message_id": uuid.uuid4(), "body": "We are on it.",
                                "from_customer": False, "is_internal_note": False}
    return OutboundMessage(**{**defaults, **values})


def _headers(raw: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in raw.items()}


# --- the connector contract ------------------------------------------------------------------


def test_a_ticket_opens_one_conversation_for_its_contact(desk: Desk) -> None:
    conversation = desk.desk.open_conversation(_ticket("ana@example.com"))
    assert conversation
    assert [c.get("email") for c in desk.recorded.contacts] == ["ana@example.com"]
    assert len(desk.recorded.conversations) == 1


def test_a_known_contact_is_reused(desk: Desk) -> None:
    first = desk.desk.open_conversation(_ticket("ana@example.com"))
    second = desk.desk.open_conversation(_ticket("ana@example.com"))
    assert first != second
    assert len(desk.recorded.conversations) == 2


def test_our_reply_comes_back_marked_as_ours(desk: Desk) -> None:
    conversation = desk.desk.open_conversation(_ticket())
    reply = _message(body="Re-sent today.")
    external = desk.desk.post_message(conversation, reply)
    assert len(desk.recorded.messages) == 1
    body, headers = desk.echo(external)
    desk.desk.verify(_headers(headers), body, now=time.time())
    delivery = desk.desk.read(_headers(headers), body)
    assert delivery.conversation is not None
    assert delivery.conversation.external_id == conversation
    echoed = {m.external_id: m for m in delivery.conversation.messages}[external]
    assert echoed.fleetcore_id == reply.message_id
    assert echoed.body == "Re-sent today."
    assert not echoed.from_customer


def test_an_internal_note_stays_private(desk: Desk) -> None:
    conversation = desk.desk.open_conversation(_ticket())
    external = desk.desk.post_message(conversation, _message(is_internal_note=True))
    body, headers = desk.echo(external)
    delivery = desk.desk.read(_headers(headers), body)
    assert delivery.conversation is not None
    note = {m.external_id: m for m in delivery.conversation.messages}[external]
    assert note.is_internal_note


def test_a_status_change_reaches_the_desk_in_its_words(desk: Desk) -> None:
    conversation = desk.desk.open_conversation(_ticket())
    desk.desk.set_status(conversation, "resolved")
    expected = "resolved" if desk.name == "chatwoot" else "closed"
    assert desk.recorded.statuses == [(conversation, expected)]


def test_a_tampered_body_is_refused(desk: Desk) -> None:
    conversation = desk.desk.open_conversation(_ticket())
    body, headers = desk.echo(desk.desk.post_message(conversation, _message()))
    with pytest.raises(InvalidWebhook):
        desk.desk.verify(_headers(headers), body.replace(b"We are on it", b"We are on IT"),
                         now=time.time())
    unsigned = {k: v for k, v in _headers(headers).items() if "signature" not in k}
    with pytest.raises(InvalidWebhook):
        desk.desk.verify(unsigned, body, now=time.time())


def test_an_event_without_a_conversation_is_read_as_nothing(desk: Desk) -> None:
    body, headers = desk.unknown_event()
    desk.desk.verify(_headers(headers), body, now=time.time())
    delivery = desk.desk.read(_headers(headers), body)
    assert delivery.conversation is None
    assert delivery.delivery_id


def test_a_refused_credential_is_a_permanent_failure(desk: Desk) -> None:
    if isinstance(desk.desk, ChatwootDesk):
        wrong: SupportDesk = ChatwootDesk(base_url=desk.desk.base_url, api_token="nope",
                                          account_id="3", inbox_id="5")
    else:
        from fleetcore.integrations.support_desk.freescout import FreeScoutDesk

        assert isinstance(desk.desk, FreeScoutDesk)
        wrong = FreeScoutDesk(base_url=desk.desk.base_url, api_key="nope", mailbox_id="2")
    with pytest.raises(DeskUnavailable) as failure:
        wrong.open_conversation(_ticket())
    assert failure.value.permanent


# --- end to end: Fleetcore → desk → webhook → Fleetcore ----------------------------------------


def _push(sessions: Any, desk: SupportDesk, tenant: TenantWorld, kind: str, **ids: Any) -> str:
    with context_session(sessions, DbContext.for_tenant(tenant.id)) as session:
        return push_now(session, desk, tenant.id, kind=kind, **ids)


def test_a_reply_reaches_the_desk_once_and_does_not_come_back(
    desk: Desk, desk_client: TestClient, tenant_a: TenantWorld, auth: Any, make_staff: Any,
    staff_auth: Any, sessions: Any, read_system: Any,
) -> None:
    member = auth(tenant_a, "owner")
    created = desk_client.post("/v1/support/tickets", headers=member, json={
        "subject": "Invoice question", "description": "Why two lines?"})
    assert created.status_code == 201, created.text
    ticket_id = uuid.UUID(created.json()["id"])
    queued = read_system(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'fleetcore.support.push'"
        " AND args->>'ticket_id' = :t AND args->>'kind' = 'ticket'", t=str(ticket_id))
    assert queued[0][0] == 1

    assert _push(sessions, desk.desk, tenant_a, "ticket", ticket_id=ticket_id) == "sent"
    assert _push(sessions, desk.desk, tenant_a, "ticket", ticket_id=ticket_id) == "skipped"
    assert len(desk.recorded.conversations) == 1

    staff = staff_auth(make_staff(), tenant_a.slug)
    reply = desk_client.post(f"/v1/support/tickets/{ticket_id}/messages", headers=staff,
                             json={"body": "One is the deposit."})
    assert reply.status_code == 201, reply.text
    message_id = uuid.UUID(reply.json()["id"])
    assert _push(sessions, desk.desk, tenant_a, "message", ticket_id=ticket_id,
                 message_id=message_id) == "sent"
    assert len(desk.recorded.messages) == 1

    body, headers = desk.echo(str(desk.recorded.messages[0]["id"]))
    for _ in range(2):
        echoed = desk_client.post(f"/webhooks/{desk.name}", content=body, headers=headers)
        assert echoed.status_code == 200, echoed.text
    # A retried job after the echo sends nothing more.
    assert _push(sessions, desk.desk, tenant_a, "message", ticket_id=ticket_id,
                 message_id=message_id) == "skipped"
    assert len(desk.recorded.messages) == 1

    messages = desk_client.get(f"/v1/support/tickets/{ticket_id}/messages", headers=staff).json()
    assert [(m["id"], m["body"]) for m in messages["items"]] == [
        (str(message_id), "One is the deposit.")]
    assert messages["items"][0]["external_id"] == str(desk.recorded.messages[0]["id"])

    resolved = desk_client.patch(
        f"/v1/support/tickets/{ticket_id}", json={"status": "resolved"},
        headers=if_match(desk_client, f"/v1/support/tickets/{ticket_id}", member))
    assert resolved.status_code == 200, resolved.text
    status_jobs = read_system(
        "SELECT args->>'status' FROM procrastinate_jobs WHERE task_name = 'fleetcore.support.push'"
        " AND args->>'ticket_id' = :t AND args->>'kind' = 'status'", t=str(ticket_id))
    assert [r[0] for r in status_jobs] == ["resolved"]
    assert _push(sessions, desk.desk, tenant_a, "status", ticket_id=ticket_id,
                 status="resolved") == "sent"
    assert len(desk.recorded.statuses) == 1
