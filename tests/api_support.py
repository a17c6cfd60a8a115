"""Constants and records shared by the admin API tests and their fixtures."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

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
