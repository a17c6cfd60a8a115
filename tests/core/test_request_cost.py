"""What one authenticated request costs the database, and that the cheaper path keeps every
guarantee of the caller's resolution (``docs/decisions/0003-request-round-trips.md``).

The caller is resolved and the transaction's context set by one statement
(``fc_resolve_member`` / ``fc_resolve_employee``, migration 0005); a pooled connection is
checked without a ping. These tests count statements (SQLAlchemy ``before_cursor_execute``)
and the commands on the wire (libpq's protocol trace, which also sees BEGIN, COMMIT and pings),
so a regression in round trips fails here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg.pq import Trace
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api_support import PROVIDER_ORG, Staff, TenantWorld, if_match
from fleet_support import Fleet
from fleetcore.core import embedded as embedded_pg
from fleetcore.core.auth import (
    MemberSuspended,
    NotAMember,
    RequestInfo,
    SessionClaims,
    TenantCancelled,
    TenantSuspended,
    resolve_actor,
)
from fleetcore.core.db import (
    CONTEXT_KEY,
    DbContext,
    context_parameters,
    context_session,
    make_engine,
    normalise_url,
)
from fleetcore.core.errors import NotFound
from fleetcore.core.orm import new_id
from fleetcore.fleet.schemas import VehicleOut
from fleetcore.settings import Settings

SETTINGS_SQL = text(
    "SELECT current_setting('app.tenant_id', true) AS tenant_id,"
    " current_setting('app.actor_type', true) AS actor_type,"
    " current_setting('app.actor_id', true) AS actor_id,"
    " current_setting('app.request_id', true) AS request_id,"
    " current_setting('app.context', true) AS context,"
    " current_setting('app.ip', true) AS ip,"
    " current_setting('app.user_agent', true) AS user_agent,"
    " coalesce(current_setting('app.driver_id', true), '') AS driver_id"
)


# --- counting ----------------------------------------------------------------------------------


@contextmanager
def statements_of(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the block."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@dataclass
class Wire:
    """Commands a client sent, from libpq's trace: ``BEGIN``, ``COMMIT``, ``;`` (SQLAlchemy's
    pre-ping), ``execute`` for each statement of the extended protocol. Each one waits for its
    answer, so their number is the number of round trips (a statement's one-time preparation
    by psycopg aside, which has no Execute)."""

    commands: list[str] = field(default_factory=list)

    @property
    def requested(self) -> list[str]:
        """The commands without psycopg's prepared-statement upkeep (``DEALLOCATE …``, sent
        when its cache of a long-lived connection overflows or after a ROLLBACK): it depends
        on what the connection ran before, not on the request."""
        return [c for c in self.commands if not c.startswith("DEALLOCATE")]


@contextmanager
def wire_of(engine: Engine, trace_file: Path) -> Iterator[Wire]:
    """What goes over the wire on connections checked out of ``engine`` inside the block."""
    wire = Wire()
    with trace_file.open("w") as sink:

        def start(dbapi_connection: Any, record: Any, proxy: Any) -> None:
            dbapi_connection.pgconn.trace(sink.fileno())
            dbapi_connection.pgconn.set_trace_flags(
                Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)

        def stop(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.pgconn.untrace()  # flushes libpq's buffer

        event.listen(engine, "checkout", start)
        event.listen(engine, "checkin", stop)
        try:
            yield wire
        finally:
            event.remove(engine, "checkout", start)
            event.remove(engine, "checkin", stop)
    for line in trace_file.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or parts[0] != "F":
            continue
        if parts[2] == "Query":
            wire.commands.append(parts[3].strip().strip('"'))
        elif parts[2] == "Execute":
            wire.commands.append("execute")


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def fleet(make_tenant: Callable[..., TenantWorld], client: TestClient,
          auth: Callable[..., dict[str, str]], sessions: Any) -> Fleet:
    world = make_tenant()
    make_id, model_id = new_id(), new_id()
    with context_session(sessions, DbContext.for_tenant(world.id)) as session:
        session.execute(text("INSERT INTO dir_car_makes (id, tenant_id, name)"
                             " VALUES (:id, :t, :n)"),
                        {"id": make_id, "t": world.id, "n": f"Make {make_id.hex[:6]}"})
        session.execute(text("INSERT INTO dir_car_models (id, tenant_id, make_id, name)"
                             " VALUES (:id, :t, :m, 'Model')"),
                        {"id": model_id, "t": world.id, "m": make_id})
    return Fleet(world, client, auth, sessions, make_id, model_id)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- round trips -------------------------------------------------------------------------------


def test_me_is_one_statement_for_the_caller_then_the_route(
    client: TestClient, tenant_a: TenantWorld, auth: Callable[..., dict[str, str]],
    app_engine: Engine,
) -> None:
    headers = auth(tenant_a)
    assert client.get("/v1/me", headers=headers).status_code == 200  # warm
    with statements_of(app_engine) as statements:
        response = client.get("/v1/me", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == str(tenant_a.person().member_id)
    # The caller and the context: one statement; the route: its tenant and its roles.
    assert len(statements) == 3, statements
    assert "fc_resolve_member(" in statements[0]
    assert not any("set_config" in s or "tenant_for_clerk_org" in s or "adm_members" in s
                   for s in statements[1:]), statements


@pytest.fixture
def fastapi_client(api_app: FastAPI) -> TestClient:
    """A client without a lifespan: the hot reads take FastAPI's route, not the read lane
    (decision 0022; the lane's own cost: ``tests/fleet/test_vehicles_lane.py``)."""
    return TestClient(api_app)


def test_vehicle_read_is_four_round_trips(
    fleet: Fleet, fastapi_client: TestClient, app_engine: Engine, tmp_path: Path
) -> None:
    client = fastapi_client
    vehicle = fleet.vehicle()
    url, headers = f"/v1/vehicles/{vehicle['id']}", fleet.headers()
    assert client.get(url, headers=headers).status_code == 200  # warm
    with statements_of(app_engine) as statements, wire_of(app_engine, tmp_path / "t") as wire:
        response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["licence_plate"] == vehicle["licence_plate"]
    assert len(statements) == 2, statements
    assert "fc_resolve_member(" in statements[0]
    assert "FROM flt_vehicles" in statements[1]
    # On the wire: no ping on checkout, no separate set_config: BEGIN, 2 statements, COMMIT.
    assert wire.requested == ["BEGIN", "execute", "execute", "COMMIT"], wire.commands


@contextmanager
def thread_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The callables sent to a worker thread inside the block (decision 0009)."""
    trips: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(func, "__name__", repr(func)))
        return await run_sync(func, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(anyio.to_thread, "run_sync", counting)
        yield trips


def test_vehicle_read_and_expense_write_take_three_thread_trips(
    fleet: Fleet, fastapi_client: TestClient, app_engine: Engine, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = fastapi_client
    vehicle = fleet.vehicle()
    url, headers = f"/v1/vehicles/{vehicle['id']}", fleet.headers()
    assert client.get(url, headers=headers).status_code == 200  # warm
    with thread_trips(monkeypatch) as trips:
        response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    # The caller, the route, the commit: no trip to open the session, check the permission
    # or validate the route's own VehicleOut again.
    assert len(trips) == 3, trips
    assert response.headers["etag"] == f'"{response.json()["version"]}"'
    assert response.headers["content-type"] == "application/json"
    assert response.json() == VehicleOut.model_validate(response.json()).model_dump(mode="json")

    body = {"vehicle_id": vehicle["id"], "category": "wash", "payment_method": "company_card",
            "amount": {"amount": "12.50", "currency": "EUR"}, "incurred_on": "2026-11-02"}
    with thread_trips(monkeypatch) as trips:
        created = client.post("/v1/vehicle-expenses", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert len(trips) == 3, trips
    assert created.headers["location"] == f"/v1/vehicle-expenses/{created.json()['id']}"
    assert created.headers["etag"] == '"1"'
    stored = client.get(created.headers["location"], headers=headers)
    assert stored.status_code == 200
    assert stored.json() == created.json()


def test_a_failing_route_rolls_back_in_one_trip(
    fleet: Fleet, fastapi_client: TestClient, app_engine: Engine, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = fastapi_client
    headers = fleet.headers()
    with thread_trips(monkeypatch) as trips, wire_of(app_engine, tmp_path / "t") as wire:
        response = client.get(f"/v1/vehicles/{uuid.uuid4()}", headers=headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert len(trips) == 3, trips
    assert wire.requested == ["BEGIN", "execute", "execute", "ROLLBACK"], wire.commands


def test_refused_caller_costs_one_statement(
    client: TestClient, tenant_a: TenantWorld, token: Callable[..., str], app_engine: Engine,
    tmp_path: Path,
) -> None:
    stranger = _bearer(token("user_nobody", tenant_a.org_id))
    with statements_of(app_engine) as statements, wire_of(app_engine, tmp_path / "t") as wire:
        response = client.get("/v1/me", headers=stranger)
    assert response.status_code == 403
    assert len(statements) == 1
    assert "fc_resolve_member(" in statements[0]
    assert wire.requested == ["BEGIN", "execute", "ROLLBACK"], wire.commands


def test_staff_opening_a_tenant_is_one_statement_and_audited(
    client: TestClient, tenant_a: TenantWorld, make_staff: Callable[..., Staff],
    staff_auth: Callable[..., dict[str, str]], app_engine: Engine,
    read_system: Callable[..., list[Any]],
) -> None:
    staff = make_staff()
    with statements_of(app_engine) as statements:
        response = client.get("/v1/me", headers=staff_auth(staff, tenant_a.slug))
    assert response.status_code == 200, response.text
    assert response.json()["actor_type"] == "provider_employee"
    assert response.json()["tenant"]["slug"] == tenant_a.slug
    assert "fc_resolve_employee(" in statements[0]
    assert not any("adm_audit_logs" in s or "set_config" in s for s in statements)
    rows = read_system(
        "SELECT actor_type, entity_id, changes FROM adm_audit_logs"
        " WHERE tenant_id = :t AND actor_id = :a AND action = 'impersonate'",
        t=tenant_a.id, a=staff.id)
    assert [(r.actor_type, r.entity_id) for r in rows] == [("provider_employee", tenant_a.id)]
    assert rows[0].changes == {"request": {"method": "GET", "path": "/v1/me"}}


# --- the context the statement sets is the context the session remembers --------------------


def _claims(user_id: str, org_id: str | None) -> SessionClaims:
    from datetime import UTC, datetime, timedelta

    return SessionClaims(user_id=user_id, session_id="sess_1", org_id=org_id, org_role="admin",
                         org_slug=None, org_permissions=(), version=2,
                         expires_at=datetime.now(UTC) + timedelta(minutes=5))


def _request(method: str = "GET", tenant_header: str | None = None) -> RequestInfo:
    return RequestInfo(method=method, path="/v1/x", request_id="req-cost-1", ip="198.51.100.7",
                       user_agent="agent/" + "x" * 600, tenant_header=tenant_header)


@pytest.fixture
def app_session(app_engine: Engine) -> Iterator[Session]:
    """A session on the app role whose transactions are rolled back."""
    with Session(app_engine) as session:
        try:
            yield session
        finally:
            session.rollback()


@pytest.fixture
def provider_settings(api_settings: Settings) -> Settings:
    assert api_settings.fleetcore_provider_org_id == PROVIDER_ORG
    return api_settings


def _settings_now(session: Session) -> dict[str, str]:
    return dict(session.execute(SETTINGS_SQL).mappings().one())


def test_member_context_is_set_by_the_resolving_statement_and_remembered(
    tenant_a: TenantWorld, app_session: Session, provider_settings: Settings
) -> None:
    viewer = tenant_a.person("viewer")
    actor = resolve_actor(app_session, _claims(viewer.user_id, tenant_a.org_id), _request(),
                          provider_settings)
    remembered: DbContext = app_session.info[CONTEXT_KEY]
    assert remembered == actor.db_context(request_id="req-cost-1", ip="198.51.100.7",
                                          user_agent="agent/" + "x" * 600)
    assert (actor.id, actor.tenant_id) == (viewer.member_id, tenant_a.id)
    assert "vehicles:read" in actor.permissions
    assert "vehicles:write" not in actor.permissions
    # What the statement set is exactly what the session would apply itself ...
    expected = context_parameters(remembered)
    assert _settings_now(app_session) == expected
    assert len(expected["user_agent"]) == 512
    # ... and a later transaction of the request gets the same from the after_begin hook.
    app_session.commit()
    assert _settings_now(app_session) == expected
    members = app_session.execute(text("SELECT DISTINCT tenant_id FROM adm_members")).scalars()
    assert list(members) == [tenant_a.id]
    assert expected["driver_id"] == ""  # staff: no driver scope


def test_a_driver_member_is_scoped_to_its_driver_by_the_same_statement(
    tenant_a: TenantWorld, app_session: Session, provider_settings: Settings, sessions: Any,
) -> None:
    member = tenant_a.person("driver")
    driver = new_id()
    with context_session(sessions, DbContext.for_tenant(tenant_a.id)) as session:
        session.execute(text(
            "INSERT INTO rid_drivers (id, tenant_id, first_name, last_name, member_id)"
            " VALUES (:id, :t, 'Dora', 'Driver', :m)"), {"id": driver, "t": tenant_a.id,
                                                         "m": member.member_id})
    actor = resolve_actor(app_session, _claims(member.user_id, tenant_a.org_id), _request(),
                          provider_settings)
    assert actor.portal_driver_id == driver
    assert _settings_now(app_session)["driver_id"] == str(driver)
    app_session.commit()  # the next transaction of the request keeps the scope
    assert _settings_now(app_session)["driver_id"] == str(driver)
    assert app_session.execute(text("SELECT count(*) FROM adm_members")).scalar_one() == 1


def test_staff_context_with_and_without_a_tenant(
    tenant_a: TenantWorld, make_staff: Callable[..., Staff], app_session: Session,
    provider_settings: Settings,
) -> None:
    staff = make_staff(["tenants:read"])
    claims = _claims(staff.user_id, PROVIDER_ORG)
    actor = resolve_actor(app_session, claims, _request(), provider_settings)
    assert (actor.id, actor.tenant_id, actor.permissions) == (staff.id, None,
                                                              frozenset({"tenants:read"}))
    assert _settings_now(app_session) == context_parameters(app_session.info[CONTEXT_KEY])
    assert _settings_now(app_session)["context"] == "provider"
    app_session.rollback()

    opened = resolve_actor(app_session, claims, _request(tenant_header=f" {tenant_a.id} "),
                           provider_settings)
    assert (opened.tenant_id, opened.tenant_status) == (tenant_a.id, "trialing")
    now = _settings_now(app_session)
    assert now == context_parameters(app_session.info[CONTEXT_KEY])
    assert (now["tenant_id"], now["actor_type"], now["actor_id"]) == (
        str(tenant_a.id), "provider_employee", str(staff.id))


@pytest.mark.parametrize("case", ["unknown org", "stranger", "suspended member",
                                  "cancelled tenant", "suspended tenant write"])
def test_a_refused_caller_leaves_no_tenant_open(
    case: str, make_tenant: Callable[..., TenantWorld], sessions: Any, app_session: Session,
    provider_settings: Settings,
) -> None:
    status = {"cancelled tenant": "cancelled", "suspended tenant write": "suspended"}.get(case)
    world = make_tenant(status=status)
    owner = world.person()
    if case == "suspended member":
        with context_session(sessions, DbContext.for_tenant(world.id)) as session:
            session.execute(text("UPDATE adm_members SET status = 'suspended' WHERE id = :id"),
                            {"id": owner.member_id})
    user, org, method, problem = {
        "unknown org": (owner.user_id, "org_unknown", "GET", NotAMember),
        "stranger": ("user_stranger", world.org_id, "GET", NotAMember),
        "suspended member": (owner.user_id, world.org_id, "GET", MemberSuspended),
        "cancelled tenant": (owner.user_id, world.org_id, "GET", TenantCancelled),
        "suspended tenant write": (owner.user_id, world.org_id, "POST", TenantSuspended),
    }[case]
    with pytest.raises(problem):
        resolve_actor(app_session, _claims(user, org), _request(method), provider_settings)
    # Even if a caller ignored the problem, the transaction sees no tenant data.
    now = _settings_now(app_session)
    assert (now["tenant_id"], now["actor_id"], now["context"]) == ("", "", "tenant")
    assert app_session.execute(text("SELECT count(*) FROM adm_members")).scalar_one() == 0
    assert app_session.info[CONTEXT_KEY].tenant_id is None


def test_a_suspended_tenant_still_reads(
    make_tenant: Callable[..., TenantWorld], app_session: Session, provider_settings: Settings
) -> None:
    world = make_tenant(status="suspended")
    actor = resolve_actor(app_session, _claims(world.person().user_id, world.org_id),
                          _request("GET"), provider_settings)
    assert (actor.tenant_id, actor.tenant_status) == (world.id, "suspended")
    assert _settings_now(app_session)["tenant_id"] == str(world.id)


@pytest.mark.parametrize("case", ["inactive staff", "unknown staff", "unknown tenant"])
def test_a_refused_staff_member_leaves_the_provider_context(
    case: str, make_staff: Callable[..., Staff], app_session: Session,
    provider_settings: Settings,
) -> None:
    staff = make_staff(status="inactive" if case == "inactive staff" else "active")
    user = "user_not_staff" if case == "unknown staff" else staff.user_id
    header = "no-such-tenant" if case == "unknown tenant" else None
    problem = {"inactive staff": MemberSuspended, "unknown staff": NotAMember,
               "unknown tenant": NotFound}[case]
    with pytest.raises(problem):
        resolve_actor(app_session, _claims(user, PROVIDER_ORG), _request(tenant_header=header),
                      provider_settings)
    now = _settings_now(app_session)
    assert (now["tenant_id"], now["context"]) == ("", "tenant")
    assert app_session.execute(text("SELECT count(*) FROM adm_tenants")).scalar_one() == 0


def test_first_sign_in_is_audited_as_the_member(
    client: TestClient, tenant_a: TenantWorld, auth: Callable[..., dict[str, str]],
    token: Callable[..., str], sessions: Any, read_system: Callable[..., list[Any]],
) -> None:
    invited = client.post("/v1/members", headers=auth(tenant_a),
                          json={"email": f"first-{uuid.uuid4().hex[:6]}@example.com"}).json()
    user_id = f"user_first_{uuid.uuid4().hex[:8]}"
    with context_session(sessions, DbContext.system()) as session:
        session.execute(text("UPDATE adm_members SET clerk_user_id = :u"
                             " WHERE tenant_id = :t AND id = :id"),
                        {"u": user_id, "t": tenant_a.id, "id": invited["id"]})
    response = client.get("/v1/me", headers={**_bearer(token(user_id, tenant_a.org_id)),
                                             "X-Request-Id": "first-sign-in-1"})
    assert response.status_code == 200, response.text
    rows = read_system(
        "SELECT actor_type, actor_id, request_id, changes FROM adm_audit_logs"
        " WHERE entity_id = :id AND action = 'update' AND changes ? 'status'",
        id=uuid.UUID(invited["id"]))
    assert [(r.actor_type, str(r.actor_id), r.request_id) for r in rows] == [
        ("member", invited["id"], "first-sign-in-1")]
    assert rows[0].changes["status"] == {"before": "invited", "after": "active"}


# --- no per-process cache: a change applies to the very next request --------------------------


def test_the_same_token_loses_access_at_once_on_suspension_and_role_change(
    client: TestClient, tenant_a: TenantWorld, auth: Callable[..., dict[str, str]],
    token: Callable[..., str],
) -> None:
    manager = tenant_a.person("fleet_manager")
    headers = _bearer(token(manager.user_id, tenant_a.org_id))  # one token, reused
    assert client.get("/v1/vehicles", headers=headers).status_code == 200

    role = tenant_a.roles["fleet_manager"]
    revoked = client.delete(f"/v1/members/{manager.member_id}/roles/{role}",
                            headers=if_match(
                                client,
                                f"/v1/members/{manager.member_id}/roles/{role}",
                                auth(tenant_a)))
    assert revoked.status_code == 204, revoked.text
    assert client.get("/v1/vehicles", headers=headers).status_code == 403
    assert client.get("/v1/me", headers=headers).json()["permissions"] == []

    suspended = client.post(f"/v1/members/{manager.member_id}/suspend", headers=if_match(
        client, f"/v1/members/{manager.member_id}/suspend", auth(tenant_a)))
    assert suspended.status_code == 200, suspended.text
    assert client.get("/v1/me", headers=headers).status_code == 403


def test_other_tenants_token_never_resolves_to_this_tenant(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld,
    token: Callable[..., str],
) -> None:
    a_owner = tenant_a.person()
    assert client.get("/v1/me", headers=_bearer(token(a_owner.user_id, tenant_a.org_id))
                      ).json()["tenant"]["slug"] == tenant_a.slug
    crossed = client.get("/v1/me", headers=_bearer(token(a_owner.user_id, tenant_b.org_id)))
    assert crossed.status_code == 403


# --- the functions ------------------------------------------------------------------------------


def test_resolve_functions_are_invoker_rights_and_only_for_the_app_role(
    owner_engine: Engine,
) -> None:
    with owner_engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT p.proname, p.prosecdef, p.proconfig,"
            " has_function_privilege(:app, p.oid, 'EXECUTE') AS app_may,"
            " EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0) AS public_may"
            " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'public' AND p.proname LIKE 'fc_resolve_%' ORDER BY 1"
        ), {"app": embedded_pg.APP_ROLE}).all()
    assert [r.proname for r in rows] == ["fc_resolve_employee", "fc_resolve_member"]
    for row in rows:
        assert row.prosecdef is False  # runs as the app role, under its policies
        assert row.proconfig == ["search_path=public, pg_temp"]
        assert row.app_may
        assert not row.public_may


# --- liveness without a ping --------------------------------------------------------------------


def test_pool_recovers_after_a_postgresql_restart_without_a_failed_request(
    tmp_path: Path,
) -> None:
    server = embedded_pg.EmbeddedPostgres(tmp_path / "pgdata")
    server.start()
    engine = make_engine(server.url(embedded_pg.APP_ROLE), pool_size=3)
    unchecked = create_engine(normalise_url(server.url(embedded_pg.APP_ROLE)), pool_size=3)
    try:
        for pool in (engine, unchecked):
            with pool.connect() as a, pool.connect() as b, pool.connect() as c:
                for conn in (a, b, c):
                    assert conn.execute(text("SELECT 1")).scalar_one() == 1
            assert pool.pool.checkedin() == 3
        server.stop()
        server.start()
        # Without a check, the first statement on a pooled connection fails ...
        with pytest.raises(OperationalError), unchecked.connect() as conn:
            conn.execute(text("SELECT 1"))
        # ... with the check (no round trip), every request after the restart succeeds.
        for _ in range(5):
            with engine.connect() as a, engine.connect() as b, engine.connect() as c:
                assert [conn.execute(text("SELECT pg_backend_pid() > 0")).scalar_one()
                        for conn in (a, b, c)] == [True, True, True]
    finally:
        engine.dispose()
        unchecked.dispose()
        server.stop()
