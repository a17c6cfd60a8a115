"""A bulk statement may audit itself: one row per fleet for the billing close (decision 0021).

The statement triggers of the bulk tables (``fc_audit_bulk``, revisions 0003, 0017, 0022) write
one audit row per tenant, table and operation. The hourly billing close writes four audited
tables in one statement, so it left four rows per fleet (40,000 for 10,000 fleets, about a
fifth of its database time). The close now writes one row per fleet itself —
``billing_close`` on the subscription, counting every table's rows it wrote for that fleet —
and the triggers leave out the tenants such a row already *covers*.

A row covers a tenant for a table's trigger only if it was written by the same statement
(``occurred_at = statement_timestamp()`` and the statement's token, below), for the same actor
and request, and states exactly the count the trigger sees (``changes -> 'rows'``, keyed
``table.operation``). The token is a transaction-local setting, ``fleetcore.audit_statement``,
that the writer sets around its statement; with no token, or no row matching in every respect,
the trigger writes its own row as before. So nothing is ever left out of the trail: a row
written without its audit is impossible, and a statement that states its own counts wrongly
gets the triggers' rows as well. The settings are read once per statement (init plans).

Revision ID: 0029
Revises: 0028
"""

from __future__ import annotations

import importlib

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels = None
depends_on = None

AUDIT_BULK = r"""
CREATE OR REPLACE FUNCTION fc_audit_bulk() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO adm_audit_logs (id, tenant_id, actor_type, actor_id, action, entity_type,
                              entity_id, changes, ip, user_agent, request_id, occurred_at)
  SELECT gen_random_uuid(), c.tenant_id, w.actor_type, w.actor_id,
         'bulk_' || lower(TG_OP), TG_TABLE_NAME, NULL, jsonb_build_object('rows', c.n),
         w.ip, w.user_agent, w.request_id, clock_timestamp()
    FROM (SELECT tenant_id, count(*) AS n FROM changed_rows GROUP BY tenant_id) c,
         (SELECT fc_audit_actor_type() AS actor_type,
                 NULLIF(current_setting('app.actor_id', true), '')::uuid AS actor_id,
                 NULLIF(current_setting('app.ip', true), '')::inet AS ip,
                 NULLIF(current_setting('app.user_agent', true), '') AS user_agent,
                 NULLIF(current_setting('app.request_id', true), '') AS request_id,
                 NULLIF(current_setting('fleetcore.audit_statement', true), '') AS token) w
   WHERE w.token IS NULL OR NOT EXISTS (
         SELECT FROM adm_audit_logs a
          WHERE a.tenant_id = c.tenant_id AND a.occurred_at = statement_timestamp()
            AND a.changes ->> 'statement' = w.token
            AND a.changes -> 'rows' -> (TG_TABLE_NAME || '.' || lower(TG_OP)) = to_jsonb(c.n)
            AND a.actor_type = w.actor_type AND a.actor_id IS NOT DISTINCT FROM w.actor_id
            AND a.request_id IS NOT DISTINCT FROM w.request_id
            AND a.ip IS NOT DISTINCT FROM w.ip
            AND a.user_agent IS NOT DISTINCT FROM w.user_agent);
  RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute(AUDIT_BULK)


def downgrade() -> None:
    previous = importlib.import_module("fleetcore.migrations.versions.0003_audit_trail")
    original = "CREATE FUNCTION fc_audit_bulk()" + previous.FUNCTIONS.split(
        "CREATE FUNCTION fc_audit_bulk()")[1]
    op.execute(original.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
