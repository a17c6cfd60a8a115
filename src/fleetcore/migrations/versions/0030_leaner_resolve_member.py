"""A leaner ``fc_resolve_member``: the same contract in fewer, cheaper statements (decision 0022).

Every request of a member runs this function (decision 0003; the read lane's one statement,
decision 0022), and it was most of PostgreSQL's CPU for a primary-key read: ≈ 225 µs of backend
CPU a call (prepared, one call per statement as the lane sends it, demo tenant, PostgreSQL 15)
against ≈ 35 µs for a PL/pgSQL function that returns a constant row. Where it went: the
routing through ``tenant_for_clerk_org`` ≈ 27 µs (a SECURITY DEFINER call, two ``set_config``
and its query), ``fc_portal_driver()`` in the ``driver_scope`` policies of the tables read
(``adm_members``, ``rid_drivers``) ≈ 30 µs — a function with a ``SET`` clause is never
inlined, so each policy's init plan ran it through the SQL-function machinery, planned on every
call — and the member's statement with two sub-selects over the same roles, the driver's own
statement and ``RETURN QUERY`` of constants (each statement an executor start-up). This
version keeps the signature, the result (columns and values for every case), the settings with
their final values, SECURITY INVOKER and the ``search_path``, and changes only how:

* **the routing inlined**: the function reads ``adm_tenants`` itself in the provider context,
  as ``tenant_for_clerk_org`` does (same filter), and gets the tenant's status from the same
  row: no SECURITY DEFINER call, no join of ``adm_tenants`` to the member;
* **one roles aggregate** (a lateral sub-select giving the permissions and whether the member
  acts as a driver) instead of two sub-selects over the same rows;
* **the portal driver in the same statement**, evaluated only for an accepted member who acts
  as a driver (a ``CASE`` evaluates its sub-select on demand), not a statement of its own;
* **the actor's settings set once**, after the member is judged: ``app.actor_type`` and
  ``app.actor_id`` are read by nothing in between (the reads need ``app.tenant_id``, and
  ``app.driver_id`` empty so that ``driver_scope`` does not narrow them, both set first);
* **the result row assigned** to the output columns (``RETURN NEXT``), not selected;
* **``fc_portal_driver()`` inlinable** (below): every driver-scoped read gains from it too.

Measured the same way: ≈ 145 to 160 µs a call (the machine was shared; medians of 4 rounds).
PL/pgSQL stays: an SQL-language function with ``SET search_path`` is never inlined, and before
PostgreSQL 18 it plans its statements on every call; PL/pgSQL caches them per session (the
lane's and the engine's connections are pooled).

``tests/core/test_resolve_member_lean.py`` compares this function with 0020's over every case.

Revision ID: 0030
Revises: 0029
"""

from __future__ import annotations

import importlib

from alembic import context, op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels = None
depends_on = None

MEMBER_SIGNATURE = "fc_resolve_member(text, text, boolean, text, text, text)"
NIL = "00000000-0000-0000-0000-000000000000"

MEMBER_FUNCTION = r"""
CREATE OR REPLACE FUNCTION fc_resolve_member(
  p_organization_id text, p_user_id text, p_write boolean,
  p_request_id text, p_ip text, p_user_agent text
) RETURNS TABLE (
  tenant_id uuid, tenant_status text, member_id uuid, member_status text,
  member_email text, role_permissions jsonb, portal_driver_id uuid
) LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp AS $fn$
#variable_conflict use_column
DECLARE
  found_tenant uuid;
  found_status text;
  accepted boolean;
BEGIN
  -- The request's context. app.driver_id empty: driver_scope must not narrow the reads below.
  -- The organisation is routed as tenant_for_clerk_org routes it (revision 0002: the provider
  -- context reads adm_tenants across tenants), here in the same statement as the tenant's
  -- status: one read of adm_tenants instead of a SECURITY DEFINER call and a join.
  PERFORM set_config('app.request_id', coalesce(p_request_id, ''), true),
          set_config('app.ip', coalesce(p_ip, ''), true),
          set_config('app.user_agent', left(coalesce(p_user_agent, ''), 512), true),
          set_config('app.driver_id', '', true),
          set_config('app.context', 'provider', true);
  SELECT ten.id, ten.status INTO found_tenant, found_status
    FROM adm_tenants ten
   WHERE ten.clerk_organization_id = p_organization_id AND ten.deleted_at IS NULL;
  -- The tenant the member is read under (empty: no tenant, and every policy shows nothing).
  PERFORM set_config('app.context', 'tenant', true),
          set_config('app.tenant_id', coalesce(found_tenant::text, ''), true);
  IF found_tenant IS NOT NULL THEN
    -- The member and its roles (under RLS), judged as core.auth does, and for a member acting
    -- as a driver (the built-in driver role and no other) the driver it is linked to, or the
    -- nil uuid when none is. The tenant's status is reported only with a member, as before.
    SELECT found_tenant, found_status, mem.id, mem.status, mem.email, roles.permissions,
           mem.status IN ('active', 'invited') AND found_status <> 'cancelled'
             AND NOT (found_status = 'suspended' AND p_write),
           CASE WHEN mem.status IN ('active', 'invited') AND found_status <> 'cancelled'
                     AND NOT (found_status = 'suspended' AND p_write) AND roles.acts_as_driver
                THEN coalesce((SELECT d.id FROM rid_drivers d
                                WHERE d.tenant_id = found_tenant AND d.member_id = mem.id
                                  AND d.deleted_at IS NULL), '__NIL__'::uuid)
           END
      INTO tenant_id, tenant_status, member_id, member_status, member_email, role_permissions,
           accepted, portal_driver_id
      FROM adm_members mem
      CROSS JOIN LATERAL (
        SELECT jsonb_agg(r.permissions) AS permissions,
               coalesce(bool_and(r.is_system AND r.name = 'driver'), false) AS acts_as_driver
          FROM adm_member_roles mr
          JOIN adm_roles r ON r.tenant_id = mr.tenant_id AND r.id = mr.role_id
                          AND r.deleted_at IS NULL
         WHERE mr.tenant_id = mem.tenant_id AND mr.member_id = mem.id) AS roles
     WHERE mem.tenant_id = found_tenant AND mem.clerk_user_id = p_user_id
       AND mem.deleted_at IS NULL;
    -- No member row: the tenant is still reported (the caller tells "not a member").
    tenant_id := found_tenant;
  END IF;
  IF accepted THEN
    PERFORM set_config('app.actor_type', 'member', true),
            set_config('app.actor_id', member_id::text, true),
            set_config('app.driver_id', coalesce(portal_driver_id::text, ''), true);
  ELSE
    PERFORM set_config('app.actor_type', 'system', true),
            set_config('app.actor_id', '', true),
            set_config('app.tenant_id', '', true);
  END IF;
  RETURN NEXT;
END $fn$;
""".replace("__NIL__", NIL)


PORTAL_DRIVER = """
CREATE OR REPLACE FUNCTION fc_portal_driver() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
  SELECT NULLIF(current_setting('app.driver_id', true), '')::uuid
$fn$;
"""
"""Revision 0020's, without its ``SET search_path``: a function with a ``SET`` clause is never
inlined, so every ``driver_scope`` policy's init plan called it through the SQL-function
machinery (planned on each call). Its body names only ``pg_catalog`` (``current_setting``, the
``uuid`` cast), which is searched first whatever the path, so the clause protected nothing."""


def upgrade() -> None:
    # CREATE OR REPLACE keeps the functions' grants (EXECUTE to the app role only).
    op.execute(PORTAL_DRIVER)
    op.execute(MEMBER_FUNCTION)


def downgrade() -> None:
    app_role = context.config.attributes.get("app_role", "fleetcore_app")
    previous = importlib.import_module("fleetcore.migrations.versions.0020_driver_portal_scope")
    op.execute(f"DROP FUNCTION {MEMBER_SIGNATURE}")
    op.execute(previous.MEMBER_FUNCTION)
    op.execute(f"REVOKE ALL ON FUNCTION {MEMBER_SIGNATURE} FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION {MEMBER_SIGNATURE} TO "{app_role}"')
    op.execute(previous.PORTAL_DRIVER.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
