"""Background jobs of the CRM: contracts follow their dates.

Every night :func:`advance_contract_statuses` (provider context) moves signed contracts to
``active`` on their start date and signed or active ones to ``expired`` after their end date,
in one statement (``service.advance_contracts``). A missed night is caught up by the next.
"""

from __future__ import annotations

import logging

from fleetcore.core.jobs import JobRun, system_task
from fleetcore.crm.service import advance_contracts

logger = logging.getLogger(__name__)


@system_task(name="fleetcore.advance_contracts", cron="25 2 * * *")
def advance_contract_statuses(run: JobRun, *, timestamp: int | None = None) -> None:
    """Every night: contracts become active or expired as their dates say."""
    moved = advance_contracts(run.session)
    logger.info("contracts: %d activated, %d expired", moved.activated, moved.expired)
