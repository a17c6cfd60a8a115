"""Driver payout batches (money.md "Settlements and payouts"; workflows.md Finance 2).

A batch is two-phase: **approval reserves, payment posts, failure/void releases**.

- *Draft*: one payment per driver whose available balance is positive — the driver's ledger
  balance (``driver_balance`` account) less what approved, unpaid payments already reserve.
  Each payment is itemised: the confirmed settlements it pays, the negative ones and any
  negative balance carried from before (deductions), and what was carried over. Negative
  balances are carried, never paid. A draft reserves and posts nothing.
- *Approval* (``payouts:approve``; with the tenant's four-eyes setting, not by the member who
  drafted it): under a per-tenant, per-currency lock, every payment is checked against the
  balance still available and its settlements are reserved (``payment_batch_id``), so a
  concurrent batch cannot pay the same money again.
- *Payment*: a payment that is paid (SEPA file sent, Stripe transfer made, paid by hand)
  posts a ``payout`` entry; a failed or returned one posts its reversal; a cancelled one
  releases its reservation. A reissue pays a failed payment again (next attempt).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.errors import Conflict, Forbidden, NotFound
from fleetcore.core.pagination import PageParams, keyset_page
from fleetcore.core.versioning import check_if_match, etag
from fleetcore.finance.ledger_service import post_payments, reverse_payments
from fleetcore.finance.models import (
    DriverPayment,
    DriverPaymentBatch,
    DriverPaymentStatus,
    PaymentBatchMethod,
    PaymentBatchStatus,
)
from fleetcore.finance.payout_schemas import BatchDraft
from fleetcore.finance.service import balances_sql

__all__ = [
    "TransferFailed", "TransferSender", "approve_batch", "available_balances", "cancel_batch",
    "cancel_payment", "draft_batch", "fail_payments", "get_batch", "get_payment",
    "list_batches", "list_payments", "mark_paid", "payout_settings", "reissue_payment",
    "reserving_payments", "send_transfers",
]

RESERVING_BATCHES = ("approved", "processing")
"""Batch states whose unpaid payments hold money back from other batches: a batch with a
pending or processing payment is approved or processing (:func:`_settle_batch_status` sets it
after every change of its payments); paid, partially failed, cancelled and draft batches have
none that reserves."""
RESERVING_PAYMENTS = ("pending", "processing")


class FourEyes(Forbidden):
    slug, title = "four-eyes", "A second approver is required"


# --- the balance a batch pays ----------------------------------------------------------------


def available_balances(*, drivers: bool = False) -> str:
    """The SQL (one set-based query, embedded by callers) of each driver's available balance
    in currency ``:currency`` as of ``:as_of`` (the batch's last day):

    * the ledger's balance by economic date — :func:`fleetcore.finance.service.balances_sql`,
      the one definition of a driver's balance (entries with ``effective_on <= :as_of``: a
      settlement of a later week, dated its week's last day, is a later batch's);
    * less what was already paid out after that day (payout entries and their reversals dated
      later): money sent is never paid twice, even by a batch drafted for an earlier period;
    * less what unpaid payments of approved batches reserve.

    The ledger's part is fenced (``OFFSET 0``): flattened, its per-account sums would be
    evaluated once for ``balance`` and again for ``available`` (twice the index scans).

    Columns ``driver_id, balance, reserved, available``; parameters ``:t, :currency, :as_of``,
    ``:drivers`` (with ``drivers``) and ``:exclude`` (a batch not counted as reserving; NULL =
    none).
    """
    ledger = balances_sql(as_of=True, drivers=drivers, currency=True)
    return f"""
        SELECT l.driver_id, l.balance, coalesce(r.reserved, 0) AS reserved,
               l.balance - coalesce(r.reserved, 0)
               + coalesce((SELECT sum(x.amount) FROM fin_transactions x
                            WHERE x.tenant_id = :t AND x.credit_account_id = l.account_id
                              AND x.effective_on > :as_of AND x.payment_id IS NOT NULL), 0)
               - coalesce((SELECT sum(x.amount) FROM fin_transactions x
                            WHERE x.tenant_id = :t AND x.debit_account_id = l.account_id
                              AND x.effective_on > :as_of AND x.payment_id IS NOT NULL), 0)
               AS available
          FROM ({ledger}
                OFFSET 0) l
          LEFT JOIN (
                SELECT x.driver_id, sum(x.net) AS reserved
                  FROM ({reserving_payments("CAST(:exclude AS uuid)")}) x
                 GROUP BY x.driver_id) r ON r.driver_id = l.driver_id
    """


def reserving_payments(exclude: str) -> str:
    """The SQL of the payments that hold money back from other batches (columns
    ``driver_id, net``; parameters ``:t``, ``:currency``): the pending and processing payments
    of the batches in :data:`RESERVING_BATCHES` other than ``exclude`` (an SQL expression).
    The batches are read first and their payments by batch (an index range each), so the
    cost follows the open batches, not the tenant's payment history."""
    statuses = ", ".join(f"'{s}'" for s in RESERVING_BATCHES)
    return f"""
        SELECT p.driver_id, p.net FROM fin_driver_payments p
         WHERE p.tenant_id = :t AND p.currency = :currency
           AND p.status IN ('pending', 'processing')
           AND p.batch_id = ANY(ARRAY(
                 SELECT b.id FROM fin_driver_payment_batches b
                  WHERE b.tenant_id = :t AND b.status IN ({statuses})
                    AND b.id IS DISTINCT FROM {exclude}))"""


# --- reading ---------------------------------------------------------------------------------


def get_batch(session: Session, actor: Actor, batch_id: uuid.UUID, *,
              lock: bool = False) -> DriverPaymentBatch:
    """One batch of the tenant (404 otherwise)."""
    stmt = select(DriverPaymentBatch).where(DriverPaymentBatch.tenant_id == tenant_of(actor),
                                            DriverPaymentBatch.id == batch_id)
    row = session.scalar((stmt.with_for_update() if lock else stmt)
                         .execution_options(populate_existing=True))
    if row is None:
        raise NotFound("No such payment batch.")
    return row


def batches_query(actor: Actor, *, status: str | None = None) -> Select[Any]:
    """The tenant's batches, optionally of one status (list and CSV)."""
    stmt = select(DriverPaymentBatch).where(DriverPaymentBatch.tenant_id == tenant_of(actor))
    if status is not None:
        stmt = stmt.where(DriverPaymentBatch.status == status)
    return stmt


def list_batches(
    session: Session, actor: Actor, params: PageParams, *, status: str | None = None,
) -> tuple[list[DriverPaymentBatch], str | None]:
    """A page of the tenant's batches, newest period first (one query)."""
    stmt = batches_query(actor, status=status)
    return keyset_page(session, stmt, [DriverPaymentBatch.period_start, DriverPaymentBatch.id],
                       params, descending=True)


def payments_query(session: Session, actor: Actor, batch_id: uuid.UUID,
                   *, status: str | None = None) -> Select[Any]:
    """The payments of a batch (404 for an unknown or foreign batch)."""
    batch = get_batch(session, actor, batch_id)
    stmt = select(DriverPayment).where(DriverPayment.tenant_id == batch.tenant_id,
                                       DriverPayment.batch_id == batch.id)
    if status is not None:
        stmt = stmt.where(DriverPayment.status == status)
    return stmt


def list_payments(
    session: Session, actor: Actor, batch_id: uuid.UUID, params: PageParams,
    *, status: str | None = None,
) -> tuple[list[DriverPayment], str | None]:
    """A page of a batch's payments (one query after the batch's)."""
    return keyset_page(session, payments_query(session, actor, batch_id, status=status),
                       [DriverPayment.id], params)


def get_payment(session: Session, actor: Actor, payment_id: uuid.UUID, *,
                lock: bool = False) -> DriverPayment:
    """One payment of the tenant (404 otherwise)."""
    stmt = select(DriverPayment).where(DriverPayment.tenant_id == tenant_of(actor),
                                       DriverPayment.id == payment_id)
    row = session.scalar((stmt.with_for_update() if lock else stmt)
                         .execution_options(populate_existing=True))
    if row is None:
        raise NotFound("No such driver payment.")
    return row


# --- the tenant's payout settings ------------------------------------------------------------


def payout_settings(session: Session, actor: Actor) -> dict[str, Any]:
    """``adm_tenants.settings -> 'payouts'``: ``four_eyes`` (a second approver) and ``debtor``
    (the fleet's own bank account SEPA files pay from: name, iban, bic)."""
    _, _, settings = _tenant(session, tenant_of(actor))
    raw = settings.get("payouts")
    return dict(raw) if isinstance(raw, dict) else {}


# --- drafting --------------------------------------------------------------------------------


def _tenant(session: Session, tenant_id: uuid.UUID) -> tuple[str, str, dict[str, Any]]:
    zone, currency, settings = session.execute(text(
        "SELECT timezone, default_currency, settings FROM adm_tenants WHERE id = :t"),
        {"t": tenant_id}).one()
    return str(zone), str(currency), dict(settings or {})


def _last_day(session: Session, batch: DriverPaymentBatch) -> date:
    """The batch's last local day: the day its balances are read as of."""
    zone = ZoneInfo(_tenant(session, batch.tenant_id)[0])
    return batch.period_end.astimezone(zone).date() - timedelta(days=1)


def _destination_where(method: str) -> str:
    """Which of a driver's accounts (``d``) a batch paid by ``method`` pays into."""
    if method == PaymentBatchMethod.STRIPE_CONNECT:
        return "d.kind = 'stripe_connect'"
    if method == PaymentBatchMethod.SEPA_TRANSFER:
        return "d.kind = 'bank' AND d.iban IS NOT NULL"
    return "d.kind IN ('bank', 'stripe_connect')"


@contextmanager
def _tuned(session: Session) -> Iterator[None]:
    """Planner settings for the set-based balance statements, reset afterwards: no JIT
    (compiling them costs seconds, more than the work it saves) and no nested loops — the
    planner cannot estimate how many accounts the per-account aggregate yields (it guesses 2),
    and a nested loop over 10,000 of them is quadratic."""
    jit, nestloop = session.execute(text(
        "SELECT current_setting('jit'), current_setting('enable_nestloop'),"
        " set_config('jit', 'off', true), set_config('enable_nestloop', 'off', true)")).one()[:2]
    try:
        yield
    finally:
        session.execute(text("SELECT set_config('jit', :jit, true),"
                             " set_config('enable_nestloop', :nestloop, true)"),
                        {"jit": jit, "nestloop": nestloop})


def _destination_sql(method: str) -> str:
    """The driver's live payout account for ``method`` (newest first), as a scalar subquery
    over ``p`` (a payment row)."""
    where = _destination_where(method)
    return f"""(SELECT d.id FROM fin_accounts d
                 WHERE d.tenant_id = p.tenant_id AND d.driver_id = p.driver_id
                   AND d.currency = p.currency AND d.owner_type = 'driver'
                   AND d.status = 'active' AND d.deleted_at IS NULL AND {where}
                 ORDER BY d.created_at DESC, d.id DESC LIMIT 1)"""


def draft_batch(session: Session, actor: Actor, *, data: BatchDraft) -> DriverPaymentBatch:
    """A draft batch paying each driver's positive available balance for the period (money
    moves nothing yet). Set-based: one statement writes every payment."""
    tenant_id = tenant_of(actor)
    zone_name, default_currency, _ = _tenant(session, tenant_id)
    zone = ZoneInfo(zone_name)
    currency = data.currency or default_currency
    start = datetime.combine(data.period_first_day, time(), tzinfo=zone)
    end = datetime.combine(data.period_last_day + timedelta(days=1), time(), tzinfo=zone)
    batch = DriverPaymentBatch(tenant_id=tenant_id, period_start=start, period_end=end,
                               method=data.method.value, currency=currency,
                               created_by=actor.id, updated_by=actor.id)
    session.add(batch)
    session.flush()
    drivers = [str(d) for d in data.driver_ids] if data.driver_ids else None
    params = {"t": tenant_id, "c": currency, "currency": currency, "pe": end,
              "as_of": data.period_last_day, "drivers": drivers, "exclude": None,
              "b": batch.id, "actor": actor.id}
    balances = available_balances(drivers=drivers is not None)
    with _tuned(session):
        carried = _draft_payments(session, batch.method, balances, params)
    batch.extra = {"carried_negative": {"drivers": int(carried[0]),
                                        "amount": str(carried[1])}}
    batch.balances_snapshot = str(carried[3])
    _refresh_totals(session, batch)
    return batch


def end_to_end_sql(method: str, payment_id: str) -> str:
    """A payment's SEPA ``EndToEndId``, given at the draft (``FC`` + its id: 34 characters,
    unique) so that the export only flips statuses; NULL for other methods."""
    if method != PaymentBatchMethod.SEPA_TRANSFER:
        return "NULL"
    return f"'FC' || replace(CAST({payment_id} AS text), '-', '')"


def _draft_payments(session: Session, method: str, balances: str,
                    params: dict[str, Any]) -> Any:
    """Insert a draft's payments (one statement); (drivers carried negative, their total,
    payments written, the snapshot the balances were read with — the statement's own)."""
    return session.execute(text(f"""
        WITH balances AS MATERIALIZED ({balances}),
        items AS (
          SELECT s.driver_id, s.id, s.platform_id, s.period_start, s.net
            FROM trp_settlements s
           WHERE s.tenant_id = :t AND s.currency = :c AND s.status = 'confirmed'
             AND s.payment_batch_id IS NULL AND s.period_end <= :pe
             AND (CAST(:drivers AS uuid[]) IS NULL
                  OR s.driver_id = ANY(CAST(:drivers AS uuid[])))),
        per_driver AS (
          SELECT i.driver_id,
                 coalesce(sum(i.net) FILTER (WHERE i.net > 0), 0) AS owed,
                 coalesce(-sum(i.net) FILTER (WHERE i.net < 0), 0) AS owing,
                 sum(i.net) AS total,
                 jsonb_agg(jsonb_build_object(
                     'settlement_id', i.id, 'platform_id', i.platform_id,
                     'period_start', i.period_start, 'net', i.net::text)
                   ORDER BY i.period_start, i.id) AS settlements,
                 jsonb_agg(jsonb_build_object(
                     'type', 'settlement', 'settlement_id', i.id,
                     'description', CASE WHEN i.platform_id IS NULL
                                         THEN 'Rent and recharged costs'
                                         ELSE 'Platform settlement' END,
                     'period_start', i.period_start, 'amount', (-i.net)::text)
                   ORDER BY i.period_start, i.id) FILTER (WHERE i.net < 0) AS deducted
            FROM items i GROUP BY i.driver_id),
        rows AS (
          SELECT gen_random_uuid() AS id, b.driver_id, b.available,
                 b.available - coalesce(d.total, 0) AS carried,
                 coalesce(d.owed, 0) AS owed, coalesce(d.owing, 0) AS owing,
                 coalesce(d.settlements, '[]'::jsonb) AS settlements,
                 coalesce(d.deducted, '[]'::jsonb) AS deducted
            FROM balances b LEFT JOIN per_driver d ON d.driver_id = b.driver_id
           WHERE b.available > 0),
        destinations AS (
          SELECT DISTINCT ON (d.driver_id) d.driver_id, d.id
            FROM fin_accounts d
           WHERE d.tenant_id = :t AND d.currency = :c AND d.owner_type = 'driver'
             AND d.status = 'active' AND d.deleted_at IS NULL
             AND {_destination_where(method)}
           ORDER BY d.driver_id, d.created_at DESC, d.id DESC),
        inserted AS (
          INSERT INTO fin_driver_payments (
            tenant_id, id, batch_id, driver_id, destination_account_id, gross, deductions,
            deductions_detail, net, currency, metadata, end_to_end_id, created_by, updated_by)
          SELECT :t, r.id, :b, r.driver_id, dest.id,
                 r.owed + greatest(r.carried, 0), r.owing + greatest(-r.carried, 0),
                 r.deducted || CASE WHEN r.carried < 0 THEN jsonb_build_array(
                     jsonb_build_object('type', 'carried_over',
                                        'description', 'Balance owed from earlier periods',
                                        'amount', (-r.carried)::text)) ELSE '[]'::jsonb END,
                 r.available, :c,
                 jsonb_build_object('settlements', r.settlements,
                                    'carried_over', r.carried::text),
                 {end_to_end_sql(method, "r.id")},
                 :actor, :actor
            FROM rows r LEFT JOIN destinations dest ON dest.driver_id = r.driver_id
          RETURNING 1)
        SELECT count(*) FILTER (WHERE b.available < 0),
               coalesce(sum(b.available) FILTER (WHERE b.available < 0), 0),
               (SELECT count(*) FROM inserted), CAST(pg_current_snapshot() AS text)
          FROM balances b"""), params).one()


def _refresh_totals(session: Session, batch: DriverPaymentBatch) -> None:
    """Batch totals = sums over its payments that are not cancelled (money.md M8)."""
    session.flush()
    session.execute(text("""
        UPDATE fin_driver_payment_batches b
           SET gross_total = s.gross, deductions_total = s.deductions, net_total = s.net,
               payment_count = s.n
          FROM (SELECT coalesce(sum(gross), 0) AS gross,
                       coalesce(sum(deductions), 0) AS deductions,
                       coalesce(sum(net), 0) AS net, count(*) AS n
                  FROM fin_driver_payments
                 WHERE tenant_id = :t AND batch_id = :b AND status <> 'cancelled') s
         WHERE b.tenant_id = :t AND b.id = :b"""), {"t": batch.tenant_id, "b": batch.id})
    session.refresh(batch)


# --- approval (reserves) ---------------------------------------------------------------------


def _lock_money(session: Session, tenant_id: uuid.UUID, currency: str) -> None:
    """Serialise what reserves a tenant's money in ``currency`` (approvals, reissues)."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                    {"k": f"payouts:{tenant_id}:{currency}"})


def _locked_for_change(session: Session, actor: Actor, batch_id: uuid.UUID,
                       if_match: str | None) -> DriverPaymentBatch:
    batch = get_batch(session, actor, batch_id, lock=True)
    check_if_match(if_match, batch.version)
    return batch


def approve_batch(session: Session, actor: Actor, batch_id: uuid.UUID,
                  if_match: str | None) -> DriverPaymentBatch:
    """Approve a draft: every payment must still be covered by the driver's available balance
    and its settlements still unreserved; both are then reserved for this batch. 412 on a
    stale version, 409 when it is not a draft or another batch took the money first, 403
    (four-eyes) when the tenant asks for a second approver and the drafter approves."""
    batch = _locked_for_change(session, actor, batch_id, if_match)
    if batch.status != PaymentBatchStatus.DRAFT:
        raise Conflict(f"The batch is {batch.status}: only a draft is approved.",
                       batch_status=batch.status)
    if payout_settings(session, actor).get("four_eyes") is True and batch.created_by == actor.id:
        raise FourEyes("This tenant requires a second approver: the member who drafted the "
                       "batch cannot approve it.")
    _lock_money(session, batch.tenant_id, batch.currency)
    short = _short_payments(session, batch)
    if short:
        raise Conflict(
            "These balances changed since the draft (another approved batch reserves part of "
            "them, or the ledger moved): cancel this draft and draft the period again.",
            errors=[{"field": f"payments[driver_id={r.driver_id}]",
                     "message": f"pays {r.net} but only {r.available} is available"}
                    for r in short])
    missing = _missing_destinations(session, batch)
    if missing:
        raise Conflict(
            "Some drivers have no payout account for this method: add one (bank account or "
            "Stripe account) and approve again.",
            errors=[{"field": f"payments[driver_id={d}]", "message": "no payout account"}
                    for d in missing])
    _reserve_settlements(session, batch)
    batch.status = PaymentBatchStatus.APPROVED.value
    batch.approved_by = actor.id
    batch.approved_at = datetime.now(UTC)
    batch.updated_by = actor.id
    session.flush()
    session.refresh(batch)
    return batch


def _drivers_to_recheck(session: Session, batch: DriverPaymentBatch) -> list[str]:
    """The drivers of the batch's pending payments whose available balance may differ from
    the one the draft paid (run under the payout lock):

    * ledger entries the draft's snapshot did not see on their balance account — written by a
      transaction running or not yet started when the draft read the balances
      (``fin_transactions.xact_id``: the index range from the snapshot's ``xmin``, then
      ``pg_visible_in_snapshot``), or by this transaction; the ledger is append-only, so
      nothing the draft saw is gone;
    * money another batch reserves for them now (an approval or a reissue since the draft);
    * no live balance account any more.

    Every other driver's ledger balance is the one the draft read, and nothing else reserves
    it, so what the draft pays is still available."""
    return [str(r[0]) for r in session.execute(text(f"""
        WITH snap AS (SELECT CAST(:snap AS pg_snapshot) AS s),
        changed AS (
          SELECT a.driver_id
            FROM fin_transactions x
           CROSS JOIN LATERAL (VALUES (x.credit_account_id), (x.debit_account_id)) m(id)
            JOIN fin_accounts a ON a.tenant_id = x.tenant_id AND a.id = m.id
           WHERE x.tenant_id = :t AND x.xact_id IS NOT NULL
             AND ((x.xact_id >= (SELECT CAST(CAST(pg_snapshot_xmin(s) AS text) AS bigint)
                                   FROM snap)
                   AND NOT pg_visible_in_snapshot(CAST(CAST(x.xact_id AS text) AS xid8),
                                                  (SELECT s FROM snap)))
                  -- A snapshot counts its own transaction's entries as seen, even those
                  -- written after it (a draft and its approval in one transaction).
                  OR x.xact_id = CAST(CAST(pg_current_xact_id_if_assigned() AS text) AS bigint))
             AND a.kind = 'driver_balance' AND a.currency = :currency
          UNION
          SELECT driver_id FROM ({reserving_payments(":b")}) r)
        SELECT p.driver_id FROM fin_driver_payments p
         WHERE p.tenant_id = :t AND p.batch_id = :b AND p.status = 'pending'
           AND (p.driver_id IN (SELECT driver_id FROM changed)
                -- One hashed set of the live accounts, not a lookup per payment.
                OR p.driver_id NOT IN (SELECT a.driver_id FROM fin_accounts a
                                        WHERE a.tenant_id = :t AND a.kind = 'driver_balance'
                                          AND a.currency = :currency
                                          AND a.deleted_at IS NULL
                                          AND a.driver_id IS NOT NULL))"""),
        {"t": batch.tenant_id, "b": batch.id, "currency": batch.currency,
         "snap": batch.balances_snapshot})]


def _short_payments(session: Session, batch: DriverPaymentBatch) -> list[Any]:
    """The batch's pending payments (at most 20) the drivers' available balance no longer
    covers. With the draft's snapshot, only the drivers :func:`_drivers_to_recheck` names are
    recomputed; a batch drafted without one (before migration 0024) recomputes them all."""
    drivers = None
    if batch.balances_snapshot is not None:
        drivers = _drivers_to_recheck(session, batch)
        if not drivers:
            return []
    params = {"t": batch.tenant_id, "currency": batch.currency,
              "as_of": _last_day(session, batch), "exclude": batch.id, "b": batch.id,
              "drivers": drivers}
    balances = available_balances(drivers=drivers is not None)
    only = "AND p.driver_id = ANY(CAST(:drivers AS uuid[]))" if drivers is not None else ""
    with _tuned(session):
        return list(session.execute(text(f"""
            WITH balances AS MATERIALIZED ({balances})
            SELECT p.driver_id, p.net, coalesce(b.available, 0) AS available
              FROM fin_driver_payments p LEFT JOIN balances b ON b.driver_id = p.driver_id
             WHERE p.tenant_id = :t AND p.batch_id = :b AND p.status = 'pending' {only}
               AND p.net > coalesce(b.available, 0)
             ORDER BY p.driver_id LIMIT 20"""), params).all())


def _missing_destinations(session: Session, batch: DriverPaymentBatch) -> list[uuid.UUID]:
    """Fill in destinations added since the draft; the drivers still without one (a manual
    batch needs none)."""
    params = {"t": batch.tenant_id, "b": batch.id}
    session.execute(text(f"""
        UPDATE fin_driver_payments p SET destination_account_id = {_destination_sql(batch.method)}
         WHERE p.tenant_id = :t AND p.batch_id = :b AND p.destination_account_id IS NULL"""),
        params)
    if batch.method == PaymentBatchMethod.MANUAL:
        return []
    return [r[0] for r in session.execute(text("""
        SELECT driver_id FROM fin_driver_payments
         WHERE tenant_id = :t AND batch_id = :b AND status = 'pending'
           AND destination_account_id IS NULL ORDER BY driver_id LIMIT 20"""), params)]


def _reserve_settlements(session: Session, batch: DriverPaymentBatch) -> None:
    params = {"t": batch.tenant_id, "b": batch.id}
    wanted, taken = session.execute(text("""
        WITH wanted AS (
          SELECT CAST(x ->> 'settlement_id' AS uuid) AS id
            FROM fin_driver_payments p, jsonb_array_elements(p.metadata -> 'settlements') x
           WHERE p.tenant_id = :t AND p.batch_id = :b AND p.status = 'pending'),
        taken AS (
          UPDATE trp_settlements s SET payment_batch_id = :b
            FROM wanted w
           WHERE s.tenant_id = :t AND s.id = w.id AND s.status = 'confirmed'
             AND s.payment_batch_id IS NULL
          RETURNING s.id)
        SELECT (SELECT count(*) FROM wanted), (SELECT count(*) FROM taken)"""), params).one()
    if wanted != taken:
        raise Conflict("Some settlements of this batch are already paid or reserved by another "
                       "batch: cancel this draft and draft the period again.")


def _release_settlements(session: Session, batch: DriverPaymentBatch,
                         payment_ids: list[uuid.UUID] | None = None) -> None:
    session.execute(text("""
        UPDATE trp_settlements s SET payment_batch_id = NULL
          FROM fin_driver_payments p, jsonb_array_elements(p.metadata -> 'settlements') x
         WHERE p.tenant_id = :t AND p.batch_id = :b
           AND (CAST(:ids AS uuid[]) IS NULL OR p.id = ANY(CAST(:ids AS uuid[])))
           AND s.tenant_id = :t AND s.id = CAST(x ->> 'settlement_id' AS uuid)
           AND s.payment_batch_id = :b AND s.status = 'confirmed'"""),
        {"t": batch.tenant_id, "b": batch.id,
         "ids": [str(i) for i in payment_ids] if payment_ids is not None else None})


# --- cancellation (releases) -----------------------------------------------------------------


def cancel_batch(session: Session, actor: Actor, batch_id: uuid.UUID,
                 if_match: str | None) -> DriverPaymentBatch:
    """Cancel a draft, or an approved batch nothing of which was sent: its payments are
    cancelled and what it reserved is released (nothing was posted, nothing to reverse)."""
    batch = _locked_for_change(session, actor, batch_id, if_match)
    if batch.status not in (PaymentBatchStatus.DRAFT, PaymentBatchStatus.APPROVED):
        raise Conflict(f"The batch is {batch.status}: money has moved; fail or cancel its "
                       "payments one by one instead.", batch_status=batch.status)
    moved = session.scalar(select(func.count()).where(
        DriverPayment.tenant_id == batch.tenant_id, DriverPayment.batch_id == batch.id,
        DriverPayment.status.in_(("processing", "paid", "failed"))))
    if moved:
        raise Conflict("Some payments of this batch were sent: cancel them one by one.")
    _release_settlements(session, batch)
    session.execute(text("""
        UPDATE fin_driver_payments SET status = 'cancelled', updated_by = :actor
         WHERE tenant_id = :t AND batch_id = :b AND status = 'pending'"""),
        {"t": batch.tenant_id, "b": batch.id, "actor": actor.id})
    batch.status = PaymentBatchStatus.CANCELLED.value
    batch.updated_by = actor.id
    session.flush()
    session.refresh(batch)
    return batch


def cancel_payment(session: Session, actor: Actor, payment_id: uuid.UUID,
                   if_match: str | None) -> DriverPayment:
    """Cancel a pending or failed payment: its reservation is released (a failed payment's
    money was already given back to the driver's balance by its reversal) and the batch's
    totals no longer count it."""
    payment = get_payment(session, actor, payment_id, lock=True)
    check_if_match(if_match, payment.version)
    batch = get_batch(session, actor, payment.batch_id, lock=True)
    if payment.status not in (DriverPaymentStatus.PENDING, DriverPaymentStatus.FAILED):
        raise Conflict(f"The payment is {payment.status}: only a pending or failed payment is "
                       "cancelled.", payment_status=payment.status)
    if payment.status == DriverPaymentStatus.PENDING and batch.exported_at is not None:
        raise Conflict("The payment is in an exported SEPA file: mark the file sent, then "
                       "record the return if the bank does not pay it.")
    _release_settlements(session, batch, [payment.id])
    payment.status = DriverPaymentStatus.CANCELLED.value
    payment.updated_by = actor.id
    session.flush()
    _refresh_totals(session, batch)
    _settle_batch_status(session, batch)
    session.refresh(payment)
    return payment


# --- paying (posts) and failing (reverses) ---------------------------------------------------


def _settle_batch_status(session: Session, batch: DriverPaymentBatch) -> None:
    """A batch whose payments all reached an end state is paid (or partially failed)."""
    if batch.status not in (PaymentBatchStatus.APPROVED, PaymentBatchStatus.PROCESSING,
                            PaymentBatchStatus.PAID, PaymentBatchStatus.PARTIALLY_FAILED):
        return
    counts: dict[str, int] = {str(r[0]): int(r[1]) for r in session.execute(text("""
        SELECT status, count(*) FROM fin_driver_payments
         WHERE tenant_id = :t AND batch_id = :b GROUP BY status"""),
        {"t": batch.tenant_id, "b": batch.id})}
    open_ = counts.get("pending", 0) + counts.get("processing", 0)
    if open_:
        status = (PaymentBatchStatus.APPROVED if batch.status == PaymentBatchStatus.APPROVED
                  and not counts.get("paid") and not counts.get("failed")
                  and batch.exported_at is None else PaymentBatchStatus.PROCESSING)
    elif counts.get("failed"):
        status = PaymentBatchStatus.PARTIALLY_FAILED
    elif counts.get("paid"):
        status = PaymentBatchStatus.PAID
    else:
        status = PaymentBatchStatus.CANCELLED
    if batch.status != status.value:
        batch.status = status.value
        session.flush()
        session.refresh(batch)


def _require_sent_state(batch: DriverPaymentBatch) -> None:
    if batch.status in (PaymentBatchStatus.DRAFT, PaymentBatchStatus.CANCELLED):
        raise Conflict(f"The batch is {batch.status}: approve it first.", batch_status=batch.status)


def mark_paid(session: Session, actor: Actor, batch_id: uuid.UUID, if_match: str | None,
              *, payment_ids: list[uuid.UUID] | None = None,
              paid_at: datetime | None = None) -> DriverPaymentBatch:
    """Record that the batch's open payments (or ``payment_ids`` among them) were sent — the
    SEPA file was submitted to the bank, or they were paid by hand: each posts its ``payout``
    entry, and the settlements it pays become paid. Set-based; replays post nothing twice."""
    batch = _locked_for_change(session, actor, batch_id, if_match)
    _require_sent_state(batch)
    if batch.method == PaymentBatchMethod.SEPA_TRANSFER and batch.exported_at is None:
        raise Conflict("Download the batch's SEPA file before marking it sent.")
    if batch.method == PaymentBatchMethod.STRIPE_CONNECT and payment_ids is None:
        raise Conflict("A Stripe batch is paid by its transfers: send them instead.")
    return _pay(session, actor, batch, payment_ids, paid_at or datetime.now(UTC))


def _pay(session: Session, actor: Actor, batch: DriverPaymentBatch,
         payment_ids: list[uuid.UUID] | None, paid_at: datetime) -> DriverPaymentBatch:
    params = {"t": batch.tenant_id, "b": batch.id, "actor": actor.id, "at": paid_at,
              "ids": [str(i) for i in payment_ids] if payment_ids is not None else None}
    paid = [r[0] for r in session.execute(text("""
        UPDATE fin_driver_payments SET status = 'paid', paid_at = :at, updated_by = :actor
         WHERE tenant_id = :t AND batch_id = :b AND status IN ('pending', 'processing')
           AND (CAST(:ids AS uuid[]) IS NULL OR id = ANY(CAST(:ids AS uuid[])))
        RETURNING id"""), params)]
    if paid:
        post_payments(session, actor, batch.id, paid, posted_at=paid_at)
        session.execute(text("""
            UPDATE trp_settlements s SET status = 'paid'
              FROM fin_driver_payments p, jsonb_array_elements(p.metadata -> 'settlements') x
             WHERE p.tenant_id = :t AND p.batch_id = :b AND p.id = ANY(CAST(:paid AS uuid[]))
               AND s.tenant_id = :t AND s.id = CAST(x ->> 'settlement_id' AS uuid)
               AND s.payment_batch_id = :b AND s.status = 'confirmed'"""),
            {**params, "paid": [str(i) for i in paid]})
    batch.updated_by = actor.id
    session.flush()
    _settle_batch_status(session, batch)
    session.refresh(batch)
    return batch


def fail_payments(session: Session, actor: Actor, payment_ids: list[uuid.UUID], *,
                  reason: str, at: datetime | None = None) -> list[DriverPayment]:
    """Record that payments failed or came back (a SEPA return, a reversed transfer): a paid
    one's ``payout`` entry is reversed, giving the money back to the driver's balance, and
    none of them reserves anything any more. Already failed payments are left as they are."""
    tenant_id = tenant_of(actor)
    when = at or datetime.now(UTC)
    rows = list(session.scalars(select(DriverPayment).where(
        DriverPayment.tenant_id == tenant_id, DriverPayment.id.in_(payment_ids),
        DriverPayment.status.in_(("pending", "processing", "paid"))).with_for_update()
        .execution_options(populate_existing=True)))
    if not rows:
        return []
    reverse_payments(session, actor, [r.id for r in rows], posted_at=when, reason=reason)
    for row in rows:
        row.status = DriverPaymentStatus.FAILED.value
        row.failure_reason = reason[:500]
        row.updated_by = actor.id
    session.flush()
    for batch_id in {r.batch_id for r in rows}:
        _settle_batch_status(session, get_batch(session, actor, batch_id, lock=True))
    for row in rows:
        session.refresh(row)
    return rows


def fail_payment(session: Session, actor: Actor, payment_id: uuid.UUID, if_match: str | None,
                 *, reason: str) -> DriverPayment:
    """One payment failed or was returned by the bank (see :func:`fail_payments`)."""
    payment = get_payment(session, actor, payment_id, lock=True)
    check_if_match(if_match, payment.version)
    batch = get_batch(session, actor, payment.batch_id)
    _require_sent_state(batch)
    if payment.status not in ("pending", "processing", "paid"):
        raise Conflict(f"The payment is {payment.status}.", payment_status=payment.status)
    fail_payments(session, actor, [payment.id], reason=reason)
    session.refresh(payment)
    return payment


def reissue_payment(session: Session, actor: Actor, payment_id: uuid.UUID,
                    if_match: str | None) -> DriverPayment:
    """Pay a failed payment again: the next attempt, pending, reserving its amount anew once
    the driver's available balance still covers it (409 otherwise). A Stripe payment is then
    sent with a new idempotency key; any other is paid by hand (a SEPA file is exported
    once)."""
    payment = get_payment(session, actor, payment_id, lock=True)
    check_if_match(if_match, payment.version)
    if payment.status != DriverPaymentStatus.FAILED:
        raise Conflict(f"The payment is {payment.status}: only a failed payment is reissued.",
                       payment_status=payment.status)
    batch = get_batch(session, actor, payment.batch_id, lock=True)
    _lock_money(session, batch.tenant_id, batch.currency)
    balances = available_balances(drivers=True)
    with _tuned(session):
        available = session.execute(text(f"SELECT available FROM ({balances}) b"), {
            "t": batch.tenant_id, "currency": batch.currency, "as_of": _last_day(session, batch),
            "drivers": [str(payment.driver_id)], "exclude": None}).scalar_one_or_none()
    if available is None or Decimal(available) < payment.net:
        raise Conflict(f"The driver's available balance ({available or 0}) no longer covers "
                       f"this payment ({payment.net}): cancel it and pay in a later batch.")
    payment.status = DriverPaymentStatus.PENDING.value
    payment.attempt += 1
    payment.failure_reason = None
    payment.stripe_transfer_id = None
    payment.paid_at = None
    payment.updated_by = actor.id
    session.flush()
    _settle_batch_status(session, batch)
    session.refresh(payment)
    return payment


# --- Stripe Connect transfers ----------------------------------------------------------------


class TransferFailed(Exception):  # noqa: N818 - reads as the outcome
    """The provider refused a transfer (its message is safe to store)."""


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """One transfer to a driver's connected account (amount in minor units)."""

    payment_id: uuid.UUID
    tenant_id: uuid.UUID
    batch_id: uuid.UUID
    attempt: int
    destination: str
    amount_minor: int
    currency: str

    @property
    def idempotency_key(self) -> str:
        """Derived from the payment id and attempt (money.md): a retry never pays twice."""
        return f"fleetcore-payment-{self.payment_id}-{self.attempt}"


class TransferSender(Protocol):
    """What sends a transfer (the Stripe integration implements it; tests fake the network)."""

    def transfer(self, request: TransferRequest) -> str:
        """Create the transfer; the provider's transfer id (``tr_…``)."""


def send_transfers(session: Session, actor: Actor, batch_id: uuid.UUID, if_match: str | None,
                   sender: TransferSender) -> DriverPaymentBatch:
    """Send a Stripe Connect transfer for each pending payment of an approved Stripe batch.
    A transfer made is a payment paid (posted); a refused one is a failed payment with the
    provider's reason; a repeat sends nothing twice (idempotency keys)."""
    from fleetcore.core.money import minor_unit_exponent

    batch = _locked_for_change(session, actor, batch_id, if_match)
    if batch.method != PaymentBatchMethod.STRIPE_CONNECT:
        raise Conflict("This batch is not paid by Stripe Connect transfers.")
    _require_sent_state(batch)
    rows = session.execute(text("""
        SELECT p.id, p.attempt, p.net, p.currency, a.stripe_account_id
          FROM fin_driver_payments p
          JOIN fin_accounts a ON a.tenant_id = p.tenant_id AND a.id = p.destination_account_id
         WHERE p.tenant_id = :t AND p.batch_id = :b AND p.status = 'pending'
         ORDER BY p.id"""), {"t": batch.tenant_id, "b": batch.id}).all()
    sent: list[tuple[uuid.UUID, str]] = []
    failed: dict[str, list[uuid.UUID]] = {}
    for row in rows:
        exponent = minor_unit_exponent(row.currency)
        request = TransferRequest(
            payment_id=row.id, tenant_id=batch.tenant_id, batch_id=batch.id,
            attempt=row.attempt, destination=row.stripe_account_id,
            amount_minor=int(Decimal(row.net).scaleb(exponent)), currency=row.currency)
        try:
            sent.append((row.id, sender.transfer(request)))
        except TransferFailed as exc:
            failed.setdefault(str(exc)[:500] or "transfer refused", []).append(row.id)
    now = datetime.now(UTC)
    if sent:
        session.execute(text("""
            UPDATE fin_driver_payments p SET stripe_transfer_id = v.tr
              FROM unnest(CAST(:ids AS uuid[]), CAST(:trs AS text[])) AS v(id, tr)
             WHERE p.tenant_id = :t AND p.id = v.id"""),
            {"t": batch.tenant_id, "ids": [str(i) for i, _ in sent],
             "trs": [tr for _, tr in sent]})
        _pay(session, actor, batch, [i for i, _ in sent], now)
    for reason, ids in failed.items():
        fail_payments(session, actor, ids, reason=f"Stripe: {reason}", at=now)
    session.refresh(batch)
    return batch


def apply_transfer_event(
    session: Session, actor: Actor, *, transfer_id: str, payment_id: uuid.UUID | None,
    reversed_: bool, reason: str,
) -> str:
    """A ``transfer.*`` webhook for one of our payments: ``transfer.reversed`` (or a
    transfer fully reversed) fails the payment and reverses its posting; ``transfer.created``
    confirms a payment whose transfer the request did not get to record. Replays and any
    order leave the same state. Returns ``processed`` or ``ignored``."""
    tenant_id = tenant_of(actor)
    stmt = select(DriverPayment).where(DriverPayment.tenant_id == tenant_id)
    stmt = stmt.where(DriverPayment.stripe_transfer_id == transfer_id) if payment_id is None \
        else stmt.where(DriverPayment.id == payment_id)
    payment = session.scalar(stmt.with_for_update().execution_options(populate_existing=True))
    if payment is None:
        return "ignored"
    if payment.stripe_transfer_id not in (None, transfer_id):
        return "ignored"  # an earlier attempt's transfer: its outcome is already recorded
    if payment.stripe_transfer_id is None:
        if payment.status != DriverPaymentStatus.PENDING:
            return "ignored"
        payment.stripe_transfer_id = transfer_id
        session.flush()
    if reversed_:
        if payment.status == DriverPaymentStatus.FAILED:
            return "ignored"
        fail_payments(session, actor, [payment.id], reason=reason)
        return "processed"
    if payment.status in (DriverPaymentStatus.PENDING, DriverPaymentStatus.PROCESSING):
        batch = get_batch(session, actor, payment.batch_id, lock=True)
        _pay(session, actor, batch, [payment.id], datetime.now(UTC))
        return "processed"
    return "ignored"


def batch_etag(batch: DriverPaymentBatch) -> str:
    """The ETag of ``batch``."""
    return etag(batch.version)
