"""Helpers of the CRM tests."""

from __future__ import annotations

from typing import Any

Headers = dict[str, str]


def made(answer: Any, status: int = 201) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    return dict(answer.json())


def etag_of(answer: Any) -> Headers:
    return {"If-Match": answer.headers["etag"]}
