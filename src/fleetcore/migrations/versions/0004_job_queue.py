"""Job queue: procrastinate's schema (tables, types, functions, triggers), owned by the owner.

The SQL is the one shipped inside the installed ``procrastinate`` package
(``procrastinate/sql/schema.sql``), so the queue and its client always agree. It is excluded
from autogenerate and the drift checks (``fleetcore.core.migrations.include_object`` and the
catalogue tests skip ``procrastinate_*``). A later procrastinate release that changes its
schema ships migration files (``procrastinate/sql/migrations``): apply them in a new revision.

Row-level security is deliberately not applied to these tables: a worker fetches the next job
of *any* tenant (``procrastinate_fetch_job_v2``) before it knows whose job it is, so a
policy would have to let the app role see every row anyway. The tables hold no business
data — a payload carries only ``tenant_id`` and ids, never personal data — and the job runner
sets the tenant context from the payload before the job touches a tenant table, where RLS
applies as usual (``fleetcore.core.jobs``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import context, op
from procrastinate.schema import SchemaManager

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_workers",
)


def upgrade() -> None:
    app_role = context.config.attributes.get("app_role", "fleetcore_app")
    # Many statements, and '%' in plpgsql RAISE formats: run it on the DBAPI connection
    # without parameters (simple query protocol), inside the migration's transaction.
    dbapi = op.get_bind().connection.driver_connection
    assert dbapi is not None
    with dbapi.cursor() as cursor:
        cursor.execute(SchemaManager.get_schema())
    for table in TABLES:
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO "{app_role}"')
    op.execute(
        "DO $$ DECLARE s record; BEGIN"
        " FOR s IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        "  WHERE n.nspname = 'public' AND c.relkind = 'S' AND c.relname LIKE 'procrastinate%'"
        " LOOP"
        f"  EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %I TO \"{app_role}\"', s.relname);"
        " END LOOP; END $$"
    )
    op.execute(
        "DO $$ DECLARE f record; BEGIN"
        " FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p"
        "  JOIN pg_namespace n ON n.oid = p.pronamespace"
        "  WHERE n.nspname = 'public' AND p.proname LIKE 'procrastinate%'"
        " LOOP"
        f"  EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO \"{app_role}\"', f.sig);"
        " END LOOP; END $$"
    )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute(
        "DO $$ DECLARE f record; BEGIN"
        " FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p"
        "  JOIN pg_namespace n ON n.oid = p.pronamespace"
        "  WHERE n.nspname = 'public' AND p.proname LIKE 'procrastinate%'"
        " LOOP EXECUTE format('DROP FUNCTION %s CASCADE', f.sig); END LOOP; END $$"
    )
    for type_name in (
        "procrastinate_job_to_defer_v1",
        "procrastinate_job_event_type",
        "procrastinate_job_status",
    ):
        op.execute(f"DROP TYPE IF EXISTS {type_name}")
