"""Trips against GPS, and vehicle use against shifts: the GPS side of a reconciliation run.

Run by :func:`~fleetcore.revenue.reconciliation_service.reconcile_period` in the same
transaction (and savepoint) as the report comparison, so its items sit beside the fare,
commission and cash discrepancies of the run (``docs/reconciliation.md``). One statement over
the period's trips and the vehicles' minute-level track (``flt_gps_track``, migration 0018):
each trip reads its vehicle's points through the ``(tenant_id, vehicle_id, minute)`` key, a
join, not a query per trip.

A trip is checked when it is ``completed`` with a vehicle, a start and an end, and its vehicle
has track points around it; a trip without points (no tracker, tracker offline) is not a
discrepancy — nothing is invented from missing data. For a checked trip:

``trip_not_moving``
    at least :data:`MIN_POINTS` points during the trip, none at :data:`MOVING_KMH` or more and
    all within :data:`STILL_RADIUS_M` of each other (bounding-box diagonal).
``pickup_far`` / ``dropoff_far``
    the trip has the coordinates, the vehicle has points within :data:`NEAR_WINDOW` of the start
    (end), and the nearest of them is more than :data:`FAR_M` from the pickup (drop-off).

Use outside shifts: minutes in the period when a vehicle moved (a point at
:data:`MOVING_KMH` or more) and the driver who had it (its assignment) had no shift then — or
nobody had it. Consecutive minutes (gaps up to :data:`EPISODE_GAP`) make one stretch, kept when
it lasts at least :data:`MIN_EPISODE_MINUTES` minutes of movement. A stretch belongs to no
platform, so it is not an item of the run (every platform's run of the period would list it
again): its home is one vehicle event (source ``system``, external id
``outside-shift:<vehicle>:<since>``), recorded by whichever run sees it first and never twice.
The run counts the period's stretches (``outside_shift_count``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

MOVING_KMH = 5
"""A point at this speed or more is movement (km/h; GPS jitter at a standstill stays below)."""
STILL_RADIUS_M = 200
"""Points that all fit in this diagonal (metres) did not go anywhere."""
MIN_POINTS = 3
"""Fewer points during a trip say too little to call it still."""
FAR_M = 1000
"""How far from the pickup or drop-off the nearest GPS point may be (metres): a minute-level
track of a car at 60 km/h is at most a kilometre from any point of its way."""
NEAR_WINDOW = timedelta(minutes=2)
"""The points compared with the pickup (drop-off): within this of the trip's start (end)."""
EPISODE_GAP = timedelta(minutes=10)
"""Movement minutes closer than this are one use of the vehicle."""
MIN_EPISODE_MINUTES = 2
"""A single moving minute outside shifts (a car moved in the depot) is not listed."""


def _metres(lat1: str, lon1: str, lat2: str, lon2: str) -> str:
    """Haversine distance in metres between two points in degrees, as SQL."""
    return (f"(2 * 6371000 * asin(least(1, sqrt("
            f"power(sin(radians(({lat2}) - ({lat1})) / 2), 2)"
            f" + cos(radians({lat1})) * cos(radians({lat2}))"
            f" * power(sin(radians(({lon2}) - ({lon1})) / 2), 2)))))")


_ITEM_ID = (
    "encode(set_bit(set_bit(overlay(overlay(uuid_send(CAST(:id_base AS uuid)) placing"
    " substring(int8send((extract(epoch FROM statement_timestamp()) * 1000)::bigint) FROM 3)"
    " FROM 1 FOR 6) placing int4send(({counter})::int) FROM 13 FOR 4), 52, 1), 53, 1),"
    " 'hex')::uuid"
)

_DURING = "FILTER (WHERE p.fix_time >= tr.started_at AND p.fix_time <= tr.ended_at)"
"""The points of the trip itself (the window around it serves the pickup and drop-off)."""

_CHECKS_SQL = f"""
WITH trips AS (
  SELECT t.id, t.external_trip_id AS xid, t.driver_id, t.vehicle_id, t.started_at, t.ended_at,
         t.pickup_lat, t.pickup_lon, t.dropoff_lat, t.dropoff_lon
    FROM trp_trips t
   WHERE t.tenant_id = :tenant AND t.platform_id = :platform AND t.deleted_at IS NULL
     AND t.status = 'completed' AND t.vehicle_id IS NOT NULL
     AND t.started_at IS NOT NULL AND t.ended_at > t.started_at
     AND t.ended_at >= :start AND t.ended_at < :end
),
measured AS (
  SELECT tr.*, g.*
    FROM trips tr
   CROSS JOIN LATERAL (
     SELECT count(*) FILTER (WHERE p.fix_time >= tr.started_at AND p.fix_time <= tr.ended_at)
              AS points,
            max(p.speed_kmh) FILTER (WHERE p.fix_time >= tr.started_at
                                       AND p.fix_time <= tr.ended_at) AS max_speed,
            {_metres(f"min(p.latitude) {_DURING}", f"min(p.longitude) {_DURING}",
                     f"max(p.latitude) {_DURING}", f"max(p.longitude) {_DURING}")}
              AS spread_m,
            min({_metres("p.latitude", "p.longitude", "tr.pickup_lat", "tr.pickup_lon")})
              FILTER (WHERE abs(extract(epoch FROM p.fix_time - tr.started_at)) <= :window_s)
              AS pickup_m,
            min({_metres("p.latitude", "p.longitude", "tr.dropoff_lat", "tr.dropoff_lon")})
              FILTER (WHERE abs(extract(epoch FROM p.fix_time - tr.ended_at)) <= :window_s)
              AS dropoff_m
       FROM flt_gps_track p
      WHERE p.tenant_id = :tenant AND p.vehicle_id = tr.vehicle_id
        AND p.minute >= date_trunc('minute', tr.started_at - CAST(:window AS interval))
        AND p.minute <= tr.ended_at + CAST(:window AS interval)) g
),
trip_items AS (
  SELECT m.id AS trip_id, m.xid, m.driver_id, m.vehicle_id, k.kind, k.details,
         row_number() OVER () AS n
    FROM measured m
   CROSS JOIN LATERAL (VALUES
     ('trip_not_moving',
      m.points >= :min_points AND COALESCE(m.max_speed, 0) < :moving_kmh
        AND m.spread_m < :still_m,
      jsonb_build_object('reason', 'The vehicle did not move during the trip: '
                           || m.points || ' GPS points, top speed '
                           || COALESCE(m.max_speed, 0) || ' km/h, all within '
                           || round(m.spread_m) || ' m.',
                         'gps_points', m.points, 'max_speed_kmh', m.max_speed::text,
                         'spread_m', round(m.spread_m))),
     ('pickup_far', m.pickup_m > :far_m,
      jsonb_build_object('reason', 'The vehicle was ' || round(m.pickup_m)
                           || ' m from the pickup when the trip started.',
                         'distance_m', round(m.pickup_m))),
     ('dropoff_far', m.dropoff_m > :far_m,
      jsonb_build_object('reason', 'The vehicle was ' || round(m.dropoff_m)
                           || ' m from the drop-off when the trip ended.',
                         'distance_m', round(m.dropoff_m)))
   ) AS k(kind, found, details)
   WHERE k.found
),
moving AS (
  -- The period's moving minutes of every vehicle, with who had it then and whether that
  -- driver had a shift.
  SELECT p.vehicle_id, p.minute, a.driver_id,
         p.minute - lag(p.minute) OVER w > CAST(:gap AS interval)
           OR lag(p.minute) OVER w IS NULL AS starts_episode
    FROM flt_vehicles v
    JOIN flt_gps_track p ON p.tenant_id = v.tenant_id AND p.vehicle_id = v.id
     AND p.minute >= :start AND p.minute < :end
    LEFT JOIN LATERAL (
      SELECT a.driver_id FROM flt_vehicle_assignments a
       WHERE a.tenant_id = v.tenant_id AND a.vehicle_id = v.id AND a.deleted_at IS NULL
         AND a.status <> 'cancelled' AND a.starts_at <= p.minute
         AND (a.ends_at IS NULL OR a.ends_at > p.minute)
       ORDER BY a.starts_at DESC LIMIT 1) a ON true
   WHERE v.tenant_id = :tenant AND p.speed_kmh >= :moving_kmh
     AND NOT EXISTS (
       SELECT FROM sch_shifts s
        WHERE s.tenant_id = v.tenant_id AND s.driver_id = a.driver_id
          AND s.deleted_at IS NULL AND s.status NOT IN ('cancelled', 'missed')
          AND s.starts_at <= p.minute AND s.ends_at > p.minute)
  WINDOW w AS (PARTITION BY p.vehicle_id, a.driver_id ORDER BY p.minute)
),
episodes AS (
  SELECT vehicle_id, driver_id, min(minute) AS since, max(minute) + interval '1 minute' AS until,
         count(*) AS minutes
    FROM (SELECT m.*, sum(starts_episode::int) OVER (
                   PARTITION BY vehicle_id, driver_id ORDER BY minute) AS episode
            FROM moving m) e
   GROUP BY vehicle_id, driver_id, episode
  HAVING count(*) >= :min_episode
),
shift_items AS (
  SELECT e.driver_id, e.vehicle_id,
         jsonb_build_object(
           'reason', CASE WHEN e.driver_id IS NULL
                          THEN 'The vehicle moved while assigned to nobody: '
                          ELSE 'The vehicle moved outside its driver''s shifts: ' END
                     || e.minutes || ' minutes of movement between '
                     || to_char(e.since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' and '
                     || to_char(e.until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC.',
           'since', e.since, 'until', e.until, 'moving_minutes', e.minutes) AS details
    FROM episodes e
),
events AS (
  INSERT INTO flt_vehicle_events (tenant_id, id, vehicle_id, driver_id, event_type, severity,
      occurred_at, description, source, external_event_id, metadata)
  SELECT :tenant, gen_random_uuid(), s.vehicle_id, s.driver_id, 'other', 'medium',
         (s.details ->> 'since')::timestamptz, s.details ->> 'reason', 'system',
         'outside-shift:' || s.vehicle_id || ':'
           || to_char((s.details ->> 'since')::timestamptz AT TIME ZONE 'UTC',
                      'YYYY-MM-DD"T"HH24:MI"Z"'),
         jsonb_build_object('check', 'use_outside_shift',
                            'until', s.details -> 'until',
                            'moving_minutes', s.details -> 'moving_minutes')
    FROM shift_items s
  ON CONFLICT (tenant_id, source, external_event_id) DO NOTHING
  RETURNING 1
),
items AS (
  INSERT INTO rev_reconciliation_items (tenant_id, id, reconciliation_id, kind,
      external_trip_id, trip_id, report_amount, internal_amount, difference, currency, details,
      created_by, updated_by)
  SELECT :tenant, {_ITEM_ID.format(counter="i.n")}, :reconciliation, i.kind, i.xid, i.trip_id,
         NULL, NULL, 0, :currency,
         i.details || jsonb_build_object('driver_id', i.driver_id, 'vehicle_id', i.vehicle_id),
         :actor, :actor
    FROM trip_items i
  RETURNING kind
)
SELECT (SELECT count(*) FROM items) AS gps_mismatch,
       (SELECT count(*) FROM shift_items) AS outside_shift,
       (SELECT count(*) FROM events) AS new_events
"""


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    gps_mismatch: int
    """Items about trips (not moving, pickup far, drop-off far)."""
    outside_shift: int
    """Stretches of use outside shifts in the period (vehicle events, not items)."""
    new_events: int
    """Vehicle events recorded by this run (the rest were already recorded by an earlier one)."""


def run_checks(session: Session, params: dict[str, Any]) -> CheckOutcome:
    """Write the run's GPS and shift items (``params``: the reconciliation's own)."""
    row = session.execute(text(_CHECKS_SQL), {
        **params, "id_base": uuid.uuid4(), "window": NEAR_WINDOW,
        "window_s": NEAR_WINDOW.total_seconds(), "min_points": MIN_POINTS,
        "moving_kmh": MOVING_KMH, "still_m": STILL_RADIUS_M, "far_m": FAR_M,
        "gap": EPISODE_GAP, "min_episode": MIN_EPISODE_MINUTES,
    }).one()
    return CheckOutcome(int(row.gps_mismatch), int(row.outside_shift), int(row.new_events))
