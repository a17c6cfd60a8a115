"""The console's French catalogue is complete and in step with the sources: every message the
templates and the code mark (``_()``, ``{% trans %}``, ``gettext``, ``N_``) is in it, translated,
with the same placeholders, and nothing else is; the request's locale is chosen in the order the
console documents; numbers, dates and money are written the French way."""

from __future__ import annotations

import enum
import importlib
import inspect
import pkgutil
import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

import fleetcore
from fleetcore.core.errors import Problem
from fleetcore.web.i18n import (
    CONSOLE_LANGUAGES,
    catalogue_path,
    from_accept_language,
    resolve_locale,
)
from fleetcore.web.labels import CODE_LABELS, PROBLEM_TITLES
from fleetcore.web.rendering import Formats, environment

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


Key = tuple[str | None, str | tuple[str, ...]]
"""(context, msgid) of a message."""


def _key(context: str | None, message: object) -> Key:
    return context, (tuple(message) if isinstance(message, (list, tuple)) else str(message))


def _extracted() -> set[Key]:
    """The msgids extraction finds in the current sources (as ``pybabel extract`` with
    ``babel.cfg`` would)."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {**DEFAULT_KEYWORDS, "N_": None, "NC_": ((1, "c"), 2)}
    found: set[Key] = set()
    for _file, _line, message, _comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords):
        if message:
            found.add(_key(context, message))
    return found


def _catalogue(language: str) -> dict[Key, object]:
    with catalogue_path(language).open("rb") as po:
        catalog = read_po(po, locale=language)
    return {_key(m.context, m.id): m for m in catalog if m.id}


def test_the_french_catalogue_has_exactly_the_messages_of_the_sources() -> None:
    catalogue = set(_catalogue("fr"))
    extracted = _extracted()
    missing, stale = extracted - catalogue, catalogue - extracted
    assert not missing, f"not in the catalogue (pybabel update): {sorted(map(str, missing))}"
    assert not stale, f"in the catalogue, no longer in the sources: {sorted(map(str, stale))[:20]}"
    assert len(catalogue) > 1000  # the whole console, not a sample


def test_every_french_message_is_translated_with_the_same_placeholders() -> None:
    for (_context, msgid), message in _catalogue("fr").items():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)  # type: ignore[attr-defined]
        assert "fuzzy" not in message.flags, msgid  # type: ignore[attr-defined]
        assert all(strings), f"untranslated: {msgid!r}"
        ids = msgid if isinstance(msgid, tuple) else (msgid,)
        wanted = set(PLACEHOLDER.findall(" ".join(ids))) - {"num"}
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) - {"num"} == wanted, (msgid, text)
            assert text.count("%%") == ids[0].count("%%"), (msgid, text)


def test_the_code_labels_cover_every_status_and_problem_title() -> None:
    labels, titles = set(), set()
    for info in pkgutil.walk_packages(fleetcore.__path__, "fleetcore."):
        if "migrations" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if not inspect.isclass(value) or value.__module__ != module.__name__:
                continue
            if issubclass(value, enum.StrEnum):
                for member in value:
                    text = member.value.replace("_", " ")
                    if text[:1].isalpha():
                        labels.add(text[:1].upper() + text[1:])
            elif issubclass(value, Problem):
                titles.add(value.title)
    assert labels <= set(CODE_LABELS), sorted(labels - set(CODE_LABELS))
    assert titles <= set(PROBLEM_TITLES), sorted(titles - set(PROBLEM_TITLES))


def test_the_locale_is_the_members_then_the_fleets_then_the_browsers_then_english() -> None:
    assert resolve_locale("fr", "en", "en-GB") == "fr"
    assert resolve_locale("en", "fr", "fr-FR") == "en"
    assert resolve_locale(None, "fr", "en") == "fr"
    assert resolve_locale("pt-BR", "fr-FR", "en") == "fr"  # the console speaks no Portuguese
    assert resolve_locale(None, None, "de-DE,fr;q=0.8,en;q=0.5") == "fr"
    assert resolve_locale(None, "de", "en-US,fr;q=0.9") == "en"
    assert resolve_locale(None, None, "de, es;q=0.5") == "en"
    assert resolve_locale(None, None, None) == "en"
    assert from_accept_language("fr;q=0, en") == "en"
    assert from_accept_language("en;q=0.2, fr-CA;q=0.7") == "fr"
    assert set(CONSOLE_LANGUAGES) == {"en", "fr"}


def test_numbers_dates_and_money_are_written_the_locales_way() -> None:
    paris = ZoneInfo("Europe/Paris")
    french, english = Formats(paris, "EUR", "fr"), Formats(paris, "EUR", "en")
    assert french.money("1234.5") == "1\u202f234,50\u00a0€"
    assert english.money("1234.5") == "€1,234.50"
    assert french.date(date(2026, 3, 2)) == "02/03/2026"
    assert english.date(date(2026, 3, 2)) == "2026-03-02"
    noon = datetime(2026, 3, 2, 11, 5, tzinfo=UTC)
    assert french.dt(noon) == "02/03/2026 12:05"  # in the fleet's zone
    assert english.dt(noon) == "2026-03-02 12:05"
    assert french.km(12345) == "12\u202f345 km"
    assert english.km(12345) == "12,345 km"
    assert french.percent("12.5", 1) == "12,5\u00a0%"
    assert english.percent("12.5", 1) == "12.5%"
    assert french.number(1234.5, 2) == "1\u202f234,50"
    assert french.weekday(date(2026, 3, 2), "wide") == "lundi"
    assert french.days_from_today(date(2026, 3, 5), date(2026, 3, 2)) == "dans 3 jours"
    assert english.days_from_today(date(2026, 3, 1), date(2026, 3, 2)) == "1 day ago"


def test_templates_translate_with_escaped_values() -> None:
    template = environment("fr").from_string(
        "{% trans name=name %}Settings of {{ name }}{% endtrans %}|{{ _('Sign out') }}"
        "|{{ name|tr }}|{{ status|label }}|{{ 'Open'|tr }}|{{ ticket|label }}")
    html = template.render(name="<b>Lumière</b>", status="in_maintenance", ticket="open")
    # 'Open' the button is "Ouvrir", the status open is "Ouvert".
    assert html == ("Paramètres de &lt;b&gt;Lumière&lt;/b&gt;|Se déconnecter"
                    "|&lt;b&gt;Lumière&lt;/b&gt;|En maintenance|Ouvrir|Ouvert")
