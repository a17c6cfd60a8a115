"""Periodic reminders of one tenant, in its time zone: each item and threshold notified once.

One set-based statement per reminder kind selects the items that reached a step of their
ladder today (30/14/7/1/0 days before a document expires…), inserts their notifications and
the staff's tasks with ``INSERT … ON CONFLICT DO NOTHING`` on the exactly-once keys
(``uq_adm_notifications_once``, ``sch_tasks.dedup_key``), and the e-mail jobs of the rows it
actually inserted are deferred in the same transaction. Running it twice, or every hour,
creates nothing new: that is what makes the periodic job safe to repeat and to catch up.

A step is *reached*, not *hit*: an item 5 days from expiry whose 7-day reminder was never sent
(the server was down, the document was just uploaded) gets the 7-day reminder now, and only
that one. Items past their date are caught up for ``catch_up_days`` (7) days, then ignored.

Recipients: the driver concerned (by e-mail, in the driver's language) when there is one, and
the tenant's staff at ``settings.reminders.staff_email`` (else the tenant's contact e-mail);
with neither, staff still get the task.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.core.errors import NotFound

DEFAULT_LADDERS: dict[str, list[int]] = {
    "document_days": [30, 14, 7, 1, 0],
    "insurance_days": [30, 14, 7, 1, 0],
    "training_days": [30, 7, 1, 0],
    "fine_days": [7, 3, 1, 0],
}
DEFAULT_CATCH_UP_DAYS = 7
DEFAULT_MAINTENANCE_LEAD_DAYS = 14
DEFAULT_MAINTENANCE_LEAD_KM = 1000
DEFAULT_SEND_HOUR = 7


@dataclass(frozen=True, slots=True)
class ReminderSettings:
    """A tenant's reminder configuration (``adm_tenants.settings -> 'reminders'``)."""

    document_days: list[int]
    insurance_days: list[int]
    training_days: list[int]
    fine_days: list[int]
    catch_up_days: int = DEFAULT_CATCH_UP_DAYS
    maintenance_lead_days: int = DEFAULT_MAINTENANCE_LEAD_DAYS
    maintenance_lead_km: int = DEFAULT_MAINTENANCE_LEAD_KM
    staff_email: str | None = None
    send_hour: int = DEFAULT_SEND_HOUR

    @classmethod
    def from_tenant(cls, settings: dict[str, Any], contact_email: str | None) -> ReminderSettings:
        """Read the tenant's settings, with defaults for what it does not say."""
        raw = settings.get("reminders") if isinstance(settings, dict) else None
        raw = raw if isinstance(raw, dict) else {}

        def ladder(key: str) -> list[int]:
            value = raw.get(key)
            if isinstance(value, list) and value and all(
                isinstance(v, int) and 0 <= v <= 366 for v in value
            ):
                return sorted(set(value), reverse=True)
            return DEFAULT_LADDERS[key]

        def number(key: str, default: int) -> int:
            value = raw.get(key)
            return value if isinstance(value, int) and value >= 0 else default

        staff = raw.get("staff_email")
        return cls(
            document_days=ladder("document_days"),
            insurance_days=ladder("insurance_days"),
            training_days=ladder("training_days"),
            fine_days=ladder("fine_days"),
            catch_up_days=number("catch_up_days", DEFAULT_CATCH_UP_DAYS),
            maintenance_lead_days=number("maintenance_lead_days", DEFAULT_MAINTENANCE_LEAD_DAYS),
            maintenance_lead_km=number("maintenance_lead_km", DEFAULT_MAINTENANCE_LEAD_KM),
            staff_email=staff if isinstance(staff, str) and "@" in staff else contact_email,
            send_hour=number("send_hour", DEFAULT_SEND_HOUR),
        )


@dataclass(frozen=True, slots=True)
class ReminderKind:
    """One kind of reminder: the SQL choosing today's items, who hears of it, and the task.

    ``candidates`` selects ``entity_id, threshold, driver_id, due_on, cycle, title`` with the
    parameters ``:tenant_id :today :tz :days :catch_up :max_days :lead_days :lead_km``.
    ``cycle`` identifies the due date the task is about, so a task is created once per cycle.
    """

    reason: str
    entity_type: str
    candidates: str
    ladder: str | None
    notify_driver: bool
    notify_staff: bool
    task_type: str | None = None
    task_priority: str = "normal"


def _ladder(days_left: str, with_cycle: str | None = None) -> str:
    step = (
        "(SELECT min(step_days) FROM unnest(CAST(:days AS int[])) AS step_days"
        f" WHERE step_days >= ({days_left})) || 'd'"
    )
    return f"{step} || ':' || ({with_cycle})" if with_cycle else step


def _within_ladder(days_left: str) -> str:
    return f"({days_left}) BETWEEN -CAST(:catch_up AS int) AND CAST(:max_days AS int)"


_TODAY = "CAST(:today AS date)"

DOCUMENTS = ReminderKind(
    reason="document_expiring",
    entity_type="document",
    ladder="document_days",
    notify_driver=True,
    notify_staff=True,
    task_type="document_verification",
    candidates=f"""
    SELECT d.id AS entity_id, {_ladder(f"d.expires_on - {_TODAY}")} AS threshold,
           CASE WHEN d.entity_type = 'driver' THEN d.entity_id END AS driver_id,
           d.expires_on AS due_on, d.expires_on::text AS cycle,
           'Collect the renewed ' || replace(d.document_type, '_', ' ')
             || ' (expires ' || d.expires_on || ')' AS title
      FROM doc_documents d
     WHERE d.tenant_id = :tenant_id AND d.deleted_at IS NULL AND d.rejected_at IS NULL
       AND d.expires_on BETWEEN {_TODAY} - CAST(:catch_up AS int)
                            AND {_TODAY} + CAST(:max_days AS int)
       -- A newer document of the same type for the same owner is its renewal.
       AND NOT EXISTS (
           SELECT 1 FROM doc_documents n
            WHERE n.tenant_id = d.tenant_id AND n.entity_type = d.entity_type
              AND n.entity_id = d.entity_id AND n.document_type = d.document_type
              AND n.deleted_at IS NULL AND n.rejected_at IS NULL
              AND n.expires_on > d.expires_on)
    """,
)

INSURANCES = ReminderKind(
    reason="insurance_renewal",
    entity_type="vehicle_insurance",
    ladder="insurance_days",
    notify_driver=False,
    notify_staff=True,
    task_type="other",
    task_priority="high",
    candidates=f"""
    SELECT i.id AS entity_id, {_ladder(f"i.ends_on - {_TODAY}")} AS threshold,
           NULL::uuid AS driver_id, i.ends_on AS due_on, i.ends_on::text AS cycle,
           'Renew the insurance of ' || v.licence_plate || ' (' || i.provider
             || ', ends ' || i.ends_on || ')' AS title
      FROM flt_vehicle_insurances i
      JOIN flt_vehicles v ON v.tenant_id = i.tenant_id AND v.id = i.vehicle_id
     WHERE i.tenant_id = :tenant_id AND i.active AND i.deleted_at IS NULL
       AND v.deleted_at IS NULL AND v.status NOT IN ('retired', 'sold')
       AND i.ends_on BETWEEN {_TODAY} - CAST(:catch_up AS int)
                         AND {_TODAY} + CAST(:max_days AS int)
       -- Already renewed: a later active policy follows this one.
       AND NOT EXISTS (
           SELECT 1 FROM flt_vehicle_insurances n
            WHERE n.tenant_id = i.tenant_id AND n.vehicle_id = i.vehicle_id AND n.active
              AND n.deleted_at IS NULL AND n.starts_on > i.starts_on AND n.ends_on > i.ends_on)
    """,
)

MAINTENANCE = ReminderKind(
    reason="maintenance_due",
    entity_type="maintenance_schedule",
    ladder=None,
    notify_driver=False,
    notify_staff=True,
    task_type="maintenance",
    candidates=f"""
    SELECT s.id AS entity_id,
           st.step || ':' || coalesce(s.next_due_on::text, '-') || '/'
             || coalesce(s.next_due_km::text, '-') AS threshold,
           NULL::uuid AS driver_id, s.next_due_on AS due_on,
           coalesce(s.next_due_on::text, '-') || '/' || coalesce(s.next_due_km::text, '-')
             AS cycle,
           initcap(replace(s.maintenance_type, '_', ' ')) || ' due for ' || v.licence_plate
             || coalesce(' on ' || s.next_due_on, '')
             || coalesce(' at ' || s.next_due_km || ' km', '') AS title
      FROM sch_maintenance_schedules s
      JOIN flt_vehicles v ON v.tenant_id = s.tenant_id AND v.id = s.vehicle_id
      LEFT JOIN LATERAL (
           -- The current odometer: the latest trusted, uncorrected reading.
           SELECT r.odometer_km FROM flt_odometer_readings r
            WHERE r.tenant_id = s.tenant_id AND r.vehicle_id = s.vehicle_id
              AND (NOT r.is_anomaly OR r.confirmed_at IS NOT NULL)
              AND NOT EXISTS (SELECT 1 FROM flt_odometer_readings c
                               WHERE c.tenant_id = r.tenant_id AND c.corrects_reading_id = r.id)
            ORDER BY r.read_at DESC LIMIT 1) km ON true
      CROSS JOIN LATERAL (
           SELECT CASE
             WHEN s.next_due_on < {_TODAY} OR km.odometer_km >= s.next_due_km THEN 'overdue'
             WHEN s.next_due_on - coalesce(s.reminder_lead_days, CAST(:lead_days AS int))
                    <= {_TODAY}
               OR km.odometer_km >= s.next_due_km
                    - coalesce(s.reminder_lead_km, CAST(:lead_km AS int)) THEN 'due_soon'
           END AS step) st
     WHERE s.tenant_id = :tenant_id AND s.active AND s.deleted_at IS NULL
       AND v.deleted_at IS NULL AND v.status NOT IN ('retired', 'sold')
       AND st.step IS NOT NULL
    """,
)

TRAINING = ReminderKind(
    reason="training_due",
    entity_type="driver_training",
    ladder="training_days",
    notify_driver=True,
    notify_staff=True,
    task_type="other",
    candidates=f"""
    SELECT t.id AS entity_id, {_ladder(f"x.due - {_TODAY}", "x.due::text")} AS threshold,
           t.driver_id, x.due AS due_on, x.due::text AS cycle,
           'Mandatory training "' || t.training_name || '" for ' || d.first_name || ' '
             || d.last_name || ' (due ' || x.due || ')' AS title
      FROM rid_driver_training t
      JOIN rid_drivers d ON d.tenant_id = t.tenant_id AND d.id = t.driver_id
      CROSS JOIN LATERAL (
           -- Planned training is due on its date; completed training again when it expires.
           SELECT CASE WHEN t.status IN ('planned', 'in_progress') THEN t.scheduled_on
                       WHEN t.status = 'completed' THEN t.expires_on END AS due) x
     WHERE t.tenant_id = :tenant_id AND t.training_type = 'mandatory' AND t.deleted_at IS NULL
       AND d.deleted_at IS NULL AND d.status NOT IN ('inactive', 'terminated')
       AND {_within_ladder(f"x.due - {_TODAY}")}
    """,
)

SHIFTS = ReminderKind(
    reason="shift_tomorrow",
    entity_type="shift",
    ladder=None,
    notify_driver=True,
    notify_staff=False,
    candidates=f"""
    SELECT s.id AS entity_id, '1d' AS threshold, s.driver_id,
           ({_TODAY} + 1) AS due_on, NULL::text AS cycle, NULL::text AS title
      FROM sch_shifts s
     WHERE s.tenant_id = :tenant_id AND s.status = 'scheduled' AND s.deleted_at IS NULL
       AND s.starts_at >= ({_TODAY} + 1)::timestamp AT TIME ZONE :tz
       AND s.starts_at < ({_TODAY} + 2)::timestamp AT TIME ZONE :tz
    """,
)

FINES = ReminderKind(
    reason="fine_designation_deadline",
    entity_type="traffic_fine",
    ladder="fine_days",
    notify_driver=False,
    notify_staff=True,
    task_type="other",
    task_priority="high",
    candidates=f"""
    SELECT f.id AS entity_id, {_ladder(f"f.designation_deadline_on - {_TODAY}")} AS threshold,
           NULL::uuid AS driver_id, f.designation_deadline_on AS due_on,
           f.designation_deadline_on::text AS cycle,
           'Designate the driver for fine ' || f.fine_reference || ' (deadline '
             || f.designation_deadline_on || ')' AS title
      FROM fin_traffic_fines f
     WHERE f.tenant_id = :tenant_id AND f.status = 'received' AND f.deleted_at IS NULL
       AND f.designation_deadline_on BETWEEN {_TODAY} - CAST(:catch_up AS int)
                                         AND {_TODAY} + CAST(:max_days AS int)
    """,
)

KINDS: tuple[ReminderKind, ...] = (DOCUMENTS, INSURANCES, MAINTENANCE, TRAINING, SHIFTS, FINES)


def _statement(kind: ReminderKind) -> str:
    task_insert = (
        f"""
    new_tasks AS (
      INSERT INTO sch_tasks (tenant_id, id, title, task_type, related_entity_type,
                             related_entity_id, priority, due_at, status, source, dedup_key)
      SELECT :tenant_id, gen_random_uuid(), c.title, '{kind.task_type}', '{kind.entity_type}',
             c.entity_id, '{kind.task_priority}', (c.due_on::timestamp AT TIME ZONE :tz),
             'open', 'system', '{kind.reason}:' || c.entity_id || ':' || coalesce(c.cycle, '')
        FROM c
      ON CONFLICT (tenant_id, dedup_key) WHERE deleted_at IS NULL DO NOTHING
      RETURNING id),"""
        if kind.task_type
        else """
    new_tasks AS (SELECT NULL::uuid AS id WHERE false),"""
    )
    recipients = []
    if kind.notify_driver:
        recipients.append(
            """
      SELECT c.entity_id, c.threshold, 'driver' AS recipient_type, d.id AS recipient_id,
             d.email AS recipient_email
        FROM c JOIN rid_drivers d ON d.tenant_id = :tenant_id AND d.id = c.driver_id
       WHERE d.deleted_at IS NULL AND d.anonymised_at IS NULL AND d.email IS NOT NULL"""
        )
    if kind.notify_staff:
        recipients.append(
            """
      SELECT c.entity_id, c.threshold, 'external' AS recipient_type,
             NULL::uuid AS recipient_id, CAST(:staff_email AS text) AS recipient_email
        FROM c WHERE CAST(:staff_email AS text) IS NOT NULL"""
        )
    union = "\n      UNION ALL".join(recipients)
    return f"""
    WITH c AS MATERIALIZED ({kind.candidates}),{task_insert}
    recipients AS ({union}),
    new_notifications AS (
      INSERT INTO adm_notifications (tenant_id, id, entity_type, entity_id, reason, threshold,
                                     channel, recipient_type, recipient_id, recipient_email,
                                     idempotency_key)
      SELECT :tenant_id, gen_random_uuid(), '{kind.entity_type}', r.entity_id, '{kind.reason}',
             r.threshold, 'email', r.recipient_type, r.recipient_id, r.recipient_email,
             'ntf_' || encode(sha256(convert_to(concat_ws('|', CAST(:tenant_id AS text),
               '{kind.entity_type}', r.entity_id, '{kind.reason}', r.threshold, 'email',
               coalesce(r.recipient_id::text, lower(r.recipient_email))), 'UTF8')), 'hex')
        FROM recipients r
      ON CONFLICT DO NOTHING
      RETURNING id)
    SELECT (SELECT count(*) FROM new_tasks) AS tasks,
           ARRAY(SELECT id FROM new_notifications) AS notifications
    """


_STATEMENTS = {kind.reason: text(_statement(kind)) for kind in KINDS}


@dataclass(frozen=True, slots=True)
class TenantClock:
    """A tenant's local date and reminder settings."""

    tenant_id: uuid.UUID
    timezone: str
    today: date
    settings: ReminderSettings


def tenant_clock(session: Session, tenant_id: uuid.UUID, today: date | None = None) -> TenantClock:
    """The tenant's time zone, today's date there (or ``today``) and its reminder settings."""
    row = session.execute(
        text(
            "SELECT timezone, (now() AT TIME ZONE timezone)::date, settings, contact_email"
            " FROM adm_tenants WHERE id = :id AND deleted_at IS NULL"
        ),
        {"id": tenant_id},
    ).one_or_none()
    if row is None:
        raise NotFound(f"No tenant {tenant_id}.")
    timezone, local_today, settings, contact_email = row
    return TenantClock(
        tenant_id, timezone, today or local_today,
        ReminderSettings.from_tenant(settings or {}, contact_email),
    )


@dataclass(slots=True)
class ReminderReport:
    """What one run created: per reason, new notifications and tasks; the new notifications."""

    today: date
    notifications: dict[str, int] = field(default_factory=dict)
    tasks: dict[str, int] = field(default_factory=dict)
    notification_ids: list[uuid.UUID] = field(default_factory=list)

    @property
    def total_notifications(self) -> int:
        """New notifications over all kinds."""
        return sum(self.notifications.values())

    @property
    def total_tasks(self) -> int:
        """New tasks over all kinds."""
        return sum(self.tasks.values())


def create_reminders(
    session: Session, tenant_id: uuid.UUID, *, today: date | None = None
) -> ReminderReport:
    """Create today's reminder notifications and tasks of one tenant (exactly once each).

    The session must be in that tenant's context. Returns the new notifications, whose
    e-mail jobs the caller defers in the same transaction (``admin.jobs.run_reminders``).
    """
    clock = tenant_clock(session, tenant_id, today)
    report = ReminderReport(clock.today)
    for kind in KINDS:
        days = getattr(clock.settings, kind.ladder) if kind.ladder else [0]
        tasks, notifications = session.execute(
            _STATEMENTS[kind.reason],
            {
                "tenant_id": tenant_id,
                "today": clock.today,
                "tz": clock.timezone,
                "days": days,
                "max_days": max(days),
                "catch_up": clock.settings.catch_up_days,
                "lead_days": clock.settings.maintenance_lead_days,
                "lead_km": clock.settings.maintenance_lead_km,
                "staff_email": clock.settings.staff_email,
            },
        ).one()
        report.tasks[kind.reason] = int(tasks)
        report.notifications[kind.reason] = len(notifications)
        report.notification_ids.extend(notifications)
    return report


def tenants_due_for_reminders(session: Session) -> list[uuid.UUID]:
    """Active tenants whose local time is past their reminder hour (provider context)."""
    rows = session.execute(
        text(
            "SELECT id FROM adm_tenants"
            " WHERE deleted_at IS NULL AND status IN ('trialing', 'active', 'past_due')"
            "   AND extract(hour FROM now() AT TIME ZONE timezone)"
            "       >= CASE WHEN settings -> 'reminders' ->> 'send_hour' ~ '^[0-9]{1,2}$'"
            "               THEN (settings -> 'reminders' ->> 'send_hour')::int"
            "               ELSE :default_hour END"
            " ORDER BY id"
        ),
        {"default_hour": DEFAULT_SEND_HOUR},
    )
    return list(rows.scalars())
