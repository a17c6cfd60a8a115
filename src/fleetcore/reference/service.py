"""Reference data: read the JSON files shipped in ``reference/data/`` and upsert them into the
global ``dir_`` tables.

The files are the source of truth for the *global* catalogue (``tenant_id`` NULL on car makes
and models); tenants' private additions are never touched. Loading is idempotent: rows are
matched on their natural key, changed columns are updated, unchanged rows are left alone (no
write, so no ``version`` bump or audit row), and nothing is ever deleted — a row dropped from
the files stays in the database, because vehicles may still reference it.

The loader works on ``Base.metadata.tables[...]`` with SQLAlchemy Core, so it depends on the
agreed table and column names only, not on the model classes. It flushes nothing of the ORM
and never commits: the caller owns the transaction (``architecture.md``). Writing global rows
needs a role or context allowed to write them (the owner role or the provider context).
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Annotated, Any, TypeVar

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails
from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    bindparam,
    column,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import TableValuedAlias

import fleetcore.reference.models  # noqa: F401 - registers the dir_ tables on Base.metadata
from fleetcore.core.auth import Actor
from fleetcore.core.errors import (
    FOREIGN_KEY_VIOLATION,
    UNIQUE_VIOLATION,
    Conflict,
    ConstraintProblem,
    Forbidden,
    NotFound,
    ValidationProblem,
    flush_checked,
)
from fleetcore.core.money import is_currency
from fleetcore.core.orm import Base, new_id
from fleetcore.core.pagination import equal_filters
from fleetcore.core.resource import pager, patch
from fleetcore.core.versioning import check_if_match
from fleetcore.reference.models import CarMake, CarModel, CountryRegulation, Platform, VehicleClass
from fleetcore.reference.schemas import CarMakeCreate, CarMakeUpdate, CarModelCreate, CarModelUpdate

__all__ = [
    "CarMakeRecord",
    "CarModelRecord",
    "CountryRegulationRecord",
    "PlatformRecord",
    "ReferenceData",
    "ReferenceDataReport",
    "UpsertCounts",
    "VehicleClassRecord",
    "is_country",
    "iter_car_makes",
    "iter_country_regulations",
    "iter_platforms",
    "iter_vehicle_classes",
    "load_reference_data",
    "read_reference_data",
]

PLATFORMS_FILE = "platforms.json"
VEHICLE_CLASSES_FILE = "vehicle_classes.json"
COUNTRY_REGULATIONS_FILE = "country_regulations.json"
CAR_MAKES_FILE = "car_makes.json"

T = TypeVar("T")
C = TypeVar("C", CarMake, CarModel)
"""A row of the car catalogue."""

# Same pattern as the CHECK constraints on dir_platforms.code / dir_vehicle_classes.code.
_CODE = re.compile(r"[a-z0-9_]+")


# --- records: the JSON files' rows, validated by pydantic ------------------------------------


def is_country(code: str) -> bool:
    """An ISO 3166-1 alpha-2 code, upper case."""
    return len(code) == 2 and code.isupper() and pycountry.countries.get(alpha_2=code) is not None


def _checked(test: Callable[[Any], object], message: str) -> AfterValidator:
    """A pydantic check: ``test(value)`` true, else ``message`` (``{value!r}`` filled in)."""
    def check(value: T) -> T:
        if not test(value):
            raise ValueError(message.format(value=value))
        return value

    return AfterValidator(check)


def _day(value: object) -> date:
    try:
        return date.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"expected YYYY-MM-DD, got {value!r}") from None


def _no_fractions(value: object) -> object:
    # Config objects go to jsonb as they are; a fractional number there would be a Decimal
    # (parse_float) that the JSON encoder cannot write, and a float if it could. Write such
    # values as strings in the file.
    if isinstance(value, Decimal):
        raise ValueError("write non-integer numbers as strings in config objects")
    for item in value.values() if isinstance(value, dict) else (
            value if isinstance(value, list) else ()):
        _no_fractions(item)
    return value


Text = Annotated[str, Strict(), _checked(str.strip, "expected a non-empty string")]
Code = Annotated[str, Strict(), _checked(_CODE.fullmatch,
                                         "codes are lower-case [a-z0-9_], got {value!r}")]
Country = Annotated[str, Strict(), _checked(is_country,
                                            "not an ISO 3166-1 alpha-2 code: {value!r}")]
Codes = Annotated[tuple[T, ...], _checked(lambda v: len(set(v)) == len(v), "has duplicates")]
Day = Annotated[date, PlainValidator(_day)]
Number = Annotated[Decimal, Field(allow_inf_nan=False)]
"""A decimal: a string ("12.50", the documented form) or a JSON number (read as Decimal)."""
Config = Annotated[dict[str, Any], Strict(), AfterValidator(_no_fractions)]


class _Record(BaseModel):
    # Strict scalars (no "5" for 5, no "yes" for true); a misspelt key would otherwise load
    # as NULL.
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlatformRecord(_Record):
    """One ride-hailing platform of ``platforms.json``."""

    code: Code
    name: Text
    website: Text | None = None
    countries: Codes[Country] = ()
    report_config: Config = {}
    api_config: Config = {}
    active: StrictBool


class VehicleClassRecord(_Record):
    """One country's vehicle class of ``vehicle_classes.json``."""

    country: Country
    code: Code
    name: Text
    description: Text | None = None
    max_age_years: StrictInt | None = None
    min_seats: StrictInt | None = None


class CountryRegulationRecord(_Record):
    """One country's rules for ``[effective_from, effective_to)`` (``country_regulations.json``)."""

    country: Country
    effective_from: Day
    effective_to: Day | None = None
    max_vehicle_age_years: StrictInt | None = None
    min_fare: Number | None = None
    currency: Annotated[str, Strict(), _checked(is_currency, "not an ISO 4217 code: {value!r}")]
    vat_rate_pct: Annotated[Number, Field(ge=0, le=100)]
    professional_card_required: StrictBool
    professional_card_name: Text | None = None
    vehicle_permit_required: StrictBool
    vehicle_permit_name: Text | None = None
    min_driver_age: StrictInt | None = None
    min_licence_years: StrictInt | None = None
    max_daily_driving_hours: Number | None = None
    source: Text
    notes: Text | None = None

    @model_validator(mode="after")
    def _period(self) -> CountryRegulationRecord:
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise ValueError("effective_to must be after effective_from (the end is exclusive)")
        return self


class CarModelRecord(_Record):
    """One model of a car make in ``car_makes.json``."""

    name: Text
    default_class_code: Code | None = None
    year_from: StrictInt | None = None
    year_to: StrictInt | None = None
    body_type: Text | None = None
    seats: StrictInt | None = None
    energy_types: Codes[Code] = ()


class CarMakeRecord(_Record):
    """One car make of ``car_makes.json`` with its models."""

    name: Text
    models: tuple[CarModelRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class ReferenceData:
    """Everything the loader writes, already parsed and validated."""

    platforms: tuple[PlatformRecord, ...]
    vehicle_classes: tuple[VehicleClassRecord, ...]
    country_regulations: tuple[CountryRegulationRecord, ...]
    car_makes: tuple[CarMakeRecord, ...]


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What one table's upsert did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> int:
        """Rows inserted or updated."""
        return self.inserted + self.updated


@dataclass(frozen=True, slots=True)
class ReferenceDataReport:
    """Per-table counts of one :func:`load_reference_data` run."""

    platforms: UpsertCounts = field(default_factory=UpsertCounts)
    vehicle_classes: UpsertCounts = field(default_factory=UpsertCounts)
    country_regulations: UpsertCounts = field(default_factory=UpsertCounts)
    car_makes: UpsertCounts = field(default_factory=UpsertCounts)
    car_models: UpsertCounts = field(default_factory=UpsertCounts)

    def by_table(self) -> dict[str, UpsertCounts]:
        """The counts keyed by table name."""
        return {
            "dir_platforms": self.platforms,
            "dir_vehicle_classes": self.vehicle_classes,
            "dir_country_regulations": self.country_regulations,
            "dir_car_makes": self.car_makes,
            "dir_car_models": self.car_models,
        }

    @property
    def changed(self) -> int:
        """Rows inserted or updated over all tables (0 on a repeated run)."""
        return sum(c.changed for c in self.by_table().values())


# --- reading and validating the JSON files ------------------------------------------------


def _read(file_name: str) -> list[Any]:
    text = resources.files("fleetcore.reference").joinpath("data", file_name).read_text("utf-8")
    # parse_float=Decimal: a number with a fraction never becomes a float on its way to a
    # numeric column.
    data = json.loads(text, parse_float=Decimal)
    if not isinstance(data, list):
        raise ValueError(f"{file_name}: expected a JSON list at the top level")
    return data


R = TypeVar("R", bound=BaseModel)


def _records(file_name: str, record: type[R]) -> Iterator[R]:
    """The rows of one file as records; an error names the file, the row and the key."""
    for index, raw in enumerate(_read(file_name)):
        try:
            yield record.model_validate(raw)
        except ValidationError as exc:
            raise ValueError("; ".join(_error(f"{file_name}[{index}]", e)
                                       for e in exc.errors())) from None


def _error(where: str, error: ErrorDetails) -> str:
    """``file[row].key: message`` (a misspelt key is an unknown key, not an extra input)."""
    path = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in error["loc"])
    message = ("unknown key" if error["type"] == "extra_forbidden"
               else error["msg"].removeprefix("Value error, "))
    return f"{where}{path}: {message}"


def iter_platforms() -> Iterator[PlatformRecord]:
    """Parse ``platforms.json``."""
    return _records(PLATFORMS_FILE, PlatformRecord)


def iter_vehicle_classes() -> Iterator[VehicleClassRecord]:
    """Parse ``vehicle_classes.json``."""
    return _records(VEHICLE_CLASSES_FILE, VehicleClassRecord)


_REGULATION_FIELDS = tuple(CountryRegulationRecord.model_fields)


def iter_country_regulations() -> Iterator[CountryRegulationRecord]:
    """Parse ``country_regulations.json`` (decimals from strings, dates from YYYY-MM-DD)."""
    return _records(COUNTRY_REGULATIONS_FILE, CountryRegulationRecord)


def iter_car_makes() -> Iterator[CarMakeRecord]:
    """Parse ``car_makes.json`` (makes with their models)."""
    return _records(CAR_MAKES_FILE, CarMakeRecord)


def read_reference_data() -> ReferenceData:
    """Parse and validate every packaged reference data file."""
    return ReferenceData(
        platforms=tuple(iter_platforms()),
        vehicle_classes=tuple(iter_vehicle_classes()),
        country_regulations=tuple(iter_country_regulations()),
        car_makes=tuple(iter_car_makes()),
    )


# --- loading into the database ------------------------------------------------------------


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _require_unique(what: str, keys: Iterable[tuple[Any, ...]]) -> None:
    # Two rows with one natural key in a single INSERT … ON CONFLICT DO UPDATE is an error in
    # PostgreSQL ("cannot affect row a second time"); say which key instead.
    duplicates = [k for k, n in Counter(keys).items() if n > 1]
    if duplicates:
        raise ValueError(f"{what}: duplicate natural keys {duplicates}")


def _upsert(
    session: Session, table: Table, rows: list[dict[str, Any]], key: Sequence[str]
) -> UpsertCounts:
    """INSERT … ON CONFLICT (key) DO UPDATE only the rows whose data columns differ."""
    if not rows:
        return UpsertCounts()
    _require_unique(table.name, (tuple(r[k] for k in key) for r in rows))
    data_columns = [c for c in rows[0] if c not in key]
    stmt = pg_insert(table).values([{"id": new_id(), **r} for r in rows])
    if data_columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(key),
            set_={**{c: stmt.excluded[c] for c in data_columns}, "updated_at": func.now()},
            # Skipping identical rows keeps a re-run write-free: no dead tuples, no version
            # bump, no audit row (and it is much faster, see quality.md).
            where=tuple_(*(table.c[c] for c in data_columns)).is_distinct_from(
                tuple_(*(stmt.excluded[c] for c in data_columns))
            ),
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    # xmax = 0 on a freshly inserted tuple and non-zero on one updated by ON CONFLICT: the
    # usual way to tell the two apart in one statement. Skipped rows return nothing.
    inserted_flags: Sequence[bool] = (
        session.execute(stmt.returning(literal_column("xmax = 0"))).scalars().all()
    )
    inserted = sum(1 for flag in inserted_flags if flag)
    updated = len(inserted_flags) - inserted
    return UpsertCounts(
        inserted=inserted, updated=updated, unchanged=len(rows) - len(inserted_flags)
    )


def _upsert_platforms(session: Session, records: Sequence[PlatformRecord]) -> UpsertCounts:
    rows = [
        {
            "code": r.code,
            "name": r.name,
            "website": r.website,
            "countries": list(r.countries),
            "report_config": dict(r.report_config),
            "api_config": dict(r.api_config),
            "active": r.active,
        }
        for r in records
    ]
    return _upsert(session, _table("dir_platforms"), rows, ("code",))


def _upsert_vehicle_classes(
    session: Session, records: Sequence[VehicleClassRecord]
) -> UpsertCounts:
    rows = [
        {
            "country": r.country,
            "code": r.code,
            "name": r.name,
            "description": r.description,
            "max_age_years": r.max_age_years,
            "min_seats": r.min_seats,
        }
        for r in records
    ]
    return _upsert(session, _table("dir_vehicle_classes"), rows, ("country", "code"))


_REGULATION_KEY = ("country", "effective_from")
_REGULATION_DATA = tuple(c for c in _REGULATION_FIELDS if c not in _REGULATION_KEY)


def _regulation_source(table: Table, payload: list[dict[str, Any]]) -> TableValuedAlias:
    # The rows travel as one jsonb parameter unpacked by jsonb_to_recordset with the table's
    # own column types: one statement whatever the row count, and NULL-only columns still get
    # their real type (a VALUES list would type them as text).
    columns = [column(name, table.c[name].type) for name in ("id", *_REGULATION_FIELDS)]
    return (
        func.jsonb_to_recordset(bindparam("rows", payload, type_=JSONB))
        .table_valued(*columns)
        .render_derived(name="src", with_types=True)
    )


def _upsert_country_regulations(
    session: Session, records: Sequence[CountryRegulationRecord]
) -> UpsertCounts:
    # The table has no unique constraint to put ON CONFLICT on: periods are guarded by an
    # exclusion constraint, and ON CONFLICT DO UPDATE does not accept those. So: update the
    # rows matched on (country, effective_from), then insert the others. Updating first lets a
    # new period follow an existing one whose effective_to the same files just closed.
    if not records:
        return UpsertCounts()
    table = _table("dir_country_regulations")
    _require_unique(table.name, ((r.country, r.effective_from) for r in records))
    payload = [
        {
            "id": str(new_id()),
            **{name: _json_scalar(getattr(record, name)) for name in _REGULATION_FIELDS},
        }
        for record in records
    ]

    src = _regulation_source(table, payload)
    matches = [table.c[k] == src.c[k] for k in _REGULATION_KEY]
    updated = session.execute(
        update(table)
        .where(
            *matches,
            tuple_(*(table.c[c] for c in _REGULATION_DATA)).is_distinct_from(
                tuple_(*(src.c[c] for c in _REGULATION_DATA))
            ),
        )
        .values({**{c: src.c[c] for c in _REGULATION_DATA}, "updated_at": func.now()})
        .returning(table.c.id)
    ).all()

    src = _regulation_source(table, payload)
    matches = [table.c[k] == src.c[k] for k in _REGULATION_KEY]
    inserted = session.execute(
        insert(table)
        .from_select(
            ["id", *_REGULATION_FIELDS],
            select(src.c.id, *(src.c[c] for c in _REGULATION_FIELDS)).where(
                ~exists().where(*matches)
            ),
        )
        .returning(table.c.id)
    ).all()
    return UpsertCounts(
        inserted=len(inserted),
        updated=len(updated),
        unchanged=len(records) - len(inserted) - len(updated),
    )


def _json_scalar(value: object) -> object:
    # jsonb_to_recordset reads numerics and dates from their text form; Decimal and date have
    # no JSON type of their own.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _upsert_car_catalogue(
    session: Session, records: Sequence[CarMakeRecord]
) -> tuple[UpsertCounts, UpsertCounts]:
    makes_table = _table("dir_car_makes")
    makes = _upsert(
        session,
        makes_table,
        [{"tenant_id": None, "name": r.name} for r in records],
        ("tenant_id", "name"),
    )
    # One query for the ids of the global makes, whether just inserted or already there.
    names = [r.name for r in records]
    make_ids: dict[str, Any] = {
        row.name: row.id
        for row in session.execute(
            select(makes_table.c.name, makes_table.c.id).where(
                makes_table.c.tenant_id.is_(None), makes_table.c.name.in_(names)
            )
        )
    }
    rows = [
        {
            "tenant_id": None,
            "make_id": make_ids[make.name],
            "name": m.name,
            "default_class_code": m.default_class_code,
            "year_from": m.year_from,
            "year_to": m.year_to,
            "body_type": m.body_type,
            "seats": m.seats,
            "energy_types": list(m.energy_types),
        }
        for make in records
        for m in make.models
    ]
    models = _upsert(session, _table("dir_car_models"), rows, ("tenant_id", "make_id", "name"))
    return makes, models


def load_reference_data(session: Session, data: ReferenceData | None = None) -> ReferenceDataReport:
    """Upsert the packaged reference data into the dir_ tables; a second run changes nothing."""
    if data is None:
        data = read_reference_data()
    platforms = _upsert_platforms(session, data.platforms)
    vehicle_classes = _upsert_vehicle_classes(session, data.vehicle_classes)
    country_regulations = _upsert_country_regulations(session, data.country_regulations)
    car_makes, car_models = _upsert_car_catalogue(session, data.car_makes)
    return ReferenceDataReport(
        platforms=platforms,
        vehicle_classes=vehicle_classes,
        country_regulations=country_regulations,
        car_makes=car_makes,
        car_models=car_models,
    )


# --- the reference API: reads, and the tenant's private car catalogue ----------------------
#
# Reads run under RLS like every request: dir_car_makes/dir_car_models show the global rows
# and the current tenant's own, and the queries say so too (isolation holds twice). Global
# rows are read-only to tenants (403); another tenant's private rows do not exist (404).


def _catalogue_tenant(actor: Actor) -> uuid.UUID:
    if actor.tenant_id is None:  # require() guarantees it
        raise NotFound("No tenant is open.")
    return actor.tenant_id


def _visible(model: type[CarMake] | type[CarModel], tenant_id: uuid.UUID) -> ColumnElement[bool]:
    return or_(model.tenant_id.is_(None), model.tenant_id == tenant_id)


def _name_like(column_: Any, q: str) -> ColumnElement[bool]:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    result: ColumnElement[bool] = column_.ilike(f"%{escaped}%", escape="\\")
    return result


@dataclass(frozen=True, slots=True)
class PlatformFilter:
    """Filters of the platforms list and export."""

    country: str | None = None
    active: bool | None = None


def platforms_query(actor: Actor | None, filters: PlatformFilter) -> Select[Any]:
    """Ride-hailing platforms, optionally active ones or those of one country (list and CSV;
    the directory is global: no actor restricts it)."""
    statement = equal_filters(select(Platform), {Platform.active: filters.active})
    if filters.country is not None:
        statement = statement.where(Platform.countries.contains([filters.country]))
    return statement


PLATFORM_KEYS = (Platform.code, Platform.id)
"""The order of the platforms list (and its export)."""

list_platforms = pager(platforms_query, *PLATFORM_KEYS, doc="Ride-hailing platforms by code.")


@dataclass(frozen=True, slots=True)
class VehicleClassFilter:
    """Filters of the vehicle classes list and export."""

    country: str | None = None


def vehicle_classes_query(actor: Actor | None, filters: VehicleClassFilter) -> Select[Any]:
    """Vehicle classes, optionally of one country (list and CSV)."""
    return equal_filters(select(VehicleClass), {VehicleClass.country: filters.country})


VEHICLE_CLASS_KEYS = (VehicleClass.country, VehicleClass.code, VehicleClass.id)
"""The order of the vehicle classes list (and its export)."""

list_vehicle_classes = pager(vehicle_classes_query, *VEHICLE_CLASS_KEYS,
                             doc="Vehicle classes by country and code.")


@dataclass(frozen=True, slots=True)
class RegulationFilter:
    """Filters of the country regulations list and export."""

    country: str | None = None
    at: date | None = None


def country_regulations_query(actor: Actor | None, filters: RegulationFilter) -> Select[Any]:
    """Country regulations; ``at`` keeps the ones in force that day (list and CSV)."""
    statement = equal_filters(select(CountryRegulation),
                              {CountryRegulation.country: filters.country})
    if filters.at is not None:
        statement = statement.where(
            CountryRegulation.effective_from <= filters.at,
            or_(CountryRegulation.effective_to.is_(None),
                CountryRegulation.effective_to > filters.at),
        )
    return statement


REGULATION_KEYS = (CountryRegulation.country, CountryRegulation.effective_from,
                   CountryRegulation.id)
"""The order of the country regulations list (and its export)."""

list_country_regulations = pager(
    country_regulations_query, *REGULATION_KEYS,
    doc="Country regulations by country and period; ``at`` keeps the ones in force that day.")


def _scope_filter(model: type[CarMake] | type[CarModel], tenant_id: uuid.UUID,
                  scope: str | None) -> ColumnElement[bool]:
    if scope == "global":
        return model.tenant_id.is_(None)
    if scope == "private":
        return model.tenant_id == tenant_id
    return _visible(model, tenant_id)


@dataclass(frozen=True, slots=True)
class CatalogueFilter:
    """Filters of the car makes and models lists and exports (``make_id``: models only)."""

    q: str | None = None
    scope: str | None = None
    make_id: uuid.UUID | None = None


def car_makes_query(actor: Actor, filters: CatalogueFilter) -> Select[Any]:
    """Car makes: the global catalogue and the tenant's own additions (list and CSV)."""
    statement = select(CarMake).where(
        _scope_filter(CarMake, _catalogue_tenant(actor), filters.scope))
    if filters.q:
        statement = statement.where(_name_like(CarMake.name, filters.q))
    return statement


list_car_makes = pager(car_makes_query, CarMake.name, CarMake.id,
                       doc="Car makes by name: the global catalogue and the tenant's own.")


def _catalogue_getter(model: type[C], what: str) -> Callable[[Session, Actor, uuid.UUID], C]:
    def get(session: Session, actor: Actor, row_id: uuid.UUID) -> C:
        row = session.scalar(select(model).where(
            model.id == row_id, _visible(model, _catalogue_tenant(actor))))
        if row is None:
            raise NotFound(f"No such car {what}.")
        return row

    get.__doc__ = f"A car {what} the tenant can see (global or its own), or 404."
    return get


get_car_make = _catalogue_getter(CarMake, "make")
get_car_model = _catalogue_getter(CarModel, "model")


def _own(session: Session, actor: Actor, get: Callable[[Session, Actor, uuid.UUID], C],
         row_id: uuid.UUID, what: str, if_match: str | None) -> C:
    """One of the tenant's private catalogue rows, to change (403 for a global one; 412 on a
    stale ``If-Match``)."""
    row = get(session, actor, row_id)
    if row.tenant_id is None:
        raise Forbidden(f"Global catalogue {what}s are read-only: add a private {what} instead.")
    check_if_match(if_match, row.version)
    return row


def _flush_catalogue(session: Session, field_name: str, message: str,
                     row: CarMake | CarModel | None = None) -> None:
    """Flush; a unique violation becomes a 409 naming ``field_name``; a reference to the row
    (a delete while vehicles use it) a 409 too. ``row``: read back its version."""
    flush_checked(session, {
        UNIQUE_VIOLATION: ConstraintProblem(field_name, message),
        FOREIGN_KEY_VIOLATION: ConstraintProblem(
            field_name, "The row is still in use (vehicles refer to it)."),
    })
    if row is not None:
        session.refresh(row, ["version", "updated_at"])


def _check_name_free(session: Session, model: type[C], tenant_id: uuid.UUID, name: str,
                     clash_message: Callable[[C], str], *where: ColumnElement[bool],
                     exclude: uuid.UUID | None = None) -> None:
    """409 on ``name`` when a catalogue row the tenant sees already has the name (any case)."""
    clash = session.scalar(select(model).where(
        _visible(model, tenant_id), func.lower(model.name) == name.lower(), *where,
        model.id != exclude if exclude else true()))
    if clash is not None:
        message = clash_message(clash)
        raise Conflict(message, errors=[{"field": "name", "message": message}])


def _make_clash(clash: CarMake) -> str:
    where = "the global catalogue" if clash.tenant_id is None else "your catalogue"
    return f"A car make named {clash.name!r} is already in {where}."


def _model_clash(clash: CarModel) -> str:
    return f"This make already has a model named {clash.name!r}."


def create_car_make(session: Session, actor: Actor, *, data: CarMakeCreate) -> CarMake:
    """A private car make of the tenant; its name must not exist globally or privately."""
    tenant_id = _catalogue_tenant(actor)
    _check_name_free(session, CarMake, tenant_id, data.name, _make_clash)
    make = CarMake(tenant_id=tenant_id, name=data.name, created_by=actor.id,
                   updated_by=actor.id)
    session.add(make)
    _flush_catalogue(session, "name", f"A car make named {data.name!r} already exists.")
    session.refresh(make)
    return make


def update_car_make(
    session: Session, actor: Actor, make_id: uuid.UUID, *, data: CarMakeUpdate,
    if_match: str | None = None,
) -> CarMake:
    """Rename one of the tenant's private car makes."""
    make = _own(session, actor, get_car_make, make_id, "make", if_match)
    if data.name is not None and data.name != make.name:
        _check_name_free(session, CarMake, _catalogue_tenant(actor), data.name, _make_clash,
                         exclude=make.id)
        make.name = data.name
        make.updated_by = actor.id
        _flush_catalogue(session, "name", f"A car make named {data.name!r} already exists.",
                         make)
    return make


def delete_car_make(
    session: Session, actor: Actor, make_id: uuid.UUID, *, if_match: str | None = None
) -> None:
    """Delete one of the tenant's private car makes that has no models and no vehicles."""
    make = _own(session, actor, get_car_make, make_id, "make", if_match)
    models = session.scalar(select(func.count()).select_from(CarModel).where(
        CarModel.make_id == make.id))
    if models:
        raise Conflict(f"The make has {models} model(s): delete them first.")
    session.delete(make)
    _flush_catalogue(session, "id", "The make is in use.")


def car_models_query(actor: Actor, filters: CatalogueFilter) -> Select[Any]:
    """Car models: the global catalogue and the tenant's own additions (list and CSV)."""
    statement = equal_filters(
        select(CarModel).where(_scope_filter(CarModel, _catalogue_tenant(actor), filters.scope)),
        {CarModel.make_id: filters.make_id},
    )
    if filters.q:
        statement = statement.where(_name_like(CarModel.name, filters.q))
    return statement


list_car_models = pager(car_models_query, CarModel.name, CarModel.id,
                        doc="Car models by name: the global catalogue and the tenant's own.")


def create_car_model(session: Session, actor: Actor, *, data: CarModelCreate) -> CarModel:
    """A private car model of the tenant, of a global make or one of its own."""
    tenant_id = _catalogue_tenant(actor)
    make = session.scalar(select(CarMake).where(
        CarMake.id == data.make_id, _visible(CarMake, tenant_id)))
    if make is None:
        raise ValidationProblem("No such car make.", errors=[
            {"field": "make_id", "message": "no such car make"}])
    _check_name_free(session, CarModel, tenant_id, data.name, _model_clash,
                     CarModel.make_id == make.id)
    model = CarModel(
        tenant_id=tenant_id, make_id=make.id, name=data.name,
        default_class_code=data.default_class_code, year_from=data.year_from,
        year_to=data.year_to, body_type=data.body_type, seats=data.seats,
        energy_types=list(dict.fromkeys(data.energy_types)), created_by=actor.id,
        updated_by=actor.id,
    )
    session.add(model)
    _flush_catalogue(session, "name", f"This make already has a model named {data.name!r}.")
    session.refresh(model)
    return model


def update_car_model(
    session: Session, actor: Actor, model_id: uuid.UUID, *, data: CarModelUpdate,
    if_match: str | None = None,
) -> CarModel:
    """Change one of the tenant's private car models."""
    model = _own(session, actor, get_car_model, model_id, "model", if_match)
    old_name = model.name
    with session.no_autoflush:  # the rules speak before a constraint would
        changed = patch(model, data, required=("name",))
        if "energy_types" in changed:
            model.energy_types = list(dict.fromkeys(model.energy_types or []))
        if (model.year_from is not None and model.year_to is not None
                and model.year_to < model.year_from):
            raise ValidationProblem("year_to must not be before year_from.", errors=[
                {"field": "year_to", "message": "before year_from"}])
        if model.name != old_name:
            _check_name_free(session, CarModel, _catalogue_tenant(actor), model.name,
                             _model_clash, CarModel.make_id == model.make_id, exclude=model.id)
    model.updated_by = actor.id
    _flush_catalogue(session, "name", "This make already has a model with that name.", model)
    return model


def delete_car_model(
    session: Session, actor: Actor, model_id: uuid.UUID, *, if_match: str | None = None
) -> None:
    """Delete one of the tenant's private car models that no vehicle uses."""
    model = _own(session, actor, get_car_model, model_id, "model", if_match)
    session.delete(model)
    _flush_catalogue(session, "id", "The model is in use.")
