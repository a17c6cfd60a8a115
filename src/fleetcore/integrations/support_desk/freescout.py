"""FreeScout with its "API & Webhooks" module (integrations.md §5).

Webhooks
    ``X-FreeScout-Signature`` = base64(HMAC-SHA1(raw body, key)) and ``X-FreeScout-Event``;
    the body is the Conversation (or Customer) object, threads under ``_embedded.threads``
    (``customer`` from the customer, ``message`` an agent's reply, ``note`` internal,
    ``lineitem`` an activity: not a message). FreeScout sends no delivery id and retries up to
    10 times over 2 hours with the same body: the delivery id is the event and the body's hash.
    ``convo.deleted`` / ``convo.deleted_forever`` delete the ticket; ``customer.*`` and unknown
    events are acknowledged and ignored.

API (Help Scout's shape)
    ``X-FreeScout-API-Key``. ``POST /api/conversations`` opens one with a customer thread;
    ``POST /api/conversations/{id}/threads`` adds a reply (``customer``, ``message`` as
    ``FREESCOUT_USER_ID``, or ``note``); ``PUT /api/conversations/{id}`` changes the status.
    Created ids come back in ``Resource-ID`` (or ``Location``). FreeScout keeps no custom
    attributes on threads, so our message id travels as an HTML comment at the end of the
    body (``<!-- fleetcore:<uuid> -->``), read back and stripped from the echo.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from fleetcore.core.errors import ServiceUnavailable
from fleetcore.integrations.support_desk import http
from fleetcore.integrations.support_desk.common import (
    as_dict,
    as_list,
    body_key,
    instant,
    json_object,
    text_of,
)
from fleetcore.support.desk import (
    Delivery,
    DeskUnavailable,
    InboundConversation,
    InboundMessage,
    InvalidWebhook,
    MalformedWebhook,
    OutboundMessage,
    OutboundTicket,
)

SYSTEM = "freescout"
STATUS_IN = {"active": "open", "pending": "pending", "closed": "resolved", "spam": "closed"}
STATUS_OUT = {"open": "active", "pending": "pending", "resolved": "closed", "closed": "closed"}
DELETED = ("convo.deleted", "convo.deleted_forever")
MARKER = re.compile(r"\s*<!--\s*fleetcore:([0-9a-fA-F-]{36})\s*-->\s*$")


def signature(key: str, body: bytes) -> str:
    """The ``X-FreeScout-Signature`` of ``body``."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha1).digest()).decode()


def _marked(body: str) -> tuple[str, uuid.UUID | None]:
    found = MARKER.search(body)
    if found is None:
        return body, None
    return body[:found.start()], uuid.UUID(found.group(1))


@dataclass(frozen=True, slots=True)
class FreeScoutDesk:
    base_url: str
    api_key: str
    mailbox_id: str
    user_id: str | None = None
    webhook_secret: str | None = None
    system: str = SYSTEM

    # --- webhooks in ---------------------------------------------------------------------

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        if not self.webhook_secret:
            raise ServiceUnavailable("FREESCOUT_WEBHOOK_SECRET is not configured.")
        sent = headers.get("x-freescout-signature") or ""
        if not sent:
            raise InvalidWebhook("X-FreeScout-Signature is required.")
        if not hmac.compare_digest(sent.strip(), signature(self.webhook_secret, body)):
            raise InvalidWebhook("X-FreeScout-Signature does not match this body.")

    def read(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        document = json_object(body)
        event = (headers.get("x-freescout-event") or "").strip()[:200]
        if not event:
            raise MalformedWebhook("X-FreeScout-Event is required.")
        conversation = (self._conversation(event, document)
                        if event.startswith("convo.") else None)
        return Delivery(body_key(event, body), event, conversation)

    def _conversation(self, event: str, doc: dict[str, Any]) -> InboundConversation | None:
        if doc.get("id") is None:
            return None
        customer = as_dict(doc.get("customer"))
        name = " ".join(p for p in (text_of(customer.get("firstName")),
                                    text_of(customer.get("lastName"))) if p) or None
        threads = as_list(as_dict(doc.get("_embedded")).get("threads"))
        messages = tuple(m for m in (self._thread(t) for t in threads if isinstance(t, dict))
                         if m is not None)
        return InboundConversation(
            system=SYSTEM, external_id=str(doc["id"]), event=event,
            contact_email=text_of(customer.get("email")), contact_name=name,
            subject=text_of(doc.get("subject")), status=STATUS_IN.get(str(doc.get("status"))),
            status_at=instant(doc.get("userUpdatedAt")) or instant(doc.get("updatedAt")),
            deleted=event in DELETED or doc.get("state") == "deleted", messages=messages)

    @staticmethod
    def _thread(raw: dict[str, Any]) -> InboundMessage | None:
        kind = raw.get("type")
        if kind not in ("customer", "message", "note") or raw.get("id") is None:
            return None
        author = as_dict(raw.get("createdBy")) or as_dict(raw.get("customer"))
        body, ours = _marked(str(raw.get("body") or raw.get("text") or ""))
        name = " ".join(p for p in (text_of(author.get("firstName")),
                                    text_of(author.get("lastName"))) if p) or None
        attachments = as_list(as_dict(raw.get("_embedded")).get("attachments"))
        return InboundMessage(
            external_id=str(raw["id"]), body=body.strip(), sent_at=instant(raw.get("createdAt")),
            from_customer=kind == "customer", is_internal_note=kind == "note",
            author_email=text_of(author.get("email")), author_name=name, fleetcore_id=ours,
            attachments=tuple({"file_name": str(a.get("fileName") or "file"),
                               "url": str(a.get("fileUrl") or "")}
                              for a in attachments if isinstance(a, dict)))

    # --- API out -------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/api{path}"

    def _headers(self) -> dict[str, str]:
        return {"X-FreeScout-API-Key": self.api_key, "accept": "application/json"}

    @staticmethod
    def _created_id(response: httpx.Response) -> str:
        resource = response.headers.get("resource-id") or ""
        if not resource:
            resource = response.headers.get("location", "").rstrip("/").rsplit("/", 1)[-1]
        if not resource:
            try:
                resource = str(response.json().get("id") or "")
            except (ValueError, AttributeError):
                resource = ""
        if not resource:
            raise DeskUnavailable("FreeScout answered without Resource-ID")
        return resource

    def open_conversation(self, ticket: OutboundTicket) -> str:
        first, _, last = ticket.contact_name.partition(" ")
        customer = {"email": ticket.contact_email, "firstName": first, "lastName": last}
        response = http.call("POST", self._url("/conversations"), headers=self._headers(), json={
            "type": "email", "mailboxId": int(self.mailbox_id), "subject": ticket.subject,
            "customer": customer, "status": "active",
            "threads": [{"type": "customer", "text": ticket.body,
                         "customer": {"email": ticket.contact_email}}]})
        return self._created_id(response)

    def post_message(self, conversation_id: str, message: OutboundMessage) -> str:
        body = message.body
        if message.attachment_names:
            body += "\n\n" + "\n".join(f"[{n}]" for n in message.attachment_names)
        thread: dict[str, Any] = {"text": f"{body}\n<!-- fleetcore:{message.message_id} -->"}
        if message.from_customer:
            thread.update(type="customer", customer={"email": message.author_email})
        else:
            thread.update(type="note" if message.is_internal_note else "message")
            if self.user_id:
                thread["user"] = int(self.user_id)
        response = http.call("POST", self._url(f"/conversations/{conversation_id}/threads"),
                             headers=self._headers(), json=thread)
        return self._created_id(response)

    def set_status(self, conversation_id: str, status: str) -> None:
        document: dict[str, Any] = {"status": STATUS_OUT.get(status, "active")}
        if self.user_id:
            document["byUser"] = int(self.user_id)
        http.call("PUT", self._url(f"/conversations/{conversation_id}"), headers=self._headers(),
                  json=document)
