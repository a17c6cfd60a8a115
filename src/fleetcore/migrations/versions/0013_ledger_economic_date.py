"""A ledger you can read: each entry's economic date, so "as of 31 March" is the business view.

``fin_transactions.effective_on`` is the local day (tenant's time zone) the money belongs to:

* for a settlement's entries, the last local day of the week it settles — a March week
  confirmed on 3 April counts in the balance as of 31 March;
* for any other entry, the business date of its event: the local day of ``posted_at`` (a
  ``BEFORE INSERT`` trigger fills it when the poster does not give it, so every writer of the
  ledger gets the rule).

Existing entries are backfilled here. The table is append-only (0002): the backfill runs with
its ``append_only`` and ``audit`` triggers disabled for this one statement (a schema change,
not a correction of money), and they are enabled again before the migration ends; the app
role's privileges (SELECT, INSERT) are not touched.

Two covering indexes serve "balance of these drivers as of D" as index-only scans:
``(tenant_id, credit_account_id, effective_on) INCLUDE (amount)`` and the same on the debit
side.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels = None
depends_on = None

FUNCTION = r"""
CREATE FUNCTION fc_ledger_effective_on() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.effective_on IS NULL THEN
    NEW.effective_on := (NEW.posted_at AT TIME ZONE coalesce(
      (SELECT timezone FROM adm_tenants WHERE id = NEW.tenant_id), 'UTC'))::date;
  END IF;
  RETURN NEW;
END $$;
"""

TRIGGER = (
    "CREATE TRIGGER fin_transactions_effective_on BEFORE INSERT ON fin_transactions"
    " FOR EACH ROW EXECUTE FUNCTION fc_ledger_effective_on()"
)

ECONOMIC_DATE = """coalesce(
         (SELECT (s.period_end AT TIME ZONE a.timezone)::date - 1
            FROM trp_settlements s
           WHERE s.tenant_id = t.tenant_id AND s.id = t.settlement_id),
         (t.posted_at AT TIME ZONE a.timezone)::date)"""
"""The economic date of entry ``t`` of tenant ``a`` (a settlement's: its week's last day)."""

BACKFILL = f"""
UPDATE fin_transactions t
   SET effective_on = {ECONOMIC_DATE}
  FROM adm_tenants a
 WHERE a.id = t.tenant_id
"""


def upgrade() -> None:
    op.add_column("fin_transactions", sa.Column("effective_on", sa.Date(), nullable=True))
    # Migrations run as the owner, under forced RLS: the provider context sees every tenant.
    op.execute("SELECT set_config('app.context', 'provider', true),"
               " set_config('app.tenant_id', '', true)")
    op.execute("ALTER TABLE fin_transactions DISABLE TRIGGER fin_transactions_append_only")
    op.execute("ALTER TABLE fin_transactions DISABLE TRIGGER fin_transactions_audit")
    op.execute(BACKFILL)
    op.execute("ALTER TABLE fin_transactions ENABLE TRIGGER fin_transactions_audit")
    op.execute("ALTER TABLE fin_transactions ENABLE TRIGGER fin_transactions_append_only")
    op.execute("SELECT set_config('app.context', '', true)")
    op.alter_column("fin_transactions", "effective_on", nullable=False)
    op.execute(FUNCTION)
    op.execute(TRIGGER)
    for side in ("credit", "debit"):
        op.create_index(
            f"ix_fin_transactions_tenant_id_{side}_effective_on", "fin_transactions",
            ["tenant_id", f"{side}_account_id", "effective_on"],
            postgresql_include=["amount"])


def downgrade() -> None:
    for side in ("credit", "debit"):
        op.drop_index(f"ix_fin_transactions_tenant_id_{side}_effective_on",
                      table_name="fin_transactions")
    op.execute("DROP TRIGGER IF EXISTS fin_transactions_effective_on ON fin_transactions")
    op.execute("DROP FUNCTION IF EXISTS fc_ledger_effective_on()")
    op.drop_column("fin_transactions", "effective_on")
