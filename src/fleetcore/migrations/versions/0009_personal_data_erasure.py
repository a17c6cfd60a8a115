"""Erasure of a person's personal data on request (workflows.md, Finance 8).

The audit trail keeps the before/after values of every change, so erasing a driver or a
member from the tables alone would leave their name, e-mail, phone, licence number… in
``adm_audit_logs.changes``. ``fc_erase_audit_values`` is the one way to remove them: a
``SECURITY DEFINER`` function owned by the owner that, in the current tenant only,

* replaces the before/after values of the named fields with ``"[erased]"`` in the audit rows
  of the named entities (the person's own row and their rows in other tables), and
* for a member, clears the ip and user agent of the audit rows of their own actions,

and refuses unless the person is already marked anonymised (``anonymised_at``) in the same
tenant, so it cannot be used to rewrite the history of anyone still on file.

The append-only trigger of ``adm_audit_logs`` lets exactly that UPDATE through: only while the
function runs (a transaction-local flag it sets and clears), only the ``changes``, ``ip`` and
``user_agent`` columns, and only rows the new ``erasure_scrub`` policy opens (current tenant,
flag set). The app role still has no UPDATE privilege on the table. Decision 0005.

``adm_members`` gains ``anonymised_at`` like ``rid_drivers``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from fleetcore.migrations.security import CURRENT_TENANT

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels = None
depends_on = None

SIGNATURE = "fc_erase_audit_values(text, uuid, text, uuid[], text[])"

ERASING = "(current_setting('fleetcore.erasing', true) = 'on')"

FUNCTIONS = r"""
CREATE FUNCTION fc_audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- The one exception to append-only: the erasure function rewriting personal values.
  IF TG_OP = 'UPDATE' AND current_setting('fleetcore.erasing', true) = 'on'
     AND (to_jsonb(NEW) - 'changes' - 'ip' - 'user_agent')
         = (to_jsonb(OLD) - 'changes' - 'ip' - 'user_agent') THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Record a correcting entry (a reversal) instead.';
END $$;

CREATE FUNCTION fc_erase_audit_values(
  p_person_type text, p_person_id uuid, p_entity_type text, p_entity_ids uuid[],
  p_fields text[]
) RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp AS $fn$
DECLARE
  tenant uuid := NULLIF(current_setting('app.tenant_id', true), '')::uuid;
  erased boolean;
  changed bigint := 0;
  n bigint;
BEGIN
  IF tenant IS NULL THEN
    RAISE EXCEPTION 'fc_erase_audit_values needs a tenant' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF p_person_type = 'driver' THEN
    SELECT anonymised_at IS NOT NULL INTO erased FROM rid_drivers
     WHERE tenant_id = tenant AND id = p_person_id;
  ELSIF p_person_type = 'member' THEN
    SELECT anonymised_at IS NOT NULL INTO erased FROM adm_members
     WHERE tenant_id = tenant AND id = p_person_id;
  END IF;
  IF erased IS NOT TRUE THEN
    RAISE EXCEPTION '% % is not anonymised in this tenant', p_person_type, p_person_id
      USING ERRCODE = 'insufficient_privilege';
  END IF;

  PERFORM set_config('fleetcore.erasing', 'on', true);
  IF p_entity_type IS NOT NULL AND cardinality(p_entity_ids) > 0 THEN
    UPDATE adm_audit_logs a
       SET changes = (
         SELECT coalesce(jsonb_object_agg(e.key, CASE
                  WHEN e.key <> ALL (p_fields) THEN e.value
                  ELSE jsonb_build_object(
                    'before', CASE WHEN jsonb_typeof(e.value -> 'before') IN ('null') OR
                                        (e.value -> 'before') IS NULL
                                   THEN 'null'::jsonb ELSE '"[erased]"'::jsonb END,
                    'after', CASE WHEN jsonb_typeof(e.value -> 'after') IN ('null') OR
                                       (e.value -> 'after') IS NULL
                                  THEN 'null'::jsonb ELSE '"[erased]"'::jsonb END)
                END), '{}'::jsonb)
           FROM jsonb_each(a.changes) e)
     WHERE a.tenant_id = tenant AND a.entity_type = p_entity_type
       AND a.entity_id = ANY (p_entity_ids) AND a.changes ?| p_fields;
    GET DIAGNOSTICS n = ROW_COUNT;
    changed := changed + n;
  END IF;
  IF p_person_type = 'member' THEN
    -- Where and with what the person signed in and acted from is personal too.
    UPDATE adm_audit_logs a SET ip = NULL, user_agent = NULL
     WHERE a.tenant_id = tenant AND a.actor_type = 'member' AND a.actor_id = p_person_id
       AND (a.ip IS NOT NULL OR a.user_agent IS NOT NULL);
    GET DIAGNOSTICS n = ROW_COUNT;
    changed := changed + n;
  END IF;
  PERFORM set_config('fleetcore.erasing', '', true);
  RETURN changed;
END $fn$;
"""


def upgrade() -> None:
    app_role = context.config.attributes.get("app_role", "fleetcore_app")
    op.add_column("adm_members", sa.Column("anonymised_at", sa.DateTime(timezone=True),
                                           nullable=True))
    op.execute(FUNCTIONS)
    op.execute("DROP TRIGGER adm_audit_logs_append_only ON adm_audit_logs")
    op.execute(
        "CREATE TRIGGER adm_audit_logs_append_only BEFORE UPDATE OR DELETE ON adm_audit_logs "
        "FOR EACH ROW EXECUTE FUNCTION fc_audit_log_guard()"
    )
    op.execute(
        "CREATE POLICY erasure_scrub ON adm_audit_logs FOR UPDATE "
        f"USING (tenant_id = {CURRENT_TENANT} AND {ERASING}) "
        f"WITH CHECK (tenant_id = {CURRENT_TENANT} AND {ERASING})"
    )
    op.execute(f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION {SIGNATURE} TO "{app_role}"')


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")
    op.execute("DROP POLICY IF EXISTS erasure_scrub ON adm_audit_logs")
    op.execute("DROP TRIGGER adm_audit_logs_append_only ON adm_audit_logs")
    op.execute(
        "CREATE TRIGGER adm_audit_logs_append_only BEFORE UPDATE OR DELETE ON adm_audit_logs "
        "FOR EACH ROW EXECUTE FUNCTION fc_refuse_change()"
    )
    op.execute("DROP FUNCTION IF EXISTS fc_audit_log_guard()")
    op.drop_column("adm_members", "anonymised_at")
