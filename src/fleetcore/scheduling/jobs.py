"""Background jobs of scheduling: recurring shift series stay materialised 12 weeks ahead.

A series is materialised up to :data:`~fleetcore.scheduling.service.SERIES_HORIZON` when it is
created; every night :func:`dispatch_series_extension` (all tenants, provider context) defers
one :func:`extend_tenant_series` job per tenant with an active series, and that job (tenant
context, so RLS applies as to a request) tops the tenant's series up to the horizon again, in
one transaction. Running it twice creates nothing new.
"""

from __future__ import annotations

import logging
from datetime import datetime

from fleetcore.core.jobs import JobRun, defer_many_in_transaction, system_task, tenant_task
from fleetcore.scheduling.service import extend_series, tenants_with_active_series

logger = logging.getLogger(__name__)


@tenant_task(name="fleetcore.extend_shift_series", queue_name="default")
def extend_tenant_series(run: JobRun, *, now: str | None = None) -> None:
    """Extend the tenant's active series to the horizon (``now``: ISO instant, for replays)."""
    assert run.tenant_id is not None
    report = extend_series(run.session, run.tenant_id,
                           now=datetime.fromisoformat(now) if now else None)
    logger.info(
        "shift series: %d series, %d shifts scheduled, %d occurrences skipped",
        report.series, report.created, len(report.skipped),
        extra={"skipped_occurrences": report.skipped},
    )


@system_task(name="fleetcore.dispatch_shift_series", cron="20 2 * * *")
def dispatch_series_extension(run: JobRun, *, timestamp: int | None = None) -> None:
    """Every night: one extension job per live tenant that has an active series.

    Daily is enough: the horizon is 12 weeks, so a missed night (an outage) only shortens it
    by a day, and the next run catches up.
    """
    tenants = tenants_with_active_series(run.session)
    defer_many_in_transaction(
        run.session, extend_tenant_series, [{"tenant_id": t} for t in tenants]
    )
