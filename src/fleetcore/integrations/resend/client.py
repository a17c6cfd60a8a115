"""Sending e-mail with the official ``resend`` SDK.

The SDK is configured through module globals: ``resend.api_key``, and ``resend.api_url``,
read on every request (``resend/request.py``), which is how ``RESEND_API_URL`` points it at a
test fake. ``Idempotency-Key`` is the notification's key: Resend answers a repeated key
(24 h) with the first message's id instead of sending again.
"""

from __future__ import annotations

import base64

import resend
from resend.exceptions import RateLimitError, ResendError

from fleetcore.core.email import EmailRateLimited, EmailRejected, EmailSendError, OutgoingEmail

DEFAULT_RETRY_AFTER_SECONDS = 60.0
# Status codes that retrying the same request cannot fix.
_PERMANENT = frozenset({400, 401, 403, 404, 405, 409, 422})


def _retry_after(headers: dict[str, str]) -> float:
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in ("retry-after", "ratelimit-reset"):
        try:
            return max(0.0, float(lowered[name]))
        except (KeyError, ValueError):
            continue
    return DEFAULT_RETRY_AFTER_SECONDS


class ResendEmailSender:
    """``EmailSender`` on Resend's ``POST /emails``."""

    def __init__(self, api_key: str, *, api_url: str | None = None) -> None:
        resend.api_key = api_key
        if api_url:
            resend.api_url = api_url.rstrip("/")

    def send(self, message: OutgoingEmail) -> str:
        """Send ``message``; returns Resend's email id."""
        params: resend.Emails.SendParams = {
            "from": message.sender,
            "to": [message.to],
            "subject": message.subject,
            "html": message.html,
            "text": message.text,
            "tags": [{"name": k, "value": v} for k, v in message.tags.items()],
        }
        if message.attachments:
            # Resend takes attachments as base64 content with a file name.
            params["attachments"] = [
                {"filename": a.filename, "content": base64.b64encode(a.content).decode("ascii"),
                 "content_type": a.content_type}
                for a in message.attachments]
        try:
            response = resend.Emails.send(params, {"idempotency_key": message.idempotency_key})
        except RateLimitError as error:
            raise EmailRateLimited(
                f"Resend rate limit: {error.message}", retry_after=_retry_after(error.headers)
            ) from error
        except ResendError as error:
            code = int(error.code) if str(error.code).isdigit() else 500
            if code == 429:
                raise EmailRateLimited(
                    f"Resend rate limit: {error.message}", retry_after=_retry_after(error.headers)
                ) from error
            kind = EmailRejected if code in _PERMANENT else EmailSendError
            raise kind(f"Resend {code} {error.error_type}: {error.message}") from error
        return str(response["id"])
