"""Read-only queries of tenants and members the console shows: member names and choices,
and the development-only demo sign-in (tenants and their members).

Reads only (no writes, no business rule), like ``filters.py``: each runs under the request's
row-level security and names the tenant as well, and answers for a whole page at once (one
statement for any number of rows), so no page runs a query per row.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, String, and_, func, literal, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from fleetcore.admin.models import Member, MemberRole, Role, Tenant
from fleetcore.admin.service import LANGUAGE_CHOSEN
from fleetcore.core.auth import Actor
from fleetcore.core.choices import Choice
from fleetcore.core.db import ActorType
from fleetcore.core.errors import NotFound


def member_names(session: Session, tenant_id: uuid.UUID,
                 ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """A display name (or e-mail) of each member id."""
    if not ids:
        return {}
    rows = session.execute(
        select(Member.id, Member.first_name, Member.last_name, Member.email)
        .where(Member.tenant_id == tenant_id, Member.id.in_(list(ids))))
    return {mid: " ".join(n for n in (first, last) if n) or email
            for mid, first, last, email in rows}


def member_choices(session: Session, tenant_id: uuid.UUID) -> list[Choice]:
    """The fleet's active members (task assignees), by name."""
    rows = session.execute(
        select(Member.id, Member.first_name, Member.last_name, Member.email)
        .where(Member.tenant_id == tenant_id, Member.deleted_at.is_(None),
               Member.status == "active")
        .order_by(Member.last_name, Member.first_name, Member.email))
    return [Choice(mid, " ".join(n for n in (first, last) if n) or email)
            for mid, first, last, email in rows]


@dataclass(frozen=True, slots=True)
class DemoMember:
    """A member the demo sign-in offers."""

    tenant_slug: str
    tenant_name: str
    email: str
    name: str
    roles: str


def demo_tenants(session: Session) -> list[tuple[str, str]]:
    """``(slug, name)`` of the tenants people can sign in to (a Clerk organisation), by name.

    Runs in the provider (system) context, development only.
    """
    rows = session.execute(
        select(Tenant.slug, Tenant.name)
        .where(Tenant.deleted_at.is_(None), Tenant.clerk_organization_id.is_not(None),
               Tenant.status != "cancelled")
        .order_by(Tenant.name, Tenant.slug))
    return [(slug, name) for slug, name in rows]


def demo_members(session: Session, tenant_slug: str) -> list[DemoMember]:
    """The members of one tenant who can sign in (a Clerk user, not suspended), with their
    roles, in one query; provider (system) context, development only."""
    roles = (
        select(func.string_agg(Role.name, aggregate_order_by(literal(", "), Role.name)))
        .select_from(MemberRole)
        .join(Role, and_(Role.tenant_id == MemberRole.tenant_id, Role.id == MemberRole.role_id))
        .where(MemberRole.tenant_id == Member.tenant_id, MemberRole.member_id == Member.id,
               Role.deleted_at.is_(None))
        .scalar_subquery()
    )
    rows = session.execute(
        select(Tenant.slug, Tenant.name, Member.email, Member.first_name, Member.last_name,
               roles)
        .join(Tenant, Tenant.id == Member.tenant_id)
        .where(Tenant.slug == tenant_slug, Tenant.deleted_at.is_(None),
               Member.deleted_at.is_(None), Member.clerk_user_id.is_not(None),
               Member.status != "suspended")
        .order_by(Member.email))
    members = [DemoMember(slug, name, email, " ".join(n for n in (first, last) if n) or email,
                          role_names or "no role")
               for slug, name, email, first, last, role_names in rows]
    # The people who run the fleet first, drivers (portal users) last.
    return sorted(members, key=lambda m: min(
        (_ROLE_ORDER.index(r) if r in _ROLE_ORDER else len(_ROLE_ORDER))
        for r in m.roles.split(", ")))


_ROLE_ORDER = ("owner", "admin", "fleet_manager", "finance", "dispatcher", "viewer", "driver")


# --- fleets (the provider's pages) --------------------------------------------------------


def tenants_by_id(session: Session, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Tenant]:
    """The fleets a page of rows names, in one read (provider context)."""
    if not ids:
        return {}
    return {t.id: t for t in session.scalars(select(Tenant).where(Tenant.id.in_(list(ids))))}


def tenant_by_slug(session: Session, slug: str) -> Tenant | None:
    """The fleet with this slug (provider context), or None."""
    return session.scalar(select(Tenant).where(Tenant.slug == slug))


def provider_staff(session: Session) -> list[Any]:
    """The active Fleetcore staff (``id``, name), by name: who a ticket can be assigned to."""
    return list(session.execute(text(
        "SELECT id, first_name || ' ' || last_name FROM adm_provider_employees"
        " WHERE deleted_at IS NULL AND status = 'active' ORDER BY last_name, first_name"
    )).all())


# --- the console's tenant ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TenantInfo:
    """What every page shows or needs of the tenant: name, zone, currency."""

    id: uuid.UUID
    name: str
    slug: str
    country: str
    currency: str
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        """The tenant's time zone."""
        return ZoneInfo(self.timezone)


def tenant_languages(session: Session, actor: Actor
                     ) -> tuple[TenantInfo, str | None, str | None, bool]:
    """The actor's tenant, its default console language, the member's preferred language
    (None for staff, who are no member) and whether the member marked it chosen, in one
    query; NotFound when no tenant is open."""
    assert actor.tenant_id is not None
    member = actor.type is ActorType.MEMBER
    own = select(Member).where(Member.id == actor.id)
    member_language = (own.with_only_columns(Member.preferred_language).scalar_subquery()
                       if member else literal(None, String))
    chosen = (own.with_only_columns(Member.extra[LANGUAGE_CHOSEN].as_boolean())
              .scalar_subquery() if member else literal(None, Boolean))
    row = session.execute(
        select(Tenant.id, Tenant.name, Tenant.slug, Tenant.country, Tenant.default_currency,
               Tenant.timezone, Tenant.settings["language"].astext, member_language, chosen)
        .where(Tenant.id == actor.tenant_id)
    ).one_or_none()
    if row is None:
        raise NotFound("No tenant is open.")
    return TenantInfo(*row[:6]), row[6], row[7], bool(row[8])
