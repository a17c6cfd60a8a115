"""Security headers on every response: what a browser may load, frame, send and remember.

- HTML (the console under ``/app``): a Content-Security-Policy that allows this origin's own
  scripts, styles and images only — no inline script or style, no ``eval`` (the console's
  templates and vendored assets are built for it; a test checks the templates) — forms posted
  to this origin or Clerk's sign-in origin, and no framing.
- ``/docs`` (Swagger UI, vendored: no CDN): its own policy, as strict as the console's but for
  ``data:`` images Swagger UI draws with.
- JSON (the API, problems, health): ``default-src 'none'``, as nothing in it is to be loaded.
- Everything: ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` and
  ``frame-ancestors 'none'`` (no clickjacking), ``Referrer-Policy: same-origin``; and in
  production ``Strict-Transport-Security`` (one year, subdomains).

A response that sets one of these headers itself keeps its own value.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetcore.settings import Environment, Settings

HSTS = "max-age=31536000; includeSubDomains"
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
_JSON_TYPES = ("application/json", "application/problem+json")


def page_policy(form_origins: Iterable[str] = (), img_origins: Iterable[str] = ()) -> str:
    """The policy of the console's pages (and any other HTML but the docs); ``img_origins``:
    where a page may also load images from (the live map's tile server)."""
    forms = " ".join(["'self'", *form_origins])
    images = " ".join(["'self'", "data:", *img_origins])
    return (f"default-src 'self'; script-src 'self'; style-src 'self'; img-src {images}; "
            "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            f"form-action {forms}; frame-ancestors 'none'")


DOCS_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
               "form-action 'self'; frame-ancestors 'none'")
"""The policy of ``/docs``: Swagger UI from this server's vendored files, started by a file of
its own (no inline script), fetching only this server's OpenAPI document."""


class SecurityHeaders:
    """ASGI middleware adding the headers above (pure ASGI: no per-request task or copy)."""

    def __init__(self, app: ASGIApp, *, hsts: bool, docs_path: str | None,
                 form_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        self.hsts = hsts
        self.docs_path = docs_path
        self.page_policy = page_policy(form_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        docs = self.docs_path is not None and path == self.docs_path

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._add(MutableHeaders(scope=message), DOCS_POLICY if docs else None)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _add(self, headers: MutableHeaders, docs: str | None) -> None:
        content_type = headers.get("content-type", "")
        if docs is not None and content_type.startswith("text/html"):
            policy: str | None = docs
        elif content_type.startswith("text/html"):
            policy = self.page_policy
        elif content_type.startswith(_JSON_TYPES):
            policy = API_POLICY
        else:
            policy = None  # files and static assets: nothing in them runs or loads
        if policy is not None:
            headers.setdefault("Content-Security-Policy", policy)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        if self.hsts:
            headers.setdefault("Strict-Transport-Security", HSTS)


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def map_page_policy(settings: Settings) -> str:
    """The console's policy plus the tile server's origin for images (the live map)."""
    clerk = _origin(settings.clerk_sign_in_url)
    template = settings.fleetcore_map_tiles_url
    tiles = _origin(template.replace("{s}", "a"))  # {s}: Leaflet's subdomains a, b, c
    if tiles and "://{s}." in template:
        tiles = tiles.replace("://a.", "://*.", 1)
    return page_policy((clerk,) if clerk else (), (tiles,) if tiles else ())


def install_security_headers(app: FastAPI, settings: Settings) -> None:
    """Add :class:`SecurityHeaders` to ``app`` (HSTS in production; forms may go to Clerk)."""
    clerk = _origin(settings.clerk_sign_in_url)
    app.add_middleware(
        SecurityHeaders,
        hsts=settings.fleetcore_env is Environment.PRODUCTION,
        docs_path="/docs",
        form_origins=(clerk,) if clerk else (),
    )
