"""``DATABASE_POOL_MODE=transaction`` behind a real PgBouncer in transaction mode.

PgBouncer (``pgbouncer_support``) has :data:`SERVER_CONNECTIONS` server connections; the app
has more client connections than that, and the requests below run on several threads at once,
so the same server connection serves both tenants, transaction after transaction. Shown here:

* two tenants' interleaved reads, writes, lists and ETag updates each only ever see their own
  tenant, and no request leaves any ``app.*`` setting on a server connection (while a
  session-level setting *would* reach other clients: the check can fail);
* psycopg's automatic prepared statements break behind this pooler (the control), and the
  engine ``DATABASE_POOL_MODE=transaction`` builds never prepares, under the same load;
* a job worker through PgBouncer runs jobs in their tenant's context: it does not LISTEN (a
  notification would reach whichever client holds the server connection, or nobody) and finds
  new jobs by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pgbouncer_support import SERVER_CONNECTIONS, PgBouncer
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError

import fleetcore.worker
from api_support import Staff, TenantWorld
from fleet_support import Fleet, private_make
from fleetcore.core.db import DbContext, context_session, make_engine, session_factory
from fleetcore.core.email import OutboxEmailSender
from fleetcore.core.jobs import JobEnvironment, JobRun, defer_in_transaction, run_worker_async
from fleetcore.core.jobs import tenant_task as register_tenant_task
from fleetcore.settings import PoolMode, Settings

APP_SETTINGS = ("tenant_id", "actor_type", "actor_id", "request_id", "context", "ip",
                "user_agent")
READ_SETTINGS = "SELECT " + ", ".join(
    f"coalesce(current_setting('app.{name}', true), '')" for name in APP_SETTINGS)


def _server_sessions(pgbouncer: PgBouncer, query: str = READ_SETTINGS,
                     *params: str) -> list[tuple[Any, ...]]:
    """``query``'s row on every server connection PgBouncer holds, with the backend pid first.

    As many clients as PgBouncer has server connections each open a transaction and keep it
    open, so that together they hold every server connection at once.
    """
    clients = [psycopg.connect(pgbouncer.conninfo(), prepare_threshold=None)
               for _ in range(SERVER_CONNECTIONS)]
    try:
        rows = []
        for conn in clients:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()
            row = conn.execute(query, list(params)).fetchone()
            assert pid is not None
            assert row is not None
            rows.append((pid[0], *row))
        return rows
    finally:
        for conn in clients:
            conn.close()


# --- tenant context ---------------------------------------------------------------------------


def _tenant_script(client: TestClient, fleet: Fleet, rounds: int,
                   listed: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Reads, writes, a list and ETag updates of one tenant; the ids it created."""
    world, headers = fleet.world, fleet.headers()
    created_ids = []
    for i in range(rounds):
        me = client.get("/v1/me", headers=headers)
        assert me.status_code == 200, me.text
        assert me.json()["tenant"]["id"] == str(world.id)
        created = client.post("/v1/vehicles", json=fleet.vehicle_body(), headers=headers)
        assert created.status_code == 201, created.text
        vehicle_id, etag = created.json()["id"], created.headers["etag"]
        created_ids.append(vehicle_id)
        read = client.get(f"/v1/vehicles/{vehicle_id}", headers=headers)
        assert read.status_code == 200, read.text
        assert read.json()["make_id"] == str(fleet.make_id)
        assert read.headers["etag"] == etag
        updated = client.patch(f"/v1/vehicles/{vehicle_id}", json={"colour": f"Colour {i}"},
                               headers={**headers, "If-Match": etag})
        assert updated.status_code == 200, updated.text
        assert updated.headers["etag"] != etag
        stale = client.patch(f"/v1/vehicles/{vehicle_id}", json={"colour": "Stale"},
                             headers={**headers, "If-Match": etag})
        assert stale.status_code == 412, stale.text
        vehicles = client.get("/v1/vehicles", params={"limit": 200}, headers=headers)
        assert vehicles.status_code == 200, vehicles.text
        members = client.get("/v1/members", params={"limit": 200}, headers=headers)
        assert members.status_code == 200, members.text
        listed.append((str(world.id), {"vehicles": vehicles.json()["items"],
                                       "members": members.json()["items"]}))
    return created_ids


def _staff_script(client: TestClient, headers: dict[str, str], fleet: Fleet, rounds: int,
                  listed: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Provider staff reading one tenant (``X-Fleetcore-Tenant``) among the tenants' requests."""
    for _ in range(rounds):
        vehicles = client.get("/v1/vehicles", params={"limit": 200}, headers=headers)
        assert vehicles.status_code == 200, vehicles.text
        members = client.get("/v1/members", params={"limit": 200}, headers=headers)
        assert members.status_code == 200, members.text
        listed.append((str(fleet.world.id), {"vehicles": vehicles.json()["items"],
                                             "members": members.json()["items"]}))
    return []


class _BusyConnections:
    """The most connections of ``engine``'s pool checked out at once, while in the block."""

    def __init__(self, engine: Engine) -> None:
        self.pool, self.now, self.most = engine.pool, 0, 0
        self._lock = threading.Lock()

    def _out(self, *_: Any) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def _in(self, *_: Any) -> None:
        with self._lock:
            self.now -= 1

    def __enter__(self) -> None:
        event.listen(self.pool, "checkout", self._out)
        event.listen(self.pool, "checkin", self._in)

    def __exit__(self, *_: object) -> None:
        event.remove(self.pool, "checkout", self._out)
        event.remove(self.pool, "checkin", self._in)


def test_interleaved_tenants_through_shared_server_connections_see_only_their_own_data(
    client: TestClient, make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]], sessions: Any, pgbouncer: PgBouncer,
    pooled_engine: Engine, make_staff: Callable[..., Staff],
    staff_auth: Callable[..., dict[str, str]],
) -> None:
    fleets = {}
    for _ in range(2):
        world = make_tenant()
        make_id, model_id = private_make(client, world.id, auth(world))
        fleets[str(world.id)] = Fleet(world, client, auth, sessions, make_id, model_id)
    threads_per_tenant, rounds = 3, 4
    listed: list[tuple[str, dict[str, Any]]] = []
    busy = _BusyConnections(pooled_engine)
    with busy, ThreadPoolExecutor(max_workers=threads_per_tenant * len(fleets) + 1) as pool:
        futures = {
            pool.submit(_tenant_script, client, fleet, rounds, listed): tenant
            for fleet in fleets.values() for tenant in [str(fleet.world.id)]
            for _ in range(threads_per_tenant)
        }
        first = next(iter(fleets.values()))
        staff = staff_auth(make_staff(), first.world.slug)
        futures[pool.submit(_staff_script, client, staff, first, 2 * rounds, listed)] = (
            str(first.world.id))
        created: dict[str, set[str]] = {tenant: set() for tenant in fleets}
        for future, tenant in futures.items():
            created[tenant].update(future.result())

    # More client connections than server connections were busy at once: servers were shared.
    assert busy.most > SERVER_CONNECTIONS
    assert len(listed) == (threads_per_tenant * len(fleets) + 2) * rounds
    for tenant, pages in listed:
        fleet = fleets[tenant]
        assert {v["make_id"] for v in pages["vehicles"]} <= {str(fleet.make_id)}
        assert {v["id"] for v in pages["vehicles"]} <= created[tenant]
        assert pages["members"]
        assert all(fleet.world.slug.removeprefix("test-") in m["email"]
                   for m in pages["members"])
    for tenant, fleet in fleets.items():
        final = client.get("/v1/vehicles", params={"limit": 200}, headers=fleet.headers())
        assert {v["id"] for v in final.json()["items"]} == created[tenant]

    # No request left anything behind on the server connections it shared.
    servers = _server_sessions(pgbouncer)
    assert len({pid for pid, *_ in servers}) == SERVER_CONNECTIONS
    assert all(settings == [""] * len(APP_SETTINGS) for _, *settings in servers), servers


def test_what_a_client_sets_for_its_session_reaches_other_clients(pgbouncer: PgBouncer) -> None:
    """The control of the check above: PgBouncer hands one client's session state to the next.

    That is why the tenant context is transaction-local (``set_config(..., true)``): a
    session-level ``SET`` would be seen by whichever client gets the server connection next.
    (A setting of this test's own, which the app never reads.)
    """
    marker = uuid.uuid4().hex
    with psycopg.connect(pgbouncer.conninfo(), autocommit=True) as conn:
        conn.execute("SELECT set_config('fleetcore_test.leak', %s, false)", [marker])
    seen = _server_sessions(pgbouncer, "SELECT current_setting(%s, true)", "fleetcore_test.leak")
    assert marker in [value for _, value in seen]


# --- prepared statements ----------------------------------------------------------------------


def _hammer(engine: Engine, *, threads: int = 4, rounds: int = 40) -> list[str]:
    """The same few statements, many times, from several threads; the errors met."""
    errors: list[str] = []

    def work(n: int) -> None:
        for i in range(rounds):
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT CAST(:a AS int) + 1"), {"a": i}).all()
                    conn.execute(text("SELECT CAST(:a AS int), CAST(:b AS text)"),
                                 {"a": i, "b": str(n)}).all()
                    conn.commit()
                with engine.begin() as conn:
                    conn.execute(text("SELECT count(*) FROM pg_class WHERE oid > :o"),
                                 {"o": i}).all()
            except DBAPIError as exc:
                errors.append(f"{type(exc.orig).__name__}: {exc.orig}")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(work, range(threads)))
    return errors


def test_automatic_prepared_statements_break_behind_pgbouncer(pgbouncer: PgBouncer) -> None:
    """The control: psycopg's default (prepare after 5 runs) fails once a server is shared."""
    engine = make_engine(pgbouncer.url(), pool_mode=PoolMode.SESSION, pool_size=4)
    try:
        errors = _hammer(engine)
    finally:
        engine.dispose()
    assert errors
    assert all("prepared statement" in error or "bind message" in error for error in errors), (
        errors)


def test_the_transaction_pool_mode_never_prepares_a_statement(
    pgbouncer: PgBouncer, pooled_engine: Engine, client: TestClient,
    make_tenant: Callable[..., TenantWorld], auth: Callable[..., dict[str, str]],
) -> None:
    with pooled_engine.connect() as conn:
        assert conn.connection.dbapi_connection.prepare_threshold is None  # type: ignore[union-attr]
    assert _hammer(pooled_engine) == []
    # The API's own statements, far past psycopg's threshold, from several threads at once.
    world = make_tenant()
    headers = auth(world)

    def read(_: int) -> list[int]:
        return [client.get(path, headers=headers).status_code
                for _ in range(10) for path in ("/v1/me", "/v1/members", "/v1/roles")]

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = [s for batch in pool.map(read, range(4)) for s in batch]
    assert set(statuses) == {200}


# --- job workers ------------------------------------------------------------------------------

WORKER_QUEUE = "tests-pgbouncer"
RAN: list[dict[str, str]] = []


@register_tenant_task(name="tests.pgbouncer_record", queue_name=WORKER_QUEUE)
def record_through_pgbouncer(run: JobRun, *, marker: str) -> None:
    """Note the job's tenant context, and write under it (RLS)."""
    tenant = run.session.execute(text("SELECT current_setting('app.tenant_id', true)")).scalar()
    run.session.execute(
        text("INSERT INTO sch_tasks (tenant_id, id, title, source, dedup_key)"
             " VALUES (:t, gen_random_uuid(), :title, 'system', :key)"),
        {"t": run.tenant_id, "title": f"job {marker}", "key": f"test:{marker}"},
    )
    RAN.append({"marker": marker, "tenant": str(tenant)})


@contextlib.contextmanager
def _worker(environment: JobEnvironment, url: str) -> Iterator[None]:
    """A worker through PgBouncer on its own thread, polling every 0.2 s, until the block ends."""
    loop = asyncio.new_event_loop()
    task = loop.create_task(run_worker_async(
        environment, url, wait=True, install_signal_handlers=False,
        fetch_job_polling_interval=0.2, prepare_threshold_off=True, queues=[WORKER_QUEUE]))
    thread = threading.Thread(target=lambda: loop.run_until_complete(
        asyncio.gather(task, return_exceptions=True)), daemon=True)
    thread.start()
    try:
        yield
        assert not task.done() or task.exception() is None
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(30)
        loop.close()


def test_a_worker_through_pgbouncer_runs_jobs_it_finds_by_polling(
    pgbouncer: PgBouncer, pooled_engine: Engine, make_tenant: Callable[..., TenantWorld],
    tmp_path: Path,
) -> None:
    world = make_tenant()
    sessions = session_factory(pooled_engine)
    environment = JobEnvironment(sessions, OutboxEmailSender(tmp_path))
    RAN.clear()
    log_before = len(pgbouncer.log())
    workers = "SELECT coalesce(max(id), 0) FROM procrastinate_workers"
    with sessions() as session:
        last_worker = session.execute(text(workers)).scalar_one()
    with _worker(environment, pgbouncer.url()):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until the worker has registered: it is running
            with sessions() as session:
                if session.execute(text(workers)).scalar_one() > last_worker:
                    break
            time.sleep(0.05)
        job_ids = []  # new to the running worker: no NOTIFY tells it, it polls
        for marker in ("first", "second", "third"):
            with context_session(sessions, DbContext.for_tenant(world.id)) as session:
                job_ids.append(defer_in_transaction(session, record_through_pgbouncer,
                                                    tenant_id=world.id, marker=marker))
        deadline = time.monotonic() + 20
        while len(RAN) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert sorted(r["marker"] for r in RAN) == ["first", "second", "third"]
    assert {r["tenant"] for r in RAN} == {str(world.id)}
    with context_session(sessions, DbContext.for_tenant(world.id)) as session:
        titles = session.execute(text("SELECT title FROM sch_tasks ORDER BY title")).scalars()
        left = session.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE id = ANY(:ids)"),
                               {"ids": job_ids}).scalar_one()
        assert list(titles) == ["job first", "job second", "job third"]
    assert left == 0
    assert all(settings == [""] * len(APP_SETTINGS)
               for _, *settings in _server_sessions(pgbouncer))
    # Each job's NOTIFY found no listener: a LISTEN through PgBouncer would have left one on a
    # server connection, and PgBouncer would have dropped the notification it got there.
    assert "got packet 'A'" not in pgbouncer.log()[log_before:]


def test_the_transaction_pool_mode_reaches_every_worker(
    pooled_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """``fleetcore worker`` and the worker of ``fleetcore serve`` both start through
    ``fleetcore.worker.run``: from the settings, no prepared statements and no LISTEN."""
    seen: dict[str, Any] = {}

    async def fake_run_worker_async(*_: Any, **options: Any) -> None:
        seen.update(options)

    monkeypatch.setattr(fleetcore.worker, "run_worker_async", fake_run_worker_async)
    settings = pooled_settings.model_copy(update={"fleetcore_data_dir": tmp_path})
    asyncio.run(fleetcore.worker.run(  # type: ignore[arg-type]
        settings, None, "unused", wait=False))
    assert seen["prepare_threshold_off"] is True
