"""The read lane: hot ``/v1`` reads served in plain ASGI on an async pool (decision 0022).

FastAPI's path for ``GET /v1/vehicles/{id}`` costs ≈ 6 ms of Python a request: route matching
over ~400 routes, dependency solving, three trips to worker threads (caller, route, commit),
ORM statement building — about 4% of a bare Starlette endpoint doing the same primary-key read
(``bench/README.md``). The lane serves a few registered routes (:class:`LaneRoute`) itself,
between the API's own middleware (request id, metrics, security headers: the answers carry
the same headers by construction) and FastAPI's router:

* the route's parameters are parsed by the route's ``prepare`` strictly: anything it does not
  recognise (a malformed id, an odd spelling of a value, a repeated parameter) **declines**,
  and the request goes to FastAPI untouched, which answers it — 422 and all — as before;
* the session token is verified exactly as ``core.deps`` does (the verification, never the
  authorisation, is cached by the token's hash until it expires: :class:`TokenVerifier`);
* on one connection of the lane's own async pool, **one statement**: ``fc_resolve_member``
  (routes the organisation, reads the member and its roles, sets the RLS context: decision
  0003) joined laterally to the route's Core SQL, which therefore runs under the context the
  function just set and sees exactly what the FastAPI route's statement would: a refused
  caller's context opens no tenant, and the route reads nothing (:data:`_RESOLVE_AND_READ`);
* the member is then judged as ``core.auth`` judges it, and the route's permission checked
  like ``require()``: any refusal (not a member, suspended, cancelled, missing permission) and
  any case the lane does not take (staff, an invitation to accept, no token) declines, so the
  problem is FastAPI's own;
* the route turns the rows into the JSON bytes FastAPI would send (status, body, ``ETag``).

Nothing about the member is kept between requests: a suspension or a revoked role applies to
the next request, as on the FastAPI path. The routes stay declared on FastAPI (the OpenAPI
document, clients without a lifespan, every declined request). A client without a lifespan
(a test client outside ``with``) runs each request on its own event loop: the lane's pool
exists only between the server's lifespan start and stop, so such clients get FastAPI.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetcore.core.auth import (
    ADMITTED_MEMBER_STATUSES,
    ALL_PERMISSIONS,
    SessionClaims,
    TokenVerifier,
    verifier_for,
)
from fleetcore.core.db import CONNECT_TIMEOUT_SECONDS, connection_is_dead
from fleetcore.core.errors import Problem, database_unavailable, problem_response
from fleetcore.settings import PoolMode, Settings

LANE_APPLICATION = "fleetcore-read-lane"
"""``application_name`` of the lane's connections (``pg_stat_activity``)."""

CALLER = "caller"
"""The alias of ``fc_resolve_member``'s row in a lane statement: a route's statement names
``caller.tenant_id`` (:data:`CALLER_TENANT`) for its tenant."""
CALLER_TENANT = f"{CALLER}.tenant_id"

_RESOLVE_AND_READ = (
    "SELECT {caller}.tenant_id, {caller}.tenant_status, {caller}.member_id,"
    " {caller}.member_status, {caller}.role_permissions::text, route.*"
    " FROM fc_resolve_member(%(org_id)s::text, %(user_id)s::text, false,"
    " %(request_id)s::text, %(ip)s::text, %(user_agent)s::text) AS {caller}"
    " LEFT JOIN LATERAL ({route} OFFSET 0) AS route ON true{order}"
)
"""``core.auth._RESOLVE_MEMBER_SQL`` for a read (``p_write`` false: the lane serves GETs) and
the route's statement, as one statement: the function's row is the outer side of a nested
loop over the route's statement, which names its tenant (a lateral reference) and cannot be
flattened into the join (``OFFSET 0``), so PostgreSQL runs the function — routing, member,
roles, the transaction's RLS context — before it reads a row of the route's tables
(``tests/fleet/test_vehicles_lane.py`` checks the plans). Were it ever otherwise, the policies
would read an unset context and show nothing (not another tenant's rows: a transaction-local
setting starts empty). The roles' permissions come as text: the join repeats them on every
row, and only the first row's are read (as jsonb, psycopg would parse each row's copy)."""
_MEMBER_COLUMNS = 5

_Pool = AsyncConnectionPool[AsyncConnection[tuple[Any, ...]]]
Headers = list[tuple[bytes, bytes]]
Answer = tuple[int, bytes, Headers]
"""Status, JSON body and the response's headers before ``content-length``/``content-type``."""


class Decline(Exception):  # noqa: N818 - a signal, not an error
    """The lane does not take this request: FastAPI serves it, untouched."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A route's statement for one request, and what turns its rows into the answer."""

    sql: str
    """The route's ``SELECT``, naming :data:`CALLER_TENANT` for its tenant."""
    params: dict[str, Any]
    answer: Callable[[list[tuple[Any, ...]]], Answer]
    """rows → (status, JSON body, extra headers); may raise a :class:`Problem` (a 404)."""
    order: str = ""
    """The order of the rows (``ORDER BY`` over ``route.<column>``), kept outside the join."""


@dataclass(frozen=True, slots=True)
class LaneRoute:
    """One route the lane serves: ``GET`` paths matching ``pattern`` (named groups are the
    path parameters), the FastAPI route's template ``path`` (metrics label) and the
    permission its ``require()`` checks. ``prepare(path_params, query)`` parses the request
    strictly and returns its statement, or raises :class:`Decline`."""

    path: str
    pattern: re.Pattern[str]
    permission: str
    prepare: Callable[[dict[str, str], list[tuple[str, str]]], Prepared]


def query_items(query_string: bytes) -> list[tuple[str, str]]:
    """The query parameters as Starlette parses them; a repeated name declines (FastAPI keeps
    the last, a rule not worth copying for a case no client sends)."""
    items = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    if len({name for name, _ in items}) != len(items):
        raise Decline
    return items


class LifespanPool:
    """What the ASGI lanes share (the GPS lane, decision 0007; the read lane, decision 0022):
    an async psycopg pool that each lifespan of the app opens on its own loop, and closes when
    it ends. A request on another loop (a test client without a lifespan runs each request on
    a new one) is not the lane's: ``self.pool`` is used only when ``self.loop`` is running.

    A lifespan closes only the pool it opened, and gives back the pool and loop that were
    current before it: an app can run a second lifespan while the first is still up (an
    OpenAPI fuzzer driving the app in-process, a test client inside another), and the first
    keeps its lane when the second ends."""

    application_name = "fleetcore-lane"
    pool_name = "lane"

    def __init__(self) -> None:
        self.pool: _Pool | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def _lifespan(self, scope: Scope, receive: Receive) -> Receive:
        before: tuple[asyncio.AbstractEventLoop | None, _Pool | None] = (None, None)
        mine: _Pool | None = None

        async def wrapped() -> Message:
            nonlocal before, mine
            message = await receive()
            if message["type"] == "lifespan.startup":
                before = (self.loop, self.pool)
                self._open(scope["app"])
                mine = self.pool
            elif message["type"] == "lifespan.shutdown" and mine is not None:
                pool, mine = mine, None
                if self.pool is pool:
                    self.loop, self.pool = before
                await pool.close()
            return message

        return wrapped

    def _open(self, app: Any) -> None:
        settings: Settings = app.state.settings
        engine: Engine = app.state.engine
        kwargs: dict[str, Any] = {"autocommit": True, "application_name": self.application_name}
        if settings.database_pool_mode is PoolMode.TRANSACTION:
            kwargs["prepare_threshold"] = None
        conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        if "connect_timeout" not in conninfo:
            kwargs["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        self.loop = asyncio.get_running_loop()
        self.pool = _Pool(conninfo, min_size=1, max_size=settings.database_pool_size,
                          kwargs=kwargs, timeout=CONNECT_TIMEOUT_SECONDS, open=False,
                          name=self.pool_name, check=_alive)
        # Not waiting: a database that is not up yet fails requests with 503, not the start.
        self.loop.create_task(self.pool.open(wait=False))


class ReadLane(LifespanPool):
    """Serves the registered :class:`LaneRoute` s ahead of FastAPI's router (see module).

    Installed with ``app.add_middleware`` *before* the observability and security-header
    middleware, so it sits inside them: its answers get the request id, the metrics of their
    route template and the security headers exactly as FastAPI's do.
    """

    application_name = LANE_APPLICATION
    pool_name = "read-lane"

    def __init__(self, app: ASGIApp, *, routes: Sequence[LaneRoute] = ()) -> None:
        super().__init__()
        self.app = app
        self.routes = tuple(routes)
        self._statements: dict[tuple[str, str], str] = {}
        self.served: Counter[str] = Counter()
        """Requests the lane answered, by route template (tests prove it served)."""

    def _open(self, app: Any) -> None:
        super()._open(app)
        app.state.read_lane = self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._lifespan(scope, receive), send)
            return
        if (scope["type"] != "http" or scope["method"] != "GET" or self.pool is None
                or not scope["path"].startswith("/v1/")):
            await self.app(scope, receive, send)
            return
        for route in self.routes:
            found = route.pattern.fullmatch(scope["path"])
            if found is not None:
                break
        else:
            await self.app(scope, receive, send)
            return
        if asyncio.get_running_loop() is not self.loop:
            await self.app(scope, receive, send)
            return
        try:
            answer = await self._serve(scope, route, found.groupdict())
        except Decline:
            await self.app(scope, receive, send)
            return
        self.served[route.path] += 1
        status, body, headers = answer
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _serve(self, scope: Scope, route: LaneRoute, path_params: dict[str, str]
                     ) -> Answer:
        """The complete answer (headers as a Starlette ``Response`` orders them)."""
        prepared = route.prepare(path_params, query_items(scope["query_string"]))
        app = scope["app"]
        claims = await self._claims(app, scope)
        facts = _request_facts(scope, claims)
        scope["route"] = route  # its ``path`` is the route template metrics are labelled by
        try:
            member, rows = await self._run(facts, prepared)
        except Exception as exc:
            unavailable = database_unavailable(exc)
            if unavailable is None:
                raise
            return _problem(scope, unavailable)
        if not _admitted(member, route.permission):
            raise Decline
        try:
            status, body, headers = prepared.answer(rows)
        except Problem as problem:
            return _problem(scope, problem)
        return status, body, [*headers, (b"content-length", b"%d" % len(body)),
                              (b"content-type", b"application/json")]

    async def _claims(self, app: Any, scope: Scope) -> SessionClaims:
        """The verified claims of the request's bearer token; declines when there is none,
        when it does not verify, or when it is not a tenant member's (staff: FastAPI)."""
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Decline
        verifier = _verifier(app)
        if verifier is None:
            raise Decline
        try:
            claims = verifier.cached(token)
            if claims is None:
                claims = (verifier.verify(token) if verifier.offline
                          else await run_in_threadpool(verifier.verify, token))
        except Problem as exc:
            raise Decline from exc
        settings: Settings = app.state.settings
        if claims.org_id is None or claims.org_id == settings.provider_org_id:
            raise Decline
        return claims

    async def _run(self, facts: dict[str, Any], prepared: Prepared
                   ) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        """The caller's resolution and the route's statement: one statement, one round trip
        (autocommit: its own transaction, so the context it sets ends with it). A pooled
        connection the server closed (a restart) is replaced at checkout without a round trip
        (:func:`_alive`, as the engine's pool does: decision 0003)."""
        assert self.pool is not None
        sql = self._statements.get((prepared.sql, prepared.order))
        if sql is None:
            sql = _RESOLVE_AND_READ.format(caller=CALLER, route=prepared.sql,
                                           order=prepared.order and f" ORDER BY {prepared.order}")
            self._statements[(prepared.sql, prepared.order)] = sql
        for attempt in (1, 2):
            conn = None
            try:
                async with self.pool.connection() as conn:
                    # Binary results: psycopg's loaders of uuid, numeric and timestamps are
                    # cheaper on them (a list of 50: about 20 % less CPU), same values.
                    cursor = await conn.execute(sql, {**prepared.params, **facts}, binary=True)
                    rows = await cursor.fetchall()
                break
            except psycopg.OperationalError:
                # A connection the server closed between the check and the statement (the
                # pool drops it): the statement only reads, so it goes once more.
                if conn is None or not conn.broken or attempt == 2:
                    raise
        member = rows[0][:_MEMBER_COLUMNS]
        if rows[0][_MEMBER_COLUMNS] is None:  # the left join's row without a route row
            return member, []
        return member, [row[_MEMBER_COLUMNS:] for row in rows]


async def _alive(conn: AsyncConnection[Any]) -> None:
    """Pool checkout: discard a connection the server closed (``core.db.connection_is_dead``:
    a zero-timeout poll of its socket, no round trip); the pool then hands out another."""
    if connection_is_dead(conn):
        await conn.close()  # closed: the pool drops it rather than taking it back
        raise psycopg.OperationalError("The pooled connection was closed by the server.")


def _verifier(app: Any) -> TokenVerifier | None:
    """The app's verifier (``core.deps._verifier``: made once, kept on ``app.state``)."""
    state = app.state
    if not hasattr(state, "token_verifier"):
        state.token_verifier = verifier_for(state.settings)
    verifier: TokenVerifier | None = state.token_verifier
    return verifier


def _request_facts(scope: Scope, claims: SessionClaims) -> dict[str, Any]:
    """``fc_resolve_member``'s arguments, as ``core.deps.request_info`` and
    ``core.auth._request_parameters`` make them."""
    user_agent = None
    for name, value in scope["headers"]:
        if name == b"user-agent":
            user_agent = value.decode("latin-1")
            break
    client = scope.get("client")
    ip = None
    if client and client[0]:
        try:
            ip = str(ipaddress.ip_address(client[0]))
        except ValueError:
            ip = None
    return {
        "org_id": claims.org_id, "user_id": claims.user_id,
        "request_id": scope.get("state", {}).get("request_id"), "ip": ip,
        "user_agent": (user_agent or "")[:512] or None,
    }


def _admitted(member: tuple[Any, ...], permission: str) -> bool:
    """Whether ``core.auth._resolve_member`` would admit this member for a read and
    ``require(permission)`` let it through; anything else is FastAPI's to refuse. An invited
    member is FastAPI's too (its first request accepts the invitation: a write)."""
    tenant_id, tenant_status, member_id, member_status, role_permissions = member
    if tenant_id is None or member_id is None or tenant_status == "cancelled":
        return False
    if member_status not in ADMITTED_MEMBER_STATUSES or member_status == "invited":
        return False
    if isinstance(role_permissions, str):
        role_permissions = json.loads(role_permissions)
    return any(permission in role or ALL_PERMISSIONS in role for role in role_permissions or ())


def _problem(scope: Scope, problem: Problem) -> Answer:
    """``problem`` as :func:`~fleetcore.core.errors.problem_response` renders it."""
    response = problem_response(problem, Request(scope))
    return problem.status, bytes(response.body), list(response.raw_headers)

