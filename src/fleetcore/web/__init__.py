"""Server-rendered web console under ``/app`` (Jinja2 + HTMX), served by the API's app.

Pages call the domains' services directly (never the HTTP API) inside the request's one
transaction, with the same authentication, permissions and row-level security as the API.
``install_console`` mounts the vendored static files and the pages, and serves the API's
interactive documentation (``/docs``, Swagger UI from the vendored bundle: it works offline).
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"

_DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API documentation</title>
<link rel="icon" href="/app/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/app/static/vendor/swagger-ui/swagger-ui.css">
</head>
<body data-openapi-url="{openapi_url}">
<div id="swagger-ui"></div>
<script src="/app/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/app/static/api-docs.js"></script>
</body>
</html>
"""


def install_console(app: FastAPI) -> None:
    """Mount ``/app/static`` and the console's pages (the static mount first: the pages end
    with a catch-all not-found route)."""
    from fleetcore.web.routes import console_router
    from fleetcore.web.routes.portal import portal_router

    app.mount("/app/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    app.include_router(console_router())
    app.include_router(portal_router())

    if app.docs_url is None:
        page = _DOCS_PAGE.format(title=escape(app.title), openapi_url=escape(app.openapi_url or ""))

        @app.get("/docs", include_in_schema=False)
        def api_docs() -> HTMLResponse:
            """The OpenAPI document in Swagger UI, from this server's own files only."""
            return HTMLResponse(page)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        """A person who opens the server's address lands on the console."""
        return RedirectResponse("/app", status_code=307)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> RedirectResponse:
        """Browsers ask for /favicon.ico whatever the page says: the console's icon."""
        return RedirectResponse("/app/static/favicon.svg", status_code=308)


__all__ = ["install_console"]
