"""Test database: ``DATABASE_URL`` when set, otherwise a private embedded PostgreSQL.

With ``DATABASE_URL`` (a role that may create roles and databases, e.g. the local
``postgres``), the session creates a scratch database and the owner/app roles on that server and
drops the database at the end. Without it, an embedded server is started in a temporary
directory — what a fresh machine and CI do. Either way the migrations run once, as the owner
role, and every test talks to the database as the app role, so row-level security is exercised
exactly as in production.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, make_url
from sqlalchemy.orm import Session

from fleetcore.core import embedded as embedded_pg
from fleetcore.core.db import DbContext, bind_context, make_engine, normalise_url
from fleetcore.core.migrations import upgrade_to_head

# API fixtures (committed tenants, signing keys, the test client) for every domain's tests.
pytest_plugins = ["api_fixtures"]

TEST_ROLE_PASSWORD = "fleetcore-test"


@dataclass
class TestDatabase:
    owner_url: str
    app_url: str
    admin_conninfo: str | None = None
    database: str | None = None


def _external_database(admin_url: str) -> TestDatabase:
    admin = make_url(normalise_url(admin_url))
    name = f"fleetcore_test_{uuid.uuid4().hex[:8]}"
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles")}
        for role, extra in ((embedded_pg.OWNER_ROLE, "CREATEROLE"), (embedded_pg.APP_ROLE, "")):
            verb = "ALTER" if role in roles else "CREATE"
            conn.execute(
                sql.SQL(f"{verb} ROLE {{}} LOGIN NOSUPERUSER NOBYPASSRLS {extra} PASSWORD {{}}")
                .format(sql.Identifier(role), sql.Literal(TEST_ROLE_PASSWORD))
            )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(embedded_pg.OWNER_ROLE)
            )
        )
    db_conninfo = admin.set(drivername="postgresql", database=name).render_as_string(
        hide_password=False
    )
    with psycopg.connect(db_conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")

    def url_for(role: str) -> str:
        url = admin.set(username=role, password=TEST_ROLE_PASSWORD, database=name)
        return url.render_as_string(hide_password=False)

    return TestDatabase(url_for(embedded_pg.OWNER_ROLE), url_for(embedded_pg.APP_ROLE),
                        conninfo, name)


@pytest.fixture(scope="session")
def test_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabase]:
    """A migrated database for the whole test session."""
    admin_url = os.environ.get("DATABASE_OWNER_URL") or os.environ.get("DATABASE_URL")
    server: embedded_pg.EmbeddedPostgres | None = None
    if admin_url:
        db = _external_database(admin_url)
    else:
        server = embedded_pg.EmbeddedPostgres(Path(tmp_path_factory.mktemp("pg")) / "pgdata")
        server.start()
        db = TestDatabase(server.url(embedded_pg.OWNER_ROLE), server.url(embedded_pg.APP_ROLE))
    try:
        upgrade_to_head(db.owner_url, app_role=embedded_pg.APP_ROLE)
        yield db
    finally:
        if server is not None:
            server.stop()
        elif db.admin_conninfo and db.database:
            with psycopg.connect(db.admin_conninfo, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(db.database)
                    )
                )


@pytest.fixture(scope="session")
def app_engine(test_database: TestDatabase) -> Iterator[Engine]:
    """Engine of the app role (RLS applies)."""
    engine = make_engine(test_database.app_url, pool_size=4)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def owner_engine(test_database: TestDatabase) -> Iterator[Engine]:
    """Engine of the owner role (for catalogue inspection; RLS is forced on it too)."""
    engine = make_engine(test_database.owner_url, pool_size=2)
    yield engine
    engine.dispose()


@pytest.fixture
def db(app_engine: Engine) -> Iterator[Session]:
    """A session on the app role inside a transaction that is rolled back after the test.

    Tests bind a context with ``bind_context(db, ...)``; savepoints let them provoke database
    errors (``with db.begin_nested(): ...``) and carry on.
    """
    with app_engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint",
                          expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


@pytest.fixture
def system_db(db: Session) -> Session:
    """``db`` in the provider context of a system job (all tenants, provider tables)."""
    bind_context(db, DbContext.system())
    return db
