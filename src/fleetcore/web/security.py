"""How the console signs people in and protects its forms.

Sign-in: the console has no session store of its own. It reads Clerk's ``__session`` cookie
and verifies it exactly like an API bearer token (``fleetcore.core.deps.current_actor``), once
its CSRF check has passed (``/v1`` never takes the cookie: bearer tokens only). In
production that cookie comes from Clerk's hosted sign-in (``CLERK_SIGN_IN_URL``); in
development with no Clerk key, the demo sign-in mints a token with the local development key,
as ``fleetcore token`` does, and sets it as ``__session``: the same verification path, never a
bypass.

Forms: a signed double-submit token. Every console page sets a random nonce cookie
(``fc_csrf``, HttpOnly, SameSite=Lax) and embeds ``HMAC(secret, nonce)`` in its forms and in
the ``X-CSRF-Token`` header HTMX sends; an unsafe request must carry both and they must match.
Another site can neither read the nonce nor compute the token, and a cookie planted by a
sibling subdomain is useless without the secret. The nonce is rotated at sign-in and sign-out,
so a token never outlives the session it was shown in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from enum import StrEnum
from urllib.parse import urlencode, urlsplit

from fastapi import Request, Response
from starlette.datastructures import FormData

from fleetcore.core.auth import uses_dev_key
from fleetcore.core.deps import SESSION_COOKIE
from fleetcore.core.errors import Forbidden
from fleetcore.core.keys import secret_key
from fleetcore.settings import Environment, Settings

CSRF_COOKIE = "fc_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CONSOLE_PATH = "/app"
PORTAL_PATH = "/driver"
"""The driver portal (``fleetcore.web.routes.portal``): the console's machinery, its own pages."""
DEMO_SESSION_TTL = timedelta(hours=8)
"""Lifetime of a demo sign-in token (a working day; the CLI's default is one hour)."""
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfRefused(Forbidden):
    slug, title = "csrf-refused", "The form could not be verified"


class SignInMode(StrEnum):
    """How people sign in to this server's console."""

    CLERK = "clerk"  # Clerk's hosted sign-in page, then the __session cookie
    DEMO = "demo"  # development without Clerk: pick a demo member
    UNCONFIGURED = "unconfigured"  # a Clerk key but no CLERK_SIGN_IN_URL


def sign_in_mode(settings: Settings) -> SignInMode:
    """The sign-in flow this server offers."""
    if uses_dev_key(settings):
        return SignInMode.DEMO
    if settings.clerk_sign_in_url:
        return SignInMode.CLERK
    return SignInMode.UNCONFIGURED


def clerk_sign_in_redirect(settings: Settings, request: Request, next_path: str) -> str:
    """Clerk's hosted sign-in URL, asked to come back to ``next_path`` on this server."""
    assert settings.clerk_sign_in_url is not None
    back = str(request.base_url).rstrip("/") + next_path
    separator = "&" if "?" in settings.clerk_sign_in_url else "?"
    return f"{settings.clerk_sign_in_url}{separator}{urlencode({'redirect_url': back})}"


def safe_next(value: str | None) -> str:
    """A console path to return to after sign-in; anything else (other hosts, schemes,
    protocol-relative ``//evil``) becomes the dashboard, so the redirect is never open."""
    if not value:
        return CONSOLE_PATH
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith((CONSOLE_PATH, PORTAL_PATH)) \
            or value.startswith("//") or "\\" in value:
        return CONSOLE_PATH
    return value


# --- secret ------------------------------------------------------------------------------------


def console_secret(settings: Settings) -> bytes:
    """``CONSOLE_SECRET``, or a random key kept (0600) under the data dir."""
    return secret_key(settings.console_secret, settings.fleetcore_data_dir, "console")


def _secret(request: Request) -> bytes:
    state = request.app.state
    key: bytes | None = getattr(state, "console_secret", None)
    if key is None:
        key = hashlib.sha256(b"fleetcore console csrf\0" + console_secret(state.settings)).digest()
        state.console_secret = key
    return key


# --- CSRF ----------------------------------------------------------------------------------


def _sign(request: Request, nonce: str) -> str:
    return hmac.new(_secret(request), nonce.encode(), hashlib.sha256).hexdigest()


def csrf_nonce(request: Request) -> str:
    """The request's nonce: the cookie's, or a new one the response will set."""
    fresh: str | None = getattr(request.state, "new_csrf_nonce", None)
    if fresh:
        return fresh
    current = request.cookies.get(CSRF_COOKIE, "")
    if len(current) == 64 and all(c in "0123456789abcdef" for c in current):
        return current
    return rotate_csrf_nonce(request)


def rotate_csrf_nonce(request: Request) -> str:
    """Start a new nonce (sign-in, sign-out); the response sets it."""
    nonce = secrets.token_hex(32)
    request.state.new_csrf_nonce = nonce
    return nonce


def csrf_token(request: Request) -> str:
    """The token forms and HTMX requests of this page carry."""
    return _sign(request, csrf_nonce(request))


def cookie_path(request: Request) -> str:
    """The path the console's own cookies are scoped to: the portal's or the console's."""
    return PORTAL_PATH if request.url.path.startswith(PORTAL_PATH) else CONSOLE_PATH


def set_console_cookies(request: Request, response: Response) -> None:
    """Set the nonce cookie when this request started a new one."""
    nonce = getattr(request.state, "new_csrf_nonce", None)
    if nonce:
        response.set_cookie(CSRF_COOKIE, nonce, path=cookie_path(request), httponly=True,
                            samesite="lax", secure=_secure(request))


def check_csrf(request: Request, form: FormData | None) -> None:
    """Refuse an unsafe request whose token does not match its nonce cookie."""
    if request.method.upper() not in UNSAFE_METHODS:
        return
    nonce = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER) or (
        str(form.get(CSRF_FIELD) or "") if form is not None else "")
    if not nonce or not sent or not hmac.compare_digest(sent, _sign(request, nonce)):
        raise CsrfRefused("This form has expired or did not come from this console: reload the "
                          "page and try again.")


# --- session cookie ----------------------------------------------------------------------------


def _secure(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return request.url.scheme == "https" or settings.fleetcore_env is Environment.PRODUCTION


def set_session_cookie(request: Request, response: Response, token: str, ttl: timedelta) -> None:
    """Hand the browser a session token, as Clerk's own ``__session`` cookie would be."""
    response.set_cookie(SESSION_COOKIE, token, max_age=int(ttl.total_seconds()), path="/",
                        httponly=True, samesite="lax", secure=_secure(request))


STAFF_TENANT_COOKIE = "fc_tenant"
"""The fleet a Fleetcore staff member opened in the console (a slug): the console's stand-in for
the API's ``X-Fleetcore-Tenant`` header. Opening it is audited like the header's."""
STAFF_PATH = f"{CONSOLE_PATH}/provider"
"""Staff pages (no fleet open): the tenants list and switcher, billing, CRM, support."""


def staff_tenant(request: Request) -> str | None:
    """The fleet a staff member's console opens for this request (never on staff pages)."""
    if request.url.path == STAFF_PATH or request.url.path.startswith(STAFF_PATH + "/"):
        return None
    value = request.cookies.get(STAFF_TENANT_COOKIE, "").strip()
    return value[:100] or None


def set_staff_tenant(request: Request, response: Response, slug: str | None) -> None:
    """Open ``slug`` in this browser's console (None: close it, back to the staff pages)."""
    if slug is None:
        response.delete_cookie(STAFF_TENANT_COOKIE, path=CONSOLE_PATH)
        return
    response.set_cookie(STAFF_TENANT_COOKIE, slug, path=CONSOLE_PATH, httponly=True,
                        samesite="lax", secure=_secure(request))


def clear_session_cookie(request: Request, response: Response) -> None:
    """Forget the session (sign-out, or a token that no longer verifies)."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=_secure(request))
