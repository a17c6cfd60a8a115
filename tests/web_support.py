"""Helpers of the console tests (tests/web and tests/e2e): a signed-in browser-like client,
the CSRF token of a page, and a statement counter on the app engine."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from api_support import TenantWorld

CSRF = re.compile(r'(?:name="csrf_token" value="|"X-CSRF-Token": ")([0-9a-f]{64})"')
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7"
       b"5\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def csrf_of(html: str) -> str:
    """The CSRF token a console page embeds in its forms."""
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


class Browser:
    """A TestClient holding the console's cookies, as a browser would."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def sign_in(self, token: str) -> None:
        """Hold ``token`` as Clerk's ``__session`` cookie."""
        self.client.cookies.set("__session", token)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, follow_redirects=False, **kwargs)

    def token(self, page: str = "/app") -> str:
        """The CSRF token of ``page`` (which also sets the nonce cookie)."""
        response = self.get(page)
        assert response.status_code == 200, response.text[:500]
        return csrf_of(response.text)

    def post(self, path: str, data: dict[str, Any] | None = None, *, page: str = "/app",
             files: Any = None, headers: dict[str, str] | None = None) -> Any:
        """POST ``data`` with the CSRF token of ``page``."""
        body = {"csrf_token": self.token(page), **(data or {})}
        return self.client.post(path, data=body, files=files, headers=headers,
                                follow_redirects=False)


@dataclass
class StatementCounter:
    """Counts the SQL statements the app engine runs (``before_cursor_execute``)."""

    statements: list[str] = field(default_factory=list)

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)


@contextmanager
def count_statements(engine: Engine) -> Iterator[StatementCounter]:
    """The statements ``engine`` runs inside the block."""
    counter = StatementCounter()
    event.listen(engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", counter)


def member_token(token: Any, world: TenantWorld, role: str = "owner") -> str:
    """A session token of ``world``'s member holding ``role``."""
    person = world.person(role)
    minted: str = token(person.user_id, world.org_id)
    return minted
