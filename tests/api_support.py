"""Constants and records shared by the admin API tests and their fixtures."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

AZP = "https://app.fleetcore.test"
PROVIDER_ORG = "org_fleetcore_staff"
WEBHOOK_SECRET = "whsec_" + "dGVzdC13ZWJob29rLXNlY3JldC1mb3ItZmxlZXRjb3Jl"
ROLES = ("owner", "admin", "fleet_manager", "finance", "dispatcher", "driver", "viewer")


@dataclass
class Person:
    member_id: uuid.UUID
    user_id: str
    email: str


@dataclass
class TenantWorld:
    """A committed tenant with one signed-in member per built-in role."""

    id: uuid.UUID
    slug: str
    org_id: str
    roles: dict[str, uuid.UUID]
    people: dict[str, Person] = field(default_factory=dict)

    def person(self, role: str = "owner") -> Person:
        return self.people[role]


@dataclass
class Staff:
    id: uuid.UUID
    user_id: str


def if_match(client: Any, url: str, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with ``If-Match`` set to the ETag of ``url``'s resource as read now (updates,
    deletes and transitions require it). An action's resource is the path without the action:
    ``/v1/settlements/{id}/confirm`` → ``/v1/settlements/{id}``."""
    path = url.split("?", 1)[0]
    last = path.rstrip("/").rsplit("/", 1)[-1]
    resource = path if _ID.match(last) else path.rstrip("/").rsplit("/", 1)[0]
    read = client.get(resource, headers=headers)
    # A resource the caller cannot read (the 403 and 404 cases under test) gets a version
    # that names nothing: the answer is then the refusal, not a 428.
    current = read.headers.get("etag", '"0"') if read.status_code == 200 else '"0"'
    return {**headers, "If-Match": current}
