"""Money you can trust: each platform transaction counts once, settlement lines reference their
report rows, and a confirmed settlement is final (decision 0006).

* ``rev_import_rows.transaction_key`` — the identity of the money a committed row carries
  (transaction id, Bolt order reference, ``week:<start>:<account>`` of a weekly summary) — with
  a partial unique index per (tenant, platform): two imports of the same transactions, even
  committed at the same moment, cannot both count. Existing rows are given their key; a
  transaction already stored twice keeps it on its first row only (a NOTICE counts the others,
  which stay as they are until their import is rolled back).
* ``trp_settlement_lines.import_row_id`` — a real reference to the report row of an
  ``import_row`` line, ``ON DELETE SET NULL``: rolling an import back releases the lines of the
  drafts it fed (which rollback then recomputes), and a draft that lost a source cannot be
  confirmed.
* Triggers: a confirmed or paid settlement, and every line of it, never changes again (only
  the payout's progress: ``confirmed → paid`` and the reserving batch); no line is inserted
  already confirmed, and no line is confirmed without its report row. The app role loses
  ``UPDATE`` on the lines: drafts are rebuilt, never edited, and the confirmed flag moves by
  the foreign key's cascade, which runs as the table owner.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels = None
depends_on = None

KEY_OF_ROW = """CASE i.report_type
      WHEN 'payments_order' THEN r.external_transaction_id
      WHEN 'bolt_orders' THEN r.external_trip_id
      WHEN 'payments_driver' THEN 'week:' || to_char(i.period_start AT TIME ZONE 'UTC',
                                                     'YYYY-MM-DD"T"HH24:MI"Z"')
                                  || ':' || r.platform_account_ref
      WHEN 'bolt_weekly' THEN 'week:' || to_char(i.period_start AT TIME ZONE 'UTC',
                                                 'YYYY-MM-DD"T"HH24:MI"Z"')
                              || ':' || r.platform_account_ref
    END"""

FUNCTIONS = r"""
CREATE FUNCTION fc_settlement_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  -- What may still move on a confirmed settlement: the payout's progress and bookkeeping.
  moving text[] := ARRAY['status', 'payment_batch_id', 'confirmed', 'updated_at', 'updated_by',
                         'version'];
BEGIN
  IF TG_OP = 'UPDATE'
     AND (to_jsonb(NEW) - moving) = (to_jsonb(OLD) - moving)
     AND (NEW.status = OLD.status OR (OLD.status = 'confirmed' AND NEW.status = 'paid'))
     AND (OLD.status = 'confirmed' OR NEW.payment_batch_id IS NOT DISTINCT FROM OLD.payment_batch_id)
  THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'trp_settlements: % of a % settlement refused', TG_OP, OLD.status
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'A confirmed settlement is final: correct it with an adjustment in a later week.';
END $$;

CREATE FUNCTION fc_settlement_line_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NOT OLD.confirmed THEN
    -- A draft's line being confirmed (the settlement's cascade) without its report row.
    RAISE EXCEPTION 'trp_settlement_lines: the report row of line % no longer exists', OLD.id
      USING ERRCODE = 'foreign_key_violation',
            HINT = 'Its import was rolled back: recompute the week before confirming.';
  END IF;
  RAISE EXCEPTION 'trp_settlement_lines: % of a line of a confirmed settlement refused', TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'A confirmed settlement is final: correct it with an adjustment in a later week.';
END $$;
"""

TRIGGERS = (
    # WHEN clauses are evaluated without calling the function: drafts pay nothing for them.
    "CREATE TRIGGER trp_settlements_final BEFORE UPDATE OR DELETE ON trp_settlements"
    " FOR EACH ROW WHEN (OLD.status <> 'draft') EXECUTE FUNCTION fc_settlement_is_final()",
    "CREATE TRIGGER trp_settlement_lines_final BEFORE UPDATE OR DELETE ON trp_settlement_lines"
    " FOR EACH ROW WHEN (OLD.confirmed) EXECUTE FUNCTION fc_settlement_line_is_final()",
    "CREATE TRIGGER trp_settlement_lines_final_insert BEFORE INSERT ON trp_settlement_lines"
    " FOR EACH ROW WHEN (NEW.confirmed) EXECUTE FUNCTION fc_settlement_line_is_final()",
    "CREATE TRIGGER trp_settlement_lines_source_present BEFORE UPDATE ON trp_settlement_lines"
    " FOR EACH ROW WHEN (NEW.confirmed AND NOT OLD.confirmed"
    " AND NEW.source_type = 'import_row' AND NEW.import_row_id IS NULL)"
    " EXECUTE FUNCTION fc_settlement_line_is_final()",
)


def _backfill() -> None:
    # Migrations run as the owner, under forced RLS: the provider context sees every tenant.
    op.execute("SELECT set_config('app.context', 'provider', true),"
               " set_config('app.tenant_id', '', true)")
    op.execute(f"""
        UPDATE rev_import_rows r SET transaction_key = k.key
          FROM (SELECT r.tenant_id, r.id, {KEY_OF_ROW} AS key,
                       row_number() OVER (PARTITION BY r.tenant_id, r.platform_id, {KEY_OF_ROW}
                                          ORDER BY i.committed_at, r.import_id, r.row_number) AS n
                  FROM rev_import_rows r JOIN rev_revenue_imports i
                    ON i.tenant_id = r.tenant_id AND i.id = r.import_id) k
         WHERE k.tenant_id = r.tenant_id AND k.id = r.id AND k.key IS NOT NULL AND k.n = 1""")
    op.execute(f"""
        DO $$ DECLARE twice bigint; BEGIN
          SELECT count(*) INTO twice FROM rev_import_rows r JOIN rev_revenue_imports i
              ON i.tenant_id = r.tenant_id AND i.id = r.import_id
           WHERE r.transaction_key IS NULL AND {KEY_OF_ROW} IS NOT NULL;
          IF twice > 0 THEN
            RAISE NOTICE '% report rows repeat a transaction committed before them: roll back '
                         'their imports to stop them counting twice', twice;
          END IF;
        END $$""")
    op.execute("""
        UPDATE trp_settlement_lines l SET import_row_id = l.source_id
         WHERE l.source_type = 'import_row' AND EXISTS (
           SELECT 1 FROM rev_import_rows r WHERE r.tenant_id = l.tenant_id AND r.id = l.source_id)""")
    op.execute("SELECT set_config('app.context', '', true)")


def upgrade() -> None:
    app_role = context.config.attributes.get("app_role", "fleetcore_app")
    op.add_column("rev_import_rows", sa.Column("transaction_key", sa.Text(), nullable=True))
    op.add_column("trp_settlement_lines", sa.Column("import_row_id", sa.Uuid(), nullable=True))
    _backfill()
    op.create_index("uq_rev_import_rows_transaction_key", "rev_import_rows",
                    ["tenant_id", "platform_id", "transaction_key"], unique=True,
                    postgresql_where=sa.text("transaction_key IS NOT NULL"))
    op.create_foreign_key(
        "fk_trp_settlement_lines_tenant_id_import_row_id", "trp_settlement_lines",
        "rev_import_rows", ["tenant_id", "import_row_id"], ["tenant_id", "id"],
        ondelete="SET NULL (import_row_id)")
    op.create_check_constraint(
        op.f("ck_trp_settlement_lines_import_row_is_source"), "trp_settlement_lines",
        "import_row_id IS NULL OR (source_type = 'import_row' AND source_id = import_row_id)")
    op.create_index("ix_trp_settlement_lines_tenant_id_import_row_id", "trp_settlement_lines",
                    ["tenant_id", "import_row_id"],
                    postgresql_where=sa.text("import_row_id IS NOT NULL"))
    op.execute(FUNCTIONS)
    for trigger in TRIGGERS:
        op.execute(trigger)
    op.execute(f'REVOKE UPDATE ON trp_settlement_lines FROM "{app_role}"')


def downgrade() -> None:
    app_role = context.config.attributes.get("app_role", "fleetcore_app")
    op.execute(f'GRANT UPDATE ON trp_settlement_lines TO "{app_role}"')
    for name, table in (("trp_settlement_lines_source_present", "trp_settlement_lines"),
                        ("trp_settlement_lines_final_insert", "trp_settlement_lines"),
                        ("trp_settlement_lines_final", "trp_settlement_lines"),
                        ("trp_settlements_final", "trp_settlements")):
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS fc_settlement_line_is_final()")
    op.execute("DROP FUNCTION IF EXISTS fc_settlement_is_final()")
    op.drop_index("ix_trp_settlement_lines_tenant_id_import_row_id",
                  table_name="trp_settlement_lines")
    op.drop_constraint(op.f("ck_trp_settlement_lines_import_row_is_source"), "trp_settlement_lines",
                       type_="check")
    op.drop_constraint("fk_trp_settlement_lines_tenant_id_import_row_id", "trp_settlement_lines",
                       type_="foreignkey")
    op.drop_column("trp_settlement_lines", "import_row_id")
    op.drop_index("uq_rev_import_rows_transaction_key", table_name="rev_import_rows")
    op.drop_column("rev_import_rows", "transaction_key")
