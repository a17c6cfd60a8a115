"""A forwarded fix due as an odometer reading is kept by the position's own statement.

Until now a fix due as a GPS odometer reading (one position in about ninety for a tracker
reporting every 10 s) left ``fc_traccar_position`` and went through the ORM in a worker thread
(``maintenance_service.record_gps_odometer_reading``: two "is it due" reads, the vehicle lock,
the neighbouring readings, the plausibility check — about 9 ms of Python, a fifth of the
forwarding server's time). Now:

* ``fc_gps_odometer_reading(tenant, vehicle, km, read_at, spacing)`` does the same judgement
  in SQL: not in the future, locks the vehicle (``FOR NO KEY UPDATE``: it conflicts with the
  ORM's ``FOR UPDATE`` and with itself, so readings of one car are still judged one after the
  other, but not with the key-share lock a track point's foreign key takes), checks again that
  no GPS reading lies within the spacing, reads the trusted neighbours and keeps the reading
  when the car moved and the reading is **certainly plausible** (``kept``). Anything the ORM
  could flag — below the reading before, above the one after, beyond what a car can drive,
  far above the vehicle's usual use (with a small margin, so rounding never lets a doubtful
  one through) — is answered ``check`` with nothing written: the ORM path then writes it
  flagged, with its reason in words (``maintenance_service`` stays the one place that words
  anomalies). Other answers: ``future``, ``not_due``, ``unchanged``, ``gone``.
* ``fc_traccar_position`` gains the fix's odometer and ``totalDistance`` (km) and calls it
  when the fix is due (a device's ``totalDistance`` is read through its calibration to the
  vehicle, rounded to 0.1 km ties-to-even like Python's ``Decimal.quantize``). ``reading_due``
  now says that a due reading is **left to the caller**: a device not yet calibrated to its
  vehicle, or a ``check``. A reading is never committed with ``synchronous_commit = off``: the
  minute's track point keeps the transaction's setting when a reading was written with it.
* ``fc_traccar_event`` passes its fix's distances through (same signature, same answers).

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import importlib

from alembic import context, op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels = None
depends_on = None

READING_SIGNATURE = "fc_gps_odometer_reading(uuid, uuid, numeric, timestamptz, interval)"
OLD_POSITION_SIGNATURE = (
    "fc_traccar_position(text, text, text, bigint, text, timestamptz, interval, interval,"
    " numeric, numeric, numeric)"
)
POSITION_SIGNATURE = (
    "fc_traccar_position(text, text, text, bigint, text, timestamptz, interval, interval,"
    " numeric, numeric, numeric, numeric, numeric)"
)

# Trusted: not an unconfirmed anomaly and not superseded by a correction
# (maintenance_service._trusted).
_TRUSTED = """(r.is_anomaly = false OR r.confirmed_at IS NOT NULL)
       AND NOT EXISTS (SELECT FROM flt_odometer_readings c
                        WHERE c.tenant_id = r.tenant_id AND c.corrects_reading_id = r.id)"""

# The limits are maintenance_service's (FUTURE_TOLERANCE 5 min, MAX_KM_PER_DAY 1500,
# MIN_ELAPSED 2 h, USUAL_USE_WINDOW 90 days, USUAL_USE_MIN_SPAN 14 days, USUAL_USE_FACTOR 4,
# USUAL_USE_MIN_EXCESS_KM 500); tests/fleet/test_gps.py checks both sides agree at the edges.
# Intervals in hours: '1 day' on a timestamptz follows the session's time zone's DST.
READING_FUNCTION = rf"""
CREATE FUNCTION fc_gps_odometer_reading(
  p_tenant uuid, p_vehicle uuid, p_km numeric, p_read_at timestamptz, p_spacing interval
) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp AS $fn$
DECLARE
  prev_km numeric;
  prev_at timestamptz;
  next_km numeric;
  base_km numeric;
  base_at timestamptz;
  delta numeric;
  elapsed_s numeric;
  days numeric;
  usual numeric;
BEGIN
  IF p_read_at > now() + interval '5 minutes' THEN
    RETURN 'future';
  END IF;
  PERFORM 1 FROM flt_vehicles v
   WHERE v.tenant_id = p_tenant AND v.id = p_vehicle AND v.deleted_at IS NULL
     FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RETURN 'gone';
  END IF;
  -- Under the lock, with a new snapshot: a fix of the same car judged just before is seen.
  IF EXISTS (SELECT FROM flt_odometer_readings r
              WHERE r.tenant_id = p_tenant AND r.vehicle_id = p_vehicle AND r.source = 'gps'
                AND r.read_at > p_read_at - p_spacing AND r.read_at < p_read_at + p_spacing) THEN
    RETURN 'not_due';
  END IF;
  SELECT r.odometer_km, r.read_at INTO prev_km, prev_at FROM flt_odometer_readings r
   WHERE r.tenant_id = p_tenant AND r.vehicle_id = p_vehicle AND r.read_at <= p_read_at
     AND {_TRUSTED}
   ORDER BY r.read_at DESC, r.id DESC LIMIT 1;
  IF prev_km = p_km THEN
    RETURN 'unchanged';
  END IF;
  IF prev_km > p_km THEN
    RETURN 'check';
  END IF;
  SELECT r.odometer_km INTO next_km FROM flt_odometer_readings r
   WHERE r.tenant_id = p_tenant AND r.vehicle_id = p_vehicle AND r.read_at > p_read_at
     AND {_TRUSTED}
   ORDER BY r.read_at, r.id LIMIT 1;
  IF next_km < p_km THEN
    RETURN 'check';
  END IF;
  IF prev_km IS NOT NULL THEN
    delta := p_km - prev_km;
    elapsed_s := extract(epoch FROM p_read_at - prev_at);
    -- Beyond what a car can drive: delta / max(elapsed, 2 h) > 1500 km/day.
    IF delta * 86400 * 1.000001 > 1500 * greatest(elapsed_s, 7200) THEN
      RETURN 'check';
    END IF;
    -- Far above the vehicle's usual use (measured from 14 to 90 days before the previous
    -- reading): more than 4 times the usual km/day and more than 500 km beyond it.
    SELECT r.odometer_km, r.read_at INTO base_km, base_at FROM flt_odometer_readings r
     WHERE r.tenant_id = p_tenant AND r.vehicle_id = p_vehicle
       AND r.read_at >= prev_at - interval '2160 hours'
       AND r.read_at <= prev_at - interval '336 hours'
       AND {_TRUSTED}
     ORDER BY r.read_at, r.id LIMIT 1;
    IF base_at IS NOT NULL THEN
      usual := (prev_km - base_km) * 86400 / extract(epoch FROM prev_at - base_at);
      days := greatest(elapsed_s, 86400) / 86400;
      IF delta / days * 1.000001 > 4 * usual AND delta + 0.001 > usual * days + 500 THEN
        RETURN 'check';
      END IF;
    END IF;
  END IF;
  INSERT INTO flt_odometer_readings (tenant_id, id, vehicle_id, read_at, odometer_km, source)
  VALUES (p_tenant,
          encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing
            substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
            FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid,
          p_vehicle, p_read_at, p_km, 'gps');
  RETURN 'kept';
END $fn$
"""

# 0018's function, plus the fix's distances and the due reading kept in the same statement.
POSITION_FUNCTION = r"""
CREATE FUNCTION fc_traccar_position(
  p_token_sha256 text, p_request_id text, p_unique_id text, p_traccar_id bigint, p_name text,
  p_fix_time timestamptz, p_spacing interval, p_seen_every interval,
  p_lat numeric, p_lon numeric, p_speed_kmh numeric, p_odometer_km numeric, p_total_km numeric
) RETURNS TABLE (tenant_id uuid, device_id uuid, vehicle_id uuid, reading_due boolean)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp AS $fn$
#variable_conflict use_column
DECLARE
  found_tenant uuid := tenant_for_traccar_token(p_token_sha256);
  found_device uuid;
  found_vehicle uuid;
  stale boolean;
  fix_minute timestamptz := date_trunc('minute', p_fix_time);
  km numeric;
  tenths numeric;
  kept text;
  left_due boolean := false;
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
  -- The vehicle that names the device by its uniqueId, else by its numeric id: two equality
  -- probes of the live unique index (an IN list sorted by which matched read every vehicle of
  -- the fleet when the planner chose a scan, its policy evaluated per row: 16% of the call).
  SELECT v.id INTO found_vehicle FROM flt_vehicles v
   WHERE v.tenant_id = found_tenant AND v.deleted_at IS NULL
     AND v.traccar_device_id = p_unique_id;
  IF found_vehicle IS NULL AND p_traccar_id IS NOT NULL THEN
    SELECT v.id INTO found_vehicle FROM flt_vehicles v
     WHERE v.tenant_id = found_tenant AND v.deleted_at IS NULL
       AND v.traccar_device_id = p_traccar_id::text;
  END IF;
  -- A fix with a distance and no GPS reading within the spacing is due as a reading
  -- (decided again under the vehicle's lock by fc_gps_odometer_reading).
  IF found_vehicle IS NOT NULL AND p_fix_time IS NOT NULL
     AND (p_odometer_km IS NOT NULL OR p_total_km IS NOT NULL)
     AND NOT EXISTS (SELECT FROM flt_odometer_readings r
                      WHERE r.tenant_id = found_tenant AND r.vehicle_id = found_vehicle
                        AND r.source = 'gps' AND r.read_at > p_fix_time - p_spacing
                        AND r.read_at < p_fix_time + p_spacing) THEN
    IF p_odometer_km IS NOT NULL THEN
      km := p_odometer_km;
    ELSE
      SELECT greatest(d.calibration_km + p_total_km - d.calibration_total_km, 0) INTO km
        FROM flt_gps_devices d
       WHERE d.tenant_id = found_tenant AND d.id = found_device
         AND d.calibrated_vehicle_id = found_vehicle;
      -- To 0.1 km, ties to even like Python's Decimal.quantize.
      tenths := floor(km * 10);
      km := CASE WHEN km * 10 - tenths = 0.5 AND mod(tenths, 2) = 0 THEN tenths / 10
                 ELSE round(km, 1) END;
    END IF;
    IF km IS NULL THEN
      left_due := true;  -- not calibrated to this vehicle yet: the caller's ORM path does it
    ELSE
      kept := fc_gps_odometer_reading(found_tenant, found_vehicle, km, p_fix_time, p_spacing);
      left_due := kept = 'check';  -- to be flagged with its reason: the caller's ORM path
    END IF;
  END IF;
  -- The minute's track point, when the minute has none (the first fix of the minute wins;
  -- a redelivered or late fix of a minute already kept writes nothing).
  IF found_vehicle IS NOT NULL AND p_fix_time IS NOT NULL AND p_lat IS NOT NULL
     AND p_lon IS NOT NULL AND p_fix_time < now() + interval '1 day'
     AND NOT EXISTS (SELECT FROM flt_gps_track t
                      WHERE t.tenant_id = found_tenant AND t.vehicle_id = found_vehicle
                        AND t.minute = fix_minute) THEN
    -- Telemetry: do not wait for the WAL flush (decision 0007, docs/gps.md) — unless this
    -- transaction also kept a reading.
    IF kept IS DISTINCT FROM 'kept' THEN
      PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    INSERT INTO flt_gps_track AS t (tenant_id, vehicle_id, minute, fix_time, latitude,
                                    longitude, speed_kmh)
    VALUES (found_tenant, found_vehicle, fix_minute, p_fix_time, p_lat, p_lon, p_speed_kmh)
    ON CONFLICT (tenant_id, vehicle_id, minute) DO NOTHING;
  END IF;
  RETURN QUERY SELECT found_tenant, found_device, found_vehicle, left_due;
END $fn$
"""


def _event_function(position_arguments: str) -> str:
    """0019's ``fc_traccar_event``, calling ``fc_traccar_position`` with ``position_arguments``
    after its eleven first ones."""
    event = importlib.import_module("fleetcore.migrations.versions.0019_traccar_event_function")
    old = ("p_fix_time, p_spacing, p_seen_every, p_lat, p_lon,\n"
           "                             p_speed_kmh) f;")
    source: str = event.EVENT_FUNCTION
    assert old in source
    new = ("p_fix_time, p_spacing, p_seen_every, p_lat, p_lon,\n"
           f"                             p_speed_kmh{position_arguments}) f;")
    return source.replace(old, new).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def _grant(signature: str, app_role: str) -> None:
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION {signature} TO "{app_role}"')


def upgrade() -> None:
    app_role = context.config.attributes.get("app_role", "fleetcore_app")
    op.execute(READING_FUNCTION)
    _grant(READING_SIGNATURE, app_role)
    op.execute(f"DROP FUNCTION {OLD_POSITION_SIGNATURE}")
    op.execute(POSITION_FUNCTION)
    _grant(POSITION_SIGNATURE, app_role)
    op.execute(_event_function(", p_odometer_km, p_total_km"))


def downgrade() -> None:
    app_role = context.config.attributes.get("app_role", "fleetcore_app")
    track = importlib.import_module("fleetcore.migrations.versions.0018_gps_track_and_trip_checks")
    op.execute(f"DROP FUNCTION {POSITION_SIGNATURE}")
    op.execute(track.POSITION_FUNCTION)
    _grant(OLD_POSITION_SIGNATURE, app_role)
    op.execute(_event_function(""))
    op.execute(f"DROP FUNCTION {READING_SIGNATURE}")
