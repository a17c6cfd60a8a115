"""The read lane answers ``GET /v1/vehicles/{id}`` and ``GET /v1/vehicles`` exactly as FastAPI
does (decision 0022).

Each case sends the same request (same ``X-Request-Id``) twice: through the session's client,
which runs the app's lifespan (the lane's pool is open: the lane serves or declines), and
through a client without a lifespan (each request on its own loop: FastAPI's route, as before
the lane). Status, headers and body bytes must be equal, and the lane's counter says whether the
lane answered itself — so equality is never the FastAPI route compared with itself.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api_support import TenantWorld
from fleet_support import Fleet
from fleetcore.core.db import DbContext, context_session
from fleetcore.core.lane import LANE_APPLICATION

ITEM = "/v1/vehicles/{vehicle_id}"
LIST = "/v1/vehicles"


@pytest.fixture(scope="module")
def fastapi_client(api_app: FastAPI) -> TestClient:
    """A client without a lifespan: the lane has no pool on its loop, FastAPI answers."""
    return TestClient(api_app)


@pytest.fixture
def compare(client: TestClient, fastapi_client: TestClient, api_app: FastAPI
            ) -> Callable[..., httpx.Response]:
    """``compare(url, headers, served=…)``: both paths give the same answer; ``served``: whether
    the lane answered it (else it declined and FastAPI did, behind it)."""

    def check(url: str, headers: dict[str, str], *, served: bool) -> httpx.Response:
        lane = api_app.state.read_lane
        before = sum(lane.served.values())
        rid = {"X-Request-Id": f"lane-{uuid.uuid4().hex}"}
        through_lane = client.get(url, headers={**headers, **rid})
        assert sum(lane.served.values()) - before == (1 if served else 0), url
        through_fastapi = fastapi_client.get(url, headers={**headers, **rid})
        assert sum(lane.served.values()) - before == (1 if served else 0), url
        assert through_lane.status_code == through_fastapi.status_code, through_lane.text
        assert through_lane.content == through_fastapi.content
        assert (sorted(through_lane.headers.multi_items())
                == sorted(through_fastapi.headers.multi_items()))
        return through_lane

    return check


@pytest.fixture(scope="module")
def lane_fleet(make_fleet: Callable[[], Fleet]) -> Fleet:
    """A tenant with vehicles of every shape a list filters on, readings and a deleted one."""
    fleet = make_fleet()
    now = datetime.now(UTC)
    cars = [
        fleet.vehicle(licence_plate="AA-123-AA", year=2019, fuel_type="diesel",
                      ownership_type="owned", notes="Ünïcode — « notes » \"quoted\" \\ tab\t",
                      acquisition_cost={"amount": "31500.5", "currency": "EUR"},
                      acquired_on="2024-03-02"),
        fleet.vehicle(licence_plate="BB-456-BB", year=2021, fuel_type="hybrid",
                      ownership_type="leased", colour="Black", seats=5),
        fleet.vehicle(licence_plate="CC-789-CC", year=2024, fuel_type="electric",
                      ownership_type="rented", vin=None),
        fleet.vehicle(year=2021, fuel_type="diesel", ownership_type="leased"),
        fleet.vehicle(year=2022, fuel_type="petrol", ownership_type="owned"),
    ]
    first = cars[0]["id"]
    fleet.insert("flt_odometer_readings", vehicle_id=first, read_at=now - timedelta(days=2),
                 odometer_km=1200.5, source="manual")
    fleet.insert("flt_odometer_readings", vehicle_id=first, read_at=now - timedelta(days=1),
                 odometer_km=99000, source="gps", is_anomaly=True, anomaly_reason="jump")
    fleet.sql("UPDATE flt_vehicles SET status = 'inactive' WHERE id = :id", id=cars[1]["id"])
    fleet.sql("UPDATE flt_vehicles SET deleted_at = now(), deletion_reason = 'sold'"
              " WHERE id = :id", id=cars[4]["id"])
    fleet.vehicles = cars
    return fleet


# --- one vehicle -------------------------------------------------------------------------------


def test_a_vehicle_is_served_by_the_lane_as_fastapi_serves_it(
    lane_fleet: Fleet, compare: Callable[..., httpx.Response],
) -> None:
    for car in lane_fleet.vehicles[:4]:
        answer = compare(f"{LIST}/{car['id']}", lane_fleet.headers(), served=True)
        assert answer.status_code == 200
        assert answer.json()["id"] == car["id"]
        assert answer.headers["etag"] == f'"{answer.json()["version"]}"'
    body = compare(f"{LIST}/{lane_fleet.vehicles[0]['id']}", lane_fleet.headers("viewer"),
                   served=True).json()
    assert body["current_odometer_km"] == "1200.5"
    assert body["acquisition_cost"] == {"amount": "31500.50", "currency": "EUR"} or \
        body["acquisition_cost"]["amount"].startswith("31500.5")


def test_the_lane_answers_with_the_api_headers(
    lane_fleet: Fleet, compare: Callable[..., httpx.Response],
) -> None:
    answer = compare(f"{LIST}/{lane_fleet.vehicles[0]['id']}", lane_fleet.headers(),
                     served=True)
    assert answer.headers["x-request-id"].startswith("lane-")
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in answer.headers["content-security-policy"]


@pytest.mark.parametrize("how", ["uppercase", "no dashes"])
def test_other_spellings_of_the_id(
    how: str, lane_fleet: Fleet, compare: Callable[..., httpx.Response],
) -> None:
    vid = lane_fleet.vehicles[0]["id"]
    spelt = vid.upper() if how == "uppercase" else vid.replace("-", "")
    assert compare(f"{LIST}/{spelt}", lane_fleet.headers(), served=True).status_code == 200


def test_a_deleted_vehicle_needs_include_deleted(
    lane_fleet: Fleet, compare: Callable[..., httpx.Response],
) -> None:
    url = f"{LIST}/{lane_fleet.vehicles[4]['id']}"
    assert compare(url, lane_fleet.headers(), served=True).status_code == 404
    assert compare(url + "?include_deleted=true", lane_fleet.headers(),
                   served=True).json()["deletion_reason"] == "sold"
    assert compare(url + "?include_deleted=false", lane_fleet.headers(),
                   served=True).status_code == 404
    # Spellings pydantic also reads as booleans: FastAPI's to parse.
    assert compare(url + "?include_deleted=yes", lane_fleet.headers(),
                   served=False).status_code == 200
    assert compare(url + "?include_deleted=maybe", lane_fleet.headers(),
                   served=False).status_code == 422


def test_unknown_and_other_tenants_vehicles_are_404(
    lane_fleet: Fleet, other_api_fleet: Fleet, compare: Callable[..., httpx.Response],
) -> None:
    theirs = other_api_fleet.vehicle()
    answer = compare(f"{LIST}/{theirs['id']}", lane_fleet.headers(), served=True)
    assert (answer.status_code, answer.headers["content-type"]) == (404,
                                                                    "application/problem+json")
    assert answer.json()["detail"] == "No such vehicle."
    assert compare(f"{LIST}/{uuid.uuid4()}", lane_fleet.headers(),
                   served=True).status_code == 404


@pytest.mark.parametrize("bad", ["not-a-uuid", "1234", "{" + "0" * 32 + "}", "export.json"])
def test_a_malformed_id_is_fastapis_422(
    bad: str, lane_fleet: Fleet, compare: Callable[..., httpx.Response],
) -> None:
    assert compare(f"{LIST}/{bad}", lane_fleet.headers(), served=False).status_code in (404, 422)


# --- callers -----------------------------------------------------------------------------------


def test_tokens_the_lane_does_not_take_are_fastapis_to_refuse(
    lane_fleet: Fleet, token: Callable[..., str], compare: Callable[..., httpx.Response],
) -> None:
    url = f"{LIST}/{lane_fleet.vehicles[0]['id']}"
    owner = lane_fleet.world.person()
    expired = token(owner.user_id, lane_fleet.world.org_id, ttl=timedelta(seconds=-60))
    cases = {
        "missing": {},
        "not bearer": {"Authorization": "Basic abc"},
        "garbage": {"Authorization": "Bearer not.a.token"},
        "expired": {"Authorization": f"Bearer {expired}"},
        "no organisation": {"Authorization": f"Bearer {token(owner.user_id, None)}"},
        "cookie only": {"Cookie": "__session=abc"},
    }
    for name, headers in cases.items():
        answer = compare(url, headers, served=False)
        assert answer.status_code in (401, 403), name


def test_refused_members_are_fastapis_to_refuse(
    lane_fleet: Fleet, make_fleet: Callable[[], Fleet], token: Callable[..., str],
    sessions: Any, compare: Callable[..., httpx.Response],
) -> None:
    url = f"{LIST}/{lane_fleet.vehicles[0]['id']}"
    world = lane_fleet.world
    # The driver role has no vehicles:read: 403 permission-denied, from FastAPI.
    denied = compare(url, lane_fleet.headers("driver"), served=False)
    assert denied.status_code == 403
    assert denied.json()["type"].endswith("permission-denied")
    # A stranger to the organisation, an unknown organisation.
    stranger = {"Authorization": f"Bearer {token('user_stranger', world.org_id)}"}
    assert compare(url, stranger, served=False).status_code == 403
    unknown = {"Authorization": f"Bearer {token(world.person().user_id, 'org_nowhere')}"}
    assert compare(url, unknown, served=False).status_code == 403
    # A suspended member, and again once reinstated (nothing about the member is cached).
    viewer = world.person("viewer")
    for status, expected, served in (("suspended", 403, False), ("active", 200, True)):
        with context_session(sessions, DbContext.for_tenant(world.id)) as session:
            session.execute(_sql("UPDATE adm_members SET status = :s WHERE id = :id"),
                            {"s": status, "id": viewer.member_id})
        assert compare(url, lane_fleet.headers("viewer"), served=served).status_code == expected


def test_suspended_tenants_read_and_cancelled_ones_do_not(
    make_fleet: Callable[[], Fleet], sessions: Any, compare: Callable[..., httpx.Response],
) -> None:
    fleet = make_fleet()
    car = fleet.vehicle()
    url = f"{LIST}/{car['id']}"
    for status, expected, served in (("suspended", 200, True), ("cancelled", 403, False)):
        _tenant_status(sessions, fleet.world, status)
        assert compare(url, fleet.headers(), served=served).status_code == expected
        assert compare(LIST, fleet.headers(), served=served).status_code == expected


def test_staff_are_served_by_fastapi(
    lane_fleet: Fleet, make_staff: Callable[..., Any], staff_auth: Callable[..., dict[str, str]],
    compare: Callable[..., httpx.Response],
) -> None:
    staff = make_staff()
    headers = staff_auth(staff, lane_fleet.world.slug)
    url = f"{LIST}/{lane_fleet.vehicles[0]['id']}"
    assert compare(url, headers, served=False).status_code == 200


def test_the_lane_runs_on_its_own_pool(
    lane_fleet: Fleet, client: TestClient,
) -> None:
    assert client.get(f"{LIST}/{lane_fleet.vehicles[0]['id']}",
                      headers=lane_fleet.headers()).status_code == 200
    rows = lane_fleet.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a",
                          a=LANE_APPLICATION)
    assert rows[0][0] >= 1


# --- lists -------------------------------------------------------------------------------------


LIST_QUERIES = [
    "", "?limit=2", "?limit=200", "?status=active", "?status=inactive", "?fuel_type=hybrid",
    "?ownership_type=owned", "?country=FR", "?country=DE", "?q=AA-123", "?q=bb456",
    "?q=%20", "?q=", "?q=100%25", "?q=a_b", "?include_deleted=true", "?include_deleted=false",
    "?sort=licence_plate", "?sort=-licence_plate", "?sort=year", "?sort=-year",
    "?sort=-created", "?sort=created", "?status=active&fuel_type=diesel&sort=-year&limit=1",
    "?unknown=1",
]


@pytest.mark.parametrize("query", LIST_QUERIES)
def test_lists_are_served_by_the_lane_as_fastapi_serves_them(
    query: str, lane_fleet: Fleet, compare: Callable[..., httpx.Response],
) -> None:
    answer = compare(LIST + query, lane_fleet.headers(), served=True)
    assert answer.status_code == 200


def test_lists_by_catalogue_ids(
    lane_fleet: Fleet, compare: Callable[..., httpx.Response],
) -> None:
    car = lane_fleet.vehicles[0]
    for name in ("make_id", "model_id"):
        items = compare(f"{LIST}?{name}={car[name]}", lane_fleet.headers(),
                        served=True).json()["items"]
        assert len(items) == 4
    assert compare(f"{LIST}?vehicle_class_id={uuid.uuid4()}", lane_fleet.headers(),
                   served=True).json()["items"] == []


@pytest.mark.parametrize("sort", ["created", "-created", "licence_plate", "-licence_plate",
                                  "year", "-year"])
def test_every_page_of_every_sort(
    sort: str, lane_fleet: Fleet, compare: Callable[..., httpx.Response],
) -> None:
    url, seen = f"{LIST}?sort={sort}&limit=2&include_deleted=true", []
    while True:
        page = compare(url, lane_fleet.headers(), served=True).json()
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        url = f"{LIST}?sort={sort}&limit=2&include_deleted=true&cursor={page['next_cursor']}"
    assert sorted(seen) == sorted(car["id"] for car in lane_fleet.vehicles)


@pytest.mark.parametrize("query", [
    "?limit=0", "?limit=201", "?limit=abc", "?limit=050", "?limit=", "?status=broken",
    "?status=", "?country=fr", "?make_id=nope", "?make_id=", "?sort=colour", "?cursor=abc",
    "?cursor=", "?q=" + "x" * 101, "?q=%00", "?limit=2&limit=3", "?include_deleted=1",
])
def test_list_parameters_the_lane_does_not_take_are_fastapis(
    query: str, lane_fleet: Fleet, compare: Callable[..., httpx.Response],
) -> None:
    compare(LIST + query, lane_fleet.headers(), served=False)


def test_a_cursor_of_another_sort_is_fastapis(
    lane_fleet: Fleet, compare: Callable[..., httpx.Response],
) -> None:
    page = compare(f"{LIST}?sort=year&limit=1", lane_fleet.headers(), served=True).json()
    # A year sort's cursor (year, id) given to the default sort (id): 422 from FastAPI.
    compare(f"{LIST}?limit=1&cursor={page['next_cursor']}", lane_fleet.headers(), served=False)


# --- helpers -----------------------------------------------------------------------------------


def _sql(statement: str) -> Any:
    from sqlalchemy import text

    return text(statement)


def _tenant_status(sessions: Any, world: TenantWorld, status: str) -> None:
    with context_session(sessions, DbContext.system()) as session:
        session.execute(_sql("UPDATE adm_tenants SET status = :s WHERE id = :id"),
                        {"s": status, "id": world.id})


@pytest.mark.parametrize("query", [[], [("sort", "-year"), ("q", "AB"), ("status", "active")]])
def test_the_caller_is_resolved_before_the_route_reads_a_row(
    query: list[tuple[str, str]], app_engine: Any,
) -> None:
    """The lane's one statement: ``fc_resolve_member`` is the outer side of the lateral join,
    so the route's tables are read under the context it set (``core.lane``)."""
    from psycopg import ClientCursor

    from fleetcore.core import lane as core_lane
    from fleetcore.fleet import lane as fleet_lane

    prepared = (fleet_lane.prepare_vehicles({}, query) if query else
                fleet_lane.prepare_vehicle({"vehicle_id": str(uuid.uuid4())}, []))
    sql = core_lane._RESOLVE_AND_READ.format(
        caller=core_lane.CALLER, route=prepared.sql,
        order=prepared.order and f" ORDER BY {prepared.order}")
    params = {**prepared.params, "org_id": "org_none", "user_id": "user_none",
              "request_id": None, "ip": None, "user_agent": None}
    raw = app_engine.raw_connection()
    try:
        cursor = ClientCursor(raw.driver_connection)
        plan = [row[0] for row in cursor.execute("EXPLAIN " + sql, params).fetchall()]
    finally:
        raw.rollback()
        raw.close()
    join = next(i for i, line in enumerate(plan) if "Nested Loop Left Join" in line)
    outer = next(line for line in plan[join + 1:] if "->" in line)
    assert "Function Scan on fc_resolve_member caller" in outer, "\n".join(plan)


def test_the_lane_takes_no_thread_trip_and_no_engine_connection(
    lane_fleet: Fleet, client: TestClient, api_app: FastAPI, app_engine: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the lane saves (decisions 0009, 0022): FastAPI's route takes three worker-thread
    trips and four commands on an engine connection (``tests/core/test_request_cost.py``);
    the lane none of either — one statement on its own pool, on the event loop."""
    import anyio.to_thread
    from sqlalchemy import event

    trips: list[str] = []
    statements: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(func, "__name__", repr(func)))
        return await run_sync(func, *args, **kwargs)

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    url = f"{LIST}/{lane_fleet.vehicles[0]['id']}"
    headers = lane_fleet.headers()
    assert client.get(url, headers=headers).status_code == 200  # the token verified once
    served = api_app.state.read_lane.served[ITEM]
    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    event.listen(app_engine, "before_cursor_execute", record)
    try:
        assert client.get(url, headers=headers).status_code == 200
        assert client.get(LIST, headers=headers).status_code == 200
    finally:
        event.remove(app_engine, "before_cursor_execute", record)
    assert api_app.state.read_lane.served[ITEM] == served + 1
    assert (trips, statements) == ([], [])


def test_the_lane_survives_its_connections_being_closed(
    lane_fleet: Fleet, compare: Callable[..., httpx.Response],
) -> None:
    """A restart closes every pooled connection: the next requests are still answered by the
    lane (dead connections are replaced at checkout), not with a 503."""
    url = f"{LIST}/{lane_fleet.vehicles[0]['id']}"
    for _ in range(3):
        compare(url, lane_fleet.headers(), served=True)
        closed = lane_fleet.sql(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
            " FROM pg_stat_activity WHERE application_name = :a", a=LANE_APPLICATION)
        assert closed[0][0] >= 1
        for _ in range(100):  # the server has closed them (as after a restart)
            if not lane_fleet.sql("SELECT count(*) FROM pg_stat_activity"
                                  " WHERE application_name = :a", a=LANE_APPLICATION)[0][0]:
                break
            time.sleep(0.05)
        assert compare(url, lane_fleet.headers(), served=True).status_code == 200


def test_a_second_lifespan_ending_leaves_the_first_its_lane(
    api_app: FastAPI, lane_fleet: Fleet, compare: Callable[..., httpx.Response],
) -> None:
    """Another lifespan of the same app (an in-process OpenAPI fuzzer, a nested test client)
    opens its own pool and, when it ends, closes only that one: the session's client keeps
    being served by the lane."""
    url = f"{LIST}/{lane_fleet.vehicles[0]['id']}"
    outer_pool = api_app.state.read_lane.pool
    with TestClient(api_app) as nested:
        assert api_app.state.read_lane.pool is not outer_pool
        lane = api_app.state.read_lane
        before = sum(lane.served.values())
        assert nested.get(url, headers=lane_fleet.headers()).status_code == 200
        assert sum(lane.served.values()) == before + 1
    assert api_app.state.read_lane.pool is outer_pool
    compare(url, lane_fleet.headers(), served=True)
