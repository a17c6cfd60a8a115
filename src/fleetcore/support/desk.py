"""The help-desk interface the support domain talks to: Chatwoot or FreeScout, one per
deployment (``SUPPORT_DESK``), both behind :class:`SupportDesk`.

The domain never imports an integration (``lint-imports``): a connector turns a webhook into
:class:`InboundConversation` values the domain applies (``support.service.apply_inbound``), and
the jobs (``support.jobs``) push Fleetcore's tickets, replies and status changes out through
the desk the composition root installed (:func:`install`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from fleetcore.core.errors import Problem


class InvalidWebhook(Problem):
    """The delivery is not the help desk's (signature, timestamp or body): 4xx, nothing kept."""

    status, slug, title = 401, "invalid-signature", "The webhook signature is not valid"


class MalformedWebhook(Problem):
    status, slug, title = 400, "invalid-webhook", "The webhook body is not valid"


class DeskUnavailable(Exception):  # noqa: N818 - reads as the condition it reports
    """The help desk did not accept a call (network, 5xx, 429): the job retries later."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 permanent: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent
        self.status = status


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message or note of a conversation, as the help desk reported it."""

    external_id: str
    body: str
    sent_at: datetime | None
    from_customer: bool
    is_internal_note: bool = False
    author_email: str | None = None
    author_name: str | None = None
    fleetcore_id: uuid.UUID | None = None
    """Our own message echoed back (the id we sent with it): linked, never re-imported."""
    attachments: tuple[Mapping[str, object], ...] = ()


@dataclass(frozen=True, slots=True)
class InboundConversation:
    """What one webhook delivery says about one conversation."""

    system: str
    external_id: str
    event: str
    contact_email: str | None = None
    contact_name: str | None = None
    subject: str | None = None
    status: str | None = None
    """Our ticket status (``open``, ``pending``, ``resolved``, ``closed``); None: unchanged."""
    status_at: datetime | None = None
    """When the desk changed it: an older status never overwrites a newer one (reordering)."""
    deleted: bool = False
    messages: tuple[InboundMessage, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A verified webhook delivery: its id (the exactly-once key), its event, what it says."""

    delivery_id: str
    event: str
    conversation: InboundConversation | None
    """None for events that carry no conversation (contacts, inboxes, typing…): ignored."""


@dataclass(frozen=True, slots=True)
class OutboundTicket:
    ticket_id: uuid.UUID
    subject: str
    body: str
    contact_email: str
    contact_name: str


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    message_id: uuid.UUID
    body: str
    from_customer: bool
    is_internal_note: bool
    author_email: str | None = None
    attachment_names: tuple[str, ...] = ()


class SupportDesk(Protocol):
    """One help desk: verify and read its webhooks, call its API."""

    @property
    def system(self) -> str:
        """``chatwoot`` or ``freescout`` (``sup_tickets.external_system``)."""
        ...

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float) -> None:
        """Raise :class:`InvalidWebhook` unless the delivery is signed as the desk signs."""
        ...

    def read(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        """The delivery's id, event and conversation (:class:`MalformedWebhook` if not JSON)."""
        ...

    def open_conversation(self, ticket: OutboundTicket) -> str:
        """Create the conversation (and its contact) with the first message: its id."""
        ...

    def post_message(self, conversation_id: str, message: OutboundMessage) -> str:
        """Add a reply or note to the conversation: the desk's message id."""
        ...

    def set_status(self, conversation_id: str, status: str) -> None:
        """Move the conversation to our ticket ``status``."""
        ...


_factory: Callable[[], SupportDesk | None] = lambda: None  # noqa: E731 - a default


def install(factory: Callable[[], SupportDesk | None]) -> None:
    """Set how jobs reach the deployment's desk (the app and worker composition roots)."""
    global _factory
    _factory = factory


def current_desk() -> SupportDesk | None:
    """The deployment's desk, or None when Fleetcore mirrors to no help desk."""
    return _factory()
