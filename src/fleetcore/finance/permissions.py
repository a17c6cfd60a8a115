"""The permissions the finance routes take: reading the ledger (``ledger:read``: balances and
statements of account)."""

from __future__ import annotations

from typing import Annotated

from fleetcore.core.auth import Actor
from fleetcore.core.deps import Require

LedgerRead = Annotated[Actor, Require("ledger:read")]
LedgerWrite = Annotated[Actor, Require("ledger:write")]
