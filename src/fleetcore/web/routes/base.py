"""What every page group's router shares."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter

from fleetcore.core.errors import Problem
from fleetcore.core.pagination import PageParams
from fleetcore.core.versioning import etag
from fleetcore.web.errors import ConsoleRoute
from fleetcore.web.i18n import gettext


def page_router() -> APIRouter:
    """A router of console pages (problems rendered as pages, not in the OpenAPI document)."""
    return APIRouter(route_class=ConsoleRoute, include_in_schema=False)


LIST_LIMIT = 50
"""Rows per list page."""


class BadLink(Problem):
    status, slug, title = 400, "bad-link", "Bad link"


def form_if_match(version: object, what: str) -> str:
    """The ``If-Match`` of a form: the version of the row the page showed, as the API requires
    it (never absent, so a change made meanwhile by someone else is refused, not
    overwritten)."""
    version = str(version or "")
    if not version.isdigit():
        raise BadLink(gettext("This form does not say which version of the %(what)s you saw: "
                              "reload the page and try again.", what=what))
    return etag(int(version))


E = TypeVar("E", bound=StrEnum)


def enum_value(kind: type[E], raw: str | None, name: str) -> str | None:
    """A filter's enum value (None when empty); a value the enum lacks is a bad link."""
    if not raw:
        return None
    try:
        return kind(raw).value
    except ValueError as exc:
        raise BadLink(f"{raw!r} is not a {name} the console knows.") from exc


def uuid_value(raw: str | None, name: str) -> uuid.UUID | None:
    """A filter's id (None when empty); a malformed one is a bad link."""
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise BadLink(gettext("%(name)s is not an id.", name=name)) from exc


def day_value(raw: str | None, name: str) -> date | None:
    """A filter's day (``YYYY-MM-DD``, None when empty); anything else is a bad link."""
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise BadLink(gettext("%(name)s is not a day (YYYY-MM-DD).", name=name)) from exc


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The instant (UTC) a local calendar day starts in ``zone``."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def page(cursor: str | None, limit: int = LIST_LIMIT) -> PageParams:
    """The page a list link asks for."""
    return PageParams(limit=limit, cursor=cursor or None)


def options(kind: type[StrEnum]) -> list[tuple[str, str]]:
    """``(value, label)`` of every member of an enum, for a select."""
    return [(m.value, m.value.replace("_", " ").capitalize()) for m in kind]
