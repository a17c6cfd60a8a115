"""Engines, sessions and the transaction-local context that row-level security reads.

The one rule: every transaction that touches tenant data runs with its context set by
:func:`bind_context` *before any query*. The context is applied in the session's
``after_begin`` hook, so it holds for every transaction the session opens, and it is
transaction-local (``set_config(..., true)``), so a pooled connection never leaks it to the
next request (it reads back ``''``, which the policies turn into NULL: no rows).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from fleetcore.settings import PoolMode

CONTEXT_KEY = "fleetcore.db_context"


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
    " set_config('app.user_agent', :user_agent, true)"
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
    }


def apply_context(conn: Connection, ctx: DbContext) -> None:
    """Set ``ctx`` transaction-locally on ``conn`` (one statement, one round trip)."""
    conn.execute(_SET_CONTEXT, context_parameters(ctx))


def bind_context(session: Session, ctx: DbContext) -> None:
    """Make ``ctx`` the context of every transaction of ``session`` (and of the open one)."""
    session.info[CONTEXT_KEY] = ctx
    if session.in_transaction():
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
    """An engine on psycopg 3; behind a transaction-mode pooler, without prepared statements."""
    connect_args: dict[str, Any] = dict(kwargs.pop("connect_args", {}))
    if pool_mode is PoolMode.TRANSACTION:
        connect_args["prepare_threshold"] = None
    return create_engine(
        normalise_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args=connect_args,
        **kwargs,
    )


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
