"""Traccar forwarding: per-tenant token routing, GPS devices, and one-call position intake.

* ``adm_tenants.traccar_token_sha256`` holds the SHA-256 of the tenant's forwarding token (the
  token itself is shown once and never stored), unique like the other routing keys, so
  ``tenant_for_traccar_token`` (``SECURITY DEFINER``, returns only a tenant id) routes a
  delivery in one index probe. A plain column, not a key inside ``settings``: a JSON operator
  is not leakproof, so under row-level security its index could not be used. The audit log
  records that it changed, not its value.
* ``flt_gps_devices``: the devices that forwarded to a tenant (linked to a vehicle through
  ``flt_vehicles.traccar_device_id``, else listed for linking) and the calibration of their
  GPS distance to the vehicle's odometer. Tenant-owned like every tenant table: forced RLS,
  composite references, row audit, ``updated_at`` trigger.
* ``fc_traccar_position``: what every forwarded position costs, in one statement
  (``SECURITY INVOKER``, like ``fc_resolve_member`` of 0005): route the token, set the
  transaction's context, register/refresh the device, find its vehicle and say whether the fix
  is due as a GPS odometer reading. Positions are the bulk of Traccar's traffic; most need
  nothing more (docs/decisions/0007-traccar-positions.md).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import context, op

from fleetcore.migrations import security

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels = None
depends_on = None

TABLE = "flt_gps_devices"

CREATE_TABLE = """
CREATE TABLE flt_gps_devices (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    unique_id TEXT NOT NULL,
    traccar_id BIGINT,
    name TEXT,
    status TEXT,
    status_at TIMESTAMP WITH TIME ZONE,
    first_seen_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    last_seen_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    calibrated_vehicle_id UUID,
    calibration_km NUMERIC(12, 1),
    calibration_total_km NUMERIC(12, 1),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    created_by UUID,
    updated_by UUID,
    CONSTRAINT pk_flt_gps_devices PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_flt_gps_devices_tenant_id_calibrated_vehicle_id
        FOREIGN KEY (tenant_id, calibrated_vehicle_id) REFERENCES flt_vehicles (tenant_id, id),
    CONSTRAINT uq_flt_gps_devices_tenant_id_unique_id UNIQUE (tenant_id, unique_id),
    CONSTRAINT ck_flt_gps_devices_unique_id_not_blank CHECK (length(btrim(unique_id)) > 0),
    CONSTRAINT ck_flt_gps_devices_calibration_complete CHECK (
        (calibrated_vehicle_id IS NULL) = (calibration_km IS NULL)
        AND (calibration_km IS NULL) = (calibration_total_km IS NULL)),
    CONSTRAINT ck_flt_gps_devices_calibration_km_non_negative CHECK (calibration_km >= 0),
    CONSTRAINT ck_flt_gps_devices_calibration_total_km_non_negative
        CHECK (calibration_total_km >= 0),
    CONSTRAINT fk_flt_gps_devices_tenant_id FOREIGN KEY (tenant_id)
        REFERENCES adm_tenants (id) ON DELETE RESTRICT
);
CREATE INDEX ix_flt_gps_devices_traccar_id ON flt_gps_devices (tenant_id, traccar_id);
ALTER TABLE adm_tenants ADD COLUMN traccar_token_sha256 CHAR(64),
    ADD CONSTRAINT ck_adm_tenants_traccar_token_sha256_hex
        CHECK (traccar_token_sha256 ~ '^[0-9a-f]{64}$'),
    ADD CONSTRAINT uq_adm_tenants_traccar_token_sha256 UNIQUE (traccar_token_sha256);
DROP TRIGGER adm_tenants_audit ON adm_tenants;
CREATE TRIGGER adm_tenants_audit AFTER INSERT OR UPDATE OR DELETE ON adm_tenants
    FOR EACH ROW EXECUTE FUNCTION fc_audit_row('traccar_token_sha256');
"""

POSITION_SIGNATURE = (
    "fc_traccar_position(text, text, text, bigint, text, timestamptz, interval, interval)"
)

# The device row moves at most every ``p_seen_every`` (or when Traccar renames/re-creates the
# device), so a position does not rewrite and audit it, and most positions write nothing. ``reading_due``: the vehicle has no GPS
# reading within ``p_spacing`` of this fix; the caller then records one (or decides not to) in
# its own transaction, where the vehicle row is locked and the rule checked again.
POSITION_FUNCTION = r"""
CREATE FUNCTION fc_traccar_position(
  p_token_sha256 text, p_request_id text, p_unique_id text, p_traccar_id bigint, p_name text,
  p_fix_time timestamptz, p_spacing interval, p_seen_every interval
) RETURNS TABLE (tenant_id uuid, device_id uuid, vehicle_id uuid, reading_due boolean)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp AS $fn$
#variable_conflict use_column
DECLARE
  found_tenant uuid := tenant_for_traccar_token(p_token_sha256);
  found_device uuid;
  found_vehicle uuid;
  stale boolean;
BEGIN
  PERFORM set_config('app.request_id', coalesce(p_request_id, ''), true),
          set_config('app.ip', '', true),
          set_config('app.user_agent', '', true),
          set_config('app.context', 'tenant', true),
          set_config('app.actor_type', 'integration', true),
          set_config('app.actor_id', '', true),
          set_config('app.tenant_id', coalesce(found_tenant::text, ''), true);
  IF found_tenant IS NULL THEN
    RETURN QUERY SELECT NULL::uuid, NULL::uuid, NULL::uuid, false;
    RETURN;
  END IF;
  -- Read first: an INSERT … ON CONFLICT writes WAL even when the row exists (speculative
  -- insertion), and a transaction that wrote must wait for the WAL flush at commit.
  SELECT d.id, d.last_seen_at < now() - p_seen_every
         OR d.traccar_id IS DISTINCT FROM coalesce(p_traccar_id, d.traccar_id)
         OR d.name IS DISTINCT FROM coalesce(p_name, d.name)
    INTO found_device, stale
    FROM flt_gps_devices d
   WHERE d.tenant_id = found_tenant AND d.unique_id = p_unique_id;
  IF found_device IS NULL THEN
    INSERT INTO flt_gps_devices AS d (tenant_id, id, unique_id, traccar_id, name)
    VALUES (found_tenant, gen_random_uuid(), p_unique_id, p_traccar_id, p_name)
    ON CONFLICT (tenant_id, unique_id) DO NOTHING
    RETURNING d.id INTO found_device;
    IF found_device IS NULL THEN  -- a concurrent forward registered it first
      SELECT d.id INTO found_device FROM flt_gps_devices d
       WHERE d.tenant_id = found_tenant AND d.unique_id = p_unique_id;
    END IF;
  ELSIF stale THEN
    UPDATE flt_gps_devices d
       SET last_seen_at = now(), traccar_id = coalesce(p_traccar_id, d.traccar_id),
           name = coalesce(p_name, d.name)
     WHERE d.tenant_id = found_tenant AND d.id = found_device;
  END IF;
  SELECT v.id INTO found_vehicle FROM flt_vehicles v
   WHERE v.tenant_id = found_tenant AND v.deleted_at IS NULL
     AND v.traccar_device_id IN (p_unique_id, p_traccar_id::text)
   ORDER BY (v.traccar_device_id = p_unique_id) DESC
   LIMIT 1;
  RETURN QUERY SELECT found_tenant, found_device, found_vehicle,
    found_vehicle IS NOT NULL AND p_fix_time IS NOT NULL AND NOT EXISTS (
      SELECT FROM flt_odometer_readings r
       WHERE r.tenant_id = found_tenant AND r.vehicle_id = found_vehicle AND r.source = 'gps'
         AND r.read_at > p_fix_time - p_spacing AND r.read_at < p_fix_time + p_spacing);
END $fn$
"""


def upgrade() -> None:
    app_role = context.config.attributes.get("app_role", "fleetcore_app")
    op.execute(CREATE_TABLE)
    security.tenant_owned(TABLE)
    security.grant_app(TABLE, app_role)
    security.touch_on_update(TABLE, versioned=False)
    op.execute(f"CREATE TRIGGER {TABLE}_audit AFTER INSERT OR UPDATE OR DELETE ON {TABLE} "
               "FOR EACH ROW EXECUTE FUNCTION fc_audit_row()")
    security.routing_function(
        "tenant_for_traccar_token", "token_sha256 text",
        "SELECT id FROM adm_tenants WHERE traccar_token_sha256 = token_sha256"
        " AND deleted_at IS NULL",
        grant_to=app_role,
    )
    op.execute(POSITION_FUNCTION)
    op.execute(f"REVOKE ALL ON FUNCTION {POSITION_SIGNATURE} FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION {POSITION_SIGNATURE} TO "{app_role}"')


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {POSITION_SIGNATURE}")
    op.execute("DROP FUNCTION IF EXISTS tenant_for_traccar_token(text)")
    op.execute("DROP TRIGGER adm_tenants_audit ON adm_tenants")
    op.execute("CREATE TRIGGER adm_tenants_audit AFTER INSERT OR UPDATE OR DELETE ON adm_tenants"
               " FOR EACH ROW EXECUTE FUNCTION fc_audit_row()")
    op.execute("ALTER TABLE adm_tenants DROP COLUMN IF EXISTS traccar_token_sha256")
    op.execute(f"DROP TABLE IF EXISTS {TABLE}")
