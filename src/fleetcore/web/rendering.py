"""Templates, display formats and the per-request console context.

Pages are rendered on the server with Jinja2 (autoescaped), in the request's language
(:mod:`fleetcore.web.i18n`: ``{% trans %}`` and ``_()`` in templates). Dates and times are shown
in the tenant's time zone and numbers, dates and money the way the request's locale writes them
(Babel), money with its currency through :class:`fleetcore.core.money.Money`, so the console
never does arithmetic or rounding of its own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy.orm import Session

from fleetcore import __version__
from fleetcore.admin import queries as admin_queries
from fleetcore.admin.queries import TenantInfo
from fleetcore.core.auth import Actor
from fleetcore.core.errors import NotFound
from fleetcore.core.money import Money
from fleetcore.web.i18n import (
    CODE_CONTEXT,
    CONSOLE_LANGUAGES,
    DEFAULT_LOCALE,
    current_locale,
    resolve_locale,
    translations,
    use_locale,
)
from fleetcore.web.navigation import NavSection, active_path, navigation_for
from fleetcore.web.security import CONSOLE_PATH, cookie_path, csrf_token, set_console_cookies

TEMPLATES = Path(__file__).parent / "templates"
STATIC_PATH = f"{CONSOLE_PATH}/static"
FLASH_COOKIE = "fc_flash"
_Day = date  # Formats.date() shadows the type inside the class
DATE_PATTERNS = {"en": "yyyy-MM-dd", "fr": "dd/MM/yyyy"}
"""How each console language writes a day (English keeps ISO: unambiguous for staff of any
country); a locale not listed uses Babel's short date."""


@lru_cache(maxsize=4)
def environment(locale: str = "en") -> Environment:
    """The Jinja2 environment of the console's templates (autoescaping HTML) in ``locale``:
    ``{% trans %}`` and ``_()`` translate with its catalogue (new-style gettext: placeholders
    are ``%(name)s`` and the values are escaped)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals["static"] = lambda path: f"{STATIC_PATH}/{path}?v={__version__}"
    env.globals["CONSOLE"] = CONSOLE_PATH
    env.globals["CONSOLE_LANGUAGES"] = CONSOLE_LANGUAGES
    words = translations(locale)
    env.filters["label"] = lambda value: label(value, words)
    env.filters["tr"] = lambda value: translate(value, words)
    env.filters["query"] = query_string
    formats = Formats(ZoneInfo("UTC"), "EUR", locale)
    env.filters["number"] = formats.number
    env.filters["percent"] = formats.percent
    env.filters["day"] = formats.date
    env.filters["weekday"] = formats.weekday
    return env


def label(value: object, words: NullTranslations | None = None) -> str:
    """A code as people read it, in the request's language (or ``words``'s): ``in_maintenance``
    → ``In maintenance`` (``En maintenance``). The English labels are listed for the catalogue
    in :mod:`fleetcore.web.labels`; a label with its own translation as a code (the status
    *Open*, not the button) is found under the context ``code`` first."""
    if value is None:
        return ""
    text = str(getattr(value, "value", value)).replace("_", " ")
    text = text[:1].upper() + text[1:]
    words = words or translations(current_locale())
    own = str(words.pgettext(CODE_CONTEXT, text))
    return own if own != text else words.gettext(text)


def translate(value: object, words: NullTranslations | None = None) -> object:
    """A label held in a variable (an option's, a table's) in the request's language: ``|tr``
    (unlike ``_()``, the result is escaped, so it is safe on data too; other values pass)."""
    if not isinstance(value, str) or not value:
        return value
    return (words or translations(current_locale())).gettext(value)


def query_string(params: dict[str, Any], **changes: Any) -> str:
    """``?a=1&b=2`` from ``params`` with ``changes`` applied (None removes a key)."""
    merged = {**params, **changes}
    pairs = {k: str(v) for k, v in merged.items() if v not in (None, "", False)}
    return "?" + urlencode(pairs) if pairs else ""


def load_tenant_languages(session: Session, actor: Actor
                          ) -> tuple[TenantInfo, str | None, str | None, bool]:
    """The actor's tenant, its default console language, the member's preferred language
    (None for staff, who are no member) and whether the member chose it (a language left at
    the default ``en`` was not chosen: the fleet's default applies), in one query."""
    tenant, tenant_language, member_language, chosen = admin_queries.tenant_languages(
        session, actor)
    return tenant, tenant_language, member_language, chosen or member_language != DEFAULT_LOCALE


@dataclass(frozen=True, slots=True)
class Formats:
    """Display helpers bound to the tenant's zone and currency (``fmt`` in templates)."""

    zone: ZoneInfo
    currency: str
    locale: str = "en"

    def local(self, value: datetime) -> datetime:
        """``value`` in the tenant's zone."""
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(self.zone)

    def dt(self, value: datetime | None) -> str:
        """A timestamp in the tenant's zone, to the minute, as the locale writes it."""
        if not value:
            return ""
        pattern = DATE_PATTERNS.get(self.locale)
        return format_datetime(self.local(value), f"{pattern} HH:mm" if pattern else "short",
                               locale=self.locale)

    def dt_input(self, value: datetime | None) -> str:
        """The value of a ``datetime-local`` input."""
        return self.local(value).strftime("%Y-%m-%dT%H:%M") if value else ""

    def date(self, value: date | datetime | None) -> str:
        """A calendar day as the locale writes it (English: ISO, unambiguous for staff of any
        country; French: 02/03/2026)."""
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = self.local(value).date()
        return format_date(value, DATE_PATTERNS.get(self.locale, "short"), locale=self.locale)

    def weekday(self, value: _Day, width: str = "abbreviated") -> str:
        """The name of ``value``'s day of the week (``Mon``/``lun.``; ``wide``: ``Monday``)."""
        pattern = {"wide": "EEEE", "abbreviated": "EEE"}.get(width, "EEE")
        return format_date(value, pattern, locale=self.locale)

    def day_month(self, value: _Day) -> str:
        """A day of the month without the year: ``02/03`` (both languages write it so)."""
        return format_date(value, "dd/MM", locale=self.locale)

    def day_month_name(self, value: _Day) -> str:
        """A chart's day: ``02 Mar`` / ``02 mars``."""
        return format_date(value, "dd MMM", locale=self.locale)

    def last_day(self, end: datetime | None) -> str:
        """The last local day of a period whose ``end`` instant is exclusive (a payout batch
        of Monday to Sunday ends at the next Monday's midnight)."""
        if end is None:
            return ""
        return self.date((self.local(end) - timedelta(microseconds=1)).date())

    def money(self, amount: Decimal | str | None, currency: str | None = None) -> str:
        """An amount with its currency (the tenant's when not given): ``€1,234.50`` in English,
        ``1 234,50 €`` in French."""
        if amount is None:
            return ""
        return Money(amount, currency or self.currency).format(self.locale)

    def number(self, value: Decimal | float | int | None, digits: int | None = None) -> str:
        """A number as the locale writes it (``1,234.5`` / ``1 234,5``), rounded to ``digits``
        decimals when given."""
        if value is None:
            return ""
        if digits is None:
            return format_decimal(value, locale=self.locale)
        quantum = Decimal(1).scaleb(-digits)
        rounded = Decimal(str(value)).quantize(quantum)
        return format_decimal(rounded, format="#,##0." + "0" * digits if digits else "#,##0",
                              locale=self.locale)

    def percent(self, value: Decimal | float | int | str | None, digits: int = 0) -> str:
        """A percentage given in percent (``12.5`` → ``12.5%`` / ``12,5 %``), with up to
        ``digits`` decimals, in the locale's own percent pattern."""
        if value is None:
            return ""
        fraction = Decimal(str(value)) / 100
        pattern = Locale.parse(self.locale).percent_formats[None].pattern
        if digits:
            pattern = pattern.replace("0", "0." + "#" * digits, 1)
        return format_percent(fraction, format=pattern, locale=self.locale)

    def km(self, value: Decimal | int | float | None, digits: int = 0) -> str:
        """A distance or odometer in kilometres (whole unless ``digits``)."""
        if value is None:
            return ""
        if digits:
            return f"{self.number(value, digits)} km"
        return f"{self.number(int(Decimal(value)))} km"

    def days_from_today(self, value: _Day | None, today: _Day) -> str:
        """``in 12 days`` / ``3 days ago`` / ``today``."""
        if value is None:
            return ""
        delta = (value - today).days
        words = translations(self.locale)
        if delta == 0:
            return words.gettext("today")
        if delta > 0:
            return words.ngettext("in %(num)d day", "in %(num)d days", delta) % {"num": delta}
        return words.ngettext("%(num)d day ago", "%(num)d days ago", -delta) % {"num": -delta}


@dataclass
class Console:
    """One console request: who, in which tenant, and how to answer."""

    request: Request
    session: Session
    actor: Actor
    tenant: TenantInfo
    nav: list[NavSection] = field(default_factory=list)
    locale: str = "en"
    member_language: str | None = None
    """The member's own preferred language (None for staff, who have no member row)."""

    @property
    def fmt(self) -> Formats:
        """Display helpers in the tenant's zone and currency and the request's locale."""
        return Formats(self.tenant.zone, self.tenant.currency, self.locale)

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
    locale = console.locale if console else current_locale()
    body = environment(locale).get_template(template).render(
        request=request, console=console, csrf=csrf_token(request), flash=flash, locale=locale,
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
    console = Console(request, session, actor, STAFF_DESK, navigation_for(actor, staff=True),
                      locale=current_locale())
    request.state.console = console
    return console


def console_context(request: Request, session: Session, actor: Actor) -> Console:
    """The console of this request (the tenant's row is read once)."""
    if actor.tenant_id is None:
        raise NotFound("No tenant is open.")
    tenant, tenant_language, member_language, chosen = load_tenant_languages(session, actor)
    locale = resolve_locale(member_language if chosen else None, tenant_language,
                            request.headers.get("accept-language"))
    use_locale(locale)
    console = Console(request, session, actor, tenant, navigation_for(actor), locale=locale,
                      member_language=member_language)
    request.state.console = console
    return console
