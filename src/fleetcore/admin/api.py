"""``/v1`` administration endpoints: me, members, roles, audit log, tenants."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from sqlalchemy import select

from fleetcore.admin import service
from fleetcore.admin.models import LifecycleEventType, Member, MemberStatus, Role, Tenant
from fleetcore.admin.permissions import (
    AuditRead,
    JobsRead,
    JobsWrite,
    MembersRead,
    MembersWrite,
    ProviderTenantsWrite,
    RolesRead,
    RolesWrite,
    TenantsRead,
)
from fleetcore.admin.schemas import (
    AuditLogOut,
    JobOut,
    LifecycleChange,
    MemberInvite,
    MemberOut,
    MemberRoleOut,
    MemberStatusChange,
    MemberUpdate,
    MeOut,
    RoleCreate,
    RoleOut,
    RoleRef,
    RoleUpdate,
    TenantOut,
    TenantProvision,
)
from fleetcore.core import jobs as core_jobs
from fleetcore.core.auth import TenantRequired
from fleetcore.core.deps import CurrentActor, DbSession
from fleetcore.core.pagination import Page, Pagination
from fleetcore.core.versioning import etag

router = APIRouter(prefix="/v1")

IfMatch = Annotated[
    str | None,
    Header(description="The `ETag` last read; a stale one is refused with 412."),
]


def _member_out(member: Member, roles: list[Role]) -> MemberOut:
    out = MemberOut.model_validate(member)
    out.roles = [RoleRef.model_validate(r) for r in roles]
    return out


def _with_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


# --- me ------------------------------------------------------------------------------------


@router.get("/me", tags=["me"], summary="Who I am, in which tenant, with which permissions")
def me(actor: CurrentActor, session: DbSession) -> MeOut:
    tenant = (
        session.scalar(select(Tenant).where(Tenant.id == actor.tenant_id))
        if actor.tenant_id else None
    )
    roles: list[Role] = []
    if actor.tenant_id is not None and not actor.is_provider:
        roles = service.roles_of_members(session, actor.tenant_id, [actor.id])[actor.id]
    return MeOut(
        actor_type=actor.type.value, id=actor.id, email=actor.email,
        tenant=TenantOut.model_validate(tenant) if tenant else None,
        permissions=sorted(actor.permissions),
        roles=[RoleRef.model_validate(r) for r in roles],
    )


# --- members -------------------------------------------------------------------------------


@router.get("/members", tags=["members"], summary="List members")
def list_members(
    actor: MembersRead, session: DbSession, page: Pagination,
    member_status: Annotated[MemberStatus | None, Query(alias="status")] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    role_id: uuid.UUID | None = None,
) -> Page[MemberOut]:
    members, cursor = service.list_members(
        session, actor, page, status=member_status.value if member_status else None,
        email=email, role_id=role_id,
    )
    roles = service.roles_of_members(session, actor.tenant_id, [m.id for m in members]) \
        if actor.tenant_id else {}
    return Page(items=[_member_out(m, roles.get(m.id, [])) for m in members], next_cursor=cursor)


@router.post("/members", tags=["members"], status_code=status.HTTP_201_CREATED,
             summary="Invite a member")
def invite_member(
    actor: MembersWrite, session: DbSession, data: MemberInvite, response: Response
) -> MemberOut:
    member = service.invite_member(session, actor, data=data)
    session.refresh(member)
    _with_etag(response, member.version)
    response.headers["Location"] = f"/v1/members/{member.id}"
    roles = service.roles_of_members(session, member.tenant_id, [member.id])[member.id]
    return _member_out(member, roles)


@router.get("/members/{member_id}", tags=["members"], summary="Get a member")
def get_member(
    actor: MembersRead, session: DbSession, member_id: uuid.UUID, response: Response
) -> MemberOut:
    member = service.get_member(session, actor, member_id)
    _with_etag(response, member.version)
    roles = service.roles_of_members(session, member.tenant_id, [member.id])[member.id]
    return _member_out(member, roles)


@router.patch("/members/{member_id}", tags=["members"], summary="Update a member")
def update_member(
    actor: MembersWrite, session: DbSession, member_id: uuid.UUID, data: MemberUpdate,
    response: Response, if_match: IfMatch = None,
) -> MemberOut:
    member = service.update_member(session, actor, member_id, data=data, if_match=if_match)
    _with_etag(response, member.version)
    roles = service.roles_of_members(session, member.tenant_id, [member.id])[member.id]
    return _member_out(member, roles)


def _status_change(actor: MembersWrite, session: DbSession, member_id: uuid.UUID,
                   response: Response, target: MemberStatus) -> MemberOut:
    member = service.set_member_status(session, actor, member_id, status=target)
    _with_etag(response, member.version)
    roles = service.roles_of_members(session, member.tenant_id, [member.id])[member.id]
    return _member_out(member, roles)


@router.post("/members/{member_id}/suspend", tags=["members"],
             summary="Suspend a member (no sign-in; data kept)")
def suspend_member(
    actor: MembersWrite, session: DbSession, member_id: uuid.UUID, response: Response,
    data: MemberStatusChange | None = None,
) -> MemberOut:
    return _status_change(actor, session, member_id, response, MemberStatus.SUSPENDED)


@router.post("/members/{member_id}/reactivate", tags=["members"],
             summary="Reactivate a suspended member")
def reactivate_member(
    actor: MembersWrite, session: DbSession, member_id: uuid.UUID, response: Response,
    data: MemberStatusChange | None = None,
) -> MemberOut:
    return _status_change(actor, session, member_id, response, MemberStatus.ACTIVE)


@router.get("/members/{member_id}/roles", tags=["members"], summary="A member's role grants")
def list_member_roles(
    actor: MembersRead, session: DbSession, member_id: uuid.UUID
) -> list[MemberRoleOut]:
    return [
        MemberRoleOut(role_id=role.id, name=role.name, granted_by=grant.granted_by,
                      granted_at=grant.granted_at)
        for grant, role in service.member_grants(session, actor, member_id)
    ]


@router.put("/members/{member_id}/roles/{role_id}", tags=["members"],
            summary="Grant a role (idempotent)")
def grant_role(
    actor: MembersWrite, session: DbSession, member_id: uuid.UUID, role_id: uuid.UUID
) -> MemberRoleOut:
    grant = service.grant_role(session, actor, member_id, role_id)
    role = service.get_role(session, actor, role_id)
    return MemberRoleOut(role_id=role.id, name=role.name, granted_by=grant.granted_by,
                         granted_at=grant.granted_at)


@router.delete("/members/{member_id}/roles/{role_id}", tags=["members"],
               status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a role")
def revoke_role(
    actor: MembersWrite, session: DbSession, member_id: uuid.UUID, role_id: uuid.UUID
) -> Response:
    service.revoke_role(session, actor, member_id, role_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- roles ---------------------------------------------------------------------------------


@router.get("/roles", tags=["roles"], summary="List roles")
def list_roles(actor: RolesRead, session: DbSession, page: Pagination) -> Page[RoleOut]:
    roles, cursor = service.list_roles(session, actor, page)
    return Page(items=[RoleOut.model_validate(r) for r in roles], next_cursor=cursor)


@router.post("/roles", tags=["roles"], status_code=status.HTTP_201_CREATED,
             summary="Create a custom role")
def create_role(
    actor: RolesWrite, session: DbSession, data: RoleCreate, response: Response
) -> RoleOut:
    role = service.create_role(session, actor, data=data)
    session.refresh(role)
    _with_etag(response, role.version)
    response.headers["Location"] = f"/v1/roles/{role.id}"
    return RoleOut.model_validate(role)


@router.get("/roles/{role_id}", tags=["roles"], summary="Get a role")
def get_role(
    actor: RolesRead, session: DbSession, role_id: uuid.UUID, response: Response
) -> RoleOut:
    role = service.get_role(session, actor, role_id)
    _with_etag(response, role.version)
    return RoleOut.model_validate(role)


@router.patch("/roles/{role_id}", tags=["roles"], summary="Update a custom role")
def update_role(
    actor: RolesWrite, session: DbSession, role_id: uuid.UUID, data: RoleUpdate,
    response: Response, if_match: IfMatch = None,
) -> RoleOut:
    role = service.update_role(session, actor, role_id, data=data, if_match=if_match)
    _with_etag(response, role.version)
    return RoleOut.model_validate(role)


@router.delete("/roles/{role_id}", tags=["roles"], status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a custom role nobody holds")
def delete_role(
    actor: RolesWrite, session: DbSession, role_id: uuid.UUID, if_match: IfMatch = None
) -> Response:
    service.delete_role(session, actor, role_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- audit ---------------------------------------------------------------------------------


@router.get("/audit-logs", tags=["audit"], summary="Read the audit log, newest first")
def list_audit_logs(
    actor: AuditRead, session: DbSession, page: Pagination,
    entity_type: Annotated[str | None, Query(max_length=63)] = None,
    entity_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=63)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[AuditLogOut]:
    rows, cursor = service.list_audit_logs(session, actor, page, service.AuditFilter(
        entity_type=entity_type, entity_id=entity_id, actor_id=actor_id, action=action,
        since=since, until=until,
    ))
    return Page(items=[AuditLogOut.model_validate(r) for r in rows], next_cursor=cursor)


# --- tenants -------------------------------------------------------------------------------


@router.get("/tenants", tags=["tenants"], summary="List tenants (staff: all; members: theirs)")
def list_tenants(
    actor: TenantsRead, session: DbSession, page: Pagination,
    tenant_status: Annotated[str | None, Query(alias="status", max_length=20)] = None,
    slug: Annotated[str | None, Query(max_length=63)] = None,
) -> Page[TenantOut]:
    tenants, cursor = service.list_tenants(session, actor, page, status=tenant_status, slug=slug)
    return Page(items=[TenantOut.model_validate(t) for t in tenants], next_cursor=cursor)


@router.post("/tenants", tags=["tenants"], status_code=status.HTTP_201_CREATED,
             summary="Provision a tenant (staff)")
def provision_tenant(
    actor: ProviderTenantsWrite, session: DbSession, data: TenantProvision, response: Response
) -> TenantOut:
    if actor.tenant_id is not None:
        raise TenantRequired("Provision without an open tenant (no X-Fleetcore-Tenant header).")
    tenant = service.provision_tenant(session, actor, data=data)
    _with_etag(response, tenant.version)
    response.headers["Location"] = f"/v1/tenants/{tenant.id}"
    return TenantOut.model_validate(tenant)


@router.get("/tenants/{tenant_id}", tags=["tenants"], summary="Get a tenant")
def get_tenant(
    actor: TenantsRead, session: DbSession, tenant_id: uuid.UUID, response: Response
) -> TenantOut:
    tenant = service.get_tenant(session, actor, tenant_id)
    _with_etag(response, tenant.version)
    return TenantOut.model_validate(tenant)


def _lifecycle(actor: TenantsRead, session: DbSession, tenant_id: uuid.UUID,
               data: LifecycleChange | None, event: LifecycleEventType) -> TenantOut:
    tenant = service.change_tenant_status(
        session, actor, tenant_id, event=event, reason=data.reason if data else None
    )
    return TenantOut.model_validate(tenant)


@router.post("/tenants/{tenant_id}/suspend", tags=["tenants"],
             summary="Suspend a tenant: read-only for its members (staff)")
def suspend_tenant(
    actor: TenantsRead, session: DbSession, tenant_id: uuid.UUID,
    data: LifecycleChange | None = None,
) -> TenantOut:
    return _lifecycle(actor, session, tenant_id, data, LifecycleEventType.SUSPENDED)


@router.post("/tenants/{tenant_id}/reactivate", tags=["tenants"],
             summary="Reactivate a suspended tenant (staff)")
def reactivate_tenant(
    actor: TenantsRead, session: DbSession, tenant_id: uuid.UUID,
    data: LifecycleChange | None = None,
) -> TenantOut:
    return _lifecycle(actor, session, tenant_id, data, LifecycleEventType.REACTIVATED)


@router.post("/tenants/{tenant_id}/cancel", tags=["tenants"],
             summary="Cancel a tenant: no sign-in, data kept (staff)")
def cancel_tenant(
    actor: TenantsRead, session: DbSession, tenant_id: uuid.UUID,
    data: LifecycleChange | None = None,
) -> TenantOut:
    return _lifecycle(actor, session, tenant_id, data, LifecycleEventType.CANCELLED)


# --- background jobs -----------------------------------------------------------------------


@router.get("/jobs", tags=["jobs"], summary="List the fleet's background jobs (newest first)")
def list_jobs(
    actor: JobsRead,
    session: DbSession,
    failed: Annotated[bool, Query(description="Only failed jobs.")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[JobOut]:
    jobs = core_jobs.list_jobs(
        session, failed_only=failed, limit=limit, tenant_id=actor.tenant_id
    )
    return [
        JobOut(id=j.id, task=j.task, status=j.status, attempts=j.attempts, queue=j.queue,
               scheduled_at=j.scheduled_at, last_event_at=j.last_event_at)
        for j in jobs
    ]


@router.post("/jobs/{job_id}/retry", tags=["jobs"], status_code=status.HTTP_202_ACCEPTED,
             summary="Queue a failed job again")
def retry_job(actor: JobsWrite, session: DbSession, job_id: int) -> dict[str, str]:
    core_jobs.retry_failed_job(session, job_id, tenant_id=actor.tenant_id)
    return {"status": "queued"}
