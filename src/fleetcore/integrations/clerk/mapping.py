"""Clerk webhook payloads (``reference/integrations.md`` §2) → the admin domain's directory types.

Clerk timestamps are milliseconds since the epoch. A deleted object carries only its id, so
its "time" is the event's own ``timestamp``.
"""

from __future__ import annotations

from typing import Any

from fleetcore.admin.identity_sync import (
    DirectoryMembership,
    DirectoryOrganization,
    DirectoryUser,
)


class PayloadError(ValueError):
    """The payload does not have the shape Clerk documents."""


def _str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def required_str(data: dict[str, Any], key: str) -> str:
    value = _str(data, key)
    if value is None:
        raise PayloadError(f"data.{key} is missing")
    return value


def _ms(data: dict[str, Any], key: str, fallback: int) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else fallback


def _primary(items: Any, primary_id: str | None, field: str) -> str | None:
    if not isinstance(items, list):
        return None
    entries = [i for i in items if isinstance(i, dict)]
    for entry in entries:
        if entry.get("id") == primary_id and isinstance(entry.get(field), str):
            return str(entry[field])
    for entry in entries:
        if isinstance(entry.get(field), str):
            return str(entry[field])
    return None


def user(data: dict[str, Any], event_time: int) -> DirectoryUser:
    """A ``user.created`` / ``user.updated`` User object."""
    return DirectoryUser(
        id=required_str(data, "id"),
        updated_at=_ms(data, "updated_at", event_time),
        email=_primary(data.get("email_addresses"), _str(data, "primary_email_address_id"),
                       "email_address"),
        first_name=data.get("first_name") if isinstance(data.get("first_name"), str) else None,
        last_name=data.get("last_name") if isinstance(data.get("last_name"), str) else None,
        phone=_primary(data.get("phone_numbers"), _str(data, "primary_phone_number_id"),
                       "phone_number"),
    )


def organization(data: dict[str, Any], event_time: int) -> DirectoryOrganization:
    """An ``organization.created`` / ``organization.updated`` Organization object."""
    metadata = data.get("public_metadata")
    tenant_ref = metadata.get("fleetcore_tenant_id") if isinstance(metadata, dict) else None
    return DirectoryOrganization(
        id=required_str(data, "id"),
        updated_at=_ms(data, "updated_at", event_time),
        name=_str(data, "name"),
        slug=_str(data, "slug"),
        fleetcore_tenant_id=tenant_ref if isinstance(tenant_ref, str) else None,
    )


def membership(data: dict[str, Any], event_time: int) -> DirectoryMembership:
    """An ``organizationMembership.*`` OrganizationMembership object."""
    org = data.get("organization")
    user_data = data.get("public_user_data")
    if not isinstance(org, dict) or not isinstance(user_data, dict):
        raise PayloadError("data.organization and data.public_user_data are required")
    return DirectoryMembership(
        id=required_str(data, "id"),
        organization_id=required_str(org, "id"),
        user_id=required_str(user_data, "user_id"),
        updated_at=_ms(data, "updated_at", event_time),
        role=_str(data, "role"),
        email=_str(user_data, "identifier"),
        first_name=_str(user_data, "first_name"),
        last_name=_str(user_data, "last_name"),
    )
