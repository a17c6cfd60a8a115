"""Applying and inspecting the Alembic migration history shipped inside the package.

The migrations live in ``fleetcore/migrations`` (not at the repository root) so that a
pip-installed Fleetcore can migrate its database: see ``docs/decisions/0001-stack-and-layout.md``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from fleetcore.core.db import normalise_url

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


EXCLUDED_TABLE_PREFIXES = ("procrastinate_",)
"""Tables Fleetcore does not model: the job queue's own schema, applied by a migration."""


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Leave unmodelled tables out of autogenerate and the drift check."""
    return not (type_ == "table" and name is not None and name.startswith(EXCLUDED_TABLE_PREFIXES))


def alembic_config(url: str, *, app_role: str = "fleetcore_app") -> Config:
    """An Alembic config pointing at the packaged migrations and ``url`` (the owner role)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    config.attributes["app_role"] = app_role
    return config


def upgrade_to_head(url: str, *, app_role: str = "fleetcore_app") -> None:
    """Apply every pending migration as the owner role.

    A database already at the head is left alone after reading one row: running Alembic's
    environment would import every model and open a migration context for nothing, which is
    most of a warm start's database step.
    """
    engine = create_engine(normalise_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if read_revision(conn) == head_revision():
                return
    finally:
        engine.dispose()
    command.upgrade(alembic_config(url, app_role=app_role), "head")


def head_revision() -> str | None:
    """The newest revision shipped with this version of Fleetcore."""
    script = ScriptDirectory.from_config(alembic_config("postgresql+psycopg://"))
    return script.get_current_head()


def read_revision(conn: Connection) -> str | None:
    """The revision the database is at, read on ``conn`` with one plain query (None when never
    migrated).

    Alembic's ``MigrationContext`` would do the same but logs two INFO lines each time it is
    built, which ``/readyz`` probes (every few seconds, forever) must not.
    """
    exists = conn.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar()
    if not exists:
        return None
    revisions = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    if len(revisions) > 1:
        raise RuntimeError(f"The database is at several revisions at once: {revisions}")
    return revisions[0] if revisions else None


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None when never migrated)."""
    with engine.connect() as conn:
        return read_revision(conn)


def is_current(engine: Engine) -> bool:
    """Whether the database is at the newest shipped revision."""
    return current_revision(engine) == head_revision()
