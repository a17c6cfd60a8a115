"""Provisioning and the tenant lifecycle, in the service and over HTTP (staff)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from api_support import Staff, TenantWorld, if_match
from fleetcore.admin import service
from fleetcore.admin.models import LifecycleEventType, Member, MemberRole, Role
from fleetcore.admin.permissions import SYSTEM_ROLES
from fleetcore.admin.schemas import OwnerInvitation, TenantProvision
from fleetcore.core.errors import Conflict


def _provision(db: Session, **overrides: Any) -> Any:
    tag = uuid.uuid4().hex[:8]
    data = {"name": "Cab Co", "slug": f"cab-{tag}", "country": "PT", "default_currency": "EUR",
            "timezone": "Europe/Lisbon", "owner": OwnerInvitation(email=f"boss-{tag}@example.com"),
            **overrides}
    return service.provision_tenant(db, None, data=TenantProvision(**data))


def test_provisioning_makes_everything_in_one_go(system_db: Session) -> None:
    tenant = _provision(system_db)
    assert tenant.status == "trialing"
    assert tenant.trial_ends_at is not None
    roles = system_db.scalars(select(Role).where(Role.tenant_id == tenant.id)).all()
    assert {r.name for r in roles} == {r.name for r in SYSTEM_ROLES}
    assert all(r.is_system for r in roles)
    owner = system_db.scalars(select(Member).where(Member.tenant_id == tenant.id)).one()
    assert owner.status == "invited"
    grant = system_db.scalars(select(MemberRole).where(MemberRole.tenant_id == tenant.id)).one()
    assert grant.role_id == next(r.id for r in roles if r.name == "owner")
    events = system_db.execute(text(
        "SELECT event_type, performed_by_type FROM adm_tenant_lifecycle_events"
        " WHERE tenant_id = :t ORDER BY event_type"), {"t": tenant.id}).all()
    assert [tuple(e) for e in events] == [("created", "system"), ("trial_started", "system")]
    with pytest.raises(Conflict):
        _provision(system_db, slug=tenant.slug)


def test_seeding_system_roles_is_idempotent_and_repairs(system_db: Session) -> None:
    tenant = _provision(system_db, trial_days=0)
    assert tenant.status == "active"
    viewer = system_db.scalars(select(Role).where(Role.tenant_id == tenant.id,
                                                  Role.name == "viewer")).one()
    viewer.permissions = ["vehicles:read"]
    system_db.flush()
    service.seed_system_roles(system_db, tenant.id)
    service.seed_system_roles(system_db, tenant.id)
    count = system_db.scalar(select(func.count()).select_from(Role).where(
        Role.tenant_id == tenant.id))
    assert count == len(SYSTEM_ROLES)
    system_db.refresh(viewer)
    assert viewer.permissions == list(SYSTEM_ROLES[-1].permissions)


def test_lifecycle_transitions(system_db: Session) -> None:
    tenant = _provision(system_db)
    for event, status in ((LifecycleEventType.SUSPENDED, "suspended"),
                          (LifecycleEventType.REACTIVATED, "active"),
                          (LifecycleEventType.CANCELLED, "cancelled")):
        assert service.change_tenant_status(system_db, None, tenant.id, event=event).status == (
            status)
    with pytest.raises(Conflict):
        service.change_tenant_status(system_db, None, tenant.id,
                                     event=LifecycleEventType.REACTIVATED)
    events = system_db.execute(text(
        "SELECT event_type FROM adm_tenant_lifecycle_events WHERE tenant_id = :t"
        " ORDER BY effective_at, created_at"), {"t": tenant.id}).scalars().all()
    assert events[-3:] == ["suspended", "reactivated", "cancelled"]


def test_staff_provision_and_run_the_lifecycle_over_http(
    client: TestClient, make_staff: Callable[..., Staff],
    staff_auth: Callable[..., dict[str, str]], read_system: Callable[..., list[Any]],
    auth: Callable[..., dict[str, str]], tenant_a: TenantWorld,
) -> None:
    staff = make_staff()
    slug = f"http-{uuid.uuid4().hex[:8]}"
    created = client.post("/v1/tenants", headers=staff_auth(staff), json={
        "name": "HTTP Fleet", "slug": slug, "country": "GB", "default_currency": "GBP",
        "timezone": "Europe/London", "owner": {"email": f"owner@{slug}.example"},
        "clerk_organization_id": f"org_{slug}",
    })
    assert created.status_code == 201, created.text
    tenant = created.json()
    assert tenant["status"] == "trialing"
    bad = client.post("/v1/tenants", headers=staff_auth(staff), json={
        "name": "Bad", "slug": "Not A Slug", "country": "XX", "default_currency": "EUR",
        "timezone": "Mars/Olympus", "owner": {"email": "x"}})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {
        "slug", "country", "timezone", "owner.email"}

    for action, status in (("suspend", "suspended"), ("reactivate", "active"),
                           ("cancel", "cancelled")):
        response = client.post(f"/v1/tenants/{tenant['id']}/{action}",
                               headers=if_match(client, f"/v1/tenants/{tenant['id']}",
                                                staff_auth(staff)),
                               json={"reason": f"test {action}"})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
    assert client.post(f"/v1/tenants/{tenant['id']}/reactivate",
                       headers=if_match(
                           client,
                           f"/v1/tenants/{tenant['id']}/reactivate",
                           staff_auth(staff))).status_code == 409
    events = read_system(
        "SELECT event_type, performed_by_type, performed_by_id FROM adm_tenant_lifecycle_events"
        " WHERE tenant_id = :t ORDER BY effective_at, created_at", t=tenant["id"])
    assert [e.event_type for e in events] == [
        "created", "trial_started", "suspended", "reactivated", "cancelled"]
    assert {(e.performed_by_type, e.performed_by_id) for e in events} == {
        ("provider_employee", staff.id)}

    # A member may read their own tenant, never change its status, never see another.
    own = client.get(f"/v1/tenants/{tenant_a.id}", headers=auth(tenant_a))
    assert own.status_code == 200
    assert client.post(f"/v1/tenants/{tenant_a.id}/suspend",
                       headers=if_match(
                           client,
                           f"/v1/tenants/{tenant_a.id}/suspend",
                           auth(tenant_a))).status_code == 403
    assert client.get(f"/v1/tenants/{tenant['id']}", headers=auth(tenant_a)).status_code == 404
    listed = client.get("/v1/tenants", headers=auth(tenant_a)).json()["items"]
    assert [t["id"] for t in listed] == [str(tenant_a.id)]


def test_built_in_roles_get_the_permissions_of_this_release(system_db: Session) -> None:
    tenant = service.provision_tenant(system_db, None, data=TenantProvision(
        name="Older Fleet", slug=f"older-{uuid.uuid4().hex[:8]}", country="FR",
        default_currency="EUR", timezone="Europe/Paris",
        owner=OwnerInvitation(email=f"o-{uuid.uuid4().hex[:6]}@example.com", first_name="O"),
    ))
    # As if the tenant was provisioned by an earlier release, before "jobs" existed.
    system_db.execute(
        text("UPDATE adm_roles SET permissions = '[\"vehicles:read\"]'::jsonb"
             " WHERE tenant_id = :t AND name = 'owner'"), {"t": tenant.id})
    assert service.align_system_role_permissions(system_db) >= 1
    owner = system_db.execute(
        text("SELECT permissions FROM adm_roles WHERE tenant_id = :t AND name = 'owner'"),
        {"t": tenant.id}).scalar_one()
    assert "jobs:read" in owner
    assert sorted(owner) == sorted(next(r for r in SYSTEM_ROLES if r.name == "owner").permissions)
    assert service.align_system_role_permissions(system_db) == 0
