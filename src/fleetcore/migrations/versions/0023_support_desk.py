"""Support tickets mirrored with Chatwoot or FreeScout (issue #19).

* ``sup_tickets``: first-response SLA (``first_response_due_at``, ``first_response_at``) beside
  the resolution due time ``sla_due_at``; an index on the help desk's conversation id (a
  webhook looks the ticket up before it knows the tenant).
* ``sup_customer_feedback``: ``kind`` CSAT (1 to 5) or NPS (0 to 10), one of each per ticket.
* ``sup_unrouted_conversations`` (provider-only): a help-desk conversation whose contact is no
  member or driver of exactly one tenant stays with Fleetcore's staff.
* ``driver_scope`` (as revision 0020): a member acting as a driver sees the tickets it raised,
  their messages and its own feedback, and nothing else of the fleet's support.
* ``staff_notes`` (restrictive): internal notes exist only for staff, jobs and integrations —
  a member's session (the fleet's people, drivers included) neither reads nor writes them,
  whatever the application does.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from fleetcore.migrations import security

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels = None
depends_on = None

DRIVER = "(SELECT fc_portal_driver())"


def _scoped(expression: str) -> str:
    """Everything when no driver acts, else ``expression`` (a CASE: see revision 0020)."""
    return f"CASE WHEN {DRIVER} IS NULL THEN true ELSE ({expression}) END"


DRIVER_RULES: dict[str, str] = {
    "sup_tickets": f"reporter_type = 'driver' AND reporter_id = {DRIVER}",
    "sup_ticket_messages": (
        "EXISTS (SELECT 1 FROM sup_tickets t WHERE t.tenant_id = sup_ticket_messages.tenant_id"
        " AND t.id = sup_ticket_messages.ticket_id AND t.reporter_type = 'driver'"
        f" AND t.reporter_id = {DRIVER})"),
    "sup_customer_feedback": f"submitted_by_type = 'driver' AND submitted_by_id = {DRIVER}",
}
NOT_A_MEMBER = "(current_setting('app.actor_type', true) IS DISTINCT FROM 'member')"
STAFF_NOTES = f"NOT is_internal_note OR {NOT_A_MEMBER}"


def upgrade() -> None:
    app_role = context.config.attributes.get("app_role", "fleetcore_app")
    op.add_column("sup_tickets", sa.Column("first_response_due_at", sa.DateTime(timezone=True),
                                           nullable=True))
    op.add_column("sup_tickets", sa.Column("first_response_at", sa.DateTime(timezone=True),
                                           nullable=True))
    op.create_index("ix_sup_tickets_external_system_external_id", "sup_tickets",
                    ["external_system", "external_id"])
    op.add_column("sup_customer_feedback", sa.Column("kind", sa.Text(), server_default="csat",
                                                     nullable=False))
    op.drop_constraint(op.f("ck_sup_customer_feedback_rating_range"), "sup_customer_feedback")
    op.create_check_constraint(
        op.f("ck_sup_customer_feedback_kind_valid"), "sup_customer_feedback", "kind IN ('csat', 'nps')")
    op.create_check_constraint(
        op.f("ck_sup_customer_feedback_rating_range_by_kind"), "sup_customer_feedback",
        "(kind = 'csat' AND rating BETWEEN 1 AND 5) OR (kind = 'nps' AND rating BETWEEN 0 AND 10)")
    op.create_index("uq_sup_customer_feedback_tenant_id_ticket_id_kind", "sup_customer_feedback",
                    ["tenant_id", "ticket_id", "kind"], unique=True,
                    postgresql_where=sa.text("ticket_id IS NOT NULL"))

    op.create_table(
        "sup_unrouted_conversations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("external_system", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("contact_email", sa.Text(), nullable=True),
        sa.Column("contact_name", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("messages", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint("external_system IN ('chatwoot', 'freescout')",
                           name=op.f("ck_sup_unrouted_conversations_external_system_valid")),
        sa.CheckConstraint("status IN ('open', 'pending', 'resolved', 'closed')",
                           name=op.f("ck_sup_unrouted_conversations_status_valid")),
        sa.CheckConstraint("jsonb_typeof(messages) = 'array'",
                           name=op.f("ck_sup_unrouted_conversations_messages_is_list")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sup_unrouted_conversations")),
        sa.UniqueConstraint(
            "external_system", "external_id",
            name=op.f("uq_sup_unrouted_conversations_external_system_external_id")),
    )
    op.create_index("ix_sup_unrouted_conversations_updated_at", "sup_unrouted_conversations",
                    ["updated_at"])
    security.provider_only("sup_unrouted_conversations")
    security.grant_app("sup_unrouted_conversations", app_role)
    security.touch_on_update("sup_unrouted_conversations", versioned=False)

    for table, rule in DRIVER_RULES.items():
        op.execute(f"CREATE POLICY driver_scope ON {table} AS RESTRICTIVE FOR ALL TO PUBLIC"
                   f" USING ({_scoped(rule)}) WITH CHECK ({_scoped(rule)})")
    op.execute("CREATE POLICY staff_notes ON sup_ticket_messages AS RESTRICTIVE FOR ALL"
               f" TO PUBLIC USING ({STAFF_NOTES}) WITH CHECK ({STAFF_NOTES})")


def downgrade() -> None:
    op.execute("DROP POLICY staff_notes ON sup_ticket_messages")
    for table in DRIVER_RULES:
        op.execute(f"DROP POLICY driver_scope ON {table}")
    op.drop_table("sup_unrouted_conversations")
    op.drop_index("uq_sup_customer_feedback_tenant_id_ticket_id_kind", "sup_customer_feedback")
    op.drop_constraint(op.f("ck_sup_customer_feedback_rating_range_by_kind"), "sup_customer_feedback")
    op.drop_constraint(op.f("ck_sup_customer_feedback_kind_valid"), "sup_customer_feedback")
    op.execute("DELETE FROM sup_customer_feedback WHERE kind = 'nps'")
    op.create_check_constraint(op.f("ck_sup_customer_feedback_rating_range"), "sup_customer_feedback",
                               "rating BETWEEN 1 AND 5")
    op.drop_column("sup_customer_feedback", "kind")
    op.drop_index("ix_sup_tickets_external_system_external_id", "sup_tickets")
    op.drop_column("sup_tickets", "first_response_at")
    op.drop_column("sup_tickets", "first_response_due_at")
