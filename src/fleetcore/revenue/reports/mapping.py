"""The column mappings of the report readers, loaded from ``mappings/*.toml``.

Everything that differs between platforms, report types and languages (which headers identify a
report, how each header is spelled, which canonical field it feeds and with which sign, which
columns are required) is data, so adding a language or a column is an edit of a TOML file, not
of this code (``docs/imports.md``). This module loads and checks that data once, normalises
header spellings, and matches a file's headers against it.

The format is a public extension point (``docs/mappings.md``): an operator's
``FLEETCORE_MAPPINGS_DIR`` adds mapping files to the packaged ones (a file named like a packaged
one replaces it), checked by the same rules.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

from fleetcore.core.money import is_currency
from fleetcore.revenue.reports.model import CANONICAL_SCHEMA, MONEY, UTC_TIME, UnreadableReport

ColumnType = Literal[
    "text",  # trimmed text
    "lower",  # trimmed, lower-case text (Uber descriptions)
    "id",  # an identifier: trimmed; lower-cased when it is a UUID
    "uuid",  # a UUID, lower-cased; anything else is a row error
    "account_id",  # a platform account id: lower-case UUID (kind uuid) or as written (other)
    "phone",  # a phone number, E.164 (national numbers read in the caller's region)
    "email",  # an e-mail address, lower-case
    "plate",  # a licence plate, in its country's spelling when the region is known
    "money",  # an amount, Decimal(18, 4), never rounded
    "decimal",  # a quantity (distance), times `scale`, rounded to 3 places
    "datetime",  # a date and time, with or without a zone, to UTC
    "unix_time",  # seconds since 1970-01-01 UTC
    "enum",  # a value translated through the mapping's [values.<column>] table
    "currency",  # an ISO 4217 code
]
COLUMN_TYPES: frozenset[str] = frozenset(ColumnType.__args__)  # type: ignore[attr-defined]

Sign = Literal["+", "-", "abs"]

# Canonical fields a mapping may feed, and the column types each accepts.
_TEXT_TYPES = frozenset({"text", "lower", "id", "uuid", "account_id", "plate"})
_FIELD_TYPES: dict[str, frozenset[str]] = {
    "platform_account_ref": frozenset({"uuid", "account_id", "phone", "email"}),
    "platform_account_alt": frozenset({"uuid", "account_id", "phone", "email"}),
    "account_name": frozenset({"text"}),
    "external_trip_id": _TEXT_TYPES,
    "external_transaction_id": _TEXT_TYPES,
    "description": frozenset({"text", "lower"}),
    "service_type": frozenset({"text", "lower"}),
    "vehicle_plate": frozenset({"plate", "text"}),
    "trip_status": frozenset({"enum"}),
    "payment_method": frozenset({"enum"}),
    "currency": frozenset({"currency"}),
    "distance_km": frozenset({"decimal"}),
}
for _name, _dtype in CANONICAL_SCHEMA.items():
    if _dtype == MONEY:
        _FIELD_TYPES[_name] = frozenset({"money"})
    elif _dtype == UTC_TIME:
        _FIELD_TYPES[_name] = frozenset({"datetime", "unix_time"})
MAPPABLE_FIELDS: frozenset[str] = frozenset(_FIELD_TYPES)

IGNORED = "__ignored__"
"""The column id under which a mapping's known-but-unused headers are indexed."""

_PACKAGE = "fleetcore.revenue.reports"  # the data is in its mappings/ folder (package data)

# --- header normalisation --------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_AROUND_SEPARATORS = re.compile(r"\s*([:|])\s*")
# "Net earnings|€", "Gross earnings per hour|€/h", "Net earnings | EUR"
_SUFFIX = re.compile(r"\|\s*(?P<unit>[^|/:]{1,4}?)\s*(?P<rate>/\s*h)?\s*$")
_TYPOGRAPHY = str.maketrans({"\u2019": "'", "\u2018": "'", "\u2013": "-", "\u2011": "-"})


@dataclass(frozen=True, slots=True)
class HeaderKey:
    """A header as compared: its normalised text and the currency its suffix names."""

    key: str
    currency_symbol: str | None = None


def normalise_header(raw: str, currency_words: frozenset[str] | None = None) -> HeaderKey:
    """``raw`` as compared with the mapping's spellings.

    Case-insensitive, whitespace collapsed (non-breaking spaces included), no spaces around ``:``
    and ``|``, typographic apostrophes and dashes made plain, and a currency suffix (``|€``,
    ``|€/h``, ``|EUR``) removed and returned apart. A ``|`` that is part of a name
    (``Other|Adjustment``) is kept: only a known currency symbol or an ISO code is a suffix.
    """
    words = currency_words if currency_words is not None else _common().currency_words
    text = unicodedata.normalize("NFC", raw).translate(_TYPOGRAPHY)
    text = _SPACES.sub(" ", text).strip()
    symbol: str | None = None
    match = _SUFFIX.search(text)
    if match and (match["unit"] in words or _is_iso_code(match["unit"])):
        symbol = match["unit"]
        text = text[: match.start()].rstrip()
    text = _AROUND_SEPARATORS.sub(r"\1", text)
    return HeaderKey(text.casefold(), symbol)


def _is_iso_code(text: str) -> bool:
    return len(text) == 3 and text.isascii() and text.isupper() and is_currency(text)


# --- common data -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommonData:
    """``common.toml``: zone abbreviations, currency symbols, date-order rules."""

    zone_offsets: dict[str, int]  # abbreviation (upper-case) -> minutes east of UTC
    currency_symbols: dict[str, str]  # symbol -> ISO code
    ambiguous_symbols: frozenset[str]
    month_first_regions: frozenset[str]
    day_first_languages: frozenset[str]

    @property
    def currency_words(self) -> frozenset[str]:
        return frozenset(self.currency_symbols) | self.ambiguous_symbols

    def currency_of(self, symbol: str, default: str | None) -> str:
        """The ISO code a header suffix names; ``default`` (the caller's) decides ambiguous
        symbols. UnreadableReport when nothing decides."""
        if _is_iso_code(symbol):
            return symbol
        if symbol in self.currency_symbols:
            return self.currency_symbols[symbol]
        if default is not None:
            return default
        raise UnreadableReport(
            f"the amounts are in '{symbol}', which names several currencies: give the currency"
        )


_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def _data_dir() -> Traversable:
    return resources.files(_PACKAGE).joinpath("mappings")


@cache
def _common() -> CommonData:
    raw = tomllib.loads(_data_dir().joinpath("common.toml").read_text("utf-8"))
    offsets: dict[str, int] = {}
    for name, text in raw["zones"].items():
        match = _OFFSET.match(text)
        if not match:
            raise ValueError(f"common.toml: zone {name} has offset {text!r}, expected ±HH:MM")
        minutes = int(match[2]) * 60 + int(match[3])
        offsets[name.upper()] = -minutes if match[1] == "-" else minutes
    for symbol, code in raw["currency_symbols"].items():
        if not is_currency(code):
            raise ValueError(f"common.toml: {symbol!r} maps to {code!r}, not an ISO 4217 code")
    return CommonData(
        zone_offsets=offsets,
        currency_symbols=dict(raw["currency_symbols"]),
        ambiguous_symbols=frozenset(raw["currency_ambiguous"]["symbols"]),
        month_first_regions=frozenset(raw["dates"]["month_first_regions"]),
        day_first_languages=frozenset(raw["dates"]["day_first_languages"]),
    )


def common() -> CommonData:
    """The shared reading rules (loaded once)."""
    return _common()


# --- report mappings -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column a report may have, in every language it is known in."""

    id: str
    type: str
    headers: dict[str, tuple[str, ...]]  # language -> spellings as written in the data
    scale: Decimal | None = None
    values: dict[str, str] | None = None  # enum: normalised raw value -> canonical value
    # Money columns: an empty cell is 0 ("nothing"), unless the column is a required total,
    # when it is a row error with this reason (``empty = "…"`` in the mapping file).
    empty_error: str | None = None

    def first_header(self, language: str | None = None) -> str:
        """How the column is usually spelled (in ``language`` when it has a spelling there)."""
        if language and self.headers.get(language):
            return self.headers[language][0]
        return next(iter(self.headers.values()))[0]


@dataclass(frozen=True, slots=True)
class Term:
    """One column in a field's recipe: its sign rule and whether it may be absent."""

    column: str
    sign: Sign = "+"
    optional: bool = False


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How one canonical field is made from columns.

    ``how`` is ``from`` (one column), ``coalesce`` (first non-empty per row), ``join`` (texts
    joined by a space) or ``prefer`` (amounts: the first alternative whose columns are present,
    summed; ``sum`` in the data is ``prefer`` with one all-optional alternative).
    """

    field: str
    how: Literal["from", "coalesce", "join", "prefer"]
    alternatives: tuple[tuple[Term, ...], ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.column for alt in self.alternatives for t in alt))


@dataclass(frozen=True, slots=True)
class Mapping:
    """One platform report type, all its languages."""

    platform: str
    report_type: str
    languages: tuple[str, ...]
    columns: dict[str, ColumnSpec]
    fields: dict[str, FieldSpec]
    detect: tuple[tuple[str, ...], ...]
    required: tuple[tuple[str, ...], ...]
    required_values: dict[str, str]
    unique: tuple[str, ...]
    exclude: frozenset[str]  # normalised headers whose presence rules this report out
    ignored: dict[str, tuple[str, ...]]
    # The money identity of a row: ``earnings`` = the sum of these fields with their signs
    # (``("fare_gross", "+"), ("commission", "-"), …``); empty when the report carries no money.
    identity: tuple[tuple[str, Sign], ...] = ()
    # normalised header -> (column id or IGNORED, languages that spell it so)
    index: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    # Where it was loaded from: the packaged file's name, or an extension file's path.
    source: str = ""

    @property
    def name(self) -> str:
        return f"{self.platform} {self.report_type}"

    def lookup(self, key: str) -> tuple[str, frozenset[str]] | None:
        return self.index.get(key)


def _parse_term(text: str, where: str) -> Term:
    optional = text.endswith("?")
    body = text[:-1] if optional else text
    sign: Sign = "+"
    if body.startswith("abs:"):
        sign, body = "abs", body[4:]
    elif body.startswith("-"):
        sign, body = "-", body[1:]
    elif body.startswith("+"):
        body = body[1:]
    if not re.fullmatch(r"[a-z][a-z0-9_]*", body):
        raise ValueError(f"{where}: {text!r} is not a column reference")
    return Term(body, sign, optional)


def _parse_field(name: str, spec: Any, where: str) -> FieldSpec:
    if isinstance(spec, str):
        return FieldSpec(name, "from", ((_parse_term(spec, where),),))
    if not isinstance(spec, MappingABC) or len(spec) != 1:
        raise ValueError(f"{where}: a field is a column name or one of join/coalesce/sum/prefer")
    ((how, value),) = spec.items()
    if how in ("join", "coalesce"):
        return FieldSpec(name, how, (tuple(_parse_term(t, where) for t in value),))
    if how == "sum":
        terms = tuple(_parse_term(t if t.endswith("?") else t + "?", where) for t in value)
        return FieldSpec(name, "prefer", (terms,))
    if how == "prefer":
        return FieldSpec(
            name, "prefer", tuple(tuple(_parse_term(t, where) for t in alt) for alt in value)
        )
    raise ValueError(f"{where}: unknown recipe {how!r}")


class MappingError(ValueError):
    """A mapping file that cannot be loaded; the message starts with the file and says why."""


_TOP_LEVEL_KEYS = frozenset({
    "platform", "report_type", "languages", "detect", "required", "exclude", "unique",
    "identity", "required_values", "columns", "values", "fields", "ignored",
})


def _load_mapping(file_name: str, text: str, common_data: CommonData) -> Mapping:
    """One mapping file, checked; :class:`MappingError` naming ``file_name`` otherwise."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{file_name}: not valid TOML: {exc}") from exc
    unknown = sorted(set(raw) - _TOP_LEVEL_KEYS)
    if unknown:
        raise MappingError(f"{file_name}: unknown keys {unknown}")
    for key in ("platform", "report_type", "languages", "detect", "columns", "fields"):
        if key not in raw:
            raise MappingError(f"{file_name}: missing {key!r}")
    try:
        return _build_mapping(file_name, raw, common_data)
    except MappingError:
        raise
    except ValueError as exc:
        raise MappingError(str(exc)) from exc
    except (KeyError, TypeError, AttributeError, InvalidOperation) as exc:
        raise MappingError(
            f"{file_name}: malformed ({type(exc).__name__}: {exc}); see docs/mappings.md"
        ) from exc


def _build_mapping(file_name: str, raw: dict[str, Any], common_data: CommonData) -> Mapping:
    where = file_name
    platform = raw["platform"]
    if not isinstance(platform, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", platform):
        raise ValueError(f"{where}: platform {raw['platform']!r} is not a lower-case code")
    if not isinstance(raw["report_type"], str):
        raise ValueError(f"{where}: report_type is a text (a ReportType value)")
    if not isinstance(raw["languages"], list) or not raw["languages"] or not all(
        isinstance(lang, str) for lang in raw["languages"]
    ):
        raise ValueError(f"{where}: languages is a non-empty list of language codes")
    if not raw["detect"]:
        raise ValueError(f"{where}: detect needs at least one group of columns")
    languages = tuple(raw["languages"])
    columns: dict[str, ColumnSpec] = {}
    values_tables: dict[str, dict[str, str]] = raw.get("values", {})
    for col_id, spec in raw["columns"].items():
        col_type = spec["type"]
        if col_type not in COLUMN_TYPES:
            raise ValueError(f"{where}: column {col_id} has unknown type {col_type!r}")
        headers = {
            lang: tuple(spec[lang]) for lang in spec if lang not in ("type", "scale", "empty")
        }
        for lang, spellings in headers.items():
            if not spellings or not all(isinstance(h, str) and h.strip() for h in spellings):
                raise ValueError(
                    f"{where}: column {col_id}: {lang} is a list of header spellings"
                )
        if not headers:
            raise ValueError(f"{where}: column {col_id} has no header spelling")
        for lang in headers:
            if lang not in languages:
                raise ValueError(f"{where}: column {col_id} uses undeclared language {lang!r}")
        values = None
        if col_type == "enum":
            if col_id not in values_tables:
                raise ValueError(f"{where}: enum column {col_id} has no [values.{col_id}]")
            values = {_enum_key(k): v for k, v in values_tables[col_id].items()}
        scale = Decimal(spec["scale"]) if "scale" in spec else None
        empty_error = spec.get("empty")
        if empty_error is not None and (col_type != "money" or not isinstance(empty_error, str)):
            raise ValueError(
                f"{where}: column {col_id}: 'empty' (the row error of an empty cell) is a text, "
                "for money columns"
            )
        columns[col_id] = ColumnSpec(col_id, col_type, headers, scale, values, empty_error)

    fields: dict[str, FieldSpec] = {}
    for name, spec in raw["fields"].items():
        if name not in MAPPABLE_FIELDS:
            raise ValueError(f"{where}: {name!r} is not a canonical field a mapping can feed")
        parsed = _parse_field(name, spec, f"{where} [fields] {name}")
        for col_id in parsed.columns:
            if col_id not in columns:
                raise ValueError(f"{where}: field {name} uses unknown column {col_id!r}")
            if columns[col_id].type not in _FIELD_TYPES[name]:
                raise ValueError(
                    f"{where}: field {name} cannot take column {col_id} "
                    f"of type {columns[col_id].type}"
                )
        is_money = CANONICAL_SCHEMA[name] == MONEY
        if (parsed.how == "prefer") != is_money and parsed.how != "from":
            raise ValueError(f"{where}: field {name}: sum/prefer are for amounts only")
        if not is_money and any(t.sign != "+" for alt in parsed.alternatives for t in alt):
            raise ValueError(f"{where}: field {name}: signs are for amounts only")
        fields[name] = parsed
    used = {c for f in fields.values() for c in f.columns}
    unused = set(columns) - used
    if unused:
        raise ValueError(
            f"{where}: columns {sorted(unused)} feed no field: map them or list them in [ignored]"
        )

    def groups(key: str) -> tuple[tuple[str, ...], ...]:
        out = tuple(tuple(g) for g in raw.get(key, []))
        for group in out:
            for col_id in group:
                if col_id not in columns:
                    raise ValueError(f"{where}: {key} names unknown column {col_id!r}")
        return out

    index: dict[str, tuple[str, frozenset[str]]] = {}
    words = common_data.currency_words

    def add(header: str, col_id: str, lang: str) -> None:
        key = normalise_header(header, words).key
        previous = index.get(key)
        if previous and previous[0] != col_id:
            raise ValueError(
                f"{where}: header {header!r} is spelled the same as column {previous[0]}"
            )
        index[key] = (col_id, (previous[1] if previous else frozenset()) | {lang})

    for col in columns.values():
        for lang, spellings in col.headers.items():
            for spelling in spellings:
                add(spelling, col.id, lang)
    ignored = {lang: tuple(v) for lang, v in raw.get("ignored", {}).items()}
    for lang, spellings in ignored.items():
        for spelling in spellings:
            add(spelling, IGNORED, lang)
    required_values = dict(raw.get("required_values", {}))
    for name in required_values:
        if name not in fields:
            raise ValueError(f"{where}: required value {name!r} is not a mapped field")
    unique = tuple(raw.get("unique", []))
    for name in unique:
        if name not in fields:
            raise ValueError(f"{where}: unique {name!r} is not a mapped field")
    identity: list[tuple[str, Sign]] = []
    for text in raw.get("identity", []):
        term = _parse_term(text, f"{where} identity")
        if term.sign == "abs" or term.optional:
            raise ValueError(f"{where}: identity term {text!r}: only + and - signs")
        if term.column not in fields or CANONICAL_SCHEMA[term.column] != MONEY:
            raise ValueError(f"{where}: identity term {text!r} is not a mapped amount")
        identity.append((term.column, term.sign))
    if identity:
        terms = dict(identity)
        if terms.get("fare_gross") != "+" or terms.get("commission") != "-":
            raise ValueError(f"{where}: the identity is earnings = fare_gross - commission + …")
        if "earnings" not in fields or "earnings" in terms:
            raise ValueError(f"{where}: the identity needs earnings, on its left side only")
    return Mapping(
        platform=raw["platform"],
        report_type=raw["report_type"],
        languages=languages,
        columns=columns,
        fields=fields,
        detect=groups("detect"),
        required=groups("required"),
        required_values=required_values,
        unique=unique,
        exclude=frozenset(normalise_header(h, words).key for h in raw.get("exclude", [])),
        ignored=ignored,
        identity=tuple(identity),
        index=index,
        source=file_name,
    )


def _enum_key(raw: str) -> str:
    return re.sub(r"[\s\-]+", "_", raw.strip().lower())


def _extension_dir() -> Path | None:
    """``FLEETCORE_MAPPINGS_DIR``, read when the mappings are first needed."""
    from fleetcore.settings import get_settings

    return get_settings().fleetcore_mappings_dir


def load_mappings(extension_dir: Path | None = None) -> tuple[Mapping, ...]:
    """The packaged mappings and the ``*.toml`` files of ``extension_dir``, all checked.

    An extension file named like a packaged one replaces it; ``common.toml`` is not
    replaceable. Two files describing the same platform and report type are refused, as is
    any file the checks refuse: :class:`MappingError` names the file and says why.
    """
    from fleetcore.revenue.models import ReportType

    common_data = _common()
    texts: dict[str, tuple[str, str]] = {}  # file name -> (where, text)
    for entry in sorted(_data_dir().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml") and entry.name != "common.toml":
            texts[entry.name] = (entry.name, entry.read_text("utf-8"))
    if extension_dir is not None:
        if not extension_dir.is_dir():
            raise MappingError(f"{extension_dir}: not a directory of mapping files")
        for path in sorted(extension_dir.glob("*.toml")):
            if path.name == "common.toml":
                raise MappingError(f"{path}: common.toml is packaged only, not replaceable")
            try:
                text = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise MappingError(f"{path}: cannot be read: {exc}") from exc
            texts[path.name] = (str(path), text)
    report_types = {t.value for t in ReportType}
    found: dict[tuple[str, str], Mapping] = {}
    for where, text in texts.values():
        mapping = _load_mapping(where, text, common_data)
        if mapping.report_type not in report_types:
            raise MappingError(
                f"{where}: unknown report type {mapping.report_type!r} "
                f"(known: {', '.join(sorted(report_types))}; a new one needs code)"
            )
        key = (mapping.platform, mapping.report_type)
        if key in found:
            raise MappingError(
                f"{where}: {mapping.name} is already described by {found[key].source} "
                "(to replace a packaged mapping, give the file the same name)"
            )
        found[key] = mapping
    return tuple(found.values())


@cache
def _mappings(extension_dir: Path | None) -> tuple[Mapping, ...]:
    return load_mappings(extension_dir)


def mappings() -> tuple[Mapping, ...]:
    """Every report mapping (packaged and ``FLEETCORE_MAPPINGS_DIR``), loaded and checked once."""
    return _mappings(_extension_dir())


def mapping_for(platform: str, report_type: str) -> Mapping:
    """The mapping of one report type; UnreadableReport naming the known ones otherwise."""
    for mapping in mappings():
        if mapping.platform == platform and mapping.report_type == report_type:
            return mapping
    known = ", ".join(sorted(m.name for m in mappings()))
    raise UnreadableReport(f"no reader for {platform} {report_type} (known: {known})")


def enum_key(raw: str) -> str:
    """An enum value as looked up in ``[values.<column>]``: lower-case, ``_`` for spaces."""
    return _enum_key(raw)


# --- matching a file's headers ---------------------------------------------------------------


@dataclass(slots=True)
class HeaderMatch:
    """A file's headers read with one mapping."""

    mapping: Mapping
    # position -> column id, IGNORED, or None (unknown)
    columns: list[str | None]
    keys: list[HeaderKey]
    language: str | None
    recognised: int

    def positions(self, col_id: str) -> list[int]:
        return [i for i, c in enumerate(self.columns) if c == col_id]

    def present(self, col_id: str) -> bool:
        return col_id in self.columns


def match_headers(mapping: Mapping, headers: Sequence[str]) -> HeaderMatch:
    """Which column each header is, for one mapping, and the language most headers are in."""
    words = _common().currency_words
    keys = [normalise_header(h, words) for h in headers]
    columns: list[str | None] = []
    votes: dict[str, int] = {}
    for key in keys:
        hit = mapping.lookup(key.key)
        if hit is None:
            columns.append(None)
            continue
        columns.append(hit[0])
        if len(hit[1]) < len(mapping.languages):  # spelled alike in every language: no vote
            for lang in hit[1]:
                votes[lang] = votes.get(lang, 0) + 1
    recognised = sum(1 for c in columns if c is not None)
    language = None
    if votes:
        language = max(
            mapping.languages, key=lambda lang: (votes.get(lang, 0), -_rank(mapping, lang))
        )
        if votes.get(language, 0) == 0:
            language = None
    if language is None and (len(mapping.languages) == 1 or recognised):
        language = mapping.languages[0]
    return HeaderMatch(mapping, columns, keys, language, recognised)


def _rank(mapping: Mapping, lang: str) -> int:
    return mapping.languages.index(lang)


def detects(match: HeaderMatch) -> bool:
    """True when the headers identify the mapping's report type."""
    if any(k.key in match.mapping.exclude for k in match.keys):
        return False
    return any(all(match.present(c) for c in group) for group in match.mapping.detect)


def all_known_keys() -> frozenset[str]:
    """Every normalised header any mapping knows (to find the header row and delimiter)."""
    return frozenset(k for m in mappings() for k in m.index)
