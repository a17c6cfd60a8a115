"""Where the database is: a configured server, or the embedded one started on demand."""

from __future__ import annotations

import atexit
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from fleetcore.core import embedded as embedded_pg
from fleetcore.core.db import make_engine
from fleetcore.settings import Settings


class DatabaseNotConfigured(RuntimeError):  # noqa: N818 - reads as the condition
    """DATABASE_OWNER_URL is required to migrate a configured (non-embedded) server."""


@dataclass
class DatabaseRuntime:
    """The URLs of the app and owner roles, and the embedded server when one is in use."""

    app_url: str
    owner_url: str | None
    embedded: embedded_pg.EmbeddedPostgres | None = None
    _stop_on_close: bool = field(default=False, repr=False)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        own_embedded: bool = False,
        on_step: Callable[[str], None] | None = None,
    ) -> DatabaseRuntime:
        """Resolve the database; start the embedded server when no DATABASE_URL is set.

        ``own_embedded`` (``fleetcore serve``) stops the embedded server on exit even when it
        was found already running (left over by a killed process); other commands stop it only
        if they started it, so that a short CLI command never stops a running ``serve``.
        """
        if not settings.uses_embedded_database:
            assert settings.database_url is not None
            return cls(settings.database_url, settings.database_owner_url)
        server = embedded_pg.EmbeddedPostgres(settings.embedded_pgdata)
        if on_step is not None:
            fresh = not (settings.embedded_pgdata / "PG_VERSION").exists()
            on_step(
                f"{'Initialising' if fresh else 'Starting'} the embedded PostgreSQL in "
                f"{settings.embedded_pgdata}"
            )
        server.start()
        runtime = cls(
            app_url=server.url(embedded_pg.APP_ROLE),
            owner_url=server.url(embedded_pg.OWNER_ROLE),
            embedded=server,
            _stop_on_close=own_embedded or server.started_here,
        )
        atexit.register(runtime.close)
        return runtime

    def app_engine(self, settings: Settings) -> Engine:
        """An engine for the app role with the configured pool."""
        return make_engine(
            self.app_url,
            pool_mode=settings.database_pool_mode,
            pool_size=settings.database_pool_size,
        )

    def require_owner_url(self) -> str:
        """The owner URL, or a clear error saying which variable to set."""
        if self.owner_url is None:
            raise DatabaseNotConfigured(
                "Set DATABASE_OWNER_URL to the role that owns the schema to run migrations "
                "(DATABASE_URL is the app role, which must not own tables)."
            )
        return self.owner_url

    def close(self) -> None:
        """Stop the embedded server if this process is responsible for it."""
        if self.embedded is not None and self._stop_on_close:
            self.embedded.stop()
            self._stop_on_close = False
