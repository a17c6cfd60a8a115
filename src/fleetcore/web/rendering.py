"""Templates, display formats and the per-request console context.

Pages are rendered on the server with Jinja2 (autoescaped). Dates and times are shown in the
tenant's time zone, money with its currency through :class:`fleetcore.core.money.Money`, so the
console never does arithmetic or rounding of its own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleetcore import __version__
from fleetcore.admin.models import Tenant
from fleetcore.core.auth import Actor
from fleetcore.core.errors import NotFound
from fleetcore.core.money import Money
from fleetcore.web.navigation import NavSection, active_path, navigation_for
from fleetcore.web.security import CONSOLE_PATH, cookie_path, csrf_token, set_console_cookies

TEMPLATES = Path(__file__).parent / "templates"
STATIC_PATH = f"{CONSOLE_PATH}/static"
FLASH_COOKIE = "fc_flash"
_Day = date  # Formats.date() shadows the type inside the class
DISPLAY_LOCALE = "en"
"""The console speaks English; money uses its currency's symbol in English notation."""


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The Jinja2 environment of the console's templates (autoescaping HTML)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = lambda path: f"{STATIC_PATH}/{path}?v={__version__}"
    env.globals["CONSOLE"] = CONSOLE_PATH
    env.filters["label"] = label
    env.filters["query"] = query_string
    return env


def label(value: object) -> str:
    """A code as people read it: ``in_maintenance`` → ``In maintenance``."""
    if value is None:
        return ""
    text = str(getattr(value, "value", value)).replace("_", " ")
    return text[:1].upper() + text[1:]


def query_string(params: dict[str, Any], **changes: Any) -> str:
    """``?a=1&b=2`` from ``params`` with ``changes`` applied (None removes a key)."""
    merged = {**params, **changes}
    pairs = {k: str(v) for k, v in merged.items() if v not in (None, "", False)}
    return "?" + urlencode(pairs) if pairs else ""


@dataclass(frozen=True, slots=True)
class TenantInfo:
    """What every page shows or needs of the tenant: name, zone, currency."""

    id: uuid.UUID
    name: str
    slug: str
    country: str
    currency: str
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        """The tenant's time zone."""
        return ZoneInfo(self.timezone)


def load_tenant(session: Session, tenant_id: uuid.UUID) -> TenantInfo:
    """The tenant the actor works in (one query per page)."""
    row = session.execute(
        select(Tenant.id, Tenant.name, Tenant.slug, Tenant.country, Tenant.default_currency,
               Tenant.timezone).where(Tenant.id == tenant_id)
    ).one_or_none()
    if row is None:
        raise NotFound("No tenant is open.")
    return TenantInfo(*row)


@dataclass(frozen=True, slots=True)
class Formats:
    """Display helpers bound to the tenant's zone and currency (``fmt`` in templates)."""

    zone: ZoneInfo
    currency: str

    def local(self, value: datetime) -> datetime:
        """``value`` in the tenant's zone."""
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(self.zone)

    def dt(self, value: datetime | None) -> str:
        """A timestamp in the tenant's zone, to the minute."""
        return self.local(value).strftime("%Y-%m-%d %H:%M") if value else ""

    def dt_input(self, value: datetime | None) -> str:
        """The value of a ``datetime-local`` input."""
        return self.local(value).strftime("%Y-%m-%dT%H:%M") if value else ""

    def date(self, value: date | datetime | None) -> str:
        """A calendar day (ISO: unambiguous for staff of any country)."""
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = self.local(value).date()
        return value.isoformat()

    def money(self, amount: Decimal | str | None, currency: str | None = None) -> str:
        """An amount with its currency (the tenant's when not given)."""
        if amount is None:
            return ""
        return Money(amount, currency or self.currency).format(DISPLAY_LOCALE)

    def km(self, value: Decimal | int | None) -> str:
        """A distance or odometer in whole kilometres."""
        if value is None:
            return ""
        return f"{int(Decimal(value)):,} km"

    def days_from_today(self, value: _Day | None, today: _Day) -> str:
        """``in 12 days`` / ``3 days ago`` / ``today``."""
        if value is None:
            return ""
        delta = (value - today).days
        if delta == 0:
            return "today"
        unit = "day" if abs(delta) == 1 else "days"
        return f"in {delta} {unit}" if delta > 0 else f"{-delta} {unit} ago"


@dataclass
class Console:
    """One console request: who, in which tenant, and how to answer."""

    request: Request
    session: Session
    actor: Actor
    tenant: TenantInfo
    nav: list[NavSection] = field(default_factory=list)

    @property
    def fmt(self) -> Formats:
        """Display helpers in the tenant's zone and currency."""
        return Formats(self.tenant.zone, self.tenant.currency)

    @property
    def today(self) -> date:
        """Today in the tenant's zone."""
        return datetime.now(self.tenant.zone).date()

    @property
    def is_htmx(self) -> bool:
        """Whether HTMX asked for a fragment."""
        return is_htmx(self.request)

    @property
    def in_fleet(self) -> bool:
        """Whether a fleet is open (False on staff pages)."""
        return self.tenant is not STAFF_DESK

    def can(self, permission: str) -> bool:
        """Whether the signed-in member holds ``permission``."""
        return self.actor.can(permission)

    def render(self, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
        """The page ``template`` with the layout's context (nav, CSRF token, flash)."""
        return render(self.request, template, status_code=status_code, console=self,
                      fmt=self.fmt, today=self.today, **context)


def is_htmx(request: Request) -> bool:
    """Whether the request came from HTMX (it then gets a fragment, not a page)."""
    return request.headers.get("HX-Request") == "true"


def render(request: Request, template: str, *, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """Render ``template`` with the layout's context; sets the console's cookies."""
    console: Console | None = context.pop("console", None)
    flash = unquote(request.cookies.get(FLASH_COOKIE, ""))[:300]
    body = environment().get_template(template).render(
        request=request, console=console, csrf=csrf_token(request), flash=flash,
        path=request.url.path, nav=console.nav if console else [],
        nav_active=active_path(console.nav, request.url.path) if console else None, **context,
    )
    response = HTMLResponse(body, status_code=status_code)
    set_console_cookies(request, response)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path=cookie_path(request))
    return response


def redirect(request: Request, url: str, *, flash: str | None = None) -> Response:
    """Post/redirect/get: a 303 to ``url`` (``HX-Redirect`` for HTMX), with a one-time note."""
    if is_htmx(request):
        response: Response = Response(status_code=200, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie(FLASH_COOKIE, quote(flash[:300]), path=cookie_path(request),
                            httponly=True, samesite="lax", max_age=60)
    set_console_cookies(request, response)
    return response


def svg(markup: str) -> Markup:
    """Mark chart markup built by :mod:`fleetcore.web.charts` (which escapes its text) safe."""
    return Markup(markup)  # noqa: S704 - charts.py escapes every label it writes


STAFF_DESK = TenantInfo(uuid.UUID(int=0), "Fleetcore staff", "", "", "EUR", "UTC")
"""What the layout shows on staff pages, where no fleet is open (times in UTC)."""


def staff_console_context(request: Request, session: Session, actor: Actor) -> Console:
    """The console of a staff page: the staff menu, no fleet open."""
    console = Console(request, session, actor, STAFF_DESK, navigation_for(actor, staff=True))
    request.state.console = console
    return console


def console_context(request: Request, session: Session, actor: Actor) -> Console:
    """The console of this request (the tenant's row is read once)."""
    if actor.tenant_id is None:
        raise NotFound("No tenant is open.")
    console = Console(request, session, actor, load_tenant(session, actor.tenant_id),
                      navigation_for(actor))
    request.state.console = console
    return console
