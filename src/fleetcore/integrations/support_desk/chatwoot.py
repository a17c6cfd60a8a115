"""Chatwoot (integrations.md §5): signed webhooks in, the application API out.

Webhooks
    Chatwoot 4.12+ signs a delivery with ``X-Chatwoot-Signature: sha256=<hex HMAC-SHA256(secret,
    "<X-Chatwoot-Timestamp>.<raw body>")>``; a timestamp more than :data:`TOLERANCE_SECONDS`
    away from now is refused (replay). Older Chatwoot signs nothing: unsigned deliveries are
    accepted only when no secret is set *and* ``CHATWOOT_ALLOW_UNSIGNED`` says so.
    ``X-Chatwoot-Delivery`` (the same across retries) is the delivery id when present.
    ``message_type`` is a string at the top of a message event but an integer (0 incoming,
    1 outgoing, 2 activity, 3 template) inside ``conversation.messages[]``; activity messages
    are not messages. ``private`` marks an internal note.

API
    ``api_access_token`` header. A ticket opened in Fleetcore becomes a contact (created, or
    found by e-mail when it exists) with an inbox ``source_id``, then a conversation with the
    first message. Replies are messages (``incoming`` for the fleet's side, ``outgoing`` for
    staff, ``private`` for notes) carrying ``content_attributes.fleetcore_message_id`` so the
    webhook's echo is recognised; status changes go through ``toggle_status``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fleetcore.core.errors import ServiceUnavailable
from fleetcore.integrations.support_desk import http
from fleetcore.integrations.support_desk.common import (
    as_dict,
    as_list,
    body_key,
    instant,
    json_object,
    text_of,
    uuid_of,
)
from fleetcore.support.desk import (
    Delivery,
    DeskUnavailable,
    InboundConversation,
    InboundMessage,
    InvalidWebhook,
    OutboundMessage,
    OutboundTicket,
)

TOLERANCE_SECONDS = 300
SYSTEM = "chatwoot"
CONVERSATION_EVENTS = ("conversation_created", "conversation_status_changed",
                       "conversation_updated")
MESSAGE_EVENTS = ("message_created", "message_updated")
STATUS_IN = {"open": "open", "pending": "pending", "snoozed": "pending", "resolved": "resolved"}
STATUS_OUT = {"open": "open", "pending": "pending", "resolved": "resolved", "closed": "resolved"}
INTEGER_TYPES = {0: "incoming", 1: "outgoing", 2: "activity", 3: "template"}


def _message_type(value: Any) -> Any:
    """The string type of a message: inside ``conversation.messages[]`` it is an integer."""
    return INTEGER_TYPES.get(value) if isinstance(value, int) else value


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Chatwoot-Signature`` of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


@dataclass(frozen=True, slots=True)
class ChatwootDesk:
    base_url: str
    api_token: str
    account_id: str
    inbox_id: str
    webhook_secret: str | None = None
    allow_unsigned: bool = False
    system: str = SYSTEM

    # --- webhooks in ---------------------------------------------------------------------

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        if not self.webhook_secret:
            if self.allow_unsigned:
                return
            raise ServiceUnavailable("CHATWOOT_WEBHOOK_SECRET is not configured (or set "
                                     "CHATWOOT_ALLOW_UNSIGNED=true for Chatwoot before 4.12).")
        sent = headers.get("x-chatwoot-signature") or ""
        timestamp = headers.get("x-chatwoot-timestamp") or ""
        if not sent or not timestamp:
            raise InvalidWebhook("X-Chatwoot-Signature and X-Chatwoot-Timestamp are required.")
        if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE_SECONDS:
            raise InvalidWebhook("X-Chatwoot-Timestamp is not within 5 minutes of now.")
        if not hmac.compare_digest(sent, signature(self.webhook_secret, timestamp, body)):
            raise InvalidWebhook("X-Chatwoot-Signature does not match this body.")

    def read(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        document = json_object(body)
        event = str(document.get("event") or "unknown")[:200]
        delivery_id = (headers.get("x-chatwoot-delivery") or "").strip()[:200] or body_key(
            event, body)
        if event in CONVERSATION_EVENTS:
            conversation = self._conversation(event, document)
        elif event in MESSAGE_EVENTS:
            conversation = self._message_event(event, document)
        else:
            conversation = None
        return Delivery(delivery_id, event, conversation)

    def _conversation(self, event: str, doc: dict[str, Any]) -> InboundConversation | None:
        if doc.get("id") is None:
            return None
        contact = as_dict(as_dict(doc.get("meta")).get("sender"))
        messages = tuple(m for m in (
            self._message(raw, _message_type(raw.get("message_type")), contact)
            for raw in as_list(doc.get("messages")) if isinstance(raw, dict)) if m is not None)
        attributes = as_dict(doc.get("additional_attributes"))
        return InboundConversation(
            system=SYSTEM, external_id=str(doc["id"]), event=event,
            contact_email=text_of(contact.get("email")), contact_name=text_of(contact.get("name")),
            subject=text_of(attributes.get("mail_subject")),
            status=STATUS_IN.get(str(doc.get("status"))),
            status_at=instant(doc.get("updated_at")) or instant(doc.get("timestamp")),
            messages=messages)

    def _message_event(self, event: str, doc: dict[str, Any]) -> InboundConversation | None:
        conversation = as_dict(doc.get("conversation"))
        if conversation.get("id") is None or doc.get("id") is None:
            return None
        sender = as_dict(doc.get("sender"))
        contact = (sender if sender.get("type") == "contact"
                   else as_dict(as_dict(conversation.get("meta")).get("sender")))
        message = self._message(doc, doc.get("message_type"), contact)
        if message is None:
            return None
        return InboundConversation(
            system=SYSTEM, external_id=str(conversation["id"]), event=event,
            contact_email=text_of(contact.get("email")), contact_name=text_of(contact.get("name")),
            messages=(message,))

    @staticmethod
    def _message(raw: dict[str, Any], message_type: Any, contact: dict[str, Any]
                 ) -> InboundMessage | None:
        if message_type not in ("incoming", "outgoing", "template") or raw.get("id") is None:
            return None
        sender = as_dict(raw.get("sender"))
        from_customer = message_type == "incoming"
        author = contact if from_customer and not sender else sender
        return InboundMessage(
            external_id=str(raw["id"]), body=str(raw.get("content") or ""),
            sent_at=instant(raw.get("created_at")), from_customer=from_customer,
            is_internal_note=bool(raw.get("private")),
            author_email=text_of(author.get("email")), author_name=text_of(author.get("name")),
            fleetcore_id=uuid_of(as_dict(raw.get("content_attributes")).get(
                "fleetcore_message_id")),
            attachments=tuple(
                {"file_name": str(a.get("file_name") or a.get("file_type") or "file"),
                 "url": str(a.get("data_url") or "")}
                for a in as_list(raw.get("attachments")) if isinstance(a, dict)))

    # --- API out -------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/api/v1/accounts/{self.account_id}{path}"

    def _headers(self) -> dict[str, str]:
        return {"api_access_token": self.api_token, "accept": "application/json"}

    def _source_id(self, ticket: OutboundTicket) -> tuple[str, Any]:
        """The contact's inbox ``source_id`` (and contact id): created, or found by e-mail."""
        try:
            created = http.json_of(http.call(
                "POST", self._url("/contacts"), headers=self._headers(),
                json={"inbox_id": int(self.inbox_id), "name": ticket.contact_name,
                      "email": ticket.contact_email}))
        except DeskUnavailable as exc:
            if exc.status != 422:  # 422: a contact already has this e-mail
                raise
            return self._existing_contact(ticket.contact_email)
        payload = as_dict(created.get("payload")) or created
        contact = as_dict(payload.get("contact")) or payload
        source = as_dict(payload.get("contact_inbox")).get("source_id")
        if not source:
            inboxes = [as_dict(c) for c in as_list(contact.get("contact_inboxes"))]
            source = next((c.get("source_id") for c in inboxes), None)
        if not source:
            raise DeskUnavailable("Chatwoot created the contact without an inbox source_id")
        return str(source), contact.get("id")

    def _existing_contact(self, email: str) -> tuple[str, Any]:
        found = http.json_of(http.call(
            "GET", self._url(f"/contacts/search?q={quote(email)}"), headers=self._headers()))
        contacts = [as_dict(c) for c in as_list(found.get("payload"))]
        contact = next((c for c in contacts if str(c.get("email", "")).lower() == email.lower()),
                       None)
        if contact is None:
            raise DeskUnavailable(f"Chatwoot refused the contact {email}", permanent=True)
        inbox = http.json_of(http.call(
            "POST", self._url(f"/contacts/{contact['id']}/contact_inboxes"),
            headers=self._headers(), json={"inbox_id": int(self.inbox_id)}))
        return str(inbox.get("source_id")), contact.get("id")

    def open_conversation(self, ticket: OutboundTicket) -> str:
        source_id, contact_id = self._source_id(ticket)
        created = http.json_of(http.call("POST", self._url("/conversations"),
            headers=self._headers(), json={
                "source_id": source_id, "inbox_id": int(self.inbox_id), "contact_id": contact_id,
                "status": "open", "message": {"content": f"{ticket.subject}\n\n{ticket.body}"},
                "additional_attributes": {"fleetcore_ticket_id": str(ticket.ticket_id),
                                          "mail_subject": ticket.subject}}))
        if created.get("id") is None:
            raise DeskUnavailable("Chatwoot answered without a conversation id")
        return str(created["id"])

    def post_message(self, conversation_id: str, message: OutboundMessage) -> str:
        body = message.body
        if message.attachment_names:
            body += "\n\n" + "\n".join(f"[{n}]" for n in message.attachment_names)
        created = http.json_of(http.call(
            "POST", self._url(f"/conversations/{conversation_id}/messages"),
            headers=self._headers(), json={
                "content": body,
                "message_type": "incoming" if message.from_customer else "outgoing",
                "private": message.is_internal_note,
                "content_attributes": {"fleetcore_message_id": str(message.message_id)}}))
        if created.get("id") is None:
            raise DeskUnavailable("Chatwoot answered without a message id")
        return str(created["id"])

    def set_status(self, conversation_id: str, status: str) -> None:
        http.call("POST", self._url(f"/conversations/{conversation_id}/toggle_status"),
                  headers=self._headers(), json={"status": STATUS_OUT.get(status, "open")})
