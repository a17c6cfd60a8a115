"""Optimistic concurrency over HTTP: ``ETag`` from a row's ``version``, ``If-Match`` checked.

A stale ``If-Match`` is a 412: the client re-reads and retries instead of overwriting a change
it never saw. Without ``If-Match`` the update applies (last writer wins, as the client chose).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from fleetcore.core.errors import PreconditionFailed


def etag(version: int) -> str:
    """The strong ETag of a row at ``version``."""
    return f'"{version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    """Raise 412 unless ``if_match`` is absent, ``*`` or names the current ``version``."""
    if if_match is None:
        return
    tags = [t.strip() for t in if_match.split(",") if t.strip()]
    if "*" in tags:
        return
    current = etag(version)
    if not any(t.removeprefix("W/") == current for t in tags):
        raise PreconditionFailed(
            f"The resource is at version {version}; re-read it and apply your change again.",
            current_etag=current,
        )


def refresh_version(session: Session, row: Any) -> None:
    """Flush ``row`` and read back what the touch trigger set (``version``, ``updated_at``),
    so the response carries the new ETag."""
    session.flush()
    session.refresh(row, ["version", "updated_at"])
