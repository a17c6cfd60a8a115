"""Server-rendered web console under ``/app`` (Jinja2 + HTMX), served by the API's app.

Pages call the domains' services directly (never the HTTP API) inside the request's one
transaction, with the same authentication, permissions and row-level security as the API.
``install_console`` mounts the vendored static files and the pages.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def install_console(app: FastAPI) -> None:
    """Mount ``/app/static`` and the console's pages (the static mount first: the pages end
    with a catch-all not-found route)."""
    from fleetcore.web.routes import console_router

    app.mount("/app/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    app.include_router(console_router())

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        """A person who opens the server's address lands on the console."""
        return RedirectResponse("/app", status_code=307)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> RedirectResponse:
        """Browsers ask for /favicon.ico whatever the page says: the console's icon."""
        return RedirectResponse("/app/static/favicon.svg", status_code=308)


__all__ = ["install_console"]
