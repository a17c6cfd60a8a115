"""Small readers both desks' payloads need."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from fleetcore.support.desk import MalformedWebhook


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, else a 400 problem."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedWebhook("The body is not JSON.") from exc
    if not isinstance(document, dict):
        raise MalformedWebhook("The body is not a JSON object.")
    return document


def body_key(event: str, body: bytes) -> str:
    """A delivery id for a desk that sends none: the same retry has the same body."""
    return f"{event[:60]}:{hashlib.sha256(body).hexdigest()}"


def instant(value: Any) -> datetime | None:
    """A timestamp as the desks write them: unix seconds (int/float/digits) or ISO 8601."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(float(value), UTC)
        text = str(value)
        if text.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(text), UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def text_of(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def uuid_of(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
