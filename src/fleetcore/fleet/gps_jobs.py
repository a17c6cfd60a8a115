"""Background jobs of GPS: the minute-level track stays bounded.

Every night :func:`purge_gps_track_job` (all tenants, provider context) deletes the track points
older than ``FLEETCORE_GPS_TRACK_DAYS`` (``docs/gps.md``): Fleetcore keeps what validating the
trips of recent reports and the live map need; the full history stays in Traccar.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from fleetcore.core.jobs import JobRun, system_task
from fleetcore.fleet.models import GpsTrackPoint
from fleetcore.settings import get_settings

logger = logging.getLogger(__name__)


def purge_gps_track(session: Session, *, keep_days: int, now: datetime | None = None) -> int:
    """Delete the track points older than ``keep_days`` (of every tenant the session's context
    sees); how many."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    result = session.execute(delete(GpsTrackPoint).where(GpsTrackPoint.minute < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]


@system_task(name="fleetcore.purge_gps_track", cron="40 3 * * *")
def purge_gps_track_job(run: JobRun, *, timestamp: int | None = None) -> None:
    """Every night: the GPS track older than ``FLEETCORE_GPS_TRACK_DAYS`` goes."""
    deleted = purge_gps_track(run.session, keep_days=get_settings().fleetcore_gps_track_days)
    logger.info("gps track: %d points older than the retention deleted", deleted)
