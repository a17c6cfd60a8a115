"""The permission catalogue, the built-in roles and the generated matrix agree with the code."""

from __future__ import annotations

from pathlib import Path

from fastapi.routing import APIRoute
from sqlalchemy import Engine

from fleetcore.admin.permissions import (
    PERMISSIONS,
    PROVIDER_PERMISSIONS,
    SYSTEM_ROLES,
    TENANT_PERMISSIONS,
    permission_matrix_markdown,
)
from fleetcore.app import create_app
from fleetcore.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def test_the_permission_matrix_document_matches_the_code() -> None:
    assert DOC.read_text() == permission_matrix_markdown(), (
        "docs/permissions.md is stale: python -m fleetcore.admin.permissions > docs/permissions.md"
    )


def test_built_in_roles_hold_only_tenant_permissions() -> None:
    assert [r.name for r in SYSTEM_ROLES] == [
        "owner", "admin", "fleet_manager", "finance", "dispatcher", "driver", "viewer"]
    for role in SYSTEM_ROLES:
        assert set(role.permissions) <= TENANT_PERMISSIONS, role.name
        assert list(role.permissions) == sorted(set(role.permissions)), role.name
    owner = set(SYSTEM_ROLES[0].permissions)
    assert all(set(r.permissions) <= owner for r in SYSTEM_ROLES if r.name != "driver")
    assert "payouts:approve" in owner
    assert not PROVIDER_PERMISSIONS & owner


def _required_permissions(route: APIRoute) -> list[str]:
    found: list[str] = []
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        permission = getattr(dependant.call, "required_permission", None)
        if permission:
            found.append(permission)
        stack.extend(dependant.dependencies)
    return found


def test_every_v1_route_requires_a_known_permission_or_is_me(app_engine: Engine) -> None:
    app = create_app(Settings(fleetcore_env="test"), app_engine)
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.path.startswith("/v1"):
            continue
        permissions = _required_permissions(route)
        if route.path == "/v1/me":
            assert permissions == []  # any signed-in actor may ask who they are
            continue
        assert len(permissions) == 1, (route.path, route.methods, permissions)
        assert permissions[0] in PERMISSIONS, (route.path, permissions)
