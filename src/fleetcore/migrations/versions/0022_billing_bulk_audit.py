"""SaaS billing's machine-written tables are audited per statement, not per row.

The hourly close of billing periods (``fleetcore.billing.closing``) writes, for every due
subscription at once, four usage rows, an invoice, its lines and the number it takes, then
advances the period — tens of thousands of rows in a handful of statements. The per-row audit
trigger of 0003 wrote one ``adm_audit_logs`` row per usage value, invoice, line and period
change: most of the time of a 10,000-fleet close (``bench/billing.py``). Like the other bulk
tables (trips, import rows, driver payments, revision 0017), these tables now get statement
triggers with transition tables: one audit row per tenant and statement (actor, request id,
row count).

What each change was is still recorded where it is read: a subscription's trial start,
activation, plan change, cancellation, past-due and suspension are tenant lifecycle events
(append-only, with from/to); an invoice's number and status, a line's amount and a usage
value's reporting state are the rows themselves (``updated_by``/``updated_at``), and every
payment arrives as a Stripe event kept in ``int_webhook_events``.

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels = None
depends_on = None

TABLES = ("bil_tenant_subscriptions", "bil_tenant_usage_metrics", "bil_tenant_invoices",
          "bil_tenant_invoice_lines")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_audit ON {table}")
        for event, transition in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            op.execute(
                f"CREATE TRIGGER {table}_audit_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {transition} TABLE AS changed_rows "
                "FOR EACH STATEMENT EXECUTE FUNCTION fc_audit_bulk()"
            )


def downgrade() -> None:
    for table in TABLES:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_audit_{event} ON {table}")
        op.execute(
            f"CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION fc_audit_row()"
        )
