"""The permissions the finance routes take (catalogue: ``admin/permissions.py``): reading the
ledger (``ledger:read``: balances and statements of account), tolls and traffic fines, payout
batches and payments (``payouts``; approving a batch, and the settings that govern approval,
are ``payouts:approve``)."""

from __future__ import annotations

from typing import Annotated

from fleetcore.core.auth import Actor
from fleetcore.core.deps import Require

LedgerRead = Annotated[Actor, Require("ledger:read")]
LedgerWrite = Annotated[Actor, Require("ledger:write")]
TollsRead = Annotated[Actor, Require("tolls:read")]
TollsWrite = Annotated[Actor, Require("tolls:write")]
FinesRead = Annotated[Actor, Require("fines:read")]
FinesWrite = Annotated[Actor, Require("fines:write")]
PayoutsRead = Annotated[Actor, Require("payouts:read")]
PayoutsWrite = Annotated[Actor, Require("payouts:write")]
PayoutsApprove = Annotated[Actor, Require("payouts:approve")]
