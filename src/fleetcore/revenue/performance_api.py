"""``POST /v1/driver-performances/recompute``: recompute every driver's figures of a period
from trips and imports (the list itself is ``GET /v1/driver-performances``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from fleetcore.core.deps import DbSession
from fleetcore.drivers.permissions import DriversWrite
from fleetcore.revenue import performance_service as service

router = APIRouter(prefix="/v1")
TAGS: list[Any] = ["driver performances"]


class PerformanceRecompute(BaseModel):
    """Which period to recompute: a week of the fleet's calendar, or explicit bounds."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"week": "2026-11-18"},
        {"period_start": "2026-11-01T00:00:00+01:00", "period_end": "2026-12-01T00:00:00+01:00"},
    ]})

    week: date | None = Field(
        default=None, description="Any day of the week (Monday to Monday in the fleet's time "
        "zone).")
    period_start: AwareDatetime | None = Field(default=None, description="Included.")
    period_end: AwareDatetime | None = Field(default=None, description="Excluded.")


class PerformanceRecomputeOut(BaseModel):
    """What the recompute did to the period's rows (one per driver and platform)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "period_start": "2026-11-15T23:00:00Z", "period_end": "2026-11-22T23:00:00Z",
        "created": 12, "updated": 3, "unchanged": 180, "removed": 1,
    }]})

    period_start: datetime
    period_end: datetime
    created: int
    updated: int
    unchanged: int = Field(description="Rows whose figures were already right (not rewritten).")
    removed: int = Field(description="Rows of drivers with no trips or report rows any more.")


@router.post("/driver-performances/recompute", tags=TAGS,
             summary="Recompute drivers' performance figures of a period from trips and imports")
def recompute_performances(actor: DriversWrite, session: DbSession,
              data: PerformanceRecompute) -> PerformanceRecomputeOut:
    result = service.recompute_performances(session, actor, week=data.week,
                                            period_start=data.period_start,
                                            period_end=data.period_end)
    return PerformanceRecomputeOut(
        period_start=result.period_start, period_end=result.period_end, created=result.created,
        updated=result.updated, unchanged=result.unchanged, removed=result.removed)
