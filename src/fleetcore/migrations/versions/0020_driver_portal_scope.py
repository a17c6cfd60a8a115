"""The driver portal's scope: a member acting as a driver sees only its driver's rows.

* ``app.driver_id`` joins the transaction's context. ``fc_resolve_member`` sets it when the
  member holds the built-in ``driver`` role and no other role (a driver signing in to the
  portal): to the driver whose ``rid_drivers.member_id`` is the member, or to the nil uuid when
  no driver is linked (such a session then sees no driver's rows at all). Every other caller
  (staff, system jobs, integrations) leaves it ``''``: no restriction.
* ``fc_portal_driver()`` reads it (NULL when unset).
* ``driver_scope``: one RESTRICTIVE policy per driver-facing table. Restrictive policies are
  ANDed with the tenant policies, so they only ever narrow what a session sees: the driver's
  own rows of every table with a ``driver_id``, its own ``rid_drivers`` row, the documents
  filed on it (and the scans of its fines), the lines of its own settlements, its own
  ``adm_members`` row and its own audit entries. The same expression is the ``WITH CHECK`` of writes: a driver cannot file a
  request or a document for someone else, whatever the application does.

The member <-> driver link is ``rid_drivers.member_id`` (unique per tenant among live rows,
revision 0001): the one rule, with no matching by e-mail.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import importlib

from alembic import context, op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels = None
depends_on = None

MEMBER_SIGNATURE = "fc_resolve_member(text, text, boolean, text, text, text)"
NIL = "00000000-0000-0000-0000-000000000000"

PORTAL_DRIVER = """
CREATE FUNCTION fc_portal_driver() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = public, pg_temp AS $fn$
  SELECT NULLIF(current_setting('app.driver_id', true), '')::uuid
$fn$;
"""

DRIVER = "(SELECT fc_portal_driver())"
"""The scope as a one-time sub-select: evaluated once per statement (an init plan), not per row,
so a staff session's scan of a million trips pays nothing for it (measured: a 2M-row count
took the same time as without the policy; the per-row form doubled a bare count)."""

# Tables whose rows belong to one driver through their driver_id column.
DRIVER_ID_TABLES = (
    "fin_accounts", "fin_driver_payments", "fin_toll_transactions", "fin_traffic_fines",
    "flt_vehicle_assignments", "flt_vehicle_events", "flt_vehicle_expenses",
    "rev_driver_revenues", "rev_import_rows", "rid_driver_blacklists",
    "rid_driver_cooperation_terms", "rid_driver_documents", "rid_driver_performances",
    "rid_driver_requests", "rid_driver_training", "sch_shift_series", "sch_shifts",
    "trp_client_invoices", "trp_platform_accounts", "trp_settlements", "trp_trips",
)
ACTOR = "(SELECT NULLIF(current_setting('app.actor_id', true), '')::uuid)"
OTHER_TABLES: dict[str, str] = {
    "rid_drivers": f"id = {DRIVER}",
    "doc_documents": (
        f"(entity_type = 'driver' AND entity_id = {DRIVER})"
        " OR EXISTS (SELECT 1 FROM fin_traffic_fines f WHERE f.tenant_id = doc_documents"
        ".tenant_id AND f.scan_document_id = doc_documents.id"
        f" AND f.driver_id = {DRIVER})"),
    "trp_settlement_lines": (
        "EXISTS (SELECT 1 FROM trp_settlements s WHERE s.tenant_id = trp_settlement_lines"
        ".tenant_id AND s.id = trp_settlement_lines.settlement_id"
        f" AND s.driver_id = {DRIVER})"),
    "adm_members": f"id = {ACTOR}",
}
# Audit entries are written by triggers (INSERT, never read back): only reading is narrowed.
READ_ONLY_TABLES: dict[str, str] = {"adm_audit_logs": f"actor_id = {ACTOR}"}

MEMBER_FUNCTION = r"""
CREATE FUNCTION fc_resolve_member(
  p_organization_id text, p_user_id text, p_write boolean,
  p_request_id text, p_ip text, p_user_agent text
) RETURNS TABLE (
  tenant_id uuid, tenant_status text, member_id uuid, member_status text,
  member_email text, role_permissions jsonb, portal_driver_id uuid
) LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp AS $fn$
#variable_conflict use_column
DECLARE
  found_tenant uuid := tenant_for_clerk_org(p_organization_id);
  m record;
  scoped uuid;
BEGIN
  PERFORM set_config('app.request_id', coalesce(p_request_id, ''), true),
          set_config('app.ip', coalesce(p_ip, ''), true),
          set_config('app.user_agent', left(coalesce(p_user_agent, ''), 512), true),
          set_config('app.context', 'tenant', true),
          set_config('app.actor_type', 'system', true),
          set_config('app.actor_id', '', true),
          set_config('app.driver_id', '', true),
          set_config('app.tenant_id', coalesce(found_tenant::text, ''), true);
  IF found_tenant IS NULL THEN
    RETURN QUERY SELECT NULL::uuid, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::jsonb,
                        NULL::uuid;
    RETURN;
  END IF;
  SELECT mem.id, mem.status, mem.email, ten.status AS tenant_status,
         (SELECT jsonb_agg(r.permissions)
            FROM adm_member_roles mr
            JOIN adm_roles r ON r.tenant_id = mr.tenant_id AND r.id = mr.role_id
                            AND r.deleted_at IS NULL
           WHERE mr.tenant_id = mem.tenant_id AND mr.member_id = mem.id) AS role_permissions,
         -- Only the built-in driver role, and at least one role: the member acts as a driver.
         (SELECT bool_and(r.is_system AND r.name = 'driver') AND count(*) > 0
            FROM adm_member_roles mr
            JOIN adm_roles r ON r.tenant_id = mr.tenant_id AND r.id = mr.role_id
                            AND r.deleted_at IS NULL
           WHERE mr.tenant_id = mem.tenant_id AND mr.member_id = mem.id) AS acts_as_driver
    INTO m
    FROM adm_members mem
    JOIN adm_tenants ten ON ten.id = mem.tenant_id
   WHERE mem.tenant_id = found_tenant AND mem.clerk_user_id = p_user_id
     AND mem.deleted_at IS NULL;
  IF m.id IS NOT NULL AND m.status IN ('active', 'invited') AND m.tenant_status <> 'cancelled'
     AND NOT (m.tenant_status = 'suspended' AND p_write) THEN
    IF coalesce(m.acts_as_driver, false) THEN
      SELECT d.id INTO scoped FROM rid_drivers d
       WHERE d.tenant_id = found_tenant AND d.member_id = m.id AND d.deleted_at IS NULL;
      scoped := coalesce(scoped, '__NIL__'::uuid);
    END IF;
    PERFORM set_config('app.actor_type', 'member', true),
            set_config('app.actor_id', m.id::text, true),
            set_config('app.driver_id', coalesce(scoped::text, ''), true);
  ELSE
    PERFORM set_config('app.tenant_id', '', true);
  END IF;
  RETURN QUERY SELECT found_tenant, m.tenant_status, m.id, m.status, m.email,
                      m.role_permissions, scoped;
END $fn$;
""".replace("__NIL__", NIL)


def _scoped(expression: str) -> str:
    """Everything when no driver acts, else ``expression``. A CASE, not ``… IS NULL OR …``: the
    planner cannot tell the init plan's value, and it estimates an OR of an unknown null test
    and an equality as a few rows, which turned staff lists (ORDER BY … LIMIT) into sequential
    scans; a CASE is estimated as a plain boolean (half the rows), so their plans are those
    without the policy (``tests/scheduling/test_lists_at_demo_scale.py``)."""
    return f"CASE WHEN {DRIVER} IS NULL THEN true ELSE ({expression}) END"


def upgrade() -> None:
    app_role = context.config.attributes.get("app_role", "fleetcore_app")
    op.execute(PORTAL_DRIVER)
    op.execute("REVOKE ALL ON FUNCTION fc_portal_driver() FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION fc_portal_driver() TO "{app_role}"')
    rules = {**dict.fromkeys(DRIVER_ID_TABLES, f"driver_id = {DRIVER}"), **OTHER_TABLES}
    for table, rule in rules.items():
        op.execute(f"CREATE POLICY driver_scope ON {table} AS RESTRICTIVE FOR ALL TO PUBLIC"
                   f" USING ({_scoped(rule)}) WITH CHECK ({_scoped(rule)})")
    for table, rule in READ_ONLY_TABLES.items():
        op.execute(f"CREATE POLICY driver_scope ON {table} AS RESTRICTIVE FOR SELECT TO PUBLIC"
                   f" USING ({_scoped(rule)})")
    op.execute(f"DROP FUNCTION {MEMBER_SIGNATURE}")
    op.execute(MEMBER_FUNCTION)
    op.execute(f"REVOKE ALL ON FUNCTION {MEMBER_SIGNATURE} FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION {MEMBER_SIGNATURE} TO "{app_role}"')


def downgrade() -> None:
    app_role = context.config.attributes.get("app_role", "fleetcore_app")
    op.execute(f"DROP FUNCTION {MEMBER_SIGNATURE}")
    previous = importlib.import_module("fleetcore.migrations.versions.0005_resolve_actor")
    member_sql = previous.FUNCTIONS.split("CREATE FUNCTION fc_resolve_employee(")[0]
    op.execute(member_sql)
    op.execute(f"REVOKE ALL ON FUNCTION {MEMBER_SIGNATURE} FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION {MEMBER_SIGNATURE} TO "{app_role}"')
    for table in (*DRIVER_ID_TABLES, *OTHER_TABLES, *READ_ONLY_TABLES):
        op.execute(f"DROP POLICY driver_scope ON {table}")
    op.execute("DROP FUNCTION fc_portal_driver()")
