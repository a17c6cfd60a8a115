"""Ledger postings of confirmed settlements (money.md "Ledger rules"; workflows.md Finance 1:
money posts when a settlement is confirmed — imports and drafts post nothing).

Each settlement line becomes one ``fin_transactions`` entry moving ``|amount|`` between the
driver's balance and the account the line's money comes from or goes to, so every entry
balances by construction and the driver's balance moves by exactly the settlement's net:

===============================================  =========================================
line (source)                                    other account
===============================================  =========================================
report-row lines, platform payout taken back     the platform's receivable
fleet share (and a share returned)               fleet share (the fleet's income)
rent                                             revenue "Rent" (system account)
recharged fuel, tolls, fines, expenses; refunds  expense "Recharged costs" (system account)
deposit instalments                              the driver's deposit (a liability)
manual adjustments                               suspense (to be reclassified by finance)
===============================================  =========================================

A positive line (the fleet owes the driver more) debits the other account and credits the
driver's balance; a negative one the reverse. Allowed flows per transaction type are checked
before posting (rule 6). The command's idempotency key is ``settlement:<id>``; entry ``n`` (in
the lines' stable order) is keyed ``settlement:<id>:<n>`` with a hash of its payload: posting
again is a no-op, posting different entries under the same keys is a 409 (rule 4). All entries
are written by one statement in the caller's transaction (rule 5); ``posted_at`` is the
confirmation time (rule 7) and ``effective_on`` (the economic date balances "as of" read) the
last local day of the settled week, so a March week confirmed in April counts in March.

**A recharged expense is posted in full.** The recharge line only moves the cost from the fleet
to the driver (debit the driver's balance, credit "Recharged costs"); the cost itself — what the
fleet paid the vendor — is posted beside it, from the same settlement, as its own entry keyed
``settlement:<id>:<n>:cost``: debit "Recharged costs", credit the account that paid ("Fleet
payments" for a card or transfer, "Fleet cash" for cash). So the ledger shows the full expense
and its recovery, "Recharged costs" nets to zero for a fully recharged expense, and the expense
row is marked posted (``transaction_id``: the cost entry), which refuses its deletion. An
expense the driver paid (``driver_paid``) has no fleet cost to post: the driver's money is
already on their balance through the reimbursement line when there is one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.errors import Conflict, NotFound

__all__ = ["FLOWS", "SYSTEM_ACCOUNTS", "LedgerAccounts", "post_payments", "post_settlement",
           "reverse_payments"]

_NAMESPACE = uuid.UUID("6f1d2c1e-4a53-4bd4-9a0e-8f5b1f0c7a11")

SYSTEM_ACCOUNTS = {
    "rent": ("revenue", "Rent"),
    "recharged": ("expense", "Recharged costs"),
    "paid_bank": ("bank", "Fleet payments"),
    "paid_cash": ("cash", "Fleet cash"),
    # Where a driver payment's money leaves the fleet: its bank (SEPA file, by hand) or its
    # Stripe balance (Connect transfers).
    "payouts_bank": ("bank", "Driver payouts (bank)"),
    "payouts_stripe": ("bank", "Driver payouts (Stripe balance)"),
}
"""Tenant accounts of kinds that may have many accounts: the one postings use is tagged
``metadata.system`` with its role (created on first use)."""

_DRIVER_SIDE = "driver_balance"
_COUNTERPARTS = {
    "receivable": "platform_receivable",
    "fleet_share": "fleet_share",
    "rent": "revenue",
    "recharged": "expense",
    "deposit": "driver_deposit",
    "suspense": "suspense",
    "paid_bank": "bank",
    "paid_cash": "cash",
}

FLOWS: dict[str, frozenset[str]] = {
    "platform_earning": frozenset({"receivable"}),
    "commission": frozenset({"receivable"}),
    "tip": frozenset({"receivable"}),
    "promotion": frozenset({"receivable"}),
    "toll_refund": frozenset({"receivable"}),
    "cash_collected": frozenset({"receivable"}),
    "fleet_share": frozenset({"fleet_share"}),
    "rent": frozenset({"rent"}),
    "fuel": frozenset({"recharged"}),
    "toll": frozenset({"recharged"}),
    "fine": frozenset({"recharged"}),
    "damage": frozenset({"recharged"}),
    "expense": frozenset({"recharged"}),
    "reimbursement": frozenset({"recharged"}),
    "deposit": frozenset({"deposit"}),
    "adjustment": frozenset({"receivable", "fleet_share", "suspense"}),
    # A payment debits the driver's balance and credits the account the money leaves from.
    "payout": frozenset({"payouts_bank", "payouts_stripe"}),
}
"""Rule 6: the accounts (besides the driver's balance) each transaction type may move."""

COST_FLOWS = frozenset({"paid_bank", "paid_cash"})
"""Rule 6 for the cost of a recharged expense: "Recharged costs" against the paying account."""

_COST_ROLE = """
    CASE WHEN x.payment_method = 'cash' THEN 'paid_cash' ELSE 'paid_bank' END"""

_FLEET_PAID_COSTS = """
    FROM trp_settlement_lines l
    JOIN flt_vehicle_expenses x ON x.tenant_id = l.tenant_id AND x.id = l.source_id
   WHERE l.tenant_id = :t AND l.settlement_id = :s AND l.source_type = 'expense'
     AND l.line_type <> 'adjustment' AND l.amount < 0 AND x.payment_method <> 'driver_paid'"""

_ROLE_OF_LINE = """
    CASE
      WHEN l.source_type = 'manual' THEN 'suspense'
      WHEN l.line_type = 'fleet_share'
           OR (l.line_type = 'adjustment' AND l.source_type = 'term') THEN 'fleet_share'
      WHEN l.source_type IN ('import_row', 'trip', 'settlement') THEN 'receivable'
      WHEN l.line_type = 'rent' THEN 'rent'
      WHEN l.line_type = 'deposit' THEN 'deposit'
      WHEN l.line_type IN ('fuel', 'toll', 'fine', 'damage', 'expense')
           OR l.source_type IN ('expense', 'toll', 'fine') THEN 'recharged'
      ELSE 'suspense'
    END"""

_TYPE_OF_LINE = """
    CASE
      WHEN l.line_type = 'adjustment' AND l.source_type = 'expense' THEN 'reimbursement'
      ELSE l.line_type
    END"""


@dataclass(frozen=True, slots=True)
class LedgerAccounts:
    """The accounts one settlement posts to, by role (``driver`` = the driver's balance)."""

    ids: dict[str, uuid.UUID]


def _singleton(
    session: Session, tenant_id: uuid.UUID, kind: str, currency: str, *,
    driver_id: uuid.UUID | None = None, platform_id: uuid.UUID | None = None, name: str,
    allow_negative: bool,
) -> uuid.UUID:
    """The live account of ``kind`` for (driver, platform, currency), created on first use;
    the partial unique index makes concurrent creations converge on one row."""
    params = {"t": tenant_id, "kind": kind, "currency": currency, "driver": driver_id,
              "platform": platform_id, "name": name, "neg": allow_negative,
              "owner": "driver" if driver_id else "tenant"}
    session.execute(text("""
        INSERT INTO fin_accounts (tenant_id, id, owner_type, driver_id, kind, platform_id, name,
                                  currency, allow_negative)
        VALUES (:t, gen_random_uuid(), :owner, :driver, :kind, :platform, :name, :currency,
                :neg)
        ON CONFLICT (tenant_id, kind, currency, driver_id, platform_id)
           WHERE deleted_at IS NULL AND kind IN ('driver_balance', 'driver_deposit',
                                                 'platform_receivable', 'fleet_share',
                                                 'suspense')
        DO NOTHING"""), params)
    found = session.execute(text("""
        SELECT id FROM fin_accounts
         WHERE tenant_id = :t AND kind = :kind AND currency = :currency AND deleted_at IS NULL
           AND driver_id IS NOT DISTINCT FROM CAST(:driver AS uuid)
           AND platform_id IS NOT DISTINCT FROM CAST(:platform AS uuid)"""), params).scalar_one()
    return uuid.UUID(str(found))


def _system_account(session: Session, tenant_id: uuid.UUID, role: str, currency: str) -> uuid.UUID:
    """The tenant's system account for ``role`` (rent revenue, recharged costs) in
    ``currency``, created on first use under a lock (these kinds have no unique index)."""
    kind, name = SYSTEM_ACCOUNTS[role]
    params = {"t": tenant_id, "kind": kind, "currency": currency, "role": role, "name": name,
              "key": f"ledger-account:{tenant_id}:{role}:{currency}"}
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), params)
    select_sql = text("""
        SELECT id FROM fin_accounts
         WHERE tenant_id = :t AND kind = :kind AND currency = :currency AND deleted_at IS NULL
           AND owner_type = 'tenant' AND metadata ->> 'system' = :role
         ORDER BY created_at, id LIMIT 1""")
    found = session.execute(select_sql, params).scalar_one_or_none()
    if found is None:
        session.execute(text("""
            INSERT INTO fin_accounts (tenant_id, id, owner_type, kind, name, currency,
                                      allow_negative, metadata)
            VALUES (:t, gen_random_uuid(), 'tenant', :kind, :name, :currency, true,
                    jsonb_build_object('system', CAST(:role AS text)))"""), params)
        found = session.execute(select_sql, params).scalar_one()
    return uuid.UUID(str(found))


def _accounts(
    session: Session, tenant_id: uuid.UUID, roles: set[str], driver_id: uuid.UUID,
    platform_id: uuid.UUID | None, currency: str,
) -> LedgerAccounts:
    ids = {"driver": _singleton(session, tenant_id, _DRIVER_SIDE, currency, driver_id=driver_id,
                                name="Driver balance", allow_negative=True)}
    for role in sorted(roles):
        if role == "receivable":
            if platform_id is None:
                raise Conflict("A driver-level settlement has no platform to owe it.")
            ids[role] = _singleton(session, tenant_id, "platform_receivable", currency,
                                   platform_id=platform_id, name="Platform receivable",
                                   allow_negative=True)
        elif role == "deposit":
            ids[role] = _singleton(session, tenant_id, "driver_deposit", currency,
                                   driver_id=driver_id, name="Deposit held",
                                   allow_negative=False)
        elif role in ("fleet_share", "suspense"):
            ids[role] = _singleton(session, tenant_id, _COUNTERPARTS[role], currency,
                                   name="Fleet share" if role == "fleet_share" else "Suspense",
                                   allow_negative=True)
        else:
            ids[role] = _system_account(session, tenant_id, role, currency)
    return LedgerAccounts(ids)


def post_settlement(session: Session, actor: Actor, settlement_id: uuid.UUID) -> int:
    """Post the lines of confirmed settlement ``settlement_id``; the number of entries it has.

    Idempotent: a second call posts nothing; a call that would post other entries under the
    same keys (the lines changed after posting) is a 409.
    """
    tenant_id = tenant_of(actor)
    header = session.execute(text("""
        SELECT s.driver_id, s.platform_id, s.currency, s.confirmed_at, s.status,
               (s.period_end AT TIME ZONE a.timezone)::date - 1 AS last_day
          FROM trp_settlements s JOIN adm_tenants a ON a.id = s.tenant_id
         WHERE s.tenant_id = :t AND s.id = :s"""),
        {"t": tenant_id, "s": settlement_id}).one_or_none()
    if header is None:
        raise NotFound("No such settlement.")
    driver_id, platform_id, currency, confirmed_at, status, last_day = header
    if status == "draft" or confirmed_at is None:
        raise Conflict("Drafts post nothing: confirm the settlement first.")
    lines = session.execute(text(f"""
        SELECT DISTINCT {_ROLE_OF_LINE} AS role, {_TYPE_OF_LINE} AS kind
          FROM trp_settlement_lines l
         WHERE l.tenant_id = :t AND l.settlement_id = :s AND l.amount <> 0"""),
        {"t": tenant_id, "s": settlement_id}).all()
    for role, kind in lines:
        if role not in FLOWS.get(kind, frozenset()):
            raise Conflict(f"A {kind} line may not move money with the {role} account.")
    cost_roles = set(session.execute(text(f"SELECT DISTINCT {_COST_ROLE} {_FLEET_PAID_COSTS}"),
                                     {"t": tenant_id, "s": settlement_id}).scalars())
    if not cost_roles <= COST_FLOWS:
        raise Conflict("A recharged expense may only be paid from the fleet's bank or cash.")
    roles = {r for r, _ in lines} | cost_roles | ({"recharged"} if cost_roles else set())
    accounts = _accounts(session, tenant_id, roles, driver_id, platform_id, currency)
    return _insert_entries(session, actor, tenant_id, settlement_id, accounts, confirmed_at,
                           last_day)


def _insert_entries(
    session: Session, actor: Actor, tenant_id: uuid.UUID, settlement_id: uuid.UUID,
    accounts: LedgerAccounts, posted_at: datetime, effective_on: date,
) -> int:
    role_ids = {role: str(account) for role, account in accounts.ids.items()}
    params = {
        "t": tenant_id, "s": settlement_id, "posted_at": posted_at, "actor": actor.id,
        "effective_on": effective_on, "cost": ":cost",
        "event": uuid.uuid5(_NAMESPACE, f"settlement:{settlement_id}"),
        "key": f"settlement:{settlement_id}",
        **{f"acc_{role}": role_ids.get(role) for role in ("driver", *_COUNTERPARTS)},
    }
    counterpart = "CASE e.role " + " ".join(
        f"WHEN '{role}' THEN CAST(:acc_{role} AS uuid)" for role in _COUNTERPARTS) + " END"
    conflicting = session.execute(text(f"""
        WITH entries AS (
          SELECT e.*, CASE WHEN e.amount > 0 THEN {counterpart}
                           ELSE CAST(:acc_driver AS uuid) END AS debit,
                      CASE WHEN e.amount > 0 THEN CAST(:acc_driver AS uuid)
                           ELSE {counterpart} END AS credit,
                 CAST(:key AS text) || ':' || e.n AS idempotency_key
            FROM (SELECT l.id, l.line_type, l.source_type, l.source_id, l.amount, l.currency,
                         l.description, {_ROLE_OF_LINE} AS role, {_TYPE_OF_LINE} AS kind,
                         row_number() OVER (ORDER BY l.consumed_key, l.line_type, l.id) AS n
                    FROM trp_settlement_lines l
                   WHERE l.tenant_id = :t AND l.settlement_id = :s AND l.amount <> 0) e),
        costs AS (
          SELECT e.id, e.line_type, e.source_type, e.source_id, e.amount, e.currency,
                 'Paid by the fleet: ' || e.description AS description, e.role, e.kind, e.n,
                 CAST(:acc_recharged AS uuid) AS debit,
                 CASE {_COST_ROLE} WHEN 'paid_cash' THEN CAST(:acc_paid_cash AS uuid)
                                   ELSE CAST(:acc_paid_bank AS uuid) END AS credit,
                 e.idempotency_key || CAST(:cost AS text) AS idempotency_key
            FROM entries e
            JOIN flt_vehicle_expenses x ON x.tenant_id = :t AND x.id = e.source_id
           WHERE e.source_type = 'expense' AND e.line_type <> 'adjustment' AND e.amount < 0
             AND x.payment_method <> 'driver_paid'),
        hashed AS (
          SELECT e.*, encode(sha256(convert_to(concat_ws('|', e.kind, e.debit, e.credit,
                   abs(e.amount)::text, e.currency, CAST(:posted_at AS timestamptz)::text,
                   e.id), 'UTF8')), 'hex') AS payload
            FROM (SELECT * FROM entries UNION ALL SELECT * FROM costs) e),
        inserted AS (
          INSERT INTO fin_transactions (
            tenant_id, id, event_id, transaction_type, debit_account_id, credit_account_id,
            amount, currency, posted_at, effective_on, description, idempotency_key,
            payload_sha256, settlement_id, settlement_line_id, expense_id, toll_id, fine_id,
            created_by, updated_by)
          SELECT :t, gen_random_uuid(), :event, h.kind, h.debit, h.credit, abs(h.amount),
                 h.currency, :posted_at, :effective_on, h.description, h.idempotency_key,
                 h.payload, :s, h.id,
                 CASE WHEN h.source_type = 'expense' THEN h.source_id END,
                 CASE WHEN h.source_type = 'toll' THEN h.source_id END,
                 CASE WHEN h.source_type = 'fine' THEN h.source_id END, :actor, :actor
            FROM hashed h
          ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
          RETURNING 1)
        SELECT h.idempotency_key, (SELECT count(*) FROM hashed) AS entries
          FROM hashed h
          JOIN fin_transactions t ON t.tenant_id = :t AND t.idempotency_key = h.idempotency_key
         WHERE t.payload_sha256 <> h.payload
         LIMIT 1"""), params).one_or_none()
    if conflicting is not None:
        raise Conflict(
            f"Ledger entry {conflicting[0]} was already posted with other values: the "
            "settlement's lines changed after it was posted.", idempotency_key=conflicting[0])
    # The expense is posted: it points at its cost entry (and can no longer be deleted).
    session.execute(text("""
        UPDATE flt_vehicle_expenses x SET transaction_id = t.id
          FROM fin_transactions t
         WHERE t.tenant_id = :t AND t.settlement_id = :s AND right(t.idempotency_key, 5) = :cost
           AND x.tenant_id = t.tenant_id AND x.id = t.expense_id AND x.transaction_id IS NULL"""),
        {"t": tenant_id, "s": settlement_id, "cost": ":cost"})
    return int(session.execute(text(
        "SELECT count(*) FROM fin_transactions WHERE tenant_id = :t AND settlement_id = :s"),
        {"t": tenant_id, "s": settlement_id}).scalar_one())


# --- driver payments (payouts) ---------------------------------------------------------------


def payout_role(method: str) -> str:
    """The system account a batch paid by ``method`` pays from (rule 6: ``FLOWS["payout"]``)."""
    role = "payouts_stripe" if method == "stripe_connect" else "payouts_bank"
    if role not in FLOWS["payout"]:  # pragma: no cover - the table above says otherwise
        raise Conflict(f"A payout may not move money with the {role} account.")
    return role


def post_payments(
    session: Session, actor: Actor, batch_id: uuid.UUID, payment_ids: list[uuid.UUID],
    *, posted_at: datetime,
) -> int:
    """Post one ``payout`` entry per paid payment of ``batch_id`` among ``payment_ids``
    (debit the driver's balance, credit the batch method's payout account); the number of
    entries now posted for them.

    The key of an entry is ``payment:<id>:<attempt>:payout``: posting again is a no-op, a
    reissued payment (next attempt) posts anew, and other values under a posted key are a 409.
    One statement for the whole set (rule 5: the caller's transaction).
    """
    tenant_id = tenant_of(actor)
    method, currency = session.execute(text(
        "SELECT method, currency FROM fin_driver_payment_batches WHERE tenant_id = :t"
        " AND id = :b"), {"t": tenant_id, "b": batch_id}).one()
    counterpart = _system_account(session, tenant_id, payout_role(method), currency)
    conflicting = session.execute(text("""
        WITH entries AS (
          SELECT p.id, p.net, p.currency, a.id AS debit, CAST(:credit AS uuid) AS credit,
                 'payment:' || p.id || ':' || p.attempt || ':' || 'payout' AS idempotency_key
            FROM fin_driver_payments p
            JOIN fin_accounts a ON a.tenant_id = p.tenant_id AND a.driver_id = p.driver_id
                 AND a.kind = 'driver_balance' AND a.currency = p.currency
                 AND a.deleted_at IS NULL
           WHERE p.tenant_id = :t AND p.batch_id = :b AND p.id = ANY(:ids)
             AND p.status = 'paid'),
        hashed AS (
          SELECT e.*, encode(sha256(convert_to(concat_ws('|', 'payout', e.debit, e.credit,
                   e.net::text, e.currency, e.id), 'UTF8')), 'hex') AS payload
            FROM entries e),
        inserted AS (
          INSERT INTO fin_transactions (
            tenant_id, id, event_id, transaction_type, debit_account_id, credit_account_id,
            amount, currency, posted_at, description, idempotency_key, payload_sha256,
            payment_id, created_by, updated_by)
          SELECT :t, gen_random_uuid(), h.id, 'payout', h.debit, h.credit, h.net, h.currency,
                 :posted_at, 'Driver payment', h.idempotency_key, h.payload, h.id, :actor,
                 :actor
            FROM hashed h
          ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
          RETURNING 1)
        SELECT h.idempotency_key
          FROM hashed h
          JOIN fin_transactions t ON t.tenant_id = :t AND t.idempotency_key = h.idempotency_key
         WHERE t.payload_sha256 <> h.payload
         LIMIT 1"""), {"t": tenant_id, "b": batch_id, "ids": payment_ids, "credit": counterpart,
                       "posted_at": posted_at, "actor": actor.id}).one_or_none()
    if conflicting is not None:
        raise Conflict(f"Ledger entry {conflicting[0]} was already posted with other values.",
                       idempotency_key=conflicting[0])
    return int(session.execute(text(
        "SELECT count(*) FROM fin_transactions WHERE tenant_id = :t AND payment_id = ANY(:ids)"
        " AND transaction_type = 'payout'"), {"t": tenant_id, "ids": payment_ids}).scalar_one())


def reverse_payments(
    session: Session, actor: Actor, payment_ids: list[uuid.UUID], *, posted_at: datetime,
    reason: str,
) -> int:
    """Reverse the payout entry of the current attempt of each of ``payment_ids`` that has one
    (a failed or returned payment gives the money back to the driver's balance); the number of
    reversals written. Rule 2: a reversal mirrors its original and is written at most once
    (the unique ``reversal_of_id`` and the ``…:reversal`` key make a replay a no-op)."""
    tenant_id = tenant_of(actor)
    result = session.execute(text("""
        INSERT INTO fin_transactions (
          tenant_id, id, event_id, transaction_type, debit_account_id, credit_account_id,
          amount, currency, posted_at, description, idempotency_key, payload_sha256,
          reversal_of_id, payment_id, created_by, updated_by)
        SELECT t.tenant_id, gen_random_uuid(), t.event_id, 'reversal', t.credit_account_id,
               t.debit_account_id, t.amount, t.currency, :posted_at, :reason,
               t.idempotency_key || ':' || 'reversal',
               encode(sha256(convert_to('reversal|' || t.id, 'UTF8')), 'hex'), t.id,
               t.payment_id, :actor, :actor
          FROM fin_driver_payments p
          JOIN fin_transactions t ON t.tenant_id = p.tenant_id
               AND t.idempotency_key = 'payment:' || p.id || ':' || p.attempt || ':' || 'payout'
         WHERE p.tenant_id = :t AND p.id = ANY(:ids)
        ON CONFLICT DO NOTHING"""), {"t": tenant_id, "ids": payment_ids, "actor": actor.id,
                                     "posted_at": posted_at, "reason": reason[:500]})
    return int(getattr(result, "rowcount", 0) or 0)
