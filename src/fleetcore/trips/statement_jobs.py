"""Background job of the statements: e-mail a driver their week's statement, PDF attached.

The job carries ids only (the queue is not under row-level security); it renders the statement
when it runs, in the tenant's context, and sends it through the process's
:class:`~fleetcore.core.email.EmailSender` (Resend in production). The idempotency key is the
request's (``statement:<driver>:<week>:<request>``): a retried job never delivers twice, and a
driver asking again gets a new e-mail.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date

from babel.dates import format_date
from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.core.email import (
    EmailAttachment,
    EmailRejected,
    EmailSender,
    EmailSendError,
    OutgoingEmail,
)
from fleetcore.core.jobs import JobRun, tenant_task
from fleetcore.core.money import Money
from fleetcore.core.observability import EMAILS_TOTAL
from fleetcore.trips.statement_render import (
    LABELS,
    render_statement_html,
    render_statement_pdf,
    statement_filename,
)
from fleetcore.trips.statement_service import driver_email, statement_of

logger = logging.getLogger(__name__)

_SUBJECT = {"en": "{fleet}: your statement for the week of {week}",
            "fr": "{fleet} : votre relevé de la semaine du {week}"}
_TEXT = {"en": "Hello {name},\n\nYour statement for the week of {week} is attached (PDF).\n"
               "{total_label}: {total}\n\n{fleet}\n",
         "fr": "Bonjour {name},\n\nVotre relevé de la semaine du {week} est en pièce jointe "
               "(PDF).\n{total_label} : {total}\n\n{fleet}\n"}


@tenant_task(name="fleetcore.send_statement", queue_name="emails")
def send_statement(run: JobRun, *, driver_id: str, week: str, request_key: str) -> None:
    """Send one driver's statement of one week (PDF attached), at most once per request."""
    assert run.tenant_id is not None
    try:
        deliver_statement(run.session, run.environment.email_sender, run.tenant_id,
                          uuid.UUID(driver_id), date.fromisoformat(week),
                          request_key=request_key, email_from=run.environment.email_from)
    except EmailRejected:
        raise  # permanent: core.jobs.Backoff does not retry it
    except EmailSendError as error:
        run.fail_after_commit(error)


def deliver_statement(
    session: Session, sender: EmailSender, tenant_id: uuid.UUID, driver_id: uuid.UUID,
    week: date, *, request_key: str, email_from: str,
) -> str | None:
    """Render the statement (HTML body, PDF attached) and send it to the driver; the
    provider's message id, or None when the driver has no deliverable address."""
    address = driver_email(session, tenant_id, driver_id)
    suppressed = address is None or session.execute(
        text("SELECT 1 FROM adm_email_suppressions WHERE lower(email) = lower(:e)"),
        {"e": address}).first() is not None
    if suppressed or address is None:
        logger.info("statement not sent: the driver has no deliverable address")
        EMAILS_TOTAL.labels("suppressed").inc()
        return None
    statement = statement_of(session, tenant_id, driver_id, week)
    words = LABELS[statement.language]
    locale = "fr_FR" if statement.language == "fr" else "en_GB"
    values = {"fleet": statement.fleet.legal_name,
              "week": format_date(statement.period.first_day, "long", locale=locale),
              "name": statement.driver_name, "total_label": words["total"],
              "total": Money(statement.total, statement.currency).format(locale)}
    message = OutgoingEmail(
        sender=email_from, to=address,
        subject=_SUBJECT[statement.language].format(**values),
        html=str(render_statement_html(statement)),
        text=_TEXT[statement.language].format(**values),
        idempotency_key=f"statement:{driver_id}:{statement.period.first_day}:{request_key}",
        tags={"tenant_id": str(tenant_id), "kind": "statement"},
        attachments=(EmailAttachment(statement_filename(statement),
                                     render_statement_pdf(statement)),),
    )
    try:
        message_id = sender.send(message)
    except EmailSendError:
        EMAILS_TOTAL.labels("failed").inc()
        raise
    EMAILS_TOTAL.labels("sent").inc()
    return message_id
