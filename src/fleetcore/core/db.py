"""Engines, sessions and the transaction-local context that row-level security reads.

The one rule: every transaction that touches tenant data runs with its context set by
:func:`bind_context` *before any query*. The context is applied in the session's
``after_begin`` hook, so it holds for every transaction the session opens, and it is
transaction-local (``set_config(..., true)``), so a pooled connection never leaks it to the
next request (it reads back ``''``, which the policies turn into NULL: no rows).

Round trips are the cost of a request (``docs/decisions/0003-request-round-trips.md``): an
API request's context is set by the same statement that resolves the caller
(``bind_context(..., applied=True)`` then only remembers it), and a pooled connection is
checked for liveness without a query (:func:`connection_is_dead`) instead of a pre-ping.
"""

from __future__ import annotations

import select
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from fleetcore.settings import PoolMode

CONTEXT_KEY = "fleetcore.db_context"
CONNECT_TIMEOUT_SECONDS = 5


class ActorType(StrEnum):
    MEMBER = "member"
    PROVIDER_EMPLOYEE = "provider_employee"
    SYSTEM = "system"
    INTEGRATION = "integration"


@dataclass(frozen=True, slots=True)
class DbContext:
    """Who is acting, for which tenant: what RLS policies and audit triggers read.

    ``provider=True`` is the provider context (Fleetcore staff, all-tenant system jobs): it
    opens provider-level tables and, with no ``tenant_id``, every tenant's rows. It is only set
    by code paths that audit it.
    """

    tenant_id: uuid.UUID | None = None
    actor_type: ActorType = ActorType.SYSTEM
    actor_id: uuid.UUID | None = None
    request_id: str | None = None
    provider: bool = False
    ip: str | None = None
    user_agent: str | None = None
    driver_id: uuid.UUID | None = None
    """Set for a member acting as a driver (the portal): the ``driver_scope`` policies then
    show only this driver's rows (migration 0020; the nil uuid when no driver is linked)."""

    @classmethod
    def for_tenant(
        cls,
        tenant_id: uuid.UUID,
        *,
        actor_type: ActorType = ActorType.SYSTEM,
        actor_id: uuid.UUID | None = None,
        request_id: str | None = None,
    ) -> DbContext:
        """Context of one tenant."""
        return cls(tenant_id, actor_type, actor_id, request_id)

    @classmethod
    def system(cls, *, request_id: str | None = None) -> DbContext:
        """Provider context of a system job (all tenants, provider tables), audited as system."""
        return cls(None, ActorType.SYSTEM, None, request_id, provider=True)


_SET_CONTEXT = text(
    "SELECT set_config('app.tenant_id', :tenant_id, true),"
    " set_config('app.actor_type', :actor_type, true),"
    " set_config('app.actor_id', :actor_id, true),"
    " set_config('app.request_id', :request_id, true),"
    " set_config('app.context', :context, true),"
    " set_config('app.ip', :ip, true),"
    " set_config('app.user_agent', :user_agent, true),"
    " set_config('app.driver_id', :driver_id, true)"
)


def context_parameters(ctx: DbContext) -> dict[str, str]:
    """The settings of ``ctx`` as strings ('' for none), in the shape ``_SET_CONTEXT`` takes."""
    return {
        "tenant_id": str(ctx.tenant_id) if ctx.tenant_id else "",
        "actor_type": ctx.actor_type.value,
        "actor_id": str(ctx.actor_id) if ctx.actor_id else "",
        "request_id": ctx.request_id or "",
        "context": "provider" if ctx.provider else "tenant",
        "ip": ctx.ip or "",
        "user_agent": (ctx.user_agent or "")[:512],
        "driver_id": str(ctx.driver_id) if ctx.driver_id else "",
    }


def apply_context(conn: Connection, ctx: DbContext) -> None:
    """Set ``ctx`` transaction-locally on ``conn`` (one statement, one round trip)."""
    conn.execute(_SET_CONTEXT, context_parameters(ctx))


def bind_context(session: Session, ctx: DbContext, *, applied: bool = False) -> None:
    """Make ``ctx`` the context of every transaction of ``session`` (and of the open one).

    ``applied=True``: the open transaction already runs under ``ctx`` because the statement
    that just ran set it (``fc_resolve_member``/``fc_resolve_employee``, see
    ``fleetcore.core.auth``); only remember it for the session's later transactions, without
    another round trip.
    """
    session.info[CONTEXT_KEY] = ctx
    if session.in_transaction() and not applied:
        apply_context(session.connection(), ctx)


@event.listens_for(Session, "after_begin")
def _apply_bound_context(
    session: Session, transaction: SessionTransaction, connection: Connection
) -> None:
    ctx = session.info.get(CONTEXT_KEY)
    if ctx is not None:
        apply_context(connection, ctx)


def make_engine(
    url: str, *, pool_mode: PoolMode = PoolMode.SESSION, pool_size: int = 10, **kwargs: Any
) -> Engine:
    """An engine on psycopg 3; behind a transaction-mode pooler, without prepared statements.

    No ``pool_pre_ping``: a checked-out connection is tested by :func:`connection_is_dead`,
    which needs no round trip, so the pool still recovers after a PostgreSQL restart.
    """
    connect_args: dict[str, Any] = dict(kwargs.pop("connect_args", {}))
    if pool_mode is PoolMode.TRANSACTION:
        connect_args["prepare_threshold"] = None
    if "connect_timeout" not in url:
        # A database that vanished from the network (no refusal, no reset) must not hold a
        # request for the kernel's TCP timeout: after 5 s it is a 503 like any other outage.
        connect_args.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
    engine = create_engine(
        normalise_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args=connect_args,
        **kwargs,
    )
    event.listen(engine, "checkout", _discard_dead_connection)
    return engine


def connection_is_dead(dbapi_connection: Any) -> bool:
    """Whether an idle pooled connection is unusable, found without a round trip.

    A pre-ping (``pool_pre_ping``) costs a round trip per checkout, i.e. per request. Instead:
    an idle connection has nothing to read unless the server spoke unprompted, and what a
    server says unprompted is almost always goodbye — a restart or shutdown (``FATAL:
    terminating connection due to administrator command``), ``pg_terminate_backend``, an
    idle timeout of the server or a pooler — followed by the closed socket. So a readable
    socket (or a connection psycopg already knows to be closed or broken) means: discard it.
    The rare harmless unprompted message (a NOTIFY, a changed server parameter) only costs a
    reconnect. What this cannot see — a peer that vanished without closing the socket — a
    pre-ping would have waited on as well; the failing statement then invalidates the pool.
    """
    if getattr(dbapi_connection, "closed", False) or getattr(dbapi_connection, "broken", False):
        return True
    try:
        fd = dbapi_connection.fileno()
    except Exception:  # a connection that cannot tell its socket is not usable
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    readable, _, failed = select.select([fd], [], [fd], 0)  # platforms without poll()
    return bool(readable or failed)


def _discard_dead_connection(
    dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
) -> None:
    """Pool checkout: a dead connection is replaced by a fresh one (the pool retries)."""
    if connection_is_dead(dbapi_connection):
        raise DisconnectionError("The pooled connection was closed by the server.")


def normalise_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` URLs (Supabase, Heroku) for psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (the request is over by then)."""
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


@contextmanager
def context_session(factory: sessionmaker[Session], ctx: DbContext) -> Iterator[Session]:
    """One transaction with ``ctx`` bound: commits on success, rolls back on error."""
    with factory() as session:
        bind_context(session, ctx)
        with session.begin():
            yield session


class UnsafeDatabaseRole(RuntimeError):  # noqa: N818 - reads as the condition it reports
    """The app's database role could bypass row-level security."""


def check_app_role(engine: Engine) -> None:
    """Refuse to serve when the app role is a superuser, bypasses RLS or owns tables.

    Row-level security is the second wall between tenants; a role that owns the tables or has
    BYPASSRLS would silently see every tenant's rows.
    """
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT r.rolname, r.rolsuper, r.rolbypassrls,"
                " (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                "   WHERE c.relowner = r.oid AND n.nspname = 'public' AND c.relkind IN ('r','p'))"
                " FROM pg_roles r WHERE r.rolname = current_user"
            )
        ).one()
    name, is_super, bypass, owned = row
    problems = []
    if is_super:
        problems.append("is a superuser")
    if bypass:
        problems.append("has BYPASSRLS")
    if owned:
        problems.append(f"owns {owned} tables")
    if problems:
        raise UnsafeDatabaseRole(
            f"DATABASE_URL connects as role {name!r}, which {' and '.join(problems)}: row-level "
            "security would not isolate tenants. Connect as the app role (see README, "
            "'Using your own PostgreSQL / Supabase') and keep the owner for DATABASE_OWNER_URL."
        )
