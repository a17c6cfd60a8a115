"""A driver's statement e-mailed through the real ``resend`` SDK against the in-process Resend
fake: the PDF goes as an attachment, in the driver's language, once per request key."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
import resend
from resend_fake import ResendFake, running_resend_fake
from sqlalchemy import Engine, text

from fleetcore.core.db import DbContext, context_session, session_factory
from fleetcore.core.orm import new_id
from fleetcore.integrations.resend.client import ResendEmailSender
from fleetcore.trips.statement_jobs import deliver_statement

WEEK = date(2026, 11, 16)


@pytest.fixture
def resend_fake() -> Iterator[ResendFake]:
    saved = (resend.api_key, resend.api_url)
    with running_resend_fake() as fake:
        yield fake
    resend.api_key, resend.api_url = saved


def _driver_with_rent(app_engine: Engine, email: str | None) -> tuple[uuid.UUID, uuid.UUID]:
    sessions = session_factory(app_engine)
    tenant, driver = new_id(), new_id()
    with context_session(sessions, DbContext.system()) as session:
        session.execute(text(
            "INSERT INTO adm_tenants (id, name, slug, legal_name, country, default_currency,"
            " timezone) VALUES (:id, 'Mail Cabs', :slug, 'Mail Cabs SARL', 'FR', 'EUR',"
            " 'Europe/Paris')"), {"id": tenant, "slug": f"st-{tenant.hex[-12:]}"})
    with context_session(sessions, DbContext.for_tenant(tenant)) as session:
        session.execute(text(
            "INSERT INTO rid_drivers (tenant_id, id, first_name, last_name, email,"
            " preferred_language) VALUES (:t, :id, 'Ana', 'Silva', :email, 'fr')"),
            {"t": tenant, "id": driver, "email": email})
        session.execute(text(
            "INSERT INTO rid_driver_cooperation_terms (tenant_id, id, driver_id, terms_version,"
            " status, accepted_at, effective_from, settlement_model, rent_amount, rent_period,"
            " currency) VALUES (:t, gen_random_uuid(), :d, 'v1', 'active',"
            " '2025-12-31', '2026-01-01', 'fixed_rent', 70, 'week', 'EUR')"),
            {"t": tenant, "d": driver})
    return tenant, driver


def test_the_statement_goes_with_its_pdf_once(app_engine: Engine,
                                              resend_fake: ResendFake) -> None:
    tenant, driver = _driver_with_rent(app_engine, "ana@fleet.test")
    sender = ResendEmailSender("re_test_key_123456", api_url=resend_fake.url)
    sessions = session_factory(app_engine)
    with context_session(sessions, DbContext.for_tenant(tenant)) as session:
        from fleetcore.core.auth import Actor
        from fleetcore.core.db import ActorType
        from fleetcore.trips.settlement_service import compute_week

        actor = Actor(type=ActorType.MEMBER, id=new_id(), clerk_user_id="user_st",
                      tenant_id=tenant, tenant_status="active", permissions=frozenset({"*"}))
        compute_week(session, actor, period=WEEK)
    for _ in range(2):  # a retried job: same request key, one delivery
        with context_session(sessions, DbContext.for_tenant(tenant)) as session:
            message_id = deliver_statement(session, sender, tenant, driver,
                                           WEEK + timedelta(days=2), request_key="req-1",
                                           email_from="Fleet <no-reply@fleet.test>")
        assert message_id
    mine = [r for r in resend_fake.requests
            if {"name": "tenant_id", "value": str(tenant)} in r.body.get("tags", [])]
    assert len(mine) == 2
    assert len({r.idempotency_key for r in mine}) == 1
    assert len([b for b in resend_fake.delivered.values()
                if b["tags"] == mine[0].body["tags"]]) == 1
    body = mine[0].body
    assert body["to"] == ["ana@fleet.test"]
    assert body["subject"].startswith("Mail Cabs SARL : votre relevé de la semaine du 16")
    (attachment,) = body["attachments"]
    assert attachment["filename"] == f"statement-{WEEK.isoformat()}-{driver}.pdf"
    assert base64.b64decode(attachment["content"]).startswith(b"%PDF")
    assert "Loyer" in body["html"]
    assert "-70,00" in body["text"].replace("\u202f", " ").replace("\xa0", " ").replace(
        "\u2212", "-")


def test_no_address_sends_nothing(app_engine: Engine, resend_fake: ResendFake) -> None:
    tenant, driver = _driver_with_rent(app_engine, None)
    sender = ResendEmailSender("re_test_key_123456", api_url=resend_fake.url)
    with context_session(session_factory(app_engine), DbContext.for_tenant(tenant)) as session:
        assert deliver_statement(session, sender, tenant, driver, WEEK, request_key="r",
                                 email_from="f@fleet.test") is None
    assert not [r for r in resend_fake.requests
                if {"name": "tenant_id", "value": str(tenant)} in r.body.get("tags", [])]
