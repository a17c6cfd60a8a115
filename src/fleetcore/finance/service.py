"""Reading the ledger per driver, and correcting it (money.md "Ledger rules" 2, 3, 4, 7).

* :func:`driver_balances` — what the fleet owes each driver (or is owed), per currency, as of a
  day: one set-based statement whatever the number of drivers (a payout batch asks for all of
  them at once). A balance is the sum of the entries of the driver's ``driver_balance`` account
  (credits - debits: positive = the fleet owes the driver) whose **economic date**
  ``effective_on`` is on or before the day. The economic date of a settlement's entries is the
  last day of the week it settles, so "as of 31 March" counts a March week confirmed in April,
  and never an entry whose business date is later (rule 7).
* :func:`driver_statement` — the statement of account of one driver: entries by economic date
  then posting, each with its running balance and its source resolved (settlement week and
  platform, line, report row, trip, expense, toll, fine, payment, reversed entry).
* :func:`reverse_event` — the only correction of posted money: mirror entries linked by
  ``reversal_of_id`` (rule 2, M4), idempotent like every posting (rule 4, M5).

Balances are projections: nothing here caches one (rule 3).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.errors import Conflict, NotFound, ValidationProblem
from fleetcore.core.pagination import PageParams, decode_cursor, encode_cursor

__all__ = [
    "DriverBalance",
    "LedgerEntry",
    "LedgerFilter",
    "Reversal",
    "balances_sql",
    "driver_balances",
    "driver_statement",
    "require_driver",
    "reverse_event",
    "statement_entries",
    "tenant_today",
]

_NAMESPACE = uuid.UUID("0b7f3c52-9f0e-4d1c-8a77-2f51d0f6b1e3")


# --- balances -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DriverBalance:
    """One driver's balance in one currency as of a day.

    ``balance`` > 0: the fleet owes the driver; < 0: the driver owes the fleet (a rent week
    larger than their earnings, recharged costs); 0: settled. ``account_id`` is the driver's
    ``driver_balance`` account in that currency (what a payout debits).
    """

    driver_id: uuid.UUID
    currency: str
    balance: Decimal
    account_id: uuid.UUID
    as_of: date | None

    @property
    def owed_by_driver(self) -> bool:
        """True when the driver owes the fleet."""
        return self.balance < 0


def balances_sql(*, as_of: bool, drivers: bool, currency: bool) -> str:
    """**The** definition of a driver's balance, as SQL to run or embed (one set-based
    statement, no ``ORDER BY``): :func:`driver_balances` runs it, the payout batches embed it in
    their single ``INSERT … SELECT`` (``payout_service.available_balances``).

    Columns ``driver_id, currency, account_id, balance``: one row per live ``driver_balance``
    account of tenant ``:t``; ``balance`` = credits - debits of the entries whose economic date
    ``effective_on`` is on or before ``:as_of`` (with ``as_of``; every entry otherwise). Optional
    filters: ``:drivers`` (a list of driver ids, with ``drivers``) and ``:currency`` (with
    ``currency``). Each account's sum is two index-only range scans
    (``ix_fin_transactions_tenant_id_{credit,debit}_effective_on``), so the cost is
    proportional to the entries of the drivers asked for, not to the ledger."""
    on_c = "AND c.effective_on <= :as_of" if as_of else ""
    on_d = "AND d.effective_on <= :as_of" if as_of else ""
    only_drivers = "AND a.driver_id = ANY(CAST(:drivers AS uuid[]))" if drivers else ""
    only_currency = "AND a.currency = :currency" if currency else ""
    return f"""
    SELECT a.driver_id, a.currency, a.id AS account_id,
           coalesce((SELECT sum(c.amount) FROM fin_transactions c
                      WHERE c.tenant_id = a.tenant_id AND c.credit_account_id = a.id
                        {on_c}), 0)
         - coalesce((SELECT sum(d.amount) FROM fin_transactions d
                      WHERE d.tenant_id = a.tenant_id AND d.debit_account_id = a.id
                        {on_d}), 0) AS balance
      FROM fin_accounts a
     WHERE a.tenant_id = :t AND a.kind = 'driver_balance' AND a.deleted_at IS NULL
       {only_drivers} {only_currency}"""


def driver_balances(
    session: Session, actor: Actor, *, driver_ids: Sequence[uuid.UUID] | None = None,
    as_of: date | None = None, currency: str | None = None,
) -> list[DriverBalance]:
    """Each (driver, currency) balance as of ``as_of`` (inclusive; ``None`` = every entry), in
    one statement (:func:`balances_sql`).

    One item per live ``driver_balance`` account of the tenant — drivers in ``driver_ids``
    (``None`` = all drivers), accounts in ``currency`` (``None`` = all) — ordered by driver
    then currency; a driver without an account (nothing ever posted) has no item, one whose
    entries all fall after ``as_of`` has a balance of 0.
    """
    params: dict[str, Any] = {"t": tenant_of(actor)}
    sql = balances_sql(as_of=as_of is not None, drivers=driver_ids is not None,
                       currency=currency is not None) + "\n     ORDER BY a.driver_id, a.currency"
    if as_of is not None:
        params["as_of"] = as_of
    if driver_ids is not None:
        params["drivers"] = [str(d) for d in driver_ids]
    if currency is not None:
        params["currency"] = currency
    return [
        DriverBalance(driver_id=row.driver_id, currency=row.currency,
                      balance=Decimal(row.balance), account_id=row.account_id, as_of=as_of)
        for row in session.execute(text(sql), params)
    ]


def require_driver(session: Session, actor: Actor, driver_id: uuid.UUID) -> None:
    """404 unless ``driver_id`` is a driver of the actor's tenant (an erased or deleted
    driver's ledger stays readable)."""
    found = session.execute(text(
        "SELECT 1 FROM rid_drivers WHERE tenant_id = :t AND id = :d"),
        {"t": tenant_of(actor), "d": driver_id}).first()
    if found is None:
        raise NotFound("No such driver.")


def tenant_today(session: Session, actor: Actor) -> date:
    """Today in the tenant's time zone (the business date of an event happening now)."""
    zone = session.execute(text("SELECT timezone FROM adm_tenants WHERE id = :t"),
                           {"t": tenant_of(actor)}).scalar_one_or_none()
    try:
        tz = ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return datetime.now(UTC).astimezone(tz).date()


# --- statement of account -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerFilter:
    """Filters of a driver's statement: economic dates ``[since, until]`` (inclusive local
    days) and a currency; ``None`` = not filtered."""

    since: date | None = None
    until: date | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One entry of a driver's statement, signed as it affects the driver (+ = the fleet owes
    more), with the balance after it and where it came from."""

    id: uuid.UUID
    event_id: uuid.UUID
    effective_on: date
    posted_at: datetime
    idempotency_key: str
    transaction_type: str
    description: str | None
    amount: Decimal
    currency: str
    balance: Decimal
    counterpart_kind: str
    counterpart_name: str
    reversal_of_id: uuid.UUID | None
    reversed_by_id: uuid.UUID | None
    settlement_id: uuid.UUID | None
    settlement_week: date | None
    platform_id: uuid.UUID | None
    platform: str | None
    settlement_line_id: uuid.UUID | None
    line_type: str | None
    line_description: str | None
    line_source_type: str | None
    line_source_id: uuid.UUID | None
    import_row_id: uuid.UUID | None
    import_id: uuid.UUID | None
    import_row_number: int | None
    trip_id: uuid.UUID | None
    expense_id: uuid.UUID | None
    toll_id: uuid.UUID | None
    fine_id: uuid.UUID | None
    payment_id: uuid.UUID | None

    @property
    def source_type(self) -> str:
        """What the entry stems from, most specific first."""
        if self.reversal_of_id is not None:
            return "reversal"
        if self.settlement_id is not None:
            return "settlement"
        if self.payment_id is not None:
            return "payment"
        for kind in ("expense", "toll", "fine", "trip"):
            if getattr(self, f"{kind}_id") is not None:
                return kind
        return "manual"

    @property
    def source_label(self) -> str:
        """A human label of the source: "Settlement week of 2026-11-16 · Uber · Rent: …"."""
        parts: list[str] = []
        if self.reversal_of_id is not None:
            parts.append("Reversal")
        if self.settlement_id is not None:
            week = self.settlement_week.isoformat() if self.settlement_week else "?"
            parts.append(f"Settlement week of {week}")
            parts.append(self.platform or "driver-level")
        if self.line_type is not None:
            line = self.line_type.replace("_", " ").capitalize()
            parts.append(f"{line}: {self.line_description}" if self.line_description else line)
        if self.import_row_number is not None:
            parts.append(f"report row {self.import_row_number}")
        if self.payment_id is not None:
            parts.append("Payout")
        if not parts:
            parts.append(self.description or self.transaction_type.replace("_", " "))
        return " · ".join(parts)


_STATEMENT = """
    WITH acc AS (
      SELECT id, currency FROM fin_accounts
       WHERE tenant_id = :t AND driver_id = :d AND kind = 'driver_balance' {currency}),
    touching AS (
      SELECT t.id, t.amount AS signed, t.debit_account_id AS other
        FROM fin_transactions t JOIN acc ON t.tenant_id = :t AND t.credit_account_id = acc.id
      UNION ALL
      SELECT t.id, -t.amount, t.credit_account_id
        FROM fin_transactions t JOIN acc ON t.tenant_id = :t AND t.debit_account_id = acc.id),
    running AS (
      SELECT t.*, x.signed, x.other,
             sum(x.signed) OVER (PARTITION BY t.currency
                                 ORDER BY t.effective_on, t.posted_at,
                                          t.idempotency_key) AS balance
        FROM touching x JOIN fin_transactions t ON t.tenant_id = :t AND t.id = x.id)
    SELECT r.id, r.event_id, r.effective_on, r.posted_at, r.idempotency_key,
           r.transaction_type, r.description,
           r.signed AS amount, r.currency, r.balance, o.kind AS counterpart_kind,
           o.name AS counterpart_name, r.reversal_of_id,
           (SELECT v.id FROM fin_transactions v
             WHERE v.tenant_id = :t AND v.reversal_of_id = r.id) AS reversed_by_id,
           r.settlement_id, (s.period_start AT TIME ZONE tz.timezone)::date AS settlement_week,
           s.platform_id, p.name AS platform, r.settlement_line_id, l.line_type,
           l.description AS line_description, l.source_type AS line_source_type,
           l.source_id AS line_source_id, l.import_row_id, ir.import_id,
           ir.row_number AS import_row_number,
           coalesce(r.trip_id, CASE WHEN l.source_type = 'trip' THEN l.source_id END) AS trip_id,
           r.expense_id, r.toll_id, r.fine_id, r.payment_id
      FROM running r
      JOIN adm_tenants tz ON tz.id = r.tenant_id
      JOIN fin_accounts o ON o.tenant_id = r.tenant_id AND o.id = r.other
      LEFT JOIN trp_settlements s ON s.tenant_id = r.tenant_id AND s.id = r.settlement_id
      LEFT JOIN dir_platforms p ON p.id = s.platform_id
      LEFT JOIN trp_settlement_lines l
             ON l.tenant_id = r.tenant_id AND l.id = r.settlement_line_id
      LEFT JOIN rev_import_rows ir ON ir.tenant_id = r.tenant_id AND ir.id = l.import_row_id
     WHERE true {since} {until} {after}
     ORDER BY r.effective_on, r.posted_at, r.idempotency_key
     {limit}"""


def statement_entries(
    session: Session, actor: Actor, driver_id: uuid.UUID, filters: LedgerFilter, *,
    after: tuple[date, datetime, str] | None = None, limit: int | None = None,
) -> list[LedgerEntry]:
    """The driver's entries in statement order (economic date, posting time, then the
    idempotency key, which keeps one event's entries together), after the
    key ``after``, at most ``limit`` (``None``: all — the CSV export). The running balance of
    each entry counts every earlier entry, also those before ``filters.since``."""
    require_driver(session, actor, driver_id)
    params: dict[str, Any] = {"t": tenant_of(actor), "d": driver_id}
    sql = _STATEMENT.format(
        currency="AND currency = :currency" if filters.currency else "",
        since="AND r.effective_on >= :since" if filters.since else "",
        until="AND r.effective_on <= :until" if filters.until else "",
        after="AND (r.effective_on, r.posted_at, r.idempotency_key) > (:a_on, :a_at, :a_key)"
        if after else "",
        limit="LIMIT :limit" if limit is not None else "")
    if filters.currency:
        params["currency"] = filters.currency
    if filters.since:
        params["since"] = filters.since
    if filters.until:
        params["until"] = filters.until
    if after:
        params.update(a_on=after[0], a_at=after[1], a_key=after[2])
    if limit is not None:
        params["limit"] = limit
    return [LedgerEntry(**row._asdict()) for row in session.execute(text(sql), params)]


def driver_statement(
    session: Session, actor: Actor, driver_id: uuid.UUID, params: PageParams,
    filters: LedgerFilter,
) -> tuple[list[LedgerEntry], str | None]:
    """One page of the driver's statement of account and the next page's cursor."""
    after = None
    if params.cursor:
        on, at, entry = decode_cursor(params.cursor, 3)
        if not (isinstance(on, date) and isinstance(at, datetime) and isinstance(entry, str)):
            raise ValidationProblem(
                "The cursor is not valid: pass back `next_cursor` unchanged.",
                errors=[{"field": "cursor", "message": "not a cursor of this list"}])
        after = (on, at, entry)
    rows = statement_entries(session, actor, driver_id, filters, after=after,
                             limit=params.limit + 1)
    if len(rows) <= params.limit:
        return rows, None
    rows = rows[: params.limit]
    last = rows[-1]
    return rows, encode_cursor([last.effective_on, last.posted_at, last.idempotency_key])


# --- reversals ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reversal:
    """The outcome of :func:`reverse_event`: its event and entries (the first call's, on a
    replay)."""

    event_id: uuid.UUID
    entry_ids: list[uuid.UUID]
    replayed: bool


def reverse_event(
    session: Session, actor: Actor, event_id: uuid.UUID, *, idempotency_key: str,
    reason: str, effective_on: date | None = None,
) -> Reversal:
    """Reverse every entry of business event ``event_id``: one mirror entry each (debit and
    credit swapped, same amount, currency and sources), type ``reversal``, linked by
    ``reversal_of_id``, all in the caller's transaction. The event then nets to zero on every
    account.

    ``effective_on`` (default: today in the tenant's time zone) is the correction's economic
    date; it cannot precede the entries it reverses, so a balance as of an earlier day still
    shows what was posted then. Idempotent (rule 4): the same ``idempotency_key`` with the same
    payload returns the first reversal; with another payload (another event, reason or date),
    409. An event already reversed (under another key), or a reversal itself, is a 409: an
    entry is reversed at most once — the database's unique ``reversal_of_id`` holds that under
    concurrency too.
    """
    tenant_id = tenant_of(actor)
    key = idempotency_key.strip()
    if not 1 <= len(key) <= 200:
        raise ValidationProblem("The idempotency key is 1 to 200 characters.",
                                errors=[{"field": "idempotency_key",
                                         "message": "1 to 200 characters"}])
    if not reason.strip():
        raise ValidationProblem("Say why the entries are reversed.",
                                errors=[{"field": "reason", "message": "required"}])
    originals = session.execute(text("""
        SELECT id, transaction_type, effective_on FROM fin_transactions
         WHERE tenant_id = :t AND event_id = :e ORDER BY idempotency_key, id"""),
        {"t": tenant_id, "e": event_id}).all()
    if not originals:
        raise NotFound("No such ledger event.")
    if any(o.transaction_type == "reversal" for o in originals):
        raise Conflict("A reversal is not reversed: post the correct entries again instead.")
    on = effective_on or tenant_today(session, actor)
    earliest = max(o.effective_on for o in originals)
    if on < earliest:
        raise ValidationProblem(
            f"A reversal cannot take effect before the entries it reverses ({earliest}).",
            errors=[{"field": "effective_on", "message": f"on or after {earliest}"}])
    payload = hashlib.sha256(
        f"reverse|{event_id}|{reason.strip()}|{on.isoformat()}".encode()).hexdigest()
    entry_key = f"reversal:{key}"
    reversal_event = uuid.uuid5(_NAMESPACE, f"{tenant_id}:{key}")
    params = {"t": tenant_id, "e": event_id, "key": entry_key, "payload": payload,
              "on": on, "reason": reason.strip(), "actor": actor.id, "event": reversal_event}
    existing = _reversal_entries(session, tenant_id, entry_key)
    if existing:
        return _replayed(existing, payload, reversal_event)
    try:
        with session.begin_nested():
            session.execute(text("""
                INSERT INTO fin_transactions (
                  tenant_id, id, event_id, transaction_type, debit_account_id,
                  credit_account_id, amount, currency, posted_at, effective_on, description,
                  idempotency_key, payload_sha256, reversal_of_id, trip_id, expense_id,
                  settlement_id, settlement_line_id, payment_id, toll_id, fine_id,
                  client_invoice_id, created_by, updated_by)
                SELECT :t, gen_random_uuid(), :event, 'reversal', o.credit_account_id,
                       o.debit_account_id, o.amount, o.currency, now(), :on,
                       left('Reversal: ' || :reason, 500),
                       :key || ':' || row_number() OVER (ORDER BY o.idempotency_key, o.id),
                       :payload, o.id, o.trip_id, o.expense_id, o.settlement_id,
                       o.settlement_line_id, o.payment_id, o.toll_id, o.fine_id,
                       o.client_invoice_id, :actor, :actor
                  FROM fin_transactions o
                 WHERE o.tenant_id = :t AND o.event_id = :e
                ON CONFLICT (tenant_id, idempotency_key) DO NOTHING"""), params)
    except IntegrityError as exc:
        if "reversal_of_id" not in str(exc.orig):
            raise
        # ON CONFLICT only arbitrates the idempotency key: a concurrent call with the same
        # key can still trip the reversal_of_id index first (it committed while our insert
        # was under way). Its entries are visible now — that is a replay, not a conflict.
        concurrent = _reversal_entries(session, tenant_id, entry_key)
        if concurrent:
            return _replayed(concurrent, payload, reversal_event)
        raise Conflict("These entries are already reversed: an entry is reversed at most "
                       "once.", event_id=str(event_id)) from exc
    entries = _reversal_entries(session, tenant_id, entry_key)
    if len(entries) != len(originals) or any(e.created_by != actor.id for e in entries):
        # A concurrent call with the same key posted first (our inserts were no-ops).
        return _replayed(entries, payload, reversal_event)
    return Reversal(event_id=reversal_event, entry_ids=[e.id for e in entries], replayed=False)


def _reversal_entries(session: Session, tenant_id: uuid.UUID, key: str) -> list[Any]:
    return list(session.execute(text("""
        SELECT id, payload_sha256, created_by FROM fin_transactions
         WHERE tenant_id = :t AND idempotency_key LIKE :pattern ESCAPE '\\'
           AND substr(idempotency_key, :width) ~ '^[0-9]+$'
         ORDER BY idempotency_key"""),
        {"t": tenant_id, "pattern": _like_prefix(key) + ":%", "width": len(key) + 2}).all())


def _like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _replayed(existing: list[Any], payload: str, event_id: uuid.UUID) -> Reversal:
    if any(e.payload_sha256 != payload for e in existing):
        raise Conflict("This idempotency key was already used for another reversal.")
    return Reversal(event_id=event_id, entry_ids=[e.id for e in existing], replayed=True)
