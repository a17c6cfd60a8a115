"""The small interface services and jobs send e-mail through, and the development outbox.

Services never import an e-mail provider: a job calls an :class:`EmailSender` chosen at
start-up (``fleetcore.worker``): Resend in production (``fleetcore.integrations.resend``), or
:class:`OutboxEmailSender`, which writes each message as an ``.eml`` file under
``<FLEETCORE_DATA_DIR>/outbox/`` so a developer can read what would have been sent.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class EmailAttachment:
    """A file sent with a message (a statement's PDF)."""

    filename: str
    content: bytes
    content_type: str = "application/pdf"


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """One message to one recipient, rendered (subject, HTML and text)."""

    sender: str
    to: str
    subject: str
    html: str
    text: str
    # Sent as the provider's Idempotency-Key: a retried send never delivers twice.
    idempotency_key: str
    # Provider tags (ASCII letters, digits, '_' and '-'): they come back in webhooks.
    tags: dict[str, str] = field(default_factory=dict)
    attachments: tuple[EmailAttachment, ...] = ()


class EmailSendError(Exception):
    """The provider refused or failed the message; the job may retry it later."""


class EmailRateLimited(EmailSendError):  # noqa: N818 - reads as the condition it reports
    """The provider answered 429; retry no sooner than ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EmailRejected(EmailSendError):  # noqa: N818 - reads as the condition it reports
    """The provider refused the message for good (validation error): retrying cannot help."""

    permanent = True  # read by core.jobs.Backoff: no retry


class EmailSender(Protocol):
    """Sends one message and returns the provider's message id."""

    def send(self, message: OutgoingEmail) -> str: ...


_SAFE_NAME = re.compile(r"[^A-Za-z0-9_-]+")


class OutboxEmailSender:
    """Development sender: writes ``<outbox>/<time>-<key>.eml`` instead of sending.

    Like Resend, a second send with the same idempotency key is not written again.
    """

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    def send(self, message: OutgoingEmail) -> str:
        """Write ``message`` as an .eml file; the message id is derived from its key."""
        self.outbox.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:24]
        message_id = f"outbox-{digest}"
        if any(self.outbox.glob(f"*-{digest}.eml")):
            return message_id
        mime = MimeMessage()
        mime["From"] = message.sender
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime["Date"] = format_datetime(datetime.now(UTC))
        mime["Message-ID"] = make_msgid(idstring=digest, domain="outbox.fleetcore.localhost")
        mime["Idempotency-Key"] = message.idempotency_key
        for name, value in message.tags.items():
            mime[f"X-Tag-{_SAFE_NAME.sub('-', name)}"] = value
        mime.set_content(message.text)
        mime.add_alternative(message.html, subtype="html")
        for attachment in message.attachments:
            main, _, sub = attachment.content_type.partition("/")
            mime.add_attachment(attachment.content, maintype=main, subtype=sub or "octet-stream",
                                filename=attachment.filename)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self.outbox / f"{stamp}-{digest}.eml"
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(bytes(mime))
        temporary.replace(path)
        return message_id
