"""Background jobs of the administration domain: reminders and notification e-mails."""

from __future__ import annotations

import logging
import uuid
from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.admin.notifications import deliver_notification
from fleetcore.admin.reminders import ReminderReport, create_reminders, tenants_due_for_reminders
from fleetcore.core.jobs import (
    JobRun,
    defer_in_transaction,
    defer_many_in_transaction,
    system_task,
    tenant_task,
)

logger = logging.getLogger(__name__)


@tenant_task(name="fleetcore.send_notification", queue_name="emails")
def send_notification(run: JobRun, *, notification_id: str) -> None:
    """Send one notification e-mail (at most once: the provider dedups its idempotency key)."""
    outcome = deliver_notification(
        run.session,
        run.environment.email_sender,
        uuid.UUID(notification_id),
        email_from=run.environment.email_from,
        final_attempt=run.is_last_attempt,
    )
    if outcome.error is not None:
        run.fail_after_commit(outcome.error)


INVITATION_REASON = "member_invitation"


def send_invitation(session: Session, tenant_id: uuid.UUID, member_id: uuid.UUID) -> uuid.UUID:
    """Queue the invitation e-mail of an invited member, once: the notification row is keyed on
    the member (a second call finds it) and its job sends it through the e-mail provider with
    the row's idempotency key. Returns the notification's id (in the session's transaction)."""
    row = session.execute(text("""
        WITH new AS (
          INSERT INTO adm_notifications (tenant_id, id, entity_type, entity_id, reason, channel,
                                         recipient_type, recipient_id, recipient_email,
                                         idempotency_key)
          SELECT m.tenant_id, gen_random_uuid(), 'member', m.id, CAST(:reason AS text), 'email',
                 'member', m.id, m.email,
                 'ntf_' || encode(sha256(convert_to(concat_ws('|', m.tenant_id::text, 'member',
                   m.id::text, CAST(:reason AS text), 'email'), 'UTF8')), 'hex')
            FROM adm_members m WHERE m.tenant_id = :t AND m.id = :m
          ON CONFLICT DO NOTHING
          RETURNING id)
        SELECT (SELECT id FROM new) AS created,
               (SELECT id FROM adm_notifications WHERE tenant_id = :t AND entity_type = 'member'
                   AND entity_id = :m AND reason = :reason AND channel = 'email') AS existing"""),
        {"t": tenant_id, "m": member_id, "reason": INVITATION_REASON}).one()
    if row.created is not None:
        defer_in_transaction(session, send_notification, tenant_id=tenant_id,
                             notification_id=str(row.created))
        return uuid.UUID(str(row.created))
    return uuid.UUID(str(row.existing))


def run_reminders(session: Session, tenant_id: uuid.UUID, *, today: date | None = None
                  ) -> ReminderReport:
    """Create a tenant's due reminders and defer their e-mails, in the session's transaction."""
    report = create_reminders(session, tenant_id, today=today)
    defer_many_in_transaction(
        session,
        send_notification,
        [{"tenant_id": tenant_id, "notification_id": n} for n in report.notification_ids],
    )
    return report


@tenant_task(name="fleetcore.run_tenant_reminders", queue_name="default")
def run_tenant_reminders(run: JobRun, *, today: str | None = None) -> None:
    """One tenant's reminders for its local today (or ``today``, ISO date)."""
    assert run.tenant_id is not None
    report = run_reminders(
        run.session, run.tenant_id, today=date.fromisoformat(today) if today else None
    )
    logger.info(
        "reminders: %d notifications, %d tasks", report.total_notifications, report.total_tasks,
        extra={"reminders": report.notifications, "tasks": report.tasks},
    )


@system_task(name="fleetcore.dispatch_reminders", cron="5 * * * *")
def dispatch_reminders(run: JobRun, *, timestamp: int | None = None) -> None:
    """Every hour: a reminders job for each tenant whose local reminder hour has come.

    Reminders are exactly-once per item and threshold, so the hourly repeats after that hour
    only pick up what changed (a document uploaded at noon) and catch up after an outage.
    """
    tenants = tenants_due_for_reminders(run.session)
    defer_many_in_transaction(
        run.session, run_tenant_reminders, [{"tenant_id": t} for t in tenants]
    )
