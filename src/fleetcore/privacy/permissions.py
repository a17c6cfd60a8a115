"""The permission the personal-data routes take.

Exporting a person's file and erasing it are one permission, ``privacy:manage``, held by the
``owner`` and ``admin`` built-in roles: both expose or destroy everything the fleet holds about
someone, which reading drivers or members alone does not.
"""

from __future__ import annotations

from typing import Annotated

from fleetcore.core.auth import Actor
from fleetcore.core.deps import Require

PrivacyManage = Annotated[Actor, Require("privacy:manage")]
