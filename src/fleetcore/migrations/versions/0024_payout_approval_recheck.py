"""Payout batches: the approval re-checks only the drivers whose balance may have changed since
the draft, and a draft's payments are written without a per-row key check (``bench/payouts.py``,
decision 0011).

* ``fin_transactions.xact_id``: the id of the database transaction that wrote the entry
  (``pg_current_xact_id()``, a default the application never sets), with a partial index by
  tenant. Rows written before this migration keep NULL: they are older than any draft.
* ``fin_driver_payment_batches.balances_snapshot``: the snapshot (``pg_snapshot`` as text) the
  draft read the balances with. The approval takes the ledger entries this snapshot does not
  see — ``xact_id`` at or above its ``xmin`` (a range of the index), then
  ``pg_visible_in_snapshot`` — and recomputes the balances of those drivers only; every other
  driver's ledger is the one the draft read.
* ``fin_driver_payments``' four references (tenant, batch, driver, destination account) become
  set-checked references (decision 0008, migration 0016): checked once per statement instead of
  once per payment (36,000 key lookups and locks for a 9,000-payment draft).
* Their unique keys on ``stripe_transfer_id`` and ``end_to_end_id`` become partial unique
  indexes (``WHERE … IS NOT NULL``), same names, same rule: a draft's payments, which have
  neither yet, write two index entries fewer each.
* No index on their ``status`` any more, and a fill factor of 50: a batch's status changes
  (the export's flip of 9,000 payments to ``processing``, paid, cancelled) are HOT updates,
  writing no index entry. What reserves money is read by batch (the approved and processing
  ones), not by payment status.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import importlib

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels = None
depends_on = None

SET_CHECKED: tuple[tuple[str, str, tuple[str, ...], str, tuple[str, ...]], ...] = (
    ("fk_fin_driver_payments_tenant_id", "fin_driver_payments", ("tenant_id",), "adm_tenants",
     ("id",)),
    ("fk_fin_driver_payments_batch", "fin_driver_payments", ("tenant_id", "batch_id", "currency"),
     "fin_driver_payment_batches", ("tenant_id", "id", "currency")),
    ("fk_fin_driver_payments_tenant_id_driver_id", "fin_driver_payments",
     ("tenant_id", "driver_id"), "rid_drivers", ("tenant_id", "id")),
    ("fk_fin_driver_payments_destination", "fin_driver_payments",
     ("tenant_id", "destination_account_id", "driver_id", "currency"), "fin_accounts",
     ("tenant_id", "id", "driver_id", "currency")),
)

# Unique where set: a draft's payments have neither yet, and a NULL is an index entry too.
PARTIAL_UNIQUE = ("stripe_transfer_id", "end_to_end_id")


def _set_checked() -> object:
    return importlib.import_module("fleetcore.migrations.versions.0016_set_checked_references")


def upgrade() -> None:
    # No rewrite: the column is added without a value, the default applies to new rows.
    op.execute("ALTER TABLE fin_transactions ADD COLUMN xact_id bigint")
    op.execute("ALTER TABLE fin_transactions ALTER COLUMN xact_id"
               " SET DEFAULT CAST(CAST(pg_current_xact_id() AS text) AS bigint)")
    op.execute("CREATE INDEX ix_fin_transactions_tenant_id_xact_id ON fin_transactions"
               " (tenant_id, xact_id) WHERE xact_id IS NOT NULL")
    op.execute("ALTER TABLE fin_driver_payment_batches ADD COLUMN balances_snapshot text")
    for name, table, _columns, _referenced, _keys in SET_CHECKED:
        op.drop_constraint(name, table, type_="foreignkey")
    for statement in _set_checked().trigger_statements(SET_CHECKED):  # type: ignore[attr-defined]
        op.execute(statement)
    for column in PARTIAL_UNIQUE:
        name = f"uq_fin_driver_payments_tenant_id_{column}"
        op.drop_constraint(name, "fin_driver_payments", type_="unique")
        op.execute(f"CREATE UNIQUE INDEX {name} ON fin_driver_payments (tenant_id, {column})"
                   f" WHERE {column} IS NOT NULL")
    # Status changes become HOT updates: no index on status, room on each page for them.
    op.execute("DROP INDEX ix_fin_driver_payments_tenant_id_status")
    op.execute("ALTER TABLE fin_driver_payments SET (fillfactor = 50)")


def downgrade() -> None:
    op.execute("ALTER TABLE fin_driver_payments RESET (fillfactor)")
    op.execute("CREATE INDEX ix_fin_driver_payments_tenant_id_status ON fin_driver_payments"
               " (tenant_id, status)")
    for column in PARTIAL_UNIQUE:
        name = f"uq_fin_driver_payments_tenant_id_{column}"
        op.execute(f"DROP INDEX {name}")
        op.create_unique_constraint(name, "fin_driver_payments", ["tenant_id", column])
    short = _set_checked()._short  # type: ignore[attr-defined]
    for name, table, columns, referenced, keys in SET_CHECKED:
        for suffix, on in (("ins", table), ("upd", table), ("del_ref", referenced),
                           ("upd_ref", referenced), ("trunc_ref", referenced)):
            op.execute(f"DROP TRIGGER IF EXISTS {short(name, suffix)} ON {on}")
        op.create_foreign_key(name, table, referenced, list(columns), list(keys),
                              ondelete="RESTRICT" if referenced == "adm_tenants" else None)
    op.execute("ALTER TABLE fin_driver_payment_batches DROP COLUMN balances_snapshot")
    op.execute("DROP INDEX ix_fin_transactions_tenant_id_xact_id")
    op.execute("ALTER TABLE fin_transactions DROP COLUMN xact_id")
