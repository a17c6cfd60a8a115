"""The console's languages: gettext catalogues, the request's locale, and ``_()`` in Python.

English is the source language: the English text in templates and code *is* the msgid, so a
page without a translation still reads correctly. Each other language has a catalogue
``locale/<lang>/LC_MESSAGES/messages.po`` (extracted from the sources with ``pybabel``, see
docs/console.md); it is compiled in memory from the ``.po`` on first use, so there is no build
step and no ``.mo`` file to keep in step.

The locale of a request is chosen by :func:`resolve_locale`: the member's preferred language
when the console speaks it, else the fleet's default language, else the browser's
``Accept-Language``, else English. :func:`use_locale` binds it for the request, so Python code
(flash messages, form errors, navigation, page titles) calls :func:`gettext` without passing
it around.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT_LOCALE = "en"
CONSOLE_LANGUAGES: dict[str, str] = {"en": "English", "fr": "Français"}
"""The languages the console speaks, each named in itself (for the language menus)."""



class _Locale:
    """The locale of one request, shared by the threads its dependencies and page run in (a
    sync dependency runs in a copy of the request's context: it changes this object, not the
    variable)."""

    __slots__ = ("code",)

    def __init__(self) -> None:
        self.code = DEFAULT_LOCALE


_current: ContextVar[_Locale | None] = ContextVar("console_locale", default=None)


def catalogue_path(locale: str) -> Path:
    """The ``.po`` file of ``locale``."""
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=8)
def translations(locale: str) -> NullTranslations:
    """The compiled catalogue of ``locale`` (English, the source language, has none)."""
    path = catalogue_path(locale)
    if locale == DEFAULT_LOCALE or not path.exists():
        return NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=locale, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def supported(tag: str | None) -> str | None:
    """The console language of a BCP 47 tag (``fr-CA`` → ``fr``), None when not spoken."""
    primary = (tag or "").strip().split("-")[0].split("_")[0].lower()
    return primary if primary in CONSOLE_LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The best console language of an ``Accept-Language`` header (by its q-values)."""
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        language = supported(tag)
        if language and quality > 0:
            choices.append((-quality, position, language))
    return min(choices)[2] if choices else None


def resolve_locale(member: str | None, tenant: str | None, accept_language: str | None) -> str:
    """The request's locale: the member's preferred language if the console speaks it, else
    the fleet's default language, else the browser's, else English."""
    return (supported(member) or supported(tenant) or from_accept_language(accept_language)
            or DEFAULT_LOCALE)


def begin_request() -> None:
    """Start a request in English (called once per console request, before its dependencies,
    by :class:`fleetcore.web.errors.ConsoleRoute`)."""
    _current.set(_Locale())


def use_locale(locale: str) -> None:
    """Speak ``locale`` for the rest of this request."""
    holder = _current.get()
    if holder is None:
        holder = _Locale()
        _current.set(holder)
    holder.code = locale if locale in CONSOLE_LANGUAGES else DEFAULT_LOCALE


def current_locale() -> str:
    """The locale of the request being served."""
    holder = _current.get()
    return holder.code if holder else DEFAULT_LOCALE


def gettext(message: str, **variables: object) -> str:
    """``message`` in the request's language, ``%(name)s`` placeholders filled in."""
    text = translations(current_locale()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: object) -> str:
    """The singular or plural of a message in the request's language (``%(num)d`` is ``n``)."""
    text = translations(current_locale()).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


_ = gettext


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message


def NC_(context: str, message: str) -> str:  # noqa: N802 - N_ with a context
    """Mark ``message`` for extraction under ``context`` (``code``: a status or kind whose
    English label is also a button's word, as *Open*)."""
    return message


CODE_CONTEXT = "code"
"""The gettext context of the labels of codes that need their own translation."""
