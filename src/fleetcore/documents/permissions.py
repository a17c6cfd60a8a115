"""Permission dependencies of the documents routes (catalogue: ``documents:read|write``)."""

from __future__ import annotations

from typing import Annotated

from fleetcore.core.auth import Actor
from fleetcore.core.deps import Require

DocumentsRead = Annotated[Actor, Require("documents:read")]
DocumentsWrite = Annotated[Actor, Require("documents:write")]
