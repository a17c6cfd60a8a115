"""The permissions the trips routes take: trips and platform accounts (``trips``), driver
settlements (``settlements``; confirming one is ``settlements:confirm``)."""

from __future__ import annotations

from typing import Annotated

from fleetcore.core.auth import Actor
from fleetcore.core.deps import Require

TripsRead = Annotated[Actor, Require("trips:read")]
TripsWrite = Annotated[Actor, Require("trips:write")]
SettlementsRead = Annotated[Actor, Require("settlements:read")]
SettlementsWrite = Annotated[Actor, Require("settlements:write")]
SettlementsConfirm = Annotated[Actor, Require("settlements:confirm")]
InvoicesRead = Annotated[Actor, Require("invoices:read")]
InvoicesWrite = Annotated[Actor, Require("invoices:write")]
