"""The HTTP client both desks' APIs share: JSON in and out, bounded timeouts, and failures
turned into :class:`~fleetcore.support.desk.DeskUnavailable` (retried by the job unless the
desk refused the request itself: 4xx other than 408/429 are permanent)."""

from __future__ import annotations

from typing import Any

import httpx

from fleetcore.support.desk import DeskUnavailable

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def call(method: str, url: str, *, headers: dict[str, str], json: Any | None = None
         ) -> httpx.Response:
    """One request; the response when 2xx, else :class:`DeskUnavailable`."""
    try:
        with httpx.Client(timeout=TIMEOUT) as client:
            response = client.request(method, url, headers=headers, json=json)
    except httpx.HTTPError as exc:
        raise DeskUnavailable(f"{method} {url}: {type(exc).__name__}") from exc
    if response.is_success:
        return response
    retry_after = response.headers.get("retry-after", "")
    permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
    raise DeskUnavailable(
        f"{method} {url}: HTTP {response.status_code}",
        retry_after=float(retry_after) if retry_after.isdigit() else None, permanent=permanent,
        status=response.status_code)


def json_of(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError as exc:
        raise DeskUnavailable(f"{response.request.url}: the answer is not JSON") from exc
    if not isinstance(document, dict):
        raise DeskUnavailable(f"{response.request.url}: the answer is not a JSON object")
    return document
