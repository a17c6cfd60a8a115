"""``/v1`` administration endpoints: me, members, roles, audit log, tenants."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetcore.admin import service
from fleetcore.admin.models import (
    AuditLog,
    LifecycleEventType,
    Member,
    MemberRole,
    MemberStatus,
    Role,
    Tenant,
)
from fleetcore.admin.permissions import (
    AuditRead,
    JobsRead,
    JobsWrite,
    MembersRead,
    MembersWrite,
    ProviderTenantsWrite,
    RolesRead,
    RolesWrite,
    SettingsRead,
    SettingsWrite,
    TenantsRead,
)
from fleetcore.admin.schemas import (
    AuditLogOut,
    JobOut,
    JobQueued,
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
    TenantSettingsOut,
    TenantSettingsUpdate,
)
from fleetcore.core import jobs as core_jobs
from fleetcore.core.auth import TenantRequired, tenant_of
from fleetcore.core.deps import CurrentActor, DbSession
from fleetcore.core.export import (
    Column,
    CsvColumn,
    DerivedColumns,
    attribute_columns,
    csv_list_response,
    csv_response,
    csv_responses,
)
from fleetcore.core.pagination import PageParams
from fleetcore.core.resource import ResourceRoutes, value_of
from fleetcore.core.versioning import (
    RequiredIfMatch,
    check_if_match,
    etag,
)
from fleetcore.privacy import service as privacy_service
from fleetcore.privacy.api import personal_data_routes

router = APIRouter(prefix="/v1")

T = TypeVar("T")


def _member_out(member: Member, roles: list[Role]) -> MemberOut:
    out = MemberOut.model_validate(member)
    out.roles = [RoleRef.model_validate(r) for r in roles]
    return out


def _with_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def _fresh(session: Session, row: T) -> T:
    session.refresh(row)
    return row


def _field(index: int, name: str) -> Callable[[Any], Any]:
    """Read ``name`` of the entity at ``index`` of a result row (exports of joined rows)."""
    def read(row: Any) -> Any:
        return getattr(row[index], name)

    return read


# --- me ------------------------------------------------------------------------------------


@router.get("/me", tags=["me"], summary="Who I am, in which tenant, with which permissions")
def get_me(actor: CurrentActor, session: DbSession) -> MeOut:
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


def _member_filter(
    member_status: Annotated[MemberStatus | None, Query(alias="status")] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    role_id: uuid.UUID | None = None,
) -> service.MemberFilter:
    return service.MemberFilter(status=value_of(member_status), email=email, role_id=role_id)


MemberFilterQuery = Annotated[service.MemberFilter, Depends(_member_filter)]


def _member_page(session: Session, actor: Any, page: PageParams, filters: service.MemberFilter
                 ) -> tuple[list[tuple[Member, list[Role]]], str | None]:
    """A page of members with their roles (read for the whole page at once)."""
    members, cursor = service.list_members(session, actor, page, filters)
    roles = service.roles_of_members(session, actor.tenant_id, [m.id for m in members]) \
        if actor.tenant_id else {}
    return [(m, roles.get(m.id, [])) for m in members], cursor


_MEMBER_CSV: list[Column] = [
    *(CsvColumn(name, _field(0, name)) for name in (
        "id", "email", "first_name", "last_name", "phone", "status", "preferred_language",
        "invited_at", "last_login_at", "created_at")),
    CsvColumn("roles", lambda r: r[1]),
]


def _member_view(session: Session, member: Member) -> tuple[Member, list[Role]]:
    return member, service.roles_of_members(session, member.tenant_id, [member.id])[member.id]


def _status_change(target: MemberStatus) -> Callable[..., Any]:
    return lambda s, a, i, data: _member_view(s, service.set_member_status(s, a, i,
                                                                           status=target))


_members = ResourceRoutes(router, "members", "member_id", "member", ["members"], MemberOut,
                          lambda view: _member_out(*view), MembersRead, MembersWrite,
                          row_of=lambda view: view[0])
_members.listing("List members", MemberFilterQuery, _member_page, page_first=True)
_members.export("Export the filtered members as CSV", MemberFilterQuery,
                lambda actor, filters: service.members_query(actor, filters).add_columns(
                    service.member_role_names(tenant_of(actor))),
                _MEMBER_CSV, "members.csv", order_by=(Member.id,))
_members.create("Invite a member", MemberInvite, lambda s, a, data: _member_view(
    s, _fresh(s, service.invite_member(s, a, data=data))), name="invite_member")
_members.get("Get a member", lambda s, a, i: _member_view(s, service.get_member(s, a, i)),
             include_deleted=False)
_members.update("Update a member", MemberUpdate, lambda s, a, i, **change: _member_view(
    s, service.update_member(s, a, i, **change)))
_members.action("suspend", "Suspend a member (no sign-in; data kept)", MemberStatusChange,
                _status_change(MemberStatus.SUSPENDED), optional=True, lock=Member)
_members.action("reactivate", "Reactivate a suspended member", MemberStatusChange,
                _status_change(MemberStatus.ACTIVE), optional=True, lock=Member)


def _grant_out(grant: MemberRole, role: Role) -> MemberRoleOut:
    return MemberRoleOut(role_id=role.id, name=role.name, granted_by=grant.granted_by,
                         granted_at=grant.granted_at)


@router.get("/members/{member_id}/roles", tags=["members"], summary="A member's role grants")
def list_member_roles(
    actor: MembersRead, session: DbSession, member_id: uuid.UUID
) -> list[MemberRoleOut]:
    return [_grant_out(grant, role)
            for grant, role in service.member_grants(session, actor, member_id)]


_GRANT_CSV: list[Column] = [DerivedColumns(
    ("role_id", "name", "granted_by", "granted_at"), lambda row: _grant_out(row[0], row[1]))]


@router.get("/members/{member_id}/roles/export.csv", tags=["members"],
            summary="Export a member's role grants as CSV",
            response_class=StreamingResponse, responses=csv_responses(_GRANT_CSV))
def export_member_roles(
    actor: MembersRead, session: DbSession, member_id: uuid.UUID
) -> StreamingResponse:
    member = service.get_member(session, actor, member_id)
    return csv_response(session, service.member_grants_query(member), _GRANT_CSV,
                        filename="member-roles.csv")


@router.put("/members/{member_id}/roles/{role_id}", tags=["members"],
            summary="Grant a role (idempotent)")
def grant_role(
    actor: MembersWrite, session: DbSession, member_id: uuid.UUID, role_id: uuid.UUID
) -> MemberRoleOut:
    grant = service.grant_role(session, actor, member_id, role_id)
    return _grant_out(grant, service.get_role(session, actor, role_id))


@router.delete("/members/{member_id}/roles/{role_id}", tags=["members"],
               status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a role")
def revoke_role(
    actor: MembersWrite, session: DbSession, member_id: uuid.UUID, role_id: uuid.UUID
) -> Response:
    service.revoke_role(session, actor, member_id, role_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- roles ---------------------------------------------------------------------------------


_ROLE_CSV: list[Column] = [
    *attribute_columns("id", "name", "description"),
    CsvColumn("permissions", lambda r: " ".join(r.permissions)),
    *attribute_columns("is_system", "created_at", "updated_at"),
]

NoFilter = Annotated[None, Depends(lambda: None)]
"""A list without filters (every live role)."""

_roles = ResourceRoutes(router, "roles", "role_id", "role", ["roles"], RoleOut,
                        RoleOut.model_validate, RolesRead, RolesWrite)
_roles.listing("List roles", NoFilter, lambda s, a, page, _: service.list_roles(s, a, page))
_roles.export("Export the roles as CSV", NoFilter, lambda a, _: service.roles_query(a),
              _ROLE_CSV, "roles.csv", order_by=(Role.id,))
_roles.create("Create a custom role", RoleCreate,
              lambda s, a, data: _fresh(s, service.create_role(s, a, data=data)))
_roles.get("Get a role", service.get_role, include_deleted=False)
_roles.update("Update a custom role", RoleUpdate, service.update_role)
_roles.delete("Delete a custom role nobody holds", service.delete_role, reason=None)


# --- the fleet's own settings ------------------------------------------------------------


@router.get("/tenant-settings", tags=["tenants"], summary="The fleet's own settings")
def get_tenant_settings(
    actor: SettingsRead, session: DbSession, response: Response
) -> TenantSettingsOut:
    """Legal identity (printed on statements and invoices), contact, time zone, currency and
    tax settings (VAT, self-billing)."""
    tenant = service.own_tenant(session, actor)
    _with_etag(response, tenant.version)
    return service.tenant_settings(tenant)


@router.patch("/tenant-settings", tags=["tenants"], summary="Change the fleet's own settings",
              responses={409: {"description": "The currency or time zone of a fleet that "
                                              "already has trips or settlements."}})
def update_tenant_settings(
    actor: SettingsWrite, session: DbSession, if_match: RequiredIfMatch,
    data: TenantSettingsUpdate, response: Response,
) -> TenantSettingsOut:
    tenant = service.update_tenant_settings(session, actor, data=data, if_match=if_match)
    _with_etag(response, tenant.version)
    return service.tenant_settings(tenant)


# --- audit ---------------------------------------------------------------------------------


def _audit_filter(
    entity_type: Annotated[str | None, Query(max_length=63)] = None,
    entity_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=63)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> service.AuditFilter:
    return service.AuditFilter(entity_type=entity_type, entity_id=entity_id, actor_id=actor_id,
                               action=action, since=since, until=until)


AuditFilterQuery = Annotated[service.AuditFilter, Depends(_audit_filter)]


_AUDIT_CSV: list[Column] = [
    *attribute_columns("id", "occurred_at", "actor_type", "actor_id", "action", "entity_type",
                       "entity_id"),
    CsvColumn("changes", lambda r: json.dumps(r.changes, sort_keys=True, default=str)),
    CsvColumn("ip", lambda r: str(r.ip) if r.ip is not None else None),
    *attribute_columns("user_agent", "request_id"),
]
_audit = ResourceRoutes(router, "audit-logs", "entry_id", "audit_log", ["audit"], AuditLogOut,
                        AuditLogOut.model_validate, AuditRead, AuditRead)
_audit.listing("Read the audit log, newest first", AuditFilterQuery, service.list_audit_logs,
               page_first=True)
export_audit_logs = _audit.export(
    "Export the filtered audit log as CSV, newest first", AuditFilterQuery,
    service.audit_logs_query, _AUDIT_CSV, "audit-log.csv",
    order_by=(AuditLog.occurred_at.desc(), AuditLog.id.desc()))


# --- tenants -------------------------------------------------------------------------------


def _tenant_filter(
    tenant_status: Annotated[str | None, Query(alias="status", max_length=20)] = None,
    slug: Annotated[str | None, Query(max_length=63)] = None,
) -> service.TenantFilter:
    return service.TenantFilter(status=tenant_status, slug=slug)


TenantFilterQuery = Annotated[service.TenantFilter, Depends(_tenant_filter)]


_TENANT_CSV = attribute_columns(
    "id", "name", "slug", "legal_name", "country", "default_currency", "timezone", "status",
    "contact_email", "trial_ends_at", "created_at")
_tenants = ResourceRoutes(router, "tenants", "tenant_id", "tenant", ["tenants"], TenantOut,
                          TenantOut.model_validate, TenantsRead, TenantsRead)
_tenants.listing("List tenants (staff: all; members: theirs)", TenantFilterQuery,
                 service.list_tenants, page_first=True)
_tenants.export("Export the tenants as CSV (staff: all; members: theirs)", TenantFilterQuery,
                service.tenants_query, _TENANT_CSV, "tenants.csv", order_by=(Tenant.id,))


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


_tenants.get("Get a tenant", service.get_tenant, include_deleted=False)


def _lifecycle(event: LifecycleEventType) -> Callable[..., Any]:
    def change(session: Session, actor: Any, tenant_id: uuid.UUID, data: Any,
               if_match: str) -> Tenant:
        check_if_match(if_match, service.get_tenant(session, actor, tenant_id).version)
        return service.change_tenant_status(session, actor, tenant_id, event=event,
                                            reason=data.reason if data else None)

    return change


for _verb, _event, _summary in (
    ("suspend", LifecycleEventType.SUSPENDED,
     "Suspend a tenant: read-only for its members (staff)"),
    ("reactivate", LifecycleEventType.REACTIVATED, "Reactivate a suspended tenant (staff)"),
    ("cancel", LifecycleEventType.CANCELLED, "Cancel a tenant: no sign-in, data kept (staff)"),
):
    _tenants.action(_verb, _summary, LifecycleChange, _lifecycle(_event), optional=True)


# --- background jobs -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobFilter:
    failed: bool = False
    limit: int = 50


def _job_filter(
    failed: Annotated[bool, Query(description="Only failed jobs.")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JobFilter:
    return JobFilter(failed=failed, limit=limit)


JobFilterQuery = Annotated[JobFilter, Depends(_job_filter)]


def _jobs(actor: JobsRead, session: DbSession, filters: JobFilter) -> list[JobOut]:
    jobs = core_jobs.list_jobs(
        session, failed_only=filters.failed, limit=filters.limit, tenant_id=actor.tenant_id
    )
    return [
        JobOut(id=j.id, task=j.task, status=j.status, attempts=j.attempts, queue=j.queue,
               scheduled_at=j.scheduled_at, last_event_at=j.last_event_at)
        for j in jobs
    ]


@router.get("/jobs", tags=["jobs"], summary="List the fleet's background jobs (newest first)")
def list_jobs(actor: JobsRead, session: DbSession, filters: JobFilterQuery) -> list[JobOut]:
    return _jobs(actor, session, filters)


_JOB_CSV = attribute_columns(
    "id", "task", "status", "attempts", "queue", "scheduled_at", "last_event_at")


@router.get("/jobs/export.csv", tags=["jobs"],
            summary="Export the fleet's background jobs as CSV (newest first, same filters)",
            response_class=StreamingResponse, responses=csv_responses(_JOB_CSV))
def export_jobs(actor: JobsRead, session: DbSession, filters: JobFilterQuery) -> StreamingResponse:
    # The queue is a bounded operational view (at most 200 jobs), read like the list.
    return csv_list_response(_jobs(actor, session, filters), _JOB_CSV, filename="jobs.csv")


@router.post("/jobs/{job_id}/retry", tags=["jobs"], status_code=status.HTTP_202_ACCEPTED,
             summary="Queue a failed job again")
def retry_job(actor: JobsWrite, session: DbSession, job_id: int) -> JobQueued:
    core_jobs.retry_failed_job(session, job_id, tenant_id=actor.tenant_id)
    return JobQueued()


# --- personal data (docs/privacy.md) -------------------------------------------------------


personal_data_routes(router, "members", "member_id", "member", ["members"], Member,
                     privacy_service.export_member, privacy_service.erase_member)
