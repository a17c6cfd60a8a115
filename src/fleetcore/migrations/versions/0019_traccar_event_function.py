"""Traccar events in one statement, like positions: ``fc_traccar_event``.

An event forward used to be an ORM transaction of five to eight statements run in a worker
thread (≈ 3.4 ms of Python each, ten positions' worth). ``fc_traccar_event`` does it in one
autocommit statement on the forwarding lane's pool (decision 0007, point 7):

* it calls ``fc_traccar_position`` with the event's position (all NULL when the event has
  none): routing, the transaction's context, the device's registration, its vehicle, whether
  the fix is due as an odometer reading — and the minute's track point, so positions that
  arrive inside events now keep track points like forwarded ones;
* the device status, unless a later one already arrived (out-of-order safe);
* the vehicle event with the driver who had the vehicle at the event's time and the fix's
  odometer, once per Traccar event id (``ON CONFLICT DO NOTHING`` on
  ``(tenant_id, source, external_event_id)``); the answer says ``stored``, ``duplicate``,
  ``status``, ``unlinked`` or ``ignored``, as before.

One case stays with the ORM: a fix that carries only Traccar's ``totalDistance`` for a device
not yet calibrated to its vehicle (the first such fix pairs it with the vehicle's trusted
odometer, ``fleet/gps_service.py``): the function then answers ``calibrate`` having written
nothing but the position's part, and the receiver runs the ORM path, which is idempotent.

A track point alone commits with ``synchronous_commit = off`` (telemetry); a status or an
event restores the setting the transaction started with before writing, so an acknowledged
event is durable.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

from alembic import context, op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels = None
depends_on = None

EVENT_SIGNATURE = (
    "fc_traccar_event(text, text, text, bigint, text, timestamptz, interval, interval,"
    " numeric, numeric, numeric, numeric, numeric, text, text, text, timestamptz, text, text,"
    " jsonb)"
)

EVENT_FUNCTION = r"""
CREATE FUNCTION fc_traccar_event(
  p_token_sha256 text, p_request_id text, p_unique_id text, p_traccar_id bigint, p_name text,
  p_fix_time timestamptz, p_spacing interval, p_seen_every interval,
  p_lat numeric, p_lon numeric, p_speed_kmh numeric,
  p_odometer_km numeric, p_total_km numeric,
  p_status text, p_kind text, p_severity text, p_occurred_at timestamptz, p_description text,
  p_external_id text, p_extra jsonb
) RETURNS TABLE (tenant_id uuid, device_id uuid, vehicle_id uuid, reading_due boolean,
                 outcome text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp AS $fn$
#variable_conflict use_column
DECLARE
  -- What the transaction started with: a track point alone turns it off (telemetry).
  sync_before text := current_setting('synchronous_commit');
  found_tenant uuid;
  found_device uuid;
  found_vehicle uuid;
  due boolean;
  km numeric;
  tenths numeric;
  found_driver uuid;
  stored uuid;
  result text := 'ignored';
BEGIN
  SELECT f.tenant_id, f.device_id, f.vehicle_id, f.reading_due
    INTO found_tenant, found_device, found_vehicle, due
    FROM fc_traccar_position(p_token_sha256, p_request_id, p_unique_id, p_traccar_id, p_name,
                             p_fix_time, p_spacing, p_seen_every, p_lat, p_lon,
                             p_speed_kmh) f;
  IF found_tenant IS NULL THEN
    RETURN QUERY SELECT NULL::uuid, NULL::uuid, NULL::uuid, false, NULL::text;
    RETURN;
  END IF;
  -- The fix's odometer: the device's own (already in km, to 0.1), else its calibrated
  -- totalDistance; a device not calibrated to this vehicle is the ORM's (see above).
  IF found_vehicle IS NOT NULL AND p_fix_time IS NOT NULL THEN
    IF p_odometer_km IS NOT NULL THEN
      km := p_odometer_km;
    ELSIF p_total_km IS NOT NULL THEN
      SELECT greatest(d.calibration_km + p_total_km - d.calibration_total_km, 0) INTO km
        FROM flt_gps_devices d
       WHERE d.tenant_id = found_tenant AND d.id = found_device
         AND d.calibrated_vehicle_id = found_vehicle;
      IF km IS NULL THEN
        RETURN QUERY SELECT found_tenant, found_device, found_vehicle, due, 'calibrate'::text;
        RETURN;
      END IF;
      -- To 0.1 km, ties to even like Python's Decimal.quantize.
      tenths := floor(km * 10);
      km := CASE WHEN km * 10 - tenths = 0.5 AND mod(tenths, 2) = 0 THEN tenths / 10
                 ELSE round(km, 1) END;
    END IF;
  END IF;
  IF p_status IS NOT NULL THEN
    PERFORM set_config('synchronous_commit', sync_before, true);
    UPDATE flt_gps_devices d SET status = p_status, status_at = p_occurred_at
     WHERE d.tenant_id = found_tenant AND d.id = found_device
       AND (d.status_at IS NULL OR d.status_at < p_occurred_at);
    result := 'status';
  END IF;
  IF p_kind IS NULL THEN
    RETURN QUERY SELECT found_tenant, found_device, found_vehicle, due, result;
    RETURN;
  END IF;
  IF found_vehicle IS NULL THEN
    RETURN QUERY SELECT found_tenant, found_device, found_vehicle, due, 'unlinked'::text;
    RETURN;
  END IF;
  -- Custody is minute-level: the assignment that covers the event's time.
  SELECT a.driver_id INTO found_driver FROM flt_vehicle_assignments a
   WHERE a.tenant_id = found_tenant AND a.vehicle_id = found_vehicle AND a.deleted_at IS NULL
     AND a.status <> 'cancelled' AND a.starts_at <= p_occurred_at
     AND (a.ends_at IS NULL OR a.ends_at > p_occurred_at)
   LIMIT 1;
  PERFORM set_config('synchronous_commit', sync_before, true);
  INSERT INTO flt_vehicle_events AS e (tenant_id, id, vehicle_id, driver_id, event_type,
                                       severity, occurred_at, odometer_km, description, source,
                                       external_event_id, metadata)
  VALUES (found_tenant, gen_random_uuid(), found_vehicle, found_driver, p_kind, p_severity,
          p_occurred_at, km, p_description, 'traccar', p_external_id,
          coalesce(p_extra, '{}'::jsonb))
  ON CONFLICT (tenant_id, source, external_event_id) DO NOTHING
  RETURNING e.id INTO stored;
  RETURN QUERY SELECT found_tenant, found_device, found_vehicle, due,
    CASE WHEN stored IS NULL THEN 'duplicate' ELSE 'stored' END;
END $fn$
"""


def upgrade() -> None:
    app_role = context.config.attributes.get("app_role", "fleetcore_app")
    op.execute(EVENT_FUNCTION)
    op.execute(f"REVOKE ALL ON FUNCTION {EVENT_SIGNATURE} FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION {EVENT_SIGNATURE} TO "{app_role}"')


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {EVENT_SIGNATURE}")
