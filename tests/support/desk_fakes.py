"""Chatwoot and FreeScout faked at the network edge: local HTTP servers speaking each product's
documented API (integrations.md §5), recording what Fleetcore sent, and able to build the
webhook delivery the product would send back for it (signed as the product signs)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from api_support import AZP, PROVIDER_ORG
from fleetcore.core.auth import public_key_pem
from fleetcore.integrations.support_desk.chatwoot import ChatwootDesk
from fleetcore.integrations.support_desk.freescout import FreeScoutDesk
from fleetcore.integrations.support_desk.freescout import signature as freescout_signature
from fleetcore.settings import Settings
from json_http_fake import JsonHandler, serving

CHATWOOT_SECRET = "cw-test-secret"
FREESCOUT_SECRET = "fs-test-secret"



def support_settings(signing_key: str, **values: object) -> Settings:
    defaults: dict[str, object] = {
        "fleetcore_env": "test", "clerk_jwt_key": public_key_pem(signing_key),
        "clerk_authorized_parties": [AZP], "fleetcore_provider_org_id": PROVIDER_ORG,
        "chatwoot_webhook_secret": CHATWOOT_SECRET, "freescout_webhook_secret": FREESCOUT_SECRET,
        # Mirroring on (jobs are enqueued); the tests run each job against a local fake.
        "support_desk": "chatwoot", "chatwoot_url": "http://127.0.0.1:9",
        "chatwoot_api_token": "t", "chatwoot_account_id": "3", "chatwoot_inbox_id": "5"}
    return Settings(**{**defaults, **values})  # type: ignore[arg-type]


@dataclass
class Recorded:
    """What the fake received, by kind."""

    contacts: list[dict[str, Any]] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[tuple[str, str]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


def chatwoot_signed(body: bytes, *, secret: str = CHATWOOT_SECRET, at: int | None = None,
                    delivery: str | None = None) -> dict[str, str]:
    """The headers Chatwoot 4.12+ sends with ``body``."""
    timestamp = str(at if at is not None else int(time.time()))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    headers = {"content-type": "application/json", "X-Chatwoot-Timestamp": timestamp,
               "X-Chatwoot-Signature": "sha256=" + digest.hexdigest()}
    if delivery:
        headers["X-Chatwoot-Delivery"] = delivery
    return headers


def freescout_signed(body: bytes, event: str, *, secret: str = FREESCOUT_SECRET
                     ) -> dict[str, str]:
    return {"content-type": "application/json", "X-FreeScout-Event": event,
            "X-FreeScout-Signature": freescout_signature(secret, body)}


class _State:
    def __init__(self) -> None:
        self.recorded = Recorded()
        self.ids = itertools.count(100)


@contextmanager
def chatwoot_fake() -> Iterator[tuple[ChatwootDesk, Recorded, Any]]:
    """(desk on the fake, what it received, ``echo(message_id) -> (body, headers)``)."""
    state = _State()

    class Handler(JsonHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            document = json.loads(self.rfile.read(length) or b"{}")
            state.recorded.headers.append(dict(self.headers))
            if self.headers.get("api_access_token") != "cw-token":
                self._answer(401, {"error": "Invalid access token"})
                return
            path = self.path
            if path == "/api/v1/accounts/3/contacts":
                known = [c for c in state.recorded.contacts
                         if c.get("email") == document.get("email")]
                if known:
                    self._answer(422, {"message": "Email has already been taken"})
                    return
                contact_id = next(state.ids)
                document["id"] = contact_id
                state.recorded.contacts.append(document)
                self._answer(200, {"payload": {
                    "contact": {"id": contact_id, "email": document.get("email"),
                                "name": document.get("name")},
                    "contact_inbox": {"inbox": {"id": document.get("inbox_id")},
                                      "source_id": f"src-{contact_id}"}}})
            elif path == "/api/v1/accounts/3/conversations":
                conversation_id = next(state.ids)
                state.recorded.conversations.append(document)
                self._answer(200, {"id": conversation_id, "account_id": 3,
                                   "inbox_id": document.get("inbox_id"), "status": "open"})
            elif path.endswith("/messages"):
                message_id = next(state.ids)
                conversation_id = int(path.split("/")[-2])
                stored = {**document, "id": message_id, "conversation_id": conversation_id,
                          "created_at": int(time.time())}
                state.recorded.messages.append(stored)
                self._answer(200, stored)
            elif path.endswith("/contact_inboxes"):
                self._answer(200, {"source_id": f"src-{path.split('/')[-2]}",
                                   "inbox": {"id": document.get("inbox_id")}})
            elif path.endswith("/toggle_status"):
                state.recorded.statuses.append((path.split("/")[-2], document["status"]))
                self._answer(200, {"payload": {"success": True,
                                               "current_status": document["status"]}})
            else:
                self._answer(404, {"error": "not found"})

        def do_GET(self) -> None:
            if self.path.startswith("/api/v1/accounts/3/contacts/search?q="):
                email = unquote(self.path.split("q=", 1)[1])
                self._answer(200, {"payload": [c for c in state.recorded.contacts
                                               if c.get("email") == email]})
            else:
                self._answer(404, {"error": "not found"})

    def echo(message_id: str) -> tuple[bytes, dict[str, str]]:
        """The ``message_created`` webhook Chatwoot sends for a message it stored."""
        message = next(m for m in state.recorded.messages if str(m["id"]) == message_id)
        body = json.dumps({
            "event": "message_created", "id": message["id"], "content": message["content"],
            "message_type": message["message_type"], "content_type": "text",
            "private": message.get("private", False),
            "content_attributes": message.get("content_attributes", {}),
            "created_at": "2026-12-07T10:05:00.000Z",
            "sender": {"id": 1, "name": "Fleetcore API", "type": "user"},
            "inbox": {"id": 5, "name": "Fleets"},
            "conversation": {"id": message["conversation_id"], "inbox_id": 5, "status": "open",
                             "contact_inbox": {"source_id": "src"}},
            "account": {"id": 3, "name": "Fleetcore"}}).encode()
        return body, chatwoot_signed(body, delivery=f"echo-{message_id}")

    with serving(Handler) as url:
        yield (ChatwootDesk(base_url=url, api_token="cw-token", account_id="3", inbox_id="5",
                            webhook_secret=CHATWOOT_SECRET), state.recorded, echo)


@contextmanager
def freescout_fake() -> Iterator[tuple[FreeScoutDesk, Recorded, Any]]:
    """(desk on the fake, what it received, ``echo(thread_id) -> (body, headers)``)."""
    state = _State()
    conversations: dict[str, dict[str, Any]] = {}

    class Handler(JsonHandler):
        def _created(self, resource_id: int) -> None:
            self.send_response(201)
            self.send_header("Resource-ID", str(resource_id))
            self.send_header("Location", f"/api/conversations/{resource_id}")
            self.send_header("content-length", "0")
            self.end_headers()

        def _read(self) -> dict[str, Any]:
            length = int(self.headers.get("content-length") or 0)
            state.recorded.headers.append(dict(self.headers))
            return json.loads(self.rfile.read(length) or b"{}")  # type: ignore[no-any-return]

        def do_POST(self) -> None:
            document = self._read()
            if self.headers.get("X-FreeScout-API-Key") != "fs-key":
                self._answer(401, {"message": "Unauthorized"})
                return
            if self.path == "/api/conversations":
                conversation_id = next(state.ids)
                state.recorded.conversations.append(document)
                state.recorded.contacts.append(document["customer"])
                conversations[str(conversation_id)] = {**document, "id": conversation_id,
                                                       "threads": []}
                self._created(conversation_id)
            elif self.path.endswith("/threads"):
                thread_id = next(state.ids)
                conversation_id = self.path.split("/")[-2]
                stored = {**document, "id": thread_id, "conversation_id": conversation_id}
                state.recorded.messages.append(stored)
                conversations[conversation_id]["threads"].append(stored)
                self._created(thread_id)
            else:
                self._answer(404, {"message": "Not found"})

        def do_PUT(self) -> None:
            document = self._read()
            state.recorded.statuses.append((self.path.split("/")[-1], document["status"]))
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

    def echo(thread_id: str) -> tuple[bytes, dict[str, str]]:
        """The ``convo.agent.reply.created`` webhook: the Conversation with its threads."""
        thread = next(m for m in state.recorded.messages if str(m["id"]) == thread_id)
        conversation = conversations[str(thread["conversation_id"])]
        body = json.dumps({
            "id": conversation["id"], "number": conversation["id"], "type": "email",
            "status": "active", "state": "published", "subject": conversation["subject"],
            "mailboxId": conversation["mailboxId"], "customer": conversation["customer"],
            "updatedAt": "2026-12-07T10:05:00Z",
            "_embedded": {"threads": [
                {"id": t["id"], "type": t["type"], "body": t["text"],
                 "createdBy": {"id": 1, "type": "user", "email": "agent@fleetcore.test"},
                 "createdAt": "2026-12-07T10:05:00Z"} for t in conversation["threads"]]},
        }).encode()
        return body, freescout_signed(body, "convo.agent.reply.created")

    with serving(Handler) as url:
        yield (FreeScoutDesk(base_url=url, api_key="fs-key", mailbox_id="2", user_id="1",
                             webhook_secret=FREESCOUT_SECRET), state.recorded, echo)
