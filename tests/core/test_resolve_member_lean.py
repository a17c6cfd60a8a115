"""Revision 0030's leaner ``fc_resolve_member`` against revision 0020's, case by case.

The previous definition is created under another name (``fc_resolve_member_0020``, same body,
same attributes) and both are called in their own transaction with the same arguments, as the
app role: the result row and every setting the functions leave (``app.*``) must be equal, for
every kind of caller — no or an unknown organisation, an unknown user, each built-in role, an
invited, suspended or deleted member, a member without roles or with a deleted role, a
suspended (read and write) or cancelled tenant, a driver with and without a linked driver, a
driver with a second role — and whatever settings the transaction held before.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from api_support import TenantWorld
from fleetcore.core.db import DbContext, context_session

OLD = "fc_resolve_member_0020"
SETTINGS = ("request_id", "ip", "user_agent", "context", "actor_type", "actor_id",
            "driver_id", "tenant_id")


@pytest.fixture(scope="module")
def old_function(owner_engine: Engine) -> Iterator[str]:
    previous = importlib.import_module("fleetcore.migrations.versions.0020_driver_portal_scope")
    body = previous.MEMBER_FUNCTION.replace("CREATE FUNCTION fc_resolve_member(",
                                            f"CREATE OR REPLACE FUNCTION {OLD}(")
    assert OLD in body
    with owner_engine.begin() as conn:
        conn.exec_driver_sql(body)
        conn.exec_driver_sql(
            f"GRANT EXECUTE ON FUNCTION {OLD}(text, text, boolean, text, text, text)"
            " TO fleetcore_app")
    yield OLD
    with owner_engine.begin() as conn:
        conn.exec_driver_sql(f"DROP FUNCTION {OLD}(text, text, boolean, text, text, text)")


def _call(app_engine: Engine, function: str, args: tuple[Any, ...],
          before: dict[str, str]) -> tuple[Any, ...]:
    with app_engine.connect() as conn, conn.begin():
        for name, value in before.items():
            conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": f"app.{name}", "v": value})
        row = conn.execute(text(
            f"SELECT * FROM {function}(:org, :user, :write, :request, :ip, :agent)"),
            dict(zip(("org", "user", "write", "request", "ip", "agent"), args, strict=True)),
        ).one()
        settings = conn.execute(text(
            "SELECT " + ", ".join(f"current_setting('app.{s}', true)" for s in SETTINGS))).one()
        conn.rollback()
    return tuple(row), tuple(settings)


@pytest.fixture(scope="module")
def worlds(make_tenant: Callable[..., TenantWorld], sessions: Any) -> dict[str, TenantWorld]:
    """An active tenant with every kind of member, a suspended and a cancelled one."""
    active, suspended, cancelled = make_tenant(), make_tenant(status="suspended"), \
        make_tenant(status="cancelled")
    with context_session(sessions, DbContext.system()) as session:
        def sql(statement: str, **params: Any) -> None:
            session.execute(text(statement), params)

        t = active.id
        # The driver member gets a driver; a second driver-only member has none.
        sql("INSERT INTO rid_drivers (tenant_id, id, first_name, last_name, member_id)"
            " VALUES (:t, :d, 'Dan', 'Driver', :m)",
            t=t, d=uuid.uuid4(), m=active.person("driver").member_id)
        extra = {
            "lonely_driver": ("active", ["driver"]),
            "driver_and_viewer": ("active", ["driver", "viewer"]),
            "invited": ("invited", ["viewer"]),
            "suspended": ("suspended", ["owner"]),
            "no_roles": ("active", []),
            "deleted_role": ("active", ["viewer", "custom"]),
            "deleted_member": ("active", ["owner"]),
        }
        custom = uuid.uuid4()
        sql("INSERT INTO adm_roles (tenant_id, id, name, permissions, is_system, deleted_at)"
            " VALUES (:t, :r, 'Gone', '[\"vehicles:read\"]', false, now())", t=t, r=custom)
        for key, (status, roles) in extra.items():
            member = uuid.uuid4()
            sql("INSERT INTO adm_members (tenant_id, id, email, clerk_user_id, status, first_name)"
                " VALUES (:t, :m, :e, :u, :s, 'X')",
                t=t, m=member, e=f"{key}-{t}@example.com", u=f"user_{t}_{key}", s=status)
            for role in roles:
                sql("INSERT INTO adm_member_roles (tenant_id, id, member_id, role_id)"
                    " VALUES (:t, gen_random_uuid(), :m, :r)",
                    t=t, m=member, r=custom if role == "custom" else active.roles[role])
        sql("UPDATE adm_members SET deleted_at = now() WHERE tenant_id = :t AND clerk_user_id = :u",
            t=t, u=f"user_{t}_deleted_member")
        # The suspended and cancelled tenants' drivers are linked too.
        for world in (suspended, cancelled):
            sql("INSERT INTO rid_drivers (tenant_id, id, first_name, last_name, member_id)"
                " VALUES (:t, :d, 'Dan', 'Driver', :m)",
                t=world.id, d=uuid.uuid4(), m=world.person("driver").member_id)
    return {"active": active, "suspended": suspended, "cancelled": cancelled}


def _cases(worlds: dict[str, TenantWorld]) -> list[tuple[Any, ...]]:
    active = worlds["active"]
    users = [p.user_id for p in active.people.values()] + [
        f"user_{active.id}_{key}" for key in (
            "lonely_driver", "driver_and_viewer", "invited", "suspended", "no_roles",
            "deleted_role", "deleted_member")]
    users += ["user_nobody", ""]
    cases: list[tuple[Any, ...]] = [
        (active.org_id, user, write, "req-1", "203.0.113.7", "agent " * 200)
        for user in users for write in (False, True)]
    for key in ("suspended", "cancelled"):
        world = worlds[key]
        cases += [(world.org_id, person.user_id, write, None, None, None)
                  for person in world.people.values() for write in (False, True)]
    cases += [("org_unknown", active.person().user_id, False, "r", "ip", "ua"),
              (None, active.person().user_id, False, "r", "ip", "ua"),
              (active.org_id, None, False, None, None, None)]
    return cases


BEFORE = (
    {},
    # A transaction that already holds another context (a second resolution, a driver's).
    {"tenant_id": str(uuid.uuid4()), "context": "provider", "actor_type": "member",
     "actor_id": str(uuid.uuid4()), "driver_id": str(uuid.uuid4()), "request_id": "old"},
)


def test_the_lean_function_answers_and_sets_exactly_what_0020_did(
    app_engine: Engine, old_function: str, worlds: dict[str, TenantWorld]
) -> None:
    cases = _cases(worlds)
    seen_portal = seen_member = seen_refused = 0
    for args in cases:
        for before in BEFORE:
            expected = _call(app_engine, old_function, args, before)
            actual = _call(app_engine, "fc_resolve_member", args, before)
            assert actual == expected, (args, before)
            row, settings = actual
            seen_portal += row[6] is not None
            seen_member += settings[4] == "member"
            seen_refused += row[2] is not None and settings[4] == "system"
    # The cases cover each branch: portal drivers (linked and not), members, refused members.
    assert seen_portal >= 4
    assert seen_member >= 20
    assert seen_refused >= 10
    assert len(cases) > 40
