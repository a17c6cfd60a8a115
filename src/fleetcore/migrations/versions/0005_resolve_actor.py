"""Resolve the caller of a request and set its context in one statement.

``fc_resolve_member`` (organisation + user of a verified session token) and
``fc_resolve_employee`` (Fleetcore staff, optionally opening a tenant) do in one round trip
what ``fleetcore.core.auth`` did in four or five: route the organisation to its tenant (through
the ``SECURITY DEFINER`` routing function ``tenant_for_clerk_org`` of revision 0002), read the
member and its roles' permissions under that tenant's row-level security, and set the
transaction-local context (``app.tenant_id``, ``app.context``, ``app.actor_type``,
``app.actor_id``, ``app.request_id``, ``app.ip``, ``app.user_agent``) that the policies and
the audit triggers read — before the route's first query. The employee function also writes
the ``impersonate`` audit row when staff open a tenant.

Both are ``SECURITY INVOKER``: they run as the app role, under the same policies as the
statements they replace, and grant nothing the app role did not have. The context of an
admitted caller is set; a refused caller (unknown, suspended, cancelled tenant, write on a
suspended tenant) leaves no tenant open, and the application answers 401/403/404 from the
returned statuses. See ``docs/decisions/0003-request-round-trips.md``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import context, op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MEMBER_SIGNATURE = "fc_resolve_member(text, text, boolean, text, text, text)"
EMPLOYEE_SIGNATURE = "fc_resolve_employee(text, text, text, text, text, text, text)"

# One request = one call. Settings are set with set_config(..., true): transaction-local, so
# a pooled connection (or PgBouncer in transaction mode) never carries them to the next one.
# Permissions come back as the roles' own arrays (jsonb_agg of arrays): unnesting and
# de-duplicating them in SQL cost several times the rest of the function; the caller unions.
FUNCTIONS = r"""
CREATE FUNCTION fc_resolve_member(
  p_organization_id text, p_user_id text, p_write boolean,
  p_request_id text, p_ip text, p_user_agent text
) RETURNS TABLE (
  tenant_id uuid, tenant_status text, member_id uuid, member_status text,
  member_email text, role_permissions jsonb
) LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp AS $fn$
#variable_conflict use_column
DECLARE
  found_tenant uuid := tenant_for_clerk_org(p_organization_id);
  m record;
BEGIN
  -- The request's settings, and the tenant opened to the system actor to read the member.
  PERFORM set_config('app.request_id', coalesce(p_request_id, ''), true),
          set_config('app.ip', coalesce(p_ip, ''), true),
          set_config('app.user_agent', left(coalesce(p_user_agent, ''), 512), true),
          set_config('app.context', 'tenant', true),
          set_config('app.actor_type', 'system', true),
          set_config('app.actor_id', '', true),
          set_config('app.tenant_id', coalesce(found_tenant::text, ''), true);
  IF found_tenant IS NULL THEN
    RETURN QUERY SELECT NULL::uuid, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::jsonb;
    RETURN;
  END IF;
  SELECT mem.id, mem.status, mem.email, ten.status AS tenant_status,
         (SELECT jsonb_agg(r.permissions)
            FROM adm_member_roles mr
            JOIN adm_roles r ON r.tenant_id = mr.tenant_id AND r.id = mr.role_id
                            AND r.deleted_at IS NULL
           WHERE mr.tenant_id = mem.tenant_id AND mr.member_id = mem.id) AS role_permissions
    INTO m
    FROM adm_members mem
    JOIN adm_tenants ten ON ten.id = mem.tenant_id
   WHERE mem.tenant_id = found_tenant AND mem.clerk_user_id = p_user_id
     AND mem.deleted_at IS NULL;
  IF m.id IS NOT NULL AND m.status IN ('active', 'invited') AND m.tenant_status <> 'cancelled'
     AND NOT (m.tenant_status = 'suspended' AND p_write) THEN
    -- Admitted: the rest of the transaction runs as this member (and is audited as such).
    PERFORM set_config('app.actor_type', 'member', true),
            set_config('app.actor_id', m.id::text, true);
  ELSE
    -- Refused: close the tenant again; the caller answers from the statuses.
    PERFORM set_config('app.tenant_id', '', true);
  END IF;
  RETURN QUERY SELECT found_tenant, m.tenant_status, m.id, m.status, m.email,
                      m.role_permissions;
END $fn$;

CREATE FUNCTION fc_resolve_employee(
  p_user_id text, p_tenant_ref text, p_method text, p_path text,
  p_request_id text, p_ip text, p_user_agent text
) RETURNS TABLE (
  employee_id uuid, employee_status text, employee_email text, permissions jsonb,
  tenant_id uuid, tenant_status text
) LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp AS $fn$
#variable_conflict use_column
DECLARE
  e record;
  opened uuid;
  opened_status text;
BEGIN
  -- Staff are found in the provider context, as the system actor, with no tenant open.
  PERFORM set_config('app.request_id', coalesce(p_request_id, ''), true),
          set_config('app.ip', coalesce(p_ip, ''), true),
          set_config('app.user_agent', left(coalesce(p_user_agent, ''), 512), true),
          set_config('app.context', 'provider', true),
          set_config('app.actor_type', 'system', true),
          set_config('app.actor_id', '', true),
          set_config('app.tenant_id', '', true);
  SELECT emp.id, emp.status, emp.email, emp.permissions INTO e
    FROM adm_provider_employees emp
   WHERE emp.clerk_user_id = p_user_id AND emp.deleted_at IS NULL;
  IF e.id IS NOT NULL AND e.status = 'active' AND p_tenant_ref IS NOT NULL THEN
    SELECT ten.id, ten.status INTO opened, opened_status
      FROM adm_tenants ten
     WHERE ten.deleted_at IS NULL AND (ten.slug = p_tenant_ref OR ten.id::text = p_tenant_ref)
     ORDER BY ten.id::text = p_tenant_ref DESC
     LIMIT 1;
  END IF;
  IF e.id IS NULL OR e.status <> 'active' OR (p_tenant_ref IS NOT NULL AND opened IS NULL) THEN
    -- Refused (unknown or inactive staff, unknown tenant): leave the provider context.
    PERFORM set_config('app.context', 'tenant', true);
    RETURN QUERY SELECT e.id, e.status, e.email, e.permissions, NULL::uuid, NULL::text;
    RETURN;
  END IF;
  PERFORM set_config('app.actor_type', 'provider_employee', true),
          set_config('app.actor_id', e.id::text, true),
          set_config('app.tenant_id', coalesce(opened::text, ''), true);
  IF opened IS NOT NULL THEN
    -- Staff opening a tenant is audited on every request.
    INSERT INTO adm_audit_logs (id, tenant_id, actor_type, actor_id, action, entity_type,
                                entity_id, changes, ip, user_agent, request_id)
    VALUES (gen_random_uuid(), opened, 'provider_employee', e.id, 'impersonate', 'adm_tenants',
            opened,
            jsonb_build_object('request', jsonb_build_object('method', p_method, 'path', p_path)),
            NULLIF(p_ip, '')::inet, NULLIF(left(coalesce(p_user_agent, ''), 512), ''),
            NULLIF(p_request_id, ''));
  END IF;
  RETURN QUERY SELECT e.id, e.status, e.email, e.permissions, opened, opened_status;
END $fn$;
"""


def upgrade() -> None:
    app_role = context.config.attributes.get("app_role", "fleetcore_app")
    op.execute(FUNCTIONS)
    for signature in (MEMBER_SIGNATURE, EMPLOYEE_SIGNATURE):
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f'GRANT EXECUTE ON FUNCTION {signature} TO "{app_role}"')


def downgrade() -> None:
    for signature in (EMPLOYEE_SIGNATURE, MEMBER_SIGNATURE):
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
