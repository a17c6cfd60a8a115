"""Tenants, members, roles and the audit log: the business rules of administration.

Every function runs inside the caller's transaction (it may flush, never commits) with the
database context already bound; queries also name the tenant, so isolation holds twice.
Audit rows are written by database triggers, not here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ScalarSelect, Select, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from fleetcore.admin.models import (
    AuditLog,
    LifecycleEventType,
    LifecyclePerformerType,
    Member,
    MemberRole,
    MemberStatus,
    ProviderEmployee,
    ProviderEmployeeStatus,
    Role,
    Tenant,
    TenantLifecycleEvent,
    TenantStatus,
    WebhookDeliveryStatus,
)
from fleetcore.admin.permissions import SYSTEM_ROLES, unknown_permissions
from fleetcore.admin.schemas import (
    MemberInvite,
    MemberUpdate,
    RoleCreate,
    RoleUpdate,
    TenantProvision,
    TenantSettingsOut,
    TenantSettingsUpdate,
)
from fleetcore.core.auth import Actor, PermissionDenied, tenant_of
from fleetcore.core.db import ActorType
from fleetcore.core.errors import (
    UNIQUE_VIOLATION,
    Conflict,
    ConstraintProblem,
    NotFound,
    ValidationProblem,
    flush_checked,
)
from fleetcore.core.orm import new_id
from fleetcore.core.pagination import PageParams, equal_filters, keyset_page, range_filter
from fleetcore.core.resource import Rows, pager, patch
from fleetcore.core.versioning import check_if_match, refresh_version

# --- helpers -------------------------------------------------------------------------------


def _actor_id(actor: Actor | None) -> uuid.UUID | None:
    return actor.id if actor is not None else None


def _flush_unique(session: Session, field: str, message: str) -> None:
    """Flush; a unique violation becomes a 409 naming ``field``."""
    flush_checked(session, {UNIQUE_VIOLATION: ConstraintProblem(field, message)})


# --- roles ---------------------------------------------------------------------------------


def seed_system_roles(session: Session, tenant_id: uuid.UUID) -> dict[str, Role]:
    """Create the built-in roles of ``tenant_id`` that are missing and align their permissions.

    Idempotent: running it again (e.g. after a release adds a permission) changes only what
    differs from :data:`~fleetcore.admin.permissions.SYSTEM_ROLES`.
    """
    existing = {
        r.name.lower(): r
        for r in session.scalars(
            select(Role).where(Role.tenant_id == tenant_id, Role.deleted_at.is_(None))
        )
    }
    roles: dict[str, Role] = {}
    for spec in SYSTEM_ROLES:
        role = existing.get(spec.name)
        permissions = list(spec.permissions)
        if role is None:
            role = Role(tenant_id=tenant_id, name=spec.name, description=spec.description,
                        permissions=permissions, is_system=True)
            session.add(role)
        else:
            if sorted(role.permissions) != permissions:
                role.permissions = permissions
            if not role.is_system:
                role.is_system = True
            if role.description != spec.description:
                role.description = spec.description
        roles[spec.name] = role
    session.flush()
    return roles


def align_system_role_permissions(session: Session) -> int:
    """Give every tenant's built-in roles the permissions this release defines for them.

    Set-based (one UPDATE per built-in role, whatever the number of tenants) and idempotent;
    ``fleetcore serve`` runs it at start-up in the system context, so permissions a release adds
    (e.g. a new resource) reach existing tenants. Returns the number of roles changed.
    """
    changed = 0
    for spec in SYSTEM_ROLES:
        permissions = sorted(spec.permissions)
        result = session.execute(
            update(Role)
            .where(Role.is_system.is_(True), Role.name == spec.name,
                   Role.deleted_at.is_(None), Role.permissions != permissions)
            .values(permissions=permissions)
            .execution_options(synchronize_session=False)
        )
        changed += result.rowcount or 0  # type: ignore[attr-defined]
    return changed


def roles_query(actor: Actor) -> Select[Role]:
    """The tenant's live roles (list and CSV export)."""
    return select(Role).where(Role.tenant_id == tenant_of(actor), Role.deleted_at.is_(None))


def list_roles(session: Session, actor: Actor, params: PageParams) -> tuple[list[Role], str | None]:
    """The tenant's live roles, by id."""
    return keyset_page(session, roles_query(actor), [Role.id], params)


_rows = Rows()
get_role = _rows.getter(Role, "role")


def _check_permissions(actor: Actor, permissions: Sequence[str]) -> list[str]:
    bad = unknown_permissions(list(permissions))
    if bad:
        raise ValidationProblem(
            f"Unknown permission(s): {', '.join(bad)}.",
            errors=[{"field": "permissions", "message": f"unknown permission {p!r}"} for p in bad],
        )
    _check_no_escalation(actor, permissions)
    return sorted(set(permissions))


def _check_no_escalation(actor: Actor, permissions: Sequence[str]) -> None:
    """Nobody hands out (or builds a role with) a permission they do not hold themselves."""
    missing = sorted(p for p in permissions if not actor.can(p))
    if missing:
        raise PermissionDenied(
            f"You cannot grant permissions you do not hold: {', '.join(missing)}.",
            permissions=missing,
        )


def create_role(session: Session, actor: Actor, *, data: RoleCreate) -> Role:
    """A custom role of the actor's tenant."""
    role = Role(
        tenant_id=tenant_of(actor), name=data.name, description=data.description,
        permissions=_check_permissions(actor, data.permissions), is_system=False,
        created_by=actor.id, updated_by=actor.id,
    )
    session.add(role)
    _flush_unique(session, "name", f"A role named {data.name!r} already exists.")
    return role


def update_role(
    session: Session, actor: Actor, role_id: uuid.UUID, *, data: RoleUpdate,
    if_match: str | None = None,
) -> Role:
    """Rename, describe or change the permissions of a custom role."""
    role = get_role(session, actor, role_id, if_match=if_match)
    if role.is_system:
        raise Conflict("Built-in roles cannot be changed; create a custom role instead.")
    if data.name is not None:
        role.name = data.name
    if "description" in data.model_fields_set:
        role.description = data.description
    if data.permissions is not None:
        role.permissions = _check_permissions(actor, data.permissions)
    role.updated_by = actor.id
    _flush_unique(session, "name", f"A role named {data.name!r} already exists.")
    refresh_version(session, role)
    return role


def _refuse_held(session: Session, role: Role) -> None:
    if role.is_system:
        raise Conflict("Built-in roles cannot be deleted.")
    holders = session.scalar(
        select(func.count()).select_from(MemberRole).where(
            MemberRole.tenant_id == role.tenant_id, MemberRole.role_id == role.id)
    )
    if holders:
        raise Conflict(f"{holders} member(s) hold this role: revoke it first.")


delete_role = _rows.deleter(Role, "role", _refuse_held)
"""Soft-delete a custom role that nobody holds any more."""


# --- members -------------------------------------------------------------------------------


def _member_query(tenant_id: uuid.UUID) -> Select[Member]:
    return select(Member).where(Member.tenant_id == tenant_id, Member.deleted_at.is_(None))


get_member = _rows.getter(Member, "member")


@dataclass(frozen=True, slots=True)
class MemberFilter:
    """Filters of the members list and export."""

    status: str | None = None
    email: str | None = None
    role_id: uuid.UUID | None = None


def members_query(actor: Actor, filters: MemberFilter) -> Select[Member]:
    """The tenant's live members, filtered (list and CSV export)."""
    tenant_id = tenant_of(actor)
    stmt = equal_filters(_member_query(tenant_id), {Member.status: filters.status})
    if filters.email:
        stmt = stmt.where(func.lower(Member.email) == filters.email.lower())
    if filters.role_id:
        stmt = stmt.where(Member.id.in_(
            select(MemberRole.member_id).where(
                MemberRole.tenant_id == tenant_id, MemberRole.role_id == filters.role_id)
        ))
    return stmt


list_members = pager(members_query, Member.id, doc="The tenant's members, filtered, by id.")


def member_role_names(tenant_id: uuid.UUID) -> ScalarSelect[Any]:
    """Correlated subquery: a member's live role names, ``; ``-separated by name (exports)."""
    return (
        select(func.string_agg(Role.name, aggregate_order_by(literal("; "), Role.name)))
        .join(MemberRole, (MemberRole.tenant_id == Role.tenant_id)
              & (MemberRole.role_id == Role.id))
        .where(MemberRole.tenant_id == tenant_id, MemberRole.member_id == Member.id,
               Role.deleted_at.is_(None))
        .scalar_subquery()
    )


def roles_of_members(
    session: Session, tenant_id: uuid.UUID, member_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Role]]:
    """The live roles of each member (one query for a whole page)."""
    result: dict[uuid.UUID, list[Role]] = {m: [] for m in member_ids}
    if not member_ids:
        return result
    rows = session.execute(
        select(MemberRole.member_id, Role)
        .join(Role, (Role.tenant_id == MemberRole.tenant_id) & (Role.id == MemberRole.role_id))
        .where(MemberRole.tenant_id == tenant_id, MemberRole.member_id.in_(member_ids),
               Role.deleted_at.is_(None))
        .order_by(Role.name)
    )
    for member_id, role in rows:
        result[member_id].append(role)
    return result


def member_grants_query(member: Member) -> Select[MemberRole, Role]:
    """The live role grants of a member with their roles, by role name (list and CSV)."""
    return (
        select(MemberRole, Role)
        .join(Role, (Role.tenant_id == MemberRole.tenant_id) & (Role.id == MemberRole.role_id))
        .where(MemberRole.tenant_id == member.tenant_id, MemberRole.member_id == member.id,
               Role.deleted_at.is_(None))
        .order_by(Role.name, Role.id)
    )


def member_grants(
    session: Session, actor: Actor, member_id: uuid.UUID
) -> list[tuple[MemberRole, Role]]:
    """The role grants of a member."""
    rows = session.execute(member_grants_query(get_member(session, actor, member_id)))
    return [(grant, role) for grant, role in rows]


LANGUAGE_CHOSEN = "language_chosen"
"""Set in a member's ``metadata`` once their preferred language was chosen (by them or by an
administrator), not merely defaulted to ``en``: only a chosen language overrides the fleet's
default language in the console."""


def invite_member(session: Session, actor: Actor, *, data: MemberInvite) -> Member:
    """An ``invited`` member with the given roles (linked to Clerk when they accept)."""
    tenant_id = tenant_of(actor)
    roles = [get_role(session, actor, role_id) for role_id in dict.fromkeys(data.role_ids)]
    for role in roles:
        _check_no_escalation(actor, role.permissions)
    member = Member(
        tenant_id=tenant_id, email=str(data.email), first_name=data.first_name,
        last_name=data.last_name, phone=data.phone, preferred_language=data.preferred_language,
        status=MemberStatus.INVITED.value, invited_at=datetime.now(UTC),
        created_by=actor.id, updated_by=actor.id,
        extra={LANGUAGE_CHOSEN: True} if "preferred_language" in data.model_fields_set else {},
    )
    session.add(member)
    _flush_unique(session, "email", f"{data.email} is already a member of this fleet.")
    for role in roles:
        session.add(MemberRole(tenant_id=tenant_id, member_id=member.id, role_id=role.id,
                               granted_by=actor.id, created_by=actor.id))
    session.flush()
    return member


def update_member(
    session: Session, actor: Actor, member_id: uuid.UUID, *, data: MemberUpdate,
    if_match: str | None = None,
) -> Member:
    """Change a member's name, phone or language."""
    member = get_member(session, actor, member_id, if_match=if_match)
    if member.anonymised_at is not None:
        # Erased on request: writing a name or a number back would undo the erasure.
        raise Conflict(f"This member's personal data was erased on "
                       f"{member.anonymised_at:%Y-%m-%d}: an erased member is not edited.")
    changed = patch(member, data, ("first_name", "last_name", "phone", "preferred_language"),
                    required=("preferred_language",))
    if "preferred_language" in changed:
        member.extra = {**(member.extra or {}), LANGUAGE_CHOSEN: True}
    return _rows.save(session, actor, member)


def set_own_language(session: Session, actor: Actor, language: str) -> Member:
    """A member changes their own preferred language (no permission needed: it is theirs; the
    console and the e-mails they receive speak it)."""
    if actor.type is not ActorType.MEMBER:
        raise Conflict("Only a fleet's member has a preferred language of their own.")
    member = session.scalar(select(Member).where(Member.id == actor.id,
                                                 Member.deleted_at.is_(None)))
    if member is None:
        raise NotFound("No such member.")
    member.preferred_language = language
    member.extra = {**(member.extra or {}), LANGUAGE_CHOSEN: True}
    return _rows.save(session, actor, member)


def set_member_status(
    session: Session, actor: Actor, member_id: uuid.UUID, *, status: MemberStatus,
) -> Member:
    """Suspend (no sign-in, data kept) or reactivate a member."""
    member = get_member(session, actor, member_id)
    if status is MemberStatus.SUSPENDED:
        if member.id == actor.id:
            raise Conflict("You cannot suspend yourself.")
        if member.status == MemberStatus.SUSPENDED:
            return member
    elif member.status != MemberStatus.SUSPENDED:
        return member
    else:
        status = MemberStatus.ACTIVE if member.clerk_user_id else MemberStatus.INVITED
    member.status = status.value
    return _rows.save(session, actor, member)


def _mark_roles_local(member: Member) -> None:
    """A role change made in Fleetcore wins over the Clerk organisation role from then on."""
    clerk = dict(member.extra.get("clerk", {}))
    if not clerk.get("roles_managed_locally"):
        clerk["roles_managed_locally"] = True
        member.extra = {**member.extra, "clerk": clerk}


def grant_role(session: Session, actor: Actor, member_id: uuid.UUID,
               role_id: uuid.UUID) -> MemberRole:
    """Grant a role (idempotent)."""
    member = get_member(session, actor, member_id)
    role = get_role(session, actor, role_id)
    _check_no_escalation(actor, role.permissions)
    grant = session.scalar(select(MemberRole).where(
        MemberRole.tenant_id == member.tenant_id, MemberRole.member_id == member.id,
        MemberRole.role_id == role.id))
    if grant is None:
        grant = MemberRole(tenant_id=member.tenant_id, member_id=member.id, role_id=role.id,
                           granted_by=actor.id, created_by=actor.id)
        session.add(grant)
        _mark_roles_local(member)
        session.flush()
        session.refresh(grant, ["granted_at"])
    return grant


def revoke_role(session: Session, actor: Actor, member_id: uuid.UUID, role_id: uuid.UUID) -> None:
    """Revoke a role; the last owner of a fleet keeps theirs."""
    member = get_member(session, actor, member_id)
    role = get_role(session, actor, role_id)
    _check_no_escalation(actor, role.permissions)
    grant = session.scalar(select(MemberRole).where(
        MemberRole.tenant_id == member.tenant_id, MemberRole.member_id == member.id,
        MemberRole.role_id == role.id))
    if grant is None:
        raise NotFound("The member does not hold this role.")
    if role.is_system and role.name == "owner":
        owners = session.scalar(select(func.count()).select_from(MemberRole).where(
            MemberRole.tenant_id == member.tenant_id, MemberRole.role_id == role.id))
        if owners == 1:
            raise Conflict("A fleet keeps at least one owner.")
    session.delete(grant)
    _mark_roles_local(member)
    session.flush()


# --- audit ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Filters of the audit log."""

    entity_type: str | None = None
    entity_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def audit_logs_query(actor: Actor, filters: AuditFilter) -> Select[AuditLog]:
    """The tenant's audit rows, filtered (list and CSV export)."""
    stmt = select(AuditLog).where(AuditLog.tenant_id == tenant_of(actor))
    stmt = equal_filters(stmt, {
        AuditLog.entity_type: filters.entity_type, AuditLog.entity_id: filters.entity_id,
        AuditLog.actor_id: filters.actor_id, AuditLog.action: filters.action,
    })
    return range_filter(stmt, AuditLog.occurred_at, since=filters.since, until=filters.until)


list_audit_logs = pager(audit_logs_query, AuditLog.occurred_at, AuditLog.id, descending=True,
                        doc="The tenant's audit rows, newest first.")


# --- tenants -------------------------------------------------------------------------------


def _performer(actor: Actor | None) -> tuple[str, uuid.UUID | None]:
    if actor is None:
        return LifecyclePerformerType.SYSTEM.value, None
    if actor.type is ActorType.PROVIDER_EMPLOYEE:
        return LifecyclePerformerType.PROVIDER_EMPLOYEE.value, actor.id
    return LifecyclePerformerType.MEMBER.value, actor.id


def _lifecycle(session: Session, tenant: Tenant, event: LifecycleEventType, actor: Actor | None,
               reason: str | None, metadata: dict[str, Any] | None = None) -> None:
    kind, performer = _performer(actor)
    session.add(TenantLifecycleEvent(
        tenant_id=tenant.id, event_type=event.value, performed_by_type=kind,
        performed_by_id=performer, reason=reason, extra=metadata or {},
        created_by=performer,
    ))


def provision_tenant(session: Session, actor: Actor | None, *, data: TenantProvision,
                     status_event: bool = True) -> Tenant:
    """A new tenant: the row, built-in roles, the owner's invitation and lifecycle events.

    Runs in the provider context (staff or a system job); one transaction, nothing half-made.
    ``status_event=False`` writes only the ``created`` event: the caller's subscription writes
    the ``trial_started``/``activated`` one (signing a CRM contract), so it is not written twice.
    """
    if session.scalar(select(Tenant.id).where(Tenant.slug == data.slug)) is not None:
        raise Conflict(f"The slug {data.slug!r} is taken.",
                       errors=[{"field": "slug", "message": "already taken"}])
    if data.clerk_organization_id and session.scalar(
        select(Tenant.id).where(Tenant.clerk_organization_id == data.clerk_organization_id)
    ) is not None:
        raise Conflict("This Clerk organisation already belongs to a tenant.",
                       errors=[{"field": "clerk_organization_id", "message": "already linked"}])
    now = datetime.now(UTC)
    trialing = data.trial_days > 0
    tenant = Tenant(
        name=data.name, slug=data.slug, legal_name=data.legal_name, country=data.country,
        default_currency=data.default_currency, timezone=data.timezone,
        clerk_organization_id=data.clerk_organization_id,
        contact_email=str(data.contact_email or data.owner.email),
        status=(TenantStatus.TRIALING if trialing else TenantStatus.ACTIVE).value,
        trial_ends_at=now + timedelta(days=data.trial_days) if trialing else None,
        created_by=_actor_id(actor), updated_by=_actor_id(actor),
    )
    session.add(tenant)
    _flush_unique(session, "slug", f"The slug {data.slug!r} is taken.")
    roles = seed_system_roles(session, tenant.id)
    owner = Member(
        tenant_id=tenant.id, email=str(data.owner.email), first_name=data.owner.first_name,
        last_name=data.owner.last_name, status=MemberStatus.INVITED.value, invited_at=now,
        created_by=_actor_id(actor),
    )
    session.add(owner)
    session.flush()
    session.add(MemberRole(tenant_id=tenant.id, member_id=owner.id, role_id=roles["owner"].id,
                           granted_by=_actor_id(actor), created_by=_actor_id(actor)))
    _lifecycle(session, tenant, LifecycleEventType.CREATED, actor, data.reason)
    if status_event and trialing:
        _lifecycle(session, tenant, LifecycleEventType.TRIAL_STARTED, actor, None,
                   {"trial_days": data.trial_days})
    elif status_event:
        _lifecycle(session, tenant, LifecycleEventType.ACTIVATED, actor, None)
    session.flush()
    session.refresh(tenant, ["created_at", "updated_at", "version"])
    return tenant


def get_tenant(session: Session, actor: Actor | None, tenant_id: uuid.UUID) -> Tenant:
    """A tenant visible to ``actor`` (members see only their own), or 404."""
    if actor is not None and actor.tenant_id is not None and actor.tenant_id != tenant_id:
        raise NotFound("No such tenant.")
    tenant = session.scalar(
        select(Tenant).where(Tenant.id == tenant_id, Tenant.deleted_at.is_(None))
    )
    if tenant is None:
        raise NotFound("No such tenant.")
    return tenant


@dataclass(frozen=True, slots=True)
class TenantFilter:
    """Filters of the tenants list and export."""

    status: str | None = None
    slug: str | None = None


def tenants_query(actor: Actor, filters: TenantFilter) -> Select[Tenant]:
    """Tenants visible to the actor (all of them for staff), filtered (list and CSV export)."""
    stmt = select(Tenant).where(Tenant.deleted_at.is_(None))
    if actor.tenant_id is not None:
        stmt = stmt.where(Tenant.id == actor.tenant_id)
    return equal_filters(stmt, {Tenant.status: filters.status, Tenant.slug: filters.slug})


list_tenants = pager(tenants_query, Tenant.id,
                     doc="Tenants visible to the actor (all of them for staff), by id.")


_TRANSITIONS: dict[LifecycleEventType, tuple[frozenset[str], TenantStatus]] = {
    LifecycleEventType.SUSPENDED: (
        frozenset({"trialing", "active", "past_due"}), TenantStatus.SUSPENDED),
    LifecycleEventType.REACTIVATED: (frozenset({"suspended"}), TenantStatus.ACTIVE),
    LifecycleEventType.CANCELLED: (
        frozenset({"trialing", "active", "past_due", "suspended"}), TenantStatus.CANCELLED),
}


def change_tenant_status(
    session: Session, actor: Actor | None, tenant_id: uuid.UUID, *,
    event: LifecycleEventType, reason: str | None = None,
) -> Tenant:
    """Suspend, reactivate or cancel a tenant, writing its lifecycle event (data is kept)."""
    tenant = get_tenant(session, actor, tenant_id)
    if actor is not None and not actor.can("provider_tenants:write"):
        raise PermissionDenied("Only Fleetcore staff change a fleet's status.",
                               permission="provider_tenants:write")
    allowed, target = _TRANSITIONS[event]
    if tenant.status not in allowed:
        raise Conflict(f"A {tenant.status} tenant cannot be {event.value}.")
    old = tenant.status
    tenant.status = target.value
    tenant.updated_by = _actor_id(actor)
    _lifecycle(session, tenant, event, actor, reason, {"from": old, "to": target.value})
    refresh_version(session, tenant)
    return tenant


# --- sign-in helpers -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenSubject:
    """What a development session token is minted for."""

    tenant_slug: str
    clerk_organization_id: str
    clerk_user_id: str
    email: str
    roles: tuple[str, ...]


def token_subject(
    session: Session, *, tenant_slug: str, email: str | None = None, role: str | None = None
) -> TokenSubject:
    """The member a development token is for: by e-mail, by role, or the owner.

    Runs in the provider (system) context of the CLI.
    """
    tenant = session.scalar(select(Tenant).where(Tenant.slug == tenant_slug,
                                                 Tenant.deleted_at.is_(None)))
    if tenant is None:
        raise NotFound(f"No tenant with slug {tenant_slug!r} (the demo tenants come with the "
                       "first `fleetcore serve`, or `fleetcore demo load`).")
    if not tenant.clerk_organization_id:
        raise Conflict(f"Tenant {tenant_slug!r} has no clerk_organization_id: nobody can sign in.")
    stmt = (
        select(Member)
        .where(Member.tenant_id == tenant.id, Member.deleted_at.is_(None),
               Member.clerk_user_id.is_not(None), Member.status != MemberStatus.SUSPENDED.value)
        .order_by(Member.id)
    )
    if email:
        stmt = stmt.where(func.lower(Member.email) == email.lower())
    else:
        wanted = role or "owner"
        stmt = stmt.where(Member.id.in_(
            select(MemberRole.member_id)
            .join(Role, (Role.tenant_id == MemberRole.tenant_id) & (Role.id == MemberRole.role_id))
            .where(MemberRole.tenant_id == tenant.id, Role.name == wanted,
                   Role.deleted_at.is_(None))
        ))
    member = session.scalars(stmt.limit(1)).first()
    if member is None or member.clerk_user_id is None:
        who = f"e-mail {email!r}" if email else f"role {role or 'owner'!r}"
        raise NotFound(f"No active member with {who} and a Clerk user id in {tenant_slug!r}.")
    roles = roles_of_members(session, tenant.id, [member.id])[member.id]
    return TokenSubject(tenant.slug, tenant.clerk_organization_id, member.clerk_user_id,
                        member.email, tuple(r.name for r in roles))


DEMO_STAFF_USER = "user_demo_fleetcore_staff"
DEMO_STAFF_EMAIL = "staff@fleetcore.demo"


def demo_staff_subject(session: Session, provider_org_id: str) -> TokenSubject:
    """The demo staff member a development token is for (created on first use, every
    permission). Runs in the provider (system) context, development only."""
    staff = session.scalar(select(ProviderEmployee).where(
        ProviderEmployee.clerk_user_id == DEMO_STAFF_USER))
    if staff is None:
        session.add(ProviderEmployee(
            id=new_id(), clerk_user_id=DEMO_STAFF_USER, email=DEMO_STAFF_EMAIL,
            first_name="Demo", last_name="Staff", title="Fleetcore staff (demo)",
            permissions=["*"]))
        session.flush()
    elif staff.status != ProviderEmployeeStatus.ACTIVE.value or staff.deleted_at is not None:
        raise Conflict("The demo staff member is not active.")
    return TokenSubject("", provider_org_id, DEMO_STAFF_USER, DEMO_STAFF_EMAIL, ("staff",))


# --- webhook deliveries --------------------------------------------------------------------


def claim_webhook_delivery(
    session: Session, *, provider: str, delivery_id: str, event_type: str, payload_sha256: str
) -> uuid.UUID | None:
    """Record a delivery; None when it was recorded before (apply each delivery once).

    A concurrent duplicate waits on the unique key until the first transaction ends, then
    finds it: exactly one of them applies the event. Runs in the provider context.
    """
    return session.execute(
        text(
            "INSERT INTO adm_webhook_deliveries (id, provider, delivery_id, event_type,"
            " payload_sha256, status) VALUES (:id, :provider, :delivery_id, :event_type,"
            " :sha, 'received') ON CONFLICT (provider, delivery_id) DO NOTHING RETURNING id"
        ),
        {"id": new_id(), "provider": provider, "delivery_id": delivery_id,
         "event_type": event_type[:200], "sha": payload_sha256},
    ).scalar_one_or_none()


def finish_webhook_delivery(
    session: Session, delivery: uuid.UUID, *, status: WebhookDeliveryStatus,
    tenant_id: uuid.UUID | None = None, error: str | None = None,
) -> None:
    """Mark a claimed delivery processed or ignored (with the tenant it routed to)."""
    session.execute(
        text(
            "UPDATE adm_webhook_deliveries SET status = :status, tenant_id = :tenant_id,"
            " processed_at = now(), error = :error WHERE id = :id"
        ),
        {"status": status.value, "tenant_id": tenant_id, "error": error, "id": delivery},
    )


# --- the fleet's own settings ----------------------------------------------------------------

_TAX_KEYS = ("self_billing", "prices_include_vat", "siret", "address")


def tenant_settings(tenant: Tenant) -> TenantSettingsOut:
    """The fleet's settings as the API shows them (tax ones from ``tax_settings``)."""
    tax: dict[str, Any] = tenant.tax_settings if isinstance(tenant.tax_settings, dict) else {}
    settings: dict[str, Any] = tenant.settings if isinstance(tenant.settings, dict) else {}
    return TenantSettingsOut(
        name=tenant.name, legal_name=tenant.legal_name, country=tenant.country,
        default_currency=tenant.default_currency, timezone=tenant.timezone,
        contact_email=tenant.contact_email, vat_number=tenant.vat_number,
        vat_rate_pct=tenant.vat_rate_pct, self_billing=tax.get("self_billing") is True,
        prices_include_vat=tax.get("prices_include_vat", True) is not False,
        siret=tax.get("siret"), address=tax.get("address"),
        language=settings.get("language") if isinstance(settings.get("language"), str) else None,
        version=tenant.version)


def own_tenant(session: Session, actor: Actor, *, lock: bool = False) -> Tenant:
    """The actor's fleet (row-level security shows no other)."""
    stmt = select(Tenant).where(Tenant.id == tenant_of(actor), Tenant.deleted_at.is_(None))
    tenant = session.scalar(stmt.with_for_update() if lock else stmt)
    if tenant is None:
        raise NotFound("No such tenant.")
    return tenant


def update_tenant_settings(session: Session, actor: Actor, *, data: TenantSettingsUpdate,
                           if_match: str) -> Tenant:
    """Change the fleet's identity, contact and tax settings. The currency and the time zone
    are refused (409, naming the field) once the fleet has trips or settlements: its weeks and
    amounts were computed with them."""
    tenant = own_tenant(session, actor, lock=True)
    check_if_match(if_match, tenant.version)
    changes = data.model_dump(exclude_unset=True)
    frozen = [f for f in ("default_currency", "timezone")
              if f in changes and changes[f] != getattr(tenant, f)]
    if frozen and session.scalar(text(
            "SELECT EXISTS (SELECT 1 FROM trp_trips WHERE tenant_id = :t)"
            " OR EXISTS (SELECT 1 FROM trp_settlements WHERE tenant_id = :t)"),
            {"t": tenant.id}):
        raise Conflict(
            "The fleet already has trips or settlements, computed in its currency and weeks: "
            "its currency and time zone can no longer change.",
            errors=[{"field": f, "message": "fixed once the fleet has trips or settlements"}
                    for f in frozen])
    if "language" in changes:
        language = changes.pop("language")
        settings = {k: v for k, v in (tenant.settings or {}).items() if k != "language"}
        tenant.settings = {**settings, "language": language} if language else settings
    tax = dict(tenant.tax_settings or {})
    for key in _TAX_KEYS:
        if key in changes:
            if changes[key] is None:
                tax.pop(key, None)
            else:
                tax[key] = changes.pop(key)
            changes.pop(key, None)
    for field, value in changes.items():
        if value is None and field in ("name", "default_currency", "timezone"):
            continue  # required columns: absent means unchanged
        setattr(tenant, field, value)
    tenant.tax_settings = tax
    return _rows.save(session, actor, tenant)
