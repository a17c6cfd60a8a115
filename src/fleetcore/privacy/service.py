"""Export and erase a person's personal data (workflows.md, Finance 8; docs/privacy.md).

*Export* gathers every row about a driver (or a member) across the tables, the audit entries
about those rows, and the bytes of their documents, into one zip.

*Erasure* runs in the request's one transaction: it refuses (409) while the retention rule
still applies, then anonymises the person's personal fields in every table that holds them,
deletes their documents' rows, keeps every money record (trips, settlements, ledger, payments)
pointing at the same — now pseudonymous — row id, scrubs the personal values out of the audit
trail's ``changes`` (``fc_erase_audit_values``, migration 0009) and records one ``erase``
audit entry. The documents' files are deleted from storage only after the commit
(:func:`delete_files`), so a rolled-back erasure never leaves rows pointing at missing files.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, text
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.errors import Conflict, NotFound
from fleetcore.documents.storage import DocumentStorage, StorageError, delete_stored

logger = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 1095
"""Days after a person's last record before their data may be erased, unless the tenant sets
``settings.personal_data_retention_days`` (docs/privacy.md)."""

ERASED = "[erased]"
"""What an erased free-text value (and an audit value) becomes."""

# What belongs to a driver, table by table: the WHERE clause (``t`` is the table, :p the
# driver id, :tenant the tenant). Export reads all of them; erasure changes the personal ones.
DRIVER_ROWS: tuple[tuple[str, str], ...] = (
    ("rid_drivers", "t.id = :p"),
    ("rid_driver_documents", "t.driver_id = :p"),
    ("rid_driver_cooperation_terms", "t.driver_id = :p"),
    ("rid_driver_requests", "t.driver_id = :p"),
    ("rid_driver_performances", "t.driver_id = :p"),
    ("rid_driver_blacklists", "t.driver_id = :p"),
    ("rid_driver_training", "t.driver_id = :p"),
    ("doc_documents", "t.entity_type = 'driver' AND t.entity_id = :p"),
    ("trp_platform_accounts", "t.driver_id = :p"),
    ("flt_vehicle_assignments", "t.driver_id = :p"),
    ("flt_vehicle_events", "t.driver_id = :p"),
    ("flt_vehicle_expenses", "t.driver_id = :p"),
    ("sch_shift_series", "t.driver_id = :p"),
    ("sch_shifts", "t.driver_id = :p"),
    ("sch_tasks", "t.related_entity_id = :p"),
    ("trp_settlements", "t.driver_id = :p"),
    ("fin_accounts", "t.driver_id = :p"),
    ("fin_driver_payments", "t.driver_id = :p"),
    ("fin_toll_transactions", "t.driver_id = :p"),
    ("fin_traffic_fines", "t.driver_id = :p"),
    ("rev_driver_revenues", "t.driver_id = :p"),
    ("adm_notifications", "t.recipient_type = 'driver' AND t.recipient_id = :p"),
    ("sup_tickets", "t.reporter_type = 'driver' AND t.reporter_id = :p"),
    ("sup_ticket_messages", "t.sender_type = 'driver' AND t.sender_id = :p"),
    ("sup_customer_feedback", "t.submitted_by_type = 'driver' AND t.submitted_by_id = :p"),
)

MEMBER_ROWS: tuple[tuple[str, str], ...] = (
    ("adm_members", "t.id = :p"),
    ("adm_member_roles", "t.member_id = :p"),
    ("doc_documents", "t.entity_type = 'member' AND t.entity_id = :p"),
    ("adm_notifications", "t.recipient_type = 'member' AND t.recipient_id = :p"),
    ("sup_tickets", "t.reporter_type = 'member' AND t.reporter_id = :p"),
    ("sup_ticket_messages", "t.sender_type = 'member' AND t.sender_id = :p"),
    ("sup_customer_feedback", "t.submitted_by_type = 'member' AND t.submitted_by_id = :p"),
)

# The personal columns erasure overwrites, per table, and so the fields whose values are
# scrubbed from those rows' audit entries.
DRIVER_PERSONAL_FIELDS = (
    "first_name", "last_name", "email", "phone", "date_of_birth", "licence_number",
    "licence_country", "licence_issued_on", "licence_expires_on", "professional_card_type",
    "professional_card_number", "professional_card_expires_on", "notes", "metadata",
    "deletion_reason", "hired_on", "preferred_language", "rating",
)
MEMBER_PERSONAL_FIELDS = (
    "email", "first_name", "last_name", "phone", "clerk_user_id", "metadata", "deletion_reason",
    "preferred_language",
)
DOCUMENT_FIELDS = (
    "file_name", "document_number", "notes", "rejection_reason", "deletion_reason", "sha256",
    "issued_on", "expires_on",
)

# (table, WHERE on the person, SET, fields scrubbed from the audit trail)
DRIVER_ERASURES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("rid_driver_documents", "t.driver_id = :p", "rejection_reason = NULL",
     ("rejection_reason",)),
    ("rid_driver_cooperation_terms", "t.driver_id = :p",
     "accepted_ip = NULL, accepted_user_agent = NULL, termination_reason = NULL,"
     " deletion_reason = NULL",
     ("accepted_ip", "accepted_user_agent", "termination_reason", "deletion_reason")),
    ("rid_driver_requests", "t.driver_id = :p",
     "details = '{}'::jsonb, reason = NULL, resolution_notes = NULL",
     ("details", "reason", "resolution_notes")),
    ("rid_driver_blacklists", "t.driver_id = :p",
     f"reason = '{ERASED}', lift_reason = CASE WHEN lift_reason IS NULL THEN NULL"
     f" ELSE '{ERASED}' END, deletion_reason = NULL",
     ("reason", "lift_reason", "deletion_reason")),
    ("rid_driver_training", "t.driver_id = :p",
     "certificate_document_id = NULL, deletion_reason = NULL",
     ("deletion_reason",)),
    # The platform's identifier of the driver (phone, e-mail, UUID) becomes the account's own
    # id: it still identifies the account inside Fleetcore, and nothing outside it.
    ("trp_platform_accounts", "t.driver_id = :p",
     "external_account_kind = 'uuid', external_account_id = id::text, display_name = NULL,"
     " metadata = '{}'::jsonb, deletion_reason = NULL",
     ("external_account_id", "external_account_kind", "display_name", "metadata",
      "deletion_reason")),
    ("flt_vehicle_assignments", "t.driver_id = :p", "notes = NULL, deletion_reason = NULL",
     ("notes", "deletion_reason")),
    ("sch_shift_series", "t.driver_id = :p", "notes = NULL, deletion_reason = NULL",
     ("notes", "deletion_reason")),
    ("sch_shifts", "t.driver_id = :p", "notes = NULL, deletion_reason = NULL",
     ("notes", "deletion_reason")),
    ("fin_accounts", "t.driver_id = :p",
     "name = 'Driver ' || left(driver_id::text, 8), iban = NULL, bic = NULL,"
     " stripe_account_id = NULL, metadata = '{}'::jsonb, deletion_reason = NULL",
     ("name", "iban", "bic", "stripe_account_id", "metadata", "deletion_reason")),
    ("fin_driver_payments", "t.driver_id = :p", "failure_reason = NULL",
     ("failure_reason",)),
    ("adm_notifications", "t.recipient_type = 'driver' AND t.recipient_id = :p",
     "recipient_email = NULL, last_error = NULL", ()),
    ("sup_tickets", "t.reporter_type = 'driver' AND t.reporter_id = :p",
     f"subject = '{ERASED}', description = NULL, metadata = '{{}}'::jsonb",
     ("subject", "description", "metadata")),
    ("sup_ticket_messages", "t.sender_type = 'driver' AND t.sender_id = :p",
     f"body = '{ERASED}', attachments = '[]'::jsonb, metadata = '{{}}'::jsonb",
     ("body", "attachments", "metadata")),
    ("sup_customer_feedback", "t.submitted_by_type = 'driver' AND t.submitted_by_id = :p",
     "comment = NULL", ("comment",)),
)

MEMBER_ERASURES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("adm_notifications", "t.recipient_type = 'member' AND t.recipient_id = :p",
     "recipient_email = NULL, last_error = NULL", ()),
    ("sup_tickets", "t.reporter_type = 'member' AND t.reporter_id = :p",
     f"subject = '{ERASED}', description = NULL, metadata = '{{}}'::jsonb",
     ("subject", "description", "metadata")),
    ("sup_ticket_messages", "t.sender_type = 'member' AND t.sender_id = :p",
     f"body = '{ERASED}', attachments = '[]'::jsonb, metadata = '{{}}'::jsonb",
     ("body", "attachments", "metadata")),
    ("sup_customer_feedback", "t.submitted_by_type = 'member' AND t.submitted_by_id = :p",
     "comment = NULL", ("comment",)),
)

# Rows that may point at a document about to be deleted: the reference is cleared first.
DOCUMENT_REFERENCES: tuple[tuple[str, str], ...] = (
    ("rid_driver_training", "certificate_document_id"),
    ("fin_traffic_fines", "scan_document_id"),
    ("flt_vehicle_expenses", "receipt_document_id"),
    ("fin_driver_payment_batches", "export_document_id"),
    ("trp_client_invoices", "pdf_document_id"),
)


@dataclass
class Erasure:
    """What one erasure did, and the files to delete once it is committed."""

    person_type: str
    id: uuid.UUID
    anonymised_at: datetime
    rows_anonymised: dict[str, int] = field(default_factory=dict)
    documents_deleted: int = 0
    audit_entries_scrubbed: int = 0
    storage_keys: list[str] = field(default_factory=list)

    def count(self, table: str, rows: int) -> None:
        if rows:
            self.rows_anonymised[table] = self.rows_anonymised.get(table, 0) + rows


@dataclass(frozen=True, slots=True)
class ExportFile:
    """A zip of a person's data."""

    file_name: str
    content: bytes


# -- shared ----------------------------------------------------------------------------------


def _params(actor: Actor, person_id: uuid.UUID) -> dict[str, Any]:
    return {"p": person_id, "tenant": tenant_of(actor)}


def _rows(session: Session, table: str, where: str, params: dict[str, Any]) -> list[Any]:
    # Table names and clauses come from the constants above, never from a request.
    result = session.execute(text(
        f"SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.id), '[]'::jsonb) FROM {table} t"
        f" WHERE t.tenant_id = :tenant AND {where}"), params).scalar_one()
    return list(result)


def _audit(session: Session, action: str, entity_type: str, entity_id: uuid.UUID,
           changes: dict[str, Any]) -> None:
    """One audit entry written by hand (the triggers only see row changes)."""
    session.execute(text(
        "INSERT INTO adm_audit_logs (id, tenant_id, actor_type, actor_id, action, entity_type,"
        " entity_id, changes, ip, user_agent, request_id, occurred_at)"
        " VALUES (gen_random_uuid(), NULLIF(current_setting('app.tenant_id', true), '')::uuid,"
        " fc_audit_actor_type(), NULLIF(current_setting('app.actor_id', true), '')::uuid,"
        " :action, :entity_type, :entity_id, CAST(:changes AS jsonb),"
        " NULLIF(current_setting('app.ip', true), '')::inet,"
        " NULLIF(current_setting('app.user_agent', true), ''),"
        " NULLIF(current_setting('app.request_id', true), ''), clock_timestamp())"),
        {"action": action, "entity_type": entity_type, "entity_id": entity_id,
         "changes": json.dumps(changes)})


def _affected(session: Session, statement: Any, params: dict[str, Any]) -> int:
    """Rows an UPDATE or DELETE changed."""
    result: CursorResult[Any] = session.execute(statement, params)  # type: ignore[assignment]
    return result.rowcount or 0


def _person(session: Session, actor: Actor, table: str, person_id: uuid.UUID,
            label: str, *, lock: bool = True) -> dict[str, Any]:
    row = session.execute(text(
        f"SELECT to_jsonb(t) FROM {table} t WHERE t.tenant_id = :tenant AND t.id = :p"
        + (" FOR UPDATE" if lock else "")), _params(actor, person_id)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No {label} {person_id} in this fleet.")
    return dict(row)


def retention_days(session: Session, actor: Actor) -> int:
    """The tenant's retention period in days (``settings.personal_data_retention_days``)."""
    value = session.execute(text(
        "SELECT settings ->> 'personal_data_retention_days' FROM adm_tenants WHERE id = :tenant"),
        {"tenant": tenant_of(actor)}).scalar_one_or_none()
    try:
        days = int(value) if value is not None else DEFAULT_RETENTION_DAYS
    except ValueError:
        days = DEFAULT_RETENTION_DAYS
    return max(days, 0)


# -- export ----------------------------------------------------------------------------------


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:100] or "file"


def _export(session: Session, actor: Actor, storage: DocumentStorage, person_type: str,
            person_id: uuid.UUID, tables: tuple[tuple[str, str], ...],
            member_id: uuid.UUID | None) -> ExportFile:
    params = _params(actor, person_id)
    data: dict[str, list[Any]] = {}
    for table, where in tables:
        if table == "trp_settlements":
            data["trp_settlements"] = _rows(session, table, where, params)
            data["trp_settlement_lines"] = _rows(
                session, "trp_settlement_lines",
                "t.settlement_id IN (SELECT s.id FROM trp_settlements s"
                " WHERE s.tenant_id = :tenant AND s.driver_id = :p)", params)
            continue
        data[table] = _rows(session, table, where, params)
    trips: dict[str, Any] = {}
    if person_type == "driver":
        # Trips can be tens of thousands: a monthly summary per platform and currency.
        trips = {"trips_by_month": [dict(r._mapping) for r in session.execute(text(
            "SELECT to_char(date_trunc('month', coalesce(started_at, requested_at, created_at)),"
            " 'YYYY-MM') AS month, platform_id::text AS platform_id, currency, count(*) AS trips,"
            " sum(fare_gross)::text AS fare_gross, sum(net_earnings)::text AS net_earnings,"
            " sum(tip)::text AS tips FROM trp_trips WHERE tenant_id = :tenant AND driver_id = :p"
            " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"), params)]}
        data["fin_transactions"] = _rows(
            session, "fin_transactions",
            "(t.debit_account_id IN (SELECT a.id FROM fin_accounts a WHERE a.tenant_id = :tenant"
            " AND a.driver_id = :p) OR t.credit_account_id IN (SELECT a.id FROM fin_accounts a"
            " WHERE a.tenant_id = :tenant AND a.driver_id = :p))", params)
    if member_id is not None and person_type == "driver":
        data["adm_members"] = _rows(session, "adm_members", "t.id = :m",
                                    {**params, "m": member_id})
    # Audit entries name their row by (table, id): the (tenant, entity) index finds them.
    entities = sorted({(table, str(r["id"])) for table, rows in data.items() for r in rows
                       if "id" in r})
    actor_ids = [str(member_id)] if member_id is not None else []
    data["adm_audit_logs"] = list(session.execute(text(
        "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.occurred_at, t.id), '[]'::jsonb)"
        " FROM adm_audit_logs t WHERE t.tenant_id = :tenant"
        " AND ((t.entity_type, t.entity_id) IN (SELECT e.entity_type, e.entity_id FROM"
        "       unnest(CAST(:types AS text[]), CAST(:ids AS uuid[])) e(entity_type, entity_id))"
        "      OR (t.actor_type = 'member' AND t.actor_id = ANY (CAST(:actors AS uuid[]))))"),
        {**params, "types": [e[0] for e in entities], "ids": [e[1] for e in entities],
         "actors": actor_ids}).scalar_one())

    exported_at = datetime.now(UTC)
    buffer = io.BytesIO()
    missing: list[str] = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for doc in data.get("doc_documents", []):
            name = f"documents/{doc['id']}-{_safe_name(str(doc['file_name']))}"
            try:
                archive.writestr(name, storage.read(str(doc["storage_key"])))
            except (StorageError, ValueError):
                missing.append(str(doc["id"]))
        manifest = {
            "exported_at": exported_at.isoformat(),
            "person": {"type": person_type, "id": str(person_id)},
            "tables": data,
            **trips,
            "documents_missing_from_storage": missing,
        }
        archive.writestr(f"{person_type}.json",
                         json.dumps(manifest, indent=2, ensure_ascii=False, default=str))
    _audit(session, "export", "rid_drivers" if person_type == "driver" else "adm_members",
           person_id, {"tables": {t: len(r) for t, r in data.items() if r},
                       "documents": len(data.get("doc_documents", [])) - len(missing)})
    return ExportFile(f"{person_type}-{person_id}-{exported_at:%Y%m%d}.zip", buffer.getvalue())


def export_driver(session: Session, actor: Actor, storage: DocumentStorage,
                  driver_id: uuid.UUID) -> ExportFile:
    """Everything held about one driver (rows, audit entries, document files) as one zip."""
    driver = _person(session, actor, "rid_drivers", driver_id, "driver", lock=False)
    member = uuid.UUID(driver["member_id"]) if driver.get("member_id") else None
    return _export(session, actor, storage, "driver", driver_id, DRIVER_ROWS, member)


def export_member(session: Session, actor: Actor, storage: DocumentStorage,
                  member_id: uuid.UUID) -> ExportFile:
    """Everything held about one member (rows, audit entries, document files) as one zip."""
    _person(session, actor, "adm_members", member_id, "member", lock=False)
    return _export(session, actor, storage, "member", member_id, MEMBER_ROWS, member_id)


# -- retention -------------------------------------------------------------------------------


def driver_erasure_blockers(session: Session, actor: Actor, driver: dict[str, Any],
                            today: date) -> list[str]:
    """Why the driver's data may not be erased yet (empty: it may)."""
    params = _params(actor, uuid.UUID(driver["id"]))
    blockers: list[str] = []
    if driver["status"] not in ("inactive", "terminated"):
        blockers.append(f"the driver is {driver['status']}: set them inactive or terminated first")
    counts = session.execute(text(
        "SELECT"
        " (SELECT count(*) FROM flt_vehicle_assignments WHERE tenant_id = :tenant"
        "   AND driver_id = :p AND deleted_at IS NULL AND status IN ('scheduled', 'active')),"
        " (SELECT count(*) FROM rid_driver_cooperation_terms WHERE tenant_id = :tenant"
        "   AND driver_id = :p AND deleted_at IS NULL AND status IN ('pending', 'active')"
        "   AND (effective_to IS NULL OR effective_to > now())),"
        " (SELECT count(*) FROM trp_settlements WHERE tenant_id = :tenant AND driver_id = :p"
        "   AND (status = 'draft' OR (status = 'confirmed' AND net <> 0))),"
        " (SELECT count(*) FROM fin_driver_payments WHERE tenant_id = :tenant AND driver_id = :p"
        "   AND status IN ('pending', 'processing')),"
        " (SELECT count(*) FROM (SELECT a.currency FROM fin_accounts a"
        "   JOIN fin_transactions x ON x.tenant_id = a.tenant_id"
        "    AND a.id IN (x.debit_account_id, x.credit_account_id)"
        "   WHERE a.tenant_id = :tenant AND a.driver_id = :p"
        "   GROUP BY a.id, a.currency"
        "   HAVING sum(CASE WHEN x.debit_account_id = a.id THEN x.amount ELSE -x.amount END)"
        "          <> 0) b)"), params).one()
    assignments, terms, settlements, payments, balances = (int(c) for c in counts)
    if assignments:
        blockers.append(f"{assignments} vehicle assignment(s) are scheduled or active")
    if terms:
        blockers.append(f"{terms} cooperation terms are pending or in force")
    if settlements:
        blockers.append(f"{settlements} settlement(s) are draft or confirmed but unpaid")
    if payments:
        blockers.append(f"{payments} payment(s) are pending or processing")
    if balances:
        blockers.append(f"{balances} ledger account(s) of the driver have a non-zero balance")
    last = session.execute(text(
        "SELECT greatest("
        " (SELECT max(coalesce(ends_at, starts_at)) FROM flt_vehicle_assignments"
        "   WHERE tenant_id = :tenant AND driver_id = :p),"
        " (SELECT max(coalesce(effective_to, effective_from)) FROM rid_driver_cooperation_terms"
        "   WHERE tenant_id = :tenant AND driver_id = :p AND accepted_at IS NOT NULL),"
        " (SELECT max(coalesce(started_at, requested_at, created_at)) FROM trp_trips"
        "   WHERE tenant_id = :tenant AND driver_id = :p),"
        " (SELECT max(period_end) FROM trp_settlements WHERE tenant_id = :tenant"
        "   AND driver_id = :p),"
        " (SELECT max(x.posted_at) FROM fin_transactions x JOIN fin_accounts a"
        "   ON a.tenant_id = x.tenant_id AND a.id IN (x.debit_account_id, x.credit_account_id)"
        "   WHERE a.tenant_id = :tenant AND a.driver_id = :p),"
        " (SELECT max(created_at) FROM fin_driver_payments WHERE tenant_id = :tenant"
        "   AND driver_id = :p))"), params).scalar_one()
    days = retention_days(session, actor)
    if last is not None:
        until = last.astimezone(UTC).date() + timedelta(days=days)
        if until > today:
            blockers.append(
                f"the retention period of {days} days after the last record "
                f"({last.astimezone(UTC).date().isoformat()}) runs until {until.isoformat()}")
    return blockers


def member_erasure_blockers(session: Session, actor: Actor, member: dict[str, Any],
                            today: date) -> list[str]:
    """Why the member's data may not be erased yet (empty: it may)."""
    blockers: list[str] = []
    if str(member["id"]) == str(actor.id):
        blockers.append("members cannot erase themselves")
    if member["status"] != "suspended" and member.get("deleted_at") is None:
        blockers.append(f"the member is {member['status']}: suspend or remove them first")
    driver = session.execute(text(
        "SELECT id FROM rid_drivers WHERE tenant_id = :tenant AND member_id = :p"),
        _params(actor, uuid.UUID(member["id"]))).scalar_one_or_none()
    if driver is not None:
        blockers.append(f"the member is the portal account of driver {driver}: erase the driver,"
                        " which erases this member too")
    days = retention_days(session, actor)
    dates = [datetime.fromisoformat(v) for k in ("last_login_at", "deleted_at", "invited_at")
             if (v := member.get(k))]
    if dates:
        last = max(dates).astimezone(UTC).date()
        until = last + timedelta(days=days)
        if until > today:
            blockers.append(f"the retention period of {days} days after the last sign-in or "
                            f"removal ({last.isoformat()}) runs until {until.isoformat()}")
    return blockers


def _refuse(label: str, blockers: list[str]) -> Conflict:
    return Conflict(
        f"The {label}'s personal data cannot be erased yet: " + "; ".join(blockers) + ".",
        errors=[{"field": "retention", "message": b} for b in blockers],
    )


# -- erasure ---------------------------------------------------------------------------------


def _update(session: Session, erasure: Erasure, table: str, where: str, assignments: str,
            params: dict[str, Any]) -> list[Any]:
    ids = list(session.execute(text(
        f"UPDATE {table} t SET {assignments} WHERE t.tenant_id = :tenant AND {where}"
        " RETURNING t.id"), params).scalars())
    erasure.count(table, len(ids))
    return ids


def _delete_documents(session: Session, erasure: Erasure, entity_type: str,
                      params: dict[str, Any]) -> None:
    docs = session.execute(text(
        "SELECT id, storage_key FROM doc_documents WHERE tenant_id = :tenant"
        " AND entity_type = :entity_type AND entity_id = :p"),
        {**params, "entity_type": entity_type}).all()
    if not docs:
        return
    doc_ids = [d.id for d in docs]
    doc_params = {**params, "docs": doc_ids}
    if entity_type == "driver":
        erasure.count("rid_driver_documents", _affected(session, text(
            "DELETE FROM rid_driver_documents WHERE tenant_id = :tenant"
            " AND (driver_id = :p OR document_id = ANY (:docs))"), doc_params))
    for table, column in DOCUMENT_REFERENCES:
        session.execute(text(
            f"UPDATE {table} SET {column} = NULL WHERE tenant_id = :tenant"
            f" AND {column} = ANY (:docs)"), doc_params)
    deleted = _affected(session, text(
        "DELETE FROM doc_documents WHERE tenant_id = :tenant AND id = ANY (:docs)"),
        doc_params)
    erasure.count("doc_documents", deleted)
    erasure.documents_deleted += deleted
    erasure.storage_keys.extend(d.storage_key for d in docs)
    _scrub_as(session, erasure, entity_type, params["p"], "doc_documents", doc_ids,
              DOCUMENT_FIELDS)


def _erase_member_rows(session: Session, actor: Actor, erasure: Erasure,
                       member: dict[str, Any], now: datetime) -> None:
    """Anonymise one member (``erasure`` may be a driver's: the portal account is theirs)."""
    member_id = uuid.UUID(member["id"])
    params = _params(actor, member_id)
    email = member.get("email")
    if email:
        erasure.count("adm_email_suppressions", _affected(session, text(
            "DELETE FROM adm_email_suppressions WHERE tenant_id = :tenant"
            " AND lower(email) = lower(:email)"), {**params, "email": email}))
    _update(session, erasure, "adm_members", "t.id = :p",
            "email = 'erased-' || id::text || '@erased.invalid', first_name = NULL,"
            " last_name = NULL, phone = NULL, clerk_user_id = NULL, metadata = '{}'::jsonb,"
            " deletion_reason = NULL, preferred_language = 'en', status = 'suspended',"
            " deleted_at = coalesce(deleted_at, :now), anonymised_at = :now",
            {**params, "now": now})
    _delete_documents(session, erasure, "member", params)
    erasure.count("adm_member_roles", _affected(session, text(
        "DELETE FROM adm_member_roles WHERE tenant_id = :tenant AND member_id = :p"),
        params))
    for table, where, assignments, fields in MEMBER_ERASURES:
        ids = _update(session, erasure, table, where, assignments, params)
        _scrub_as(session, erasure, "member", member_id, table, ids, fields)
    _scrub_as(session, erasure, "member", member_id, "adm_members", [member_id],
              MEMBER_PERSONAL_FIELDS)


def _scrub_as(session: Session, erasure: Erasure, person_type: str, person_id: uuid.UUID,
              entity_type: str, ids: list[Any], fields: tuple[str, ...]) -> None:
    """Scrub as ``person_type``/``person_id`` (a driver's erasure also erases their member)."""
    if not ids and person_type != "member":
        return  # nothing to scrub (a member's own actions are scrubbed even with no rows)
    scrubbed = session.execute(text(
        "SELECT fc_erase_audit_values(:person_type, :person, :entity_type,"
        " CAST(:ids AS uuid[]), CAST(:fields AS text[]))"),
        {"person_type": person_type, "person": person_id,
         "entity_type": entity_type if ids else None, "ids": [str(i) for i in ids],
         "fields": list(fields)}).scalar_one()
    erasure.audit_entries_scrubbed += int(scrubbed or 0)


def _past_values(session: Session, params: dict[str, Any], entity_type: str, column: str,
                 current: str | None) -> list[str]:
    """The values ``column`` of the person's row has had, current one included (read from the
    audit trail before it is scrubbed)."""
    past = session.execute(text(
        "SELECT DISTINCT v FROM adm_audit_logs a, LATERAL (VALUES"
        " (a.changes -> :column ->> 'before'), (a.changes -> :column ->> 'after')) x(v)"
        " WHERE a.tenant_id = :tenant AND a.entity_type = :entity_type AND a.entity_id = :p"
        " AND a.changes ? :column AND v IS NOT NULL AND v <> '[redacted]'"),
        {**params, "entity_type": entity_type, "column": column}).scalars()
    return sorted({*past, *([current] if current else [])})


def _replace_names(column: str, values: list[str]) -> str:
    expression = column
    for n in range(len(values)):
        expression = f"replace({expression}, :v{n}, '{ERASED}')"
    return expression


def erase_driver(session: Session, actor: Actor, driver_id: uuid.UUID, *, reason: str,
                 now: datetime | None = None) -> Erasure:
    """Anonymise a driver's personal data everywhere, keeping their money records (409 while
    the retention rule applies)."""
    now = now or datetime.now(UTC)
    driver = _person(session, actor, "rid_drivers", driver_id, "driver")
    if driver.get("anonymised_at"):
        raise Conflict(f"The driver's personal data was already erased on "
                       f"{driver['anonymised_at']}.")
    blockers = driver_erasure_blockers(session, actor, driver, now.date())
    if blockers:
        raise _refuse("driver", blockers)

    erasure = Erasure("driver", driver_id, now)
    params = _params(actor, driver_id)
    external_ids = list(session.execute(text(
        "SELECT external_account_id FROM trp_platform_accounts WHERE tenant_id = :tenant"
        " AND driver_id = :p"), params).scalars())
    # Addresses the driver had before an edit live on in other tables (suppressions, tasks).
    emails = _past_values(session, params, "rid_drivers", "email", driver.get("email"))
    phones = _past_values(session, params, "rid_drivers", "phone", driver.get("phone"))
    documents = session.execute(text(
        "SELECT id, file_name FROM doc_documents WHERE tenant_id = :tenant"
        " AND entity_type = 'driver' AND entity_id = :p"), params).all()

    # Anonymised first: the audit scrub refuses a person who is not (migration 0009).
    _update(session, erasure, "rid_drivers", "t.id = :p",
            "first_name = 'Erased', last_name = 'driver ' || left(id::text, 8), email = NULL,"
            " phone = NULL, date_of_birth = NULL, licence_number = NULL, licence_country = NULL,"
            " licence_issued_on = NULL, licence_expires_on = NULL, professional_card_type = NULL,"
            " professional_card_number = NULL, professional_card_expires_on = NULL,"
            " notes = NULL, metadata = '{}'::jsonb, deletion_reason = NULL, hired_on = NULL,"
            " rating = NULL, preferred_language = 'en', member_id = NULL,"
            " anonymised_at = :now", {**params, "now": now})
    _scrub_as(session, erasure, "driver", driver_id, "rid_drivers", [driver_id],
              (*DRIVER_PERSONAL_FIELDS, "member_id"))

    _delete_documents(session, erasure, "driver", params)
    for table, where, assignments, fields in DRIVER_ERASURES:
        ids = _update(session, erasure, table, where, assignments, params)
        _scrub_as(session, erasure, "driver", driver_id, table, ids, fields)

    # Report rows carry the platform's identifier of the driver (phone, e-mail) and whatever
    # else the file had, matched to the driver or not. Trips keep their amounts; where the
    # driver was picked up and dropped off is personal.
    erasure.count("rev_import_rows", _affected(session, text(
        "UPDATE rev_import_rows SET platform_account_ref = NULL, extra_columns = '{}'::jsonb,"
        " updated_at = now() WHERE tenant_id = :tenant"
        " AND (driver_id = :p OR platform_account_ref = ANY (:refs))"),
        {**params, "refs": external_ids}))
    erasure.count("trp_trips", _affected(session, text(
        "UPDATE trp_trips SET pickup_lat = NULL, pickup_lon = NULL, dropoff_lat = NULL,"
        " dropoff_lon = NULL, updated_at = now() WHERE tenant_id = :tenant AND driver_id = :p"
        " AND (pickup_lat IS NOT NULL OR dropoff_lat IS NOT NULL)"), params))

    # Free text that names the driver (reminder tasks: "… for Ana Borg").
    names = [v for v in (
        f"{driver['first_name']} {driver['last_name']}", *emails, *phones,
        driver.get("licence_number"), driver.get("professional_card_number"),
        *(d.file_name for d in documents),
    ) if v]
    name_params = {**params, **{f"v{n}": v for n, v in enumerate(names)}}
    task_ids = list(session.execute(text(
        f"UPDATE sch_tasks t SET title = {_replace_names('title', names)},"
        f" description = {_replace_names('description', names)}"
        " WHERE t.tenant_id = :tenant AND (t.related_entity_id = :p"
        "  OR t.related_entity_id IN (SELECT r.id FROM rid_driver_training r"
        "   WHERE r.tenant_id = :tenant AND r.driver_id = :p)"
        "  OR t.related_entity_id IN (SELECT r.id FROM rid_driver_requests r"
        "   WHERE r.tenant_id = :tenant AND r.driver_id = :p)"
        "  OR t.related_entity_id = ANY (:docs))"
        " RETURNING t.id"), {**name_params, "docs": [d.id for d in documents]}).scalars())
    erasure.count("sch_tasks", len(task_ids))
    _scrub_as(session, erasure, "driver", driver_id, "sch_tasks", task_ids,
              ("title", "description"))

    # Stored API responses may quote the driver (e.g. a replayed POST /v1/drivers).
    erasure.count("adm_idempotency_keys", _affected(session, text(
        "DELETE FROM adm_idempotency_keys WHERE tenant_id = :tenant"
        " AND response_body::text LIKE '%' || CAST(:p AS text) || '%'"), params))
    if emails:
        erasure.count("adm_email_suppressions", _affected(session, text(
            "DELETE FROM adm_email_suppressions WHERE tenant_id = :tenant"
            " AND lower(email) = ANY (:emails)"),
            {**params, "emails": [e.lower() for e in emails]}))

    if driver.get("member_id"):
        member = _person(session, actor, "adm_members", uuid.UUID(driver["member_id"]), "member")
        if not member.get("anonymised_at"):
            _erase_member_rows(session, actor, erasure, member, now)

    _audit(session, "erase", "rid_drivers", driver_id, {
        "reason": reason, "rows": erasure.rows_anonymised,
        "documents_deleted": erasure.documents_deleted,
        "audit_entries_scrubbed": erasure.audit_entries_scrubbed,
        # Ids only: what to delete by hand if the storage fails after the commit.
        "storage_keys": erasure.storage_keys,
    })
    return erasure


def erase_member(session: Session, actor: Actor, member_id: uuid.UUID, *, reason: str,
                 now: datetime | None = None) -> Erasure:
    """Anonymise a member's personal data everywhere (409 while the retention rule applies)."""
    now = now or datetime.now(UTC)
    member = _person(session, actor, "adm_members", member_id, "member")
    if member.get("anonymised_at"):
        raise Conflict(f"The member's personal data was already erased on "
                       f"{member['anonymised_at']}.")
    blockers = member_erasure_blockers(session, actor, member, now.date())
    if blockers:
        raise _refuse("member", blockers)
    erasure = Erasure("member", member_id, now)
    _erase_member_rows(session, actor, erasure, member, now)
    _audit(session, "erase", "adm_members", member_id, {
        "reason": reason, "rows": erasure.rows_anonymised,
        "documents_deleted": erasure.documents_deleted,
        "audit_entries_scrubbed": erasure.audit_entries_scrubbed,
        # Ids only: what to delete by hand if the storage fails after the commit.
        "storage_keys": erasure.storage_keys,
    })
    return erasure


def delete_files(storage: DocumentStorage, keys: list[str]) -> list[str]:
    """Delete erased documents' files (after the commit); the keys that could not be deleted.

    Their rows are already gone, so a failure leaves an unreferenced file, never a row
    pointing at a missing one; the keys are logged for a retry (docs/privacy.md).
    """
    return delete_stored(storage, keys)
