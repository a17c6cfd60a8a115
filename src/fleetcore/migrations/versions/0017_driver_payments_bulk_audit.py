"""Driver payments are written in bulk: audited per statement, not per row.

A payout batch drafts, exports and pays up to tens of thousands of ``fin_driver_payments``
rows in one statement each. The per-row audit trigger of 0003 wrote one ``adm_audit_logs`` row
per payment and per change — about half the time of a 10,000-driver batch
(``bench/payouts.py``). Like the other bulk tables (trips, import rows, settlement lines), the
table now gets statement triggers with transition tables: one audit row per tenant and
statement (actor, request id, row count). Each payment still says who last changed it
(``updated_by``), its status and times, and every money movement is a ledger entry.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels = None
depends_on = None

TABLE = "fin_driver_payments"


def upgrade() -> None:
    op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_audit ON {TABLE}")
    for event, transition in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
        op.execute(
            f"CREATE TRIGGER {TABLE}_audit_{event.lower()} AFTER {event} ON {TABLE} "
            f"REFERENCING {transition} TABLE AS changed_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION fc_audit_bulk()"
        )


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_audit_{event} ON {TABLE}")
    op.execute(
        f"CREATE TRIGGER {TABLE}_audit AFTER INSERT OR UPDATE OR DELETE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION fc_audit_row()"
    )
