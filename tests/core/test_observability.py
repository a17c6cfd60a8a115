"""Sentry events without personal data, JSON logs with request context, Prometheus metrics."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from fastapi.testclient import TestClient
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport
from sqlalchemy import Engine

from fleetcore.app import create_app
from fleetcore.core.observability import (
    IMPORT_ROWS_TOTAL,
    JsonFormatter,
    init_sentry,
    log_context,
    scrub_text,
)
from fleetcore.settings import Settings

EMAIL = "ana.silva@example.fr"
IBAN = "FR76 3000 6000 0112 3456 7890 189"
IBAN_COMPACT = "DE89370400440532013000"
JWT = ("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyXzEyMyIsIm8iOnt9fQ"
       ".c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU")
PHONE = "+33 6 12 34 56 78"
SECRETS = (EMAIL, IBAN, IBAN_COMPACT, JWT, "+33612345678", PHONE, "re_live_abcdef123456")


class MemoryTransport(Transport):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        event = envelope.get_event()
        if event is not None:
            self.events.append(event)


@pytest.fixture
def sentry() -> Iterator[MemoryTransport]:
    transport = MemoryTransport()
    assert init_sentry(None, environment="test", release="test", transport=transport)
    yield transport
    sentry_sdk.flush()
    sentry_sdk.init()  # no DSN: disabled again for the other tests


def test_scrub_text_removes_personal_data_and_keeps_the_rest() -> None:
    text = (f"mail {EMAIL} iban {IBAN} / {IBAN_COMPACT} auth Bearer {JWT} phone {PHONE} "
            "and 06 12 34 56 78 key re_live_abcdef123456 on 2026-11-25 order 1234567890")
    cleaned = scrub_text(text)
    for secret in (*SECRETS, "06 12 34 56 78"):
        assert secret not in cleaned
    assert "2026-11-25" in cleaned
    assert "1234567890" in cleaned
    assert "[Filtered]" in cleaned


def test_a_captured_sentry_event_has_no_email_iban_token_or_phone(
    app_engine: Engine, sentry: MemoryTransport
) -> None:
    app = create_app(Settings(fleetcore_env="test"), app_engine)

    @app.get("/v1/boom")
    def boom(email: str) -> None:
        logging.getLogger("fleetcore.test").warning("paying %s to %s", IBAN, email)
        raise ValueError(f"cannot pay {email} on {IBAN_COMPACT}, call {PHONE}, token {JWT}")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(
            "/v1/boom", params={"email": EMAIL},
            headers={"Authorization": f"Bearer {JWT}", "X-Request-Id": "req-sentry-1",
                     "Cookie": f"__session={JWT}", "X-Api-Key": "re_live_abcdef123456"},
        )
    assert response.status_code == 500
    sentry_sdk.flush()
    assert sentry.events, "the error reached the transport"
    event = sentry.events[-1]
    dumped = json.dumps(event)
    for secret in SECRETS:
        assert secret not in dumped, secret
    assert "cannot pay" in dumped  # the message is kept, only its personal data is removed
    assert event["tags"]["request_id"] == "req-sentry-1"


def test_tenant_and_request_are_sentry_tags(sentry: MemoryTransport) -> None:
    with log_context(request_id="job-7", tenant_id="0192-tenant", actor="system"):
        sentry_sdk.capture_message(f"reminder for {EMAIL}")
    sentry_sdk.flush()
    event = sentry.events[-1]
    assert event["tags"]["tenant_id"] == "0192-tenant"
    assert event["tags"]["request_id"] == "job-7"
    assert EMAIL not in json.dumps(event)


def test_json_logs_carry_request_tenant_and_actor_and_no_personal_data() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("fleetcore.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with log_context(request_id="req-9", tenant_id="t-1", actor="member:42"):
            logger.warning("bounce for %s", EMAIL, extra={"job": 12})
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["request_id"] == "req-9"
    assert first["tenant_id"] == "t-1"
    assert first["actor"] == "member:42"
    assert first["job"] == 12
    assert first["level"] == "warning"
    assert EMAIL not in first["message"]
    assert "request_id" not in second


def test_metrics_expose_request_latency_by_route_and_job_and_import_counters(
    app_engine: Engine,
) -> None:
    IMPORT_ROWS_TOTAL.labels("uber", "accepted").inc(0)
    with TestClient(create_app(Settings(fleetcore_env="test"), app_engine)) as client:
        client.get("/healthz")
        client.get("/no/such/path/12345")
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    body = response.text
    assert ('fleetcore_http_request_duration_seconds_bucket{le="0.005",method="GET",'
            'route="/healthz",status="200"}') in body
    assert 'route="<unmatched>",status="404"' in body
    assert "/no/such/path/12345" not in body
    for name in ("fleetcore_jobs_total", "fleetcore_job_duration_seconds",
                 "fleetcore_import_rows_total", "fleetcore_emails_total"):
        assert f"# HELP {name}" in body
