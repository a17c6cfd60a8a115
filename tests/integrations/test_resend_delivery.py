"""Notification e-mails through the real ``resend`` SDK against an in-process Resend fake:
exactly one e-mail per notification even when a worker dies mid-send, 429s retried after
``retry-after``, suppressed addresses never mailed, the development outbox."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import resend
from resend_fake import FakeRequest, ResendFake, running_resend_fake
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from fleetcore.admin.jobs import run_reminders
from fleetcore.admin.notifications import deliver_notification
from fleetcore.core.db import DbContext, bind_context, context_session, session_factory
from fleetcore.core.email import OutboxEmailSender, OutgoingEmail
from fleetcore.core.orm import new_id
from fleetcore.settings import Settings
from fleetcore.worker import email_sender
from fleetcore.worker import run as run_worker

TODAY = date.today()


@pytest.fixture
def resend_fake() -> Iterator[ResendFake]:
    with running_resend_fake() as fake:
        yield fake


@pytest.fixture(autouse=True)
def restore_resend_globals() -> Iterator[None]:
    saved = (resend.api_key, resend.api_url)
    yield
    resend.api_key, resend.api_url = saved


@pytest.fixture
def empty_queue(app_engine: Engine) -> Iterator[None]:
    def purge() -> None:
        with app_engine.begin() as conn:
            conn.execute(text("DELETE FROM procrastinate_jobs"))
            conn.execute(text("DELETE FROM procrastinate_workers"))

    purge()
    yield
    purge()


def _notified_driver(app_engine: Engine, email: str = "ana@fleet.test") -> tuple[uuid.UUID,
                                                                                 uuid.UUID]:
    """A committed tenant whose driver's licence expires in 7 days, reminders run: one
    pending notification (to the driver) and its e-mail job."""
    sessions = session_factory(app_engine)
    tenant = new_id()
    with context_session(sessions, DbContext.system()) as session:
        session.execute(
            text("INSERT INTO adm_tenants (id, name, slug, country, default_currency, timezone)"
                 " VALUES (:id, 'Mail Cabs', :slug, 'FR', 'EUR', 'UTC')"),
            {"id": tenant, "slug": f"mail-{tenant.hex[-12:]}"},
        )
    with context_session(sessions, DbContext.for_tenant(tenant)) as session:
        driver = new_id()
        session.execute(
            text("INSERT INTO rid_drivers (tenant_id, id, first_name, last_name, email,"
                 " preferred_language) VALUES (:t, :id, 'Ana', 'Silva', :email, 'fr')"),
            {"t": tenant, "id": driver, "email": email},
        )
        session.execute(
            text("INSERT INTO doc_documents (tenant_id, id, entity_type, entity_id,"
                 " document_type, file_name, storage_backend, storage_key, mime_type,"
                 " size_bytes, sha256, expires_on) VALUES (:t, :id, 'driver', :d,"
                 " 'driver_licence', 'l.pdf', 'local', :k, 'application/pdf', 1, :sha, :exp)"),
            {"t": tenant, "id": new_id(), "d": driver, "k": f"k/{uuid.uuid4()}",
             "sha": "0" * 64, "exp": TODAY + timedelta(days=7)},
        )
        report = run_reminders(session, tenant, today=TODAY)
    assert report.notification_ids
    assert len(report.notification_ids) == 1
    return tenant, report.notification_ids[0]


def _notification(app_engine: Engine, tenant: uuid.UUID, notification: uuid.UUID
                  ) -> dict[str, Any]:
    with context_session(session_factory(app_engine), DbContext.for_tenant(tenant)) as session:
        row = session.execute(
            text("SELECT status, attempts, provider_message_id, last_error, idempotency_key"
                 " FROM adm_notifications WHERE id = :id"), {"id": notification},
        ).mappings().one()
    return dict(row)


def _requests_for(fake: ResendFake, notification: uuid.UUID) -> list[FakeRequest]:
    """The requests about one notification. The suite's database holds other tenants, and a
    worker also runs due periodic jobs (hourly reminders for every tenant), so other e-mails
    may reach the fake during a test."""
    tag = {"name": "notification_id", "value": str(notification)}
    return [r for r in fake.requests if tag in r.body.get("tags", [])]


def _settings(fake: ResendFake, tmp_path: Path, url: str) -> Settings:
    return Settings(database_url=url, fleetcore_data_dir=tmp_path, fleetcore_env="test",
                    resend_api_key="re_test_key_123456", resend_api_url=fake.url)


def test_a_worker_killed_mid_send_is_retried_and_the_email_goes_out_once(
    app_engine: Engine, test_database: Any, resend_fake: ResendFake, empty_queue: None,
    tmp_path: Path,
) -> None:
    tenant, notification = _notified_driver(app_engine)
    fleetcore = shutil.which("fleetcore", path=str(Path(sys.executable).parent))
    assert fleetcore
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "RESEND_"))}
    env |= {"DATABASE_URL": test_database.app_url, "FLEETCORE_DATA_DIR": str(tmp_path),
            "FLEETCORE_ENV": "test", "RESEND_API_KEY": "re_test_key_123456",
            "RESEND_API_URL": resend_fake.url}
    worker = subprocess.Popen([fleetcore, "worker", "--concurrency", "1"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def kill_the_worker(request: FakeRequest) -> None:
        # Resend accepts the message, but the worker dies before it can commit "sent".
        if len(_requests_for(resend_fake, notification)) == 1 and worker.poll() is None:
            worker.kill()
            worker.wait(10)

    resend_fake.on_request = kill_the_worker
    try:
        deadline = time.monotonic() + 60
        while not _requests_for(resend_fake, notification) and time.monotonic() < deadline:
            assert worker.poll() is None or _requests_for(resend_fake, notification), (
                worker.stdout.read().decode() if worker.stdout else "")
            time.sleep(0.1)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    assert len(_requests_for(resend_fake, notification)) == 1
    assert _notification(app_engine, tenant, notification)["status"] == "pending"

    # A new worker finds the dead worker's job (no heartbeat), retries it, and the provider
    # recognises the idempotency key: the message is not delivered a second time.
    time.sleep(0.3)
    asyncio.run(run_worker(_settings(resend_fake, tmp_path, test_database.app_url), app_engine,
                           test_database.app_url, wait=False, install_signal_handlers=False,
                           stalled_after=0.2))

    ours = _requests_for(resend_fake, notification)
    keys = {r.idempotency_key for r in ours}
    assert len(ours) == 2
    assert len(keys) == 1
    assert None not in keys
    delivered = [m for m, body in resend_fake.delivered.items()
                 if body.get("tags") == ours[0].body["tags"]]
    assert len(delivered) == 1
    row = _notification(app_engine, tenant, notification)
    assert row["status"] == "sent"
    assert row["idempotency_key"] in keys
    assert row["provider_message_id"] == delivered[0]
    assert row["attempts"] == 1  # the killed attempt's write was rolled back with it
    request = ours[-1]
    assert request.authorization == "Bearer re_test_key_123456"
    assert request.user_agent
    assert request.user_agent.startswith("resend-python")
    assert request.body["to"] == ["ana@fleet.test"]
    assert "permis de conduire" in request.body["subject"].lower()  # the driver's language
    assert {t["name"] for t in request.body["tags"]} >= {"tenant_id", "notification_id"}


def test_a_429_is_retried_after_retry_after(
    app_engine: Engine, test_database: Any, resend_fake: ResendFake, empty_queue: None,
    tmp_path: Path,
) -> None:
    tenant, notification = _notified_driver(app_engine)
    resend_fake.script.append(
        (429, {"retry-after": "2", "ratelimit-remaining": "0"},
         {"statusCode": 429, "message": "Too many requests", "name": "rate_limit_exceeded"})
    )
    resend_fake.script_when = lambda r: r in _requests_for(resend_fake, notification)
    settings = _settings(resend_fake, tmp_path, test_database.app_url)

    async def until_sent() -> None:
        worker = asyncio.create_task(run_worker(
            settings, app_engine, test_database.app_url, install_signal_handlers=False,
            fetch_job_polling_interval=0.2,
        ))
        try:
            for _ in range(150):
                await asyncio.sleep(0.1)
                if len(_requests_for(resend_fake, notification)) >= 2:
                    await asyncio.sleep(0.5)
                    break
        finally:
            worker.cancel()
            with pytest.raises(asyncio.CancelledError):
                await worker

    asyncio.run(until_sent())

    ours = _requests_for(resend_fake, notification)
    assert len(ours) == 2
    first, second = ours
    assert second.at - first.at >= 1.9
    assert first.idempotency_key == second.idempotency_key
    row = _notification(app_engine, tenant, notification)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []

    def send(self, message: OutgoingEmail) -> str:
        self.sent.append(message)
        return f"msg-{len(self.sent)}"


def _pending_notification(db: Session, email: str) -> tuple[uuid.UUID, uuid.UUID]:
    bind_context(db, DbContext.system())
    tenant = new_id()
    db.execute(
        text("INSERT INTO adm_tenants (id, name, slug, country, default_currency, timezone)"
             " VALUES (:id, 'Supp Cabs', :slug, 'GB', 'GBP', 'Europe/London')"),
        {"id": tenant, "slug": f"supp-{tenant.hex[-12:]}"},
    )
    bind_context(db, DbContext.for_tenant(tenant))
    fine = new_id()
    db.execute(
        text("INSERT INTO fin_traffic_fines (tenant_id, id, fine_reference, offence_at, plate,"
             " amount, currency, designation_deadline_on) VALUES (:t, :id, 'F-1', now(),"
             " 'LX70 ABC', 100, 'GBP', current_date + 3)"), {"t": tenant, "id": fine},
    )
    notification = new_id()
    db.execute(
        text("INSERT INTO adm_notifications (tenant_id, id, entity_type, entity_id, reason,"
             " threshold, channel, recipient_type, recipient_email, idempotency_key)"
             " VALUES (:t, :id, 'traffic_fine', :fine, 'fine_designation_deadline', '3d',"
             " 'email', 'external', :email, :key)"),
        {"t": tenant, "id": notification, "fine": fine, "email": email, "key": f"k-{fine}"},
    )
    return tenant, notification


def test_a_suppressed_address_is_never_mailed(db: Session) -> None:
    tenant, notification = _pending_notification(db, "Bounced@Fleet.test")
    db.execute(
        text("INSERT INTO adm_email_suppressions (tenant_id, id, email, reason)"
             " VALUES (:t, :id, 'bounced@fleet.test', 'bounce')"), {"t": tenant, "id": new_id()},
    )
    sender = RecordingSender()
    outcome = deliver_notification(db, sender, notification, email_from="F <f@x.test>")
    assert outcome.status == "suppressed"
    assert sender.sent == []
    assert db.execute(text("SELECT status FROM adm_notifications WHERE id = :id"),
                      {"id": notification}).scalar_one() == "suppressed"


def test_a_sent_notification_is_not_sent_again(db: Session) -> None:
    _tenant, notification = _pending_notification(db, "office@fleet.test")
    sender = RecordingSender()
    assert deliver_notification(db, sender, notification, email_from="F <f@x.test>"
                                ).status == "sent"
    assert deliver_notification(db, sender, notification, email_from="F <f@x.test>"
                                ).status == "sent"
    assert len(sender.sent) == 1
    (message,) = sender.sent
    assert message.subject.startswith("Fine F-1: designate the driver")
    assert message.to == "office@fleet.test"
    assert "£100.00" in message.text


def test_without_an_api_key_development_mail_goes_to_the_outbox(tmp_path: Path) -> None:
    sender = email_sender(Settings(fleetcore_data_dir=tmp_path, fleetcore_env="development"))
    assert isinstance(sender, OutboxEmailSender)
    message = OutgoingEmail(sender="F <f@x.test>", to="a@x.test", subject="Hello",
                            html="<p>Hi</p>", text="Hi", idempotency_key="ntf_1")
    first, again = sender.send(message), sender.send(message)
    assert first == again
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    content = eml.read_text()
    assert "Subject: Hello" in content
    assert "To: a@x.test" in content


def test_production_refuses_to_start_without_an_email_provider(tmp_path: Path) -> None:
    from fleetcore.worker import EmailNotConfigured

    with pytest.raises(EmailNotConfigured):
        email_sender(Settings(fleetcore_data_dir=tmp_path, fleetcore_env="production"))
