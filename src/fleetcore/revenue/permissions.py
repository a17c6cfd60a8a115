"""The permissions the revenue routes take: platform report imports (``imports``) and
reconciliations (``reconciliations``). Downloading an import's row errors is ``imports:read``."""

from __future__ import annotations

from typing import Annotated

from fleetcore.core.auth import Actor
from fleetcore.core.deps import Require

ImportsRead = Annotated[Actor, Require("imports:read")]
ImportsWrite = Annotated[Actor, Require("imports:write")]
ReconciliationsRead = Annotated[Actor, Require("reconciliations:read")]
ReconciliationsWrite = Annotated[Actor, Require("reconciliations:write")]
