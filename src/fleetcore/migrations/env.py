"""Alembic environment: runs the packaged migrations as the owner role."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from fleetcore.catalogue import import_all_models
from fleetcore.core.migrations import include_object
from fleetcore.core.orm import Base

import_all_models()
config = context.config
target_metadata = Base.metadata

def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        with engine.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        include_object=include_object,
        compare_type=True,
        compare_server_default=False,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():  # pragma: no cover - offline SQL generation is not supported
    raise SystemExit("Fleetcore migrations run online only (they read the catalogue).")
run_migrations_online()
