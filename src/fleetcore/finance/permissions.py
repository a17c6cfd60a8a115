"""The permissions the finance routes take: payout batches and payments (``payouts``;
approving a batch, and the settings that govern approval, are ``payouts:approve``)."""

from __future__ import annotations

from typing import Annotated

from fleetcore.core.auth import Actor
from fleetcore.core.deps import Require

PayoutsRead = Annotated[Actor, Require("payouts:read")]
PayoutsWrite = Annotated[Actor, Require("payouts:write")]
PayoutsApprove = Annotated[Actor, Require("payouts:approve")]
