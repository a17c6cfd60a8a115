"""GPS track (one point per vehicle and minute, bounded) and the trip/GPS/cash/shift checks.

* ``flt_gps_track``: the vehicle's position at most once per minute (the first fix of each
  minute a linked device forwards: time, latitude, longitude, speed). It is what validating a
  platform trip against GPS movement needs (was the car moving, was it near the pickup and the
  drop-off) and what the live map shows; Traccar keeps the full history. Bounded: 1,440 points
  per vehicle and day at most, deleted after ``FLEETCORE_GPS_TRACK_DAYS`` by a nightly job
  (``fleet/gps_jobs.py``). Tenant-owned (forced RLS), not audited: points are telemetry written
  by the receiver, never edited by anyone. Its one reference, (tenant, vehicle) → the vehicle,
  stands for the tenant's too (as for ``rev_import_rows``, decision 0004): a key of its own to
  ``adm_tenants`` would take a share lock on the one tenant row per point, which every
  concurrent forward of the fleet then contends for.
* ``fc_traccar_position`` gains the fix's coordinates and speed and writes the minute's track
  point when the minute has none yet (read first, so the other positions of the minute still
  write nothing). A transaction that wrote only telemetry commits with
  ``synchronous_commit = off``: it does not wait for the WAL flush, and an operating-system
  crash can lose at most the last fraction of a second of points (never corrupt anything).
* Reconciliation runs count and itemise the new checks: ``cash_mismatch`` (the trip's cash
  against the report's), ``trip_not_moving``, ``pickup_far``, ``dropoff_far`` and
  ``use_outside_shift``.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import importlib

from alembic import context, op

from fleetcore.migrations import security

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels = None
depends_on = None

TABLE = "flt_gps_track"

CREATE_TABLE = """
CREATE TABLE flt_gps_track (
    tenant_id UUID NOT NULL,
    id UUID DEFAULT gen_random_uuid() NOT NULL,
    vehicle_id UUID NOT NULL,
    minute TIMESTAMP WITH TIME ZONE NOT NULL,
    fix_time TIMESTAMP WITH TIME ZONE NOT NULL,
    latitude NUMERIC(9, 6) NOT NULL,
    longitude NUMERIC(9, 6) NOT NULL,
    speed_kmh NUMERIC(6, 1),
    CONSTRAINT pk_flt_gps_track PRIMARY KEY (tenant_id, id),
    CONSTRAINT uq_flt_gps_track_tenant_id_vehicle_id_minute UNIQUE (tenant_id, vehicle_id, minute),
    CONSTRAINT fk_flt_gps_track_tenant_id_vehicle_id
        FOREIGN KEY (tenant_id, vehicle_id) REFERENCES flt_vehicles (tenant_id, id)
        ON DELETE CASCADE,
    CONSTRAINT ck_flt_gps_track_latitude_range CHECK (latitude BETWEEN -90 AND 90),
    CONSTRAINT ck_flt_gps_track_longitude_range CHECK (longitude BETWEEN -180 AND 180),
    CONSTRAINT ck_flt_gps_track_speed_kmh_non_negative CHECK (speed_kmh >= 0),
    CONSTRAINT ck_flt_gps_track_minute_truncated
        CHECK (minute = date_trunc('minute', fix_time))
)
"""

OLD_SIGNATURE = (
    "fc_traccar_position(text, text, text, bigint, text, timestamptz, interval, interval)"
)
POSITION_SIGNATURE = (
    "fc_traccar_position(text, text, text, bigint, text, timestamptz, interval, interval,"
    " numeric, numeric, numeric)"
)

# 0011's function plus the track point. ``p_lat``/``p_lon`` are NULL for a fix without a valid
# position (Traccar's ``valid: false``): no point is kept for it.
POSITION_FUNCTION = r"""
CREATE FUNCTION fc_traccar_position(
  p_token_sha256 text, p_request_id text, p_unique_id text, p_traccar_id bigint, p_name text,
  p_fix_time timestamptz, p_spacing interval, p_seen_every interval,
  p_lat numeric, p_lon numeric, p_speed_kmh numeric
) RETURNS TABLE (tenant_id uuid, device_id uuid, vehicle_id uuid, reading_due boolean)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp AS $fn$
#variable_conflict use_column
DECLARE
  found_tenant uuid := tenant_for_traccar_token(p_token_sha256);
  found_device uuid;
  found_vehicle uuid;
  stale boolean;
  fix_minute timestamptz := date_trunc('minute', p_fix_time);
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
  -- The minute's track point, when the minute has none (the first fix of the minute wins;
  -- a redelivered or late fix of a minute already kept writes nothing).
  IF found_vehicle IS NOT NULL AND p_fix_time IS NOT NULL AND p_lat IS NOT NULL
     AND p_lon IS NOT NULL AND p_fix_time < now() + interval '1 day'
     AND NOT EXISTS (SELECT FROM flt_gps_track t
                      WHERE t.tenant_id = found_tenant AND t.vehicle_id = found_vehicle
                        AND t.minute = fix_minute) THEN
    -- Telemetry: do not wait for the WAL flush (decision 0007, docs/gps.md).
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO flt_gps_track AS t (tenant_id, vehicle_id, minute, fix_time, latitude,
                                    longitude, speed_kmh)
    VALUES (found_tenant, found_vehicle, fix_minute, p_fix_time, p_lat, p_lon, p_speed_kmh)
    ON CONFLICT (tenant_id, vehicle_id, minute) DO NOTHING;
  END IF;
  RETURN QUERY SELECT found_tenant, found_device, found_vehicle,
    found_vehicle IS NOT NULL AND p_fix_time IS NOT NULL AND NOT EXISTS (
      SELECT FROM flt_odometer_readings r
       WHERE r.tenant_id = found_tenant AND r.vehicle_id = found_vehicle AND r.source = 'gps'
         AND r.read_at > p_fix_time - p_spacing AND r.read_at < p_fix_time + p_spacing);
END $fn$
"""

OLD_KINDS = "'missing_internal', 'missing_platform', 'fare_mismatch', 'commission_mismatch'"
NEW_KINDS = (OLD_KINDS + ", 'cash_mismatch', 'trip_not_moving', 'pickup_far', 'dropoff_far',"
             " 'use_outside_shift'")
COUNTS = ("cash_mismatch_count", "gps_mismatch_count", "outside_shift_count")


def upgrade() -> None:
    app_role = context.config.attributes.get("app_role", "fleetcore_app")
    op.execute(CREATE_TABLE)
    security.tenant_owned(TABLE)
    security.grant_app(TABLE, app_role)
    op.execute(f"DROP FUNCTION {OLD_SIGNATURE}")
    op.execute(POSITION_FUNCTION)
    op.execute(f"REVOKE ALL ON FUNCTION {POSITION_SIGNATURE} FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION {POSITION_SIGNATURE} TO "{app_role}"')
    op.execute("ALTER TABLE rev_reconciliation_items"
               " DROP CONSTRAINT ck_rev_reconciliation_items_kind_valid,"
               " ADD CONSTRAINT ck_rev_reconciliation_items_kind_valid"
               f" CHECK (kind IN ({NEW_KINDS}))")
    for column in COUNTS:
        op.execute(f"ALTER TABLE rev_reconciliations ADD COLUMN {column} INTEGER DEFAULT 0"
                   f" NOT NULL, ADD CONSTRAINT ck_rev_reconciliations_{column}_non_negative"
                   f" CHECK ({column} >= 0)")


def downgrade() -> None:
    app_role = context.config.attributes.get("app_role", "fleetcore_app")
    for column in COUNTS:
        op.execute(f"ALTER TABLE rev_reconciliations DROP COLUMN {column}")
    op.execute("DELETE FROM rev_reconciliation_items"
               f" WHERE kind NOT IN ({OLD_KINDS})")
    op.execute("ALTER TABLE rev_reconciliation_items"
               " DROP CONSTRAINT ck_rev_reconciliation_items_kind_valid,"
               " ADD CONSTRAINT ck_rev_reconciliation_items_kind_valid"
               f" CHECK (kind IN ({OLD_KINDS}))")
    op.execute(f"DROP FUNCTION {POSITION_SIGNATURE}")
    previous = importlib.import_module(
        "fleetcore.migrations.versions.0011_traccar_forwarding")
    op.execute(previous.POSITION_FUNCTION)
    op.execute(f"REVOKE ALL ON FUNCTION {OLD_SIGNATURE} FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION {OLD_SIGNATURE} TO "{app_role}"')
    op.execute(f"DROP TABLE {TABLE}")
