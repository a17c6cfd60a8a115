"""Keeping members and tenants in step with the identity provider (Clerk), whatever the order.

The Clerk webhook receiver (``fleetcore.integrations.clerk``) maps each event to one of the
small types below and calls these functions in a provider-context transaction with
``actor_type=integration``. Each function routes to the tenant through a ``SECURITY DEFINER``
function and then acts under that tenant's context.

Rules (``docs/permissions.md`` and the README say the same):

* Deliveries arrive late, twice and out of order. Each member keeps the ``updated_at`` of the
  last user event and of the last membership event it applied (``metadata.clerk``); an older
  event is ignored, so the newest state wins whatever the arrival order.
* A membership creates the member (or links an invited member by e-mail) and activates it; a
  deleted membership or user suspends the member (data kept); a newer membership reactivates
  a member that Clerk (not a person) suspended.
* Roles are Fleetcore's. The Clerk organisation role (``org:admin`` → ``admin``,
  ``org:member`` → ``viewer``, otherwise a built-in role of the same name) is applied until the
  member's roles are changed in Fleetcore once; from then on Clerk's role is ignored.
* An organisation is linked to a tenant when provisioned with its ``clerk_organization_id``,
  or when Clerk's ``public_metadata.fleetcore_tenant_id`` names the tenant (public metadata is
  writable only by a backend, so a user cannot claim someone else's tenant). Deleting the
  organisation unlinks it (nobody can sign in); the tenant and its data stay.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import phonenumbers
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from fleetcore.admin.models import Member, MemberRole, MemberStatus, Role, Tenant
from fleetcore.core.db import CONTEXT_KEY, ActorType, DbContext, bind_context

DEFAULT_ROLE = "viewer"
ROLE_ALIASES = {"member": "viewer", "basic_member": "viewer"}


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """A Clerk user."""

    id: str
    updated_at: int
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class DirectoryOrganization:
    """A Clerk organisation."""

    id: str
    updated_at: int
    name: str | None = None
    slug: str | None = None
    fleetcore_tenant_id: str | None = None


@dataclass(frozen=True, slots=True)
class DirectoryMembership:
    """A Clerk organisation membership (with the public data of its user)."""

    id: str
    organization_id: str
    user_id: str
    updated_at: int
    role: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    """What an event did: ``processed`` or ``ignored`` (with why), and the tenant it touched."""

    applied: bool
    tenant_id: uuid.UUID | None = None
    detail: str | None = None


def _ignored(detail: str, tenant_id: uuid.UUID | None = None) -> SyncOutcome:
    return SyncOutcome(False, tenant_id, detail)


def _enter_tenant(session: Session, tenant_id: uuid.UUID | None) -> None:
    """Act under ``tenant_id``'s context (None: the all-tenant integration context)."""
    previous = session.info.get(CONTEXT_KEY)
    request_id = previous.request_id if isinstance(previous, DbContext) else None
    bind_context(session, DbContext(tenant_id=tenant_id, actor_type=ActorType.INTEGRATION,
                                    request_id=request_id, provider=True))


def _route(session: Session, organization_id: str) -> uuid.UUID | None:
    tenant: uuid.UUID | None = session.execute(
        text("SELECT tenant_for_clerk_org(:org)"), {"org": organization_id}
    ).scalar_one()
    return tenant


def _clerk(row: Member | Tenant) -> dict[str, Any]:
    return dict(row.extra.get("clerk", {}))


def _set_clerk(row: Member | Tenant, **values: Any) -> None:
    row.extra = {**row.extra, "clerk": {**_clerk(row), **values}}


def _phone(value: str | None) -> str | None:
    if not value:
        return None
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _email_taken(session: Session, tenant_id: uuid.UUID, email: str, member_id: uuid.UUID) -> bool:
    return session.scalar(
        select(Member.id).where(Member.tenant_id == tenant_id, Member.deleted_at.is_(None),
                                func.lower(Member.email) == email.lower(), Member.id != member_id)
    ) is not None


# --- users ---------------------------------------------------------------------------------


def sync_user(session: Session, user: DirectoryUser) -> SyncOutcome:
    """Copy a user's name, e-mail and phone to each of their members (newest event wins)."""
    _enter_tenant(session, None)
    tenants = list(session.scalars(
        select(Member.tenant_id).where(Member.clerk_user_id == user.id).distinct()
    ))
    if not tenants:
        return _ignored("no member has this user yet (the membership will bring it)")
    applied = False
    for tenant_id in tenants:
        _enter_tenant(session, tenant_id)
        member = session.scalar(select(Member).where(
            Member.tenant_id == tenant_id, Member.clerk_user_id == user.id))
        if member is None:
            continue
        state = _clerk(member)
        if state.get("user_deleted") or int(state.get("user_updated_at", 0)) >= user.updated_at:
            continue
        if user.first_name is not None:
            member.first_name = user.first_name or None
        if user.last_name is not None:
            member.last_name = user.last_name or None
        if user.email and user.email.lower() != member.email.lower() and not _email_taken(
            session, tenant_id, user.email, member.id
        ):
            member.email = user.email
        phone = _phone(user.phone)
        if phone is not None:
            member.phone = phone
        _set_clerk(member, user_updated_at=user.updated_at)
        applied = True
    session.flush()
    return SyncOutcome(True, tenants[0] if len(tenants) == 1 else None) if applied else _ignored(
        "older than the state already applied")


def delete_user(session: Session, user_id: str, at: int) -> SyncOutcome:
    """A deleted user: suspend each of their members (data kept)."""
    _enter_tenant(session, None)
    tenants = list(session.scalars(
        select(Member.tenant_id).where(Member.clerk_user_id == user_id).distinct()
    ))
    for tenant_id in tenants:
        _enter_tenant(session, tenant_id)
        for member in session.scalars(select(Member).where(
                Member.tenant_id == tenant_id, Member.clerk_user_id == user_id)):
            if member.status != MemberStatus.SUSPENDED.value:
                member.status = MemberStatus.SUSPENDED.value
                _set_clerk(member, suspended_by_clerk=True)
            _set_clerk(member, user_deleted=True, user_updated_at=at)
    session.flush()
    if not tenants:
        return _ignored("no member has this user")
    return SyncOutcome(True, tenants[0] if len(tenants) == 1 else None)


# --- organisations -------------------------------------------------------------------------


def sync_organization(session: Session, org: DirectoryOrganization) -> SyncOutcome:
    """Link an organisation to its tenant and keep Clerk's name and slug beside it."""
    _enter_tenant(session, None)
    tenant_id = _route(session, org.id)
    if tenant_id is None and org.fleetcore_tenant_id:
        try:
            wanted = uuid.UUID(org.fleetcore_tenant_id)
        except ValueError:
            return _ignored("public_metadata.fleetcore_tenant_id is not a tenant id")
        _enter_tenant(session, wanted)
        tenant = session.scalar(select(Tenant).where(
            Tenant.id == wanted, Tenant.deleted_at.is_(None),
            Tenant.clerk_organization_id.is_(None)))
        if tenant is None:
            return _ignored("no unlinked tenant with the id in public_metadata")
        tenant.clerk_organization_id = org.id
        tenant_id = tenant.id
    if tenant_id is None:
        return _ignored("no tenant for this organisation (provision it first)")
    _enter_tenant(session, tenant_id)
    tenant = session.scalar(select(Tenant).where(Tenant.id == tenant_id))
    if tenant is None:  # pragma: no cover - routed a moment ago in this transaction
        return _ignored("tenant vanished")
    state = _clerk(tenant)
    if int(state.get("org_updated_at", 0)) >= org.updated_at:
        session.flush()
        return _ignored("older than the state already applied", tenant_id)
    _set_clerk(tenant, org_updated_at=org.updated_at, org_name=org.name, org_slug=org.slug)
    session.flush()
    return SyncOutcome(True, tenant_id)


def delete_organization(session: Session, organization_id: str, at: int) -> SyncOutcome:
    """Unlink a deleted organisation: its members can no longer sign in; data is kept."""
    _enter_tenant(session, None)
    tenant_id = _route(session, organization_id)
    if tenant_id is None:
        return _ignored("no tenant for this organisation")
    _enter_tenant(session, tenant_id)
    tenant = session.scalar(select(Tenant).where(Tenant.id == tenant_id))
    if tenant is None:  # pragma: no cover
        return _ignored("tenant vanished")
    tenant.clerk_organization_id = None
    _set_clerk(tenant, org_deleted=organization_id, org_updated_at=at)
    session.flush()
    return SyncOutcome(True, tenant_id)


# --- memberships ---------------------------------------------------------------------------


def _role_for(session: Session, tenant_id: uuid.UUID, clerk_role: str | None) -> Role | None:
    name = (clerk_role or "").removeprefix("org:")
    name = ROLE_ALIASES.get(name, name)
    for candidate in (name, DEFAULT_ROLE):
        role = session.scalar(select(Role).where(
            Role.tenant_id == tenant_id, Role.is_system.is_(True), Role.name == candidate,
            Role.deleted_at.is_(None)))
        if role is not None:
            return role
    return None


def _apply_clerk_role(session: Session, member: Member, clerk_role: str | None) -> None:
    state = _clerk(member)
    if state.get("roles_managed_locally"):
        return
    role = _role_for(session, member.tenant_id, clerk_role)
    previous = state.get("role_id")
    if role is not None and previous == str(role.id):
        return
    if previous:
        session.execute(
            delete(MemberRole).where(
                MemberRole.tenant_id == member.tenant_id, MemberRole.member_id == member.id,
                MemberRole.role_id == uuid.UUID(previous))
        )
    if role is not None:
        exists = session.scalar(select(MemberRole.id).where(
            MemberRole.tenant_id == member.tenant_id, MemberRole.member_id == member.id,
            MemberRole.role_id == role.id))
        if exists is None:
            session.add(MemberRole(tenant_id=member.tenant_id, member_id=member.id,
                                   role_id=role.id))
    _set_clerk(member, role=clerk_role, role_id=str(role.id) if role else None)


def _find_member(session: Session, tenant_id: uuid.UUID, m: DirectoryMembership) -> Member | None:
    member = session.scalar(select(Member).where(
        Member.tenant_id == tenant_id, Member.clerk_user_id == m.user_id))
    if member is None and m.email:
        member = session.scalar(select(Member).where(
            Member.tenant_id == tenant_id, Member.deleted_at.is_(None),
            Member.clerk_user_id.is_(None), func.lower(Member.email) == m.email.lower()))
    return member


def sync_membership(session: Session, m: DirectoryMembership) -> SyncOutcome:
    """Create or link the member of a membership, activate it and apply Clerk's role."""
    _enter_tenant(session, None)
    tenant_id = _route(session, m.organization_id)
    if tenant_id is None:
        return _ignored("no tenant for this organisation")
    _enter_tenant(session, tenant_id)
    member = _find_member(session, tenant_id, m)
    if member is None:
        if not m.email or "@" not in m.email:
            return _ignored("the membership names no e-mail address", tenant_id)
        member = Member(tenant_id=tenant_id, email=m.email, first_name=m.first_name,
                        last_name=m.last_name, status=MemberStatus.ACTIVE.value,
                        clerk_user_id=m.user_id)
        session.add(member)
        session.flush()
    state = _clerk(member)
    if int(state.get("membership_updated_at", 0)) >= m.updated_at:
        return _ignored("older than the state already applied", tenant_id)
    member.clerk_user_id = m.user_id
    if member.status == MemberStatus.INVITED.value:
        member.status = MemberStatus.ACTIVE.value
    elif member.status == MemberStatus.SUSPENDED.value and state.get("suspended_by_clerk") \
            and not state.get("user_deleted"):
        member.status = MemberStatus.ACTIVE.value
        _set_clerk(member, suspended_by_clerk=False)
    if "user_updated_at" not in state:
        # Until the user's own event arrives, the membership's public data is the best we have.
        member.first_name = m.first_name or member.first_name
        member.last_name = m.last_name or member.last_name
    _set_clerk(member, membership_id=m.id, membership_updated_at=m.updated_at,
               membership_deleted=False)
    _apply_clerk_role(session, member, m.role)
    session.flush()
    return SyncOutcome(True, tenant_id)


def delete_membership(session: Session, m: DirectoryMembership) -> SyncOutcome:
    """A removed membership suspends the member (data kept), unless a newer state exists."""
    _enter_tenant(session, None)
    tenant_id = _route(session, m.organization_id)
    if tenant_id is None:
        return _ignored("no tenant for this organisation")
    _enter_tenant(session, tenant_id)
    member = _find_member(session, tenant_id, m)
    if member is None:
        if not m.email or "@" not in m.email:
            return _ignored("no member for this membership", tenant_id)
        # Deleted before its creation arrived: keep a suspended member so the late
        # creation (older) cannot bring it back.
        member = Member(tenant_id=tenant_id, email=m.email, first_name=m.first_name,
                        last_name=m.last_name, status=MemberStatus.SUSPENDED.value,
                        clerk_user_id=m.user_id, extra={"clerk": {"suspended_by_clerk": True}})
        session.add(member)
        session.flush()
    state = _clerk(member)
    if int(state.get("membership_updated_at", 0)) >= m.updated_at:
        return _ignored("older than the state already applied", tenant_id)
    if member.status != MemberStatus.SUSPENDED.value:
        member.status = MemberStatus.SUSPENDED.value
        _set_clerk(member, suspended_by_clerk=True)
    _set_clerk(member, membership_id=m.id, membership_updated_at=m.updated_at,
               membership_deleted=True)
    session.flush()
    return SyncOutcome(True, tenant_id)
