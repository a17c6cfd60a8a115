"""``GET /v1/vehicles/{vehicle_id}`` and ``GET /v1/vehicles`` on the read lane (decision 0022).

The lane (``core.lane``) authenticates and sets the RLS context; this module gives it, per
route, the strict parsing of the route's parameters, its statement — the same query as
``fleet.service.vehicles_query`` (same columns, filters, odometer ``LATERAL``, sort and keyset
cursor), compiled once per shape of filters to SQL for psycopg — and the answer: the JSON bytes
``VehicleOut`` / ``Page[VehicleOut]`` serialise to, built from the row's values directly (a
trusted row of our own query: nothing to validate, decision 0009). Anything the parsing does not
recognise declines, and FastAPI answers it (its 422 and all). ``tests/fleet/test_vehicles_lane.py``
compares both paths answer for answer.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

from pydantic_core import to_json
from sqlalchemy import Integer, bindparam, func, literal_column, or_, select, true, tuple_
from sqlalchemy.dialects import postgresql

from fleetcore.core.errors import NotFound
from fleetcore.core.lane import CALLER_TENANT, Answer, Decline, LaneRoute, Prepared
from fleetcore.core.money import Money
from fleetcore.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from fleetcore.core.versioning import etag
from fleetcore.fleet.filters import VehicleSort
from fleetcore.fleet.models import FuelType, OwnershipType, Vehicle, VehicleStatus
from fleetcore.fleet.schemas import VehicleOut
from fleetcore.fleet.service import _latest_odometer_lateral, _like

_DERIVED = ("acquisition_cost", "current_odometer_km", "odometer_read_at")
_FIELDS = tuple(VehicleOut.model_fields)
_COLUMNS = tuple(name for name in _FIELDS if name not in _DERIVED)
"""The vehicle's own columns ``VehicleOut`` shows, in its field order."""
_ROW = {name: i for i, name in enumerate((*_COLUMNS, "acquisition_cost", "currency",
                                           "current_odometer_km", "odometer_read_at"))}
_CALLER_TENANT: Any = literal_column(CALLER_TENANT)
"""The tenant ``fc_resolve_member`` opened, in the same statement (``core.lane``)."""
_DIALECT = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]

_UUID = re.compile(r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_LIMIT = re.compile(r"^[1-9][0-9]{0,2}$")
_BOOLEANS = {"true": True, "false": False}
_CHOICES: dict[str, frozenset[str]] = {
    "status": frozenset(VehicleStatus), "fuel_type": frozenset(FuelType),
    "ownership_type": frozenset(OwnershipType),
}
_IDS = ("make_id", "model_id", "vehicle_class_id")
_EQUAL = ("status", *_IDS, "country", "fuel_type", "ownership_type")
"""The equality filters, in ``vehicles_query``'s order."""
_SORT_KEYS: dict[VehicleSort, tuple[str, ...]] = {
    VehicleSort.CREATED: ("id",), VehicleSort.CREATED_DESC: ("id",),
    VehicleSort.PLATE: ("licence_plate", "id"), VehicleSort.PLATE_DESC: ("licence_plate", "id"),
    VehicleSort.YEAR: ("year", "id"), VehicleSort.YEAR_DESC: ("year", "id"),
}
"""``fleet.service._sort_keys`` by name (``id`` breaks ties)."""
_KEY_TYPES: dict[str, type] = {"id": uuid.UUID, "licence_plate": str, "year": int}


def _an_id(raw: str) -> uuid.UUID:
    if not _UUID.match(raw):
        raise Decline
    return uuid.UUID(raw)


def _include_deleted(raw: str | None) -> bool:
    if raw is None:
        return False
    if raw not in _BOOLEANS:
        raise Decline
    return _BOOLEANS[raw]


@cache
def _statement(filters: tuple[str, ...], q: int, include_deleted: bool, sort: VehicleSort,
               after: bool, one: bool) -> tuple[str, dict[str, Any]]:
    """The SQL of one shape of request: which filters are set, ``q`` (0: none, 1: plate or
    VIN, 2: also the plate without separators), the sort and whether a cursor is given; ``one``:
    the read of one vehicle (``vehicle_id``). Written as ``vehicles_query`` writes it; returns
    the SQL and the values of the binds the request does not give (the ``LATERAL``'s limit…)."""
    odo = _latest_odometer_lateral()
    stmt = (
        select(*(getattr(Vehicle, name) for name in _COLUMNS), Vehicle.acquisition_cost,
               Vehicle.currency, odo.c.odometer_km, odo.c.read_at)
        .outerjoin(odo, true())
        .where(Vehicle.tenant_id == _CALLER_TENANT)
    )
    if not include_deleted:
        stmt = stmt.where(Vehicle.deleted_at.is_(None))
    for name in filters:
        column = getattr(Vehicle, name)
        stmt = stmt.where(column == bindparam(name, type_=column.type))
    if q:
        clauses = [Vehicle.licence_plate.ilike(bindparam("q")), Vehicle.vin.ilike(bindparam("q"))]
        if q == 2:
            clauses.append(func.regexp_replace(Vehicle.licence_plate, "[^[:alnum:]]", "", "g")
                           .ilike(bindparam("compact")))
        stmt = stmt.where(or_(*clauses))
    if one:
        stmt = stmt.where(Vehicle.id == bindparam("vehicle_id", type_=Vehicle.id.type))
    else:
        keys = [getattr(Vehicle, name) for name in _SORT_KEYS[sort]]
        if after:
            row_key = tuple_(*keys)
            values = tuple_(*(bindparam(f"key{i}", type_=k.type) for i, k in enumerate(keys)))
            stmt = stmt.where(row_key < values if sort.descending else row_key > values)
        stmt = stmt.order_by(*(k.desc() for k in keys) if sort.descending else keys)
        stmt = stmt.limit(bindparam("limit", type_=Integer))
    compiled = stmt.compile(dialect=_DIALECT)
    return compiled.string, {name: value for name, value in compiled.params.items()
                             if value is not None}


@lru_cache(maxsize=4096)
def _money(amount: str, currency: str) -> dict[str, str]:
    """``MoneyOut`` of an amount (a fleet has few distinct acquisition costs; ``Money``'s
    checks and formatting cost more than the rest of a row). Keyed by the amount's text, not
    the ``Decimal`` (``1.5 == 1.50``); read-only: serialised as is."""
    return Money(Decimal(amount), currency).to_api()


def _vehicle(row: tuple[Any, ...]) -> dict[str, Any]:
    """``VehicleOut`` of a row, as the values its serialiser turns into the same JSON."""
    data = {name: row[i] for i, name in enumerate(_COLUMNS)}
    amount, currency = row[_ROW["acquisition_cost"]], row[_ROW["currency"]]
    data["acquisition_cost"] = (_money(str(amount), currency)
                                if amount is not None and currency is not None else None)
    data["current_odometer_km"] = row[_ROW["current_odometer_km"]]
    data["odometer_read_at"] = row[_ROW["odometer_read_at"]]
    return {name: data[name] for name in _FIELDS}


def _answer_one(rows: list[tuple[Any, ...]]) -> Answer:
    if not rows:
        raise NotFound("No such vehicle.")
    row = rows[0]
    return 200, to_json(_vehicle(row)), [(b"etag", etag(row[_ROW["version"]]).encode())]


def prepare_vehicle(path: dict[str, str], query: list[tuple[str, str]]) -> Prepared:
    """``GET /v1/vehicles/{vehicle_id}[?include_deleted=…]``."""
    include_deleted = _include_deleted(dict(query).get("include_deleted"))
    sql, fixed = _statement((), 0, include_deleted, VehicleSort.CREATED, False, True)
    return Prepared(sql, {**fixed, "vehicle_id": _an_id(path["vehicle_id"])}, _answer_one)


def _choice(name: str, raw: str) -> str:
    if raw not in _CHOICES[name]:
        raise Decline
    return raw


def prepare_vehicles(path: dict[str, str], query: list[tuple[str, str]]) -> Prepared:
    """``GET /v1/vehicles`` with every filter, sort and page parameter the route takes."""
    given = dict(query)
    params: dict[str, Any] = {}
    for name in _EQUAL:
        raw = given.get(name)
        if raw is None:
            continue
        if name in _IDS:
            params[name] = _an_id(raw)
        elif name == "country":
            if not _COUNTRY.match(raw):
                raise Decline
            params[name] = raw
        else:
            params[name] = _choice(name, raw)
    q_kind = 0
    q = given.get("q")
    if q is not None:
        if len(q) > 100 or "\x00" in q:
            raise Decline
        if q:  # an empty q filters nothing (``if filters.q``)
            term = q.strip()
            compact = "".join(ch for ch in term if ch.isalnum())
            params["q"] = _like(term)
            q_kind = 1
            if compact:
                params["compact"] = _like(compact)
                q_kind = 2
    raw_sort = given.get("sort", VehicleSort.CREATED.value)
    if raw_sort not in VehicleSort._value2member_map_:
        raise Decline
    sort = VehicleSort(raw_sort)
    raw_limit = given.get("limit")
    if raw_limit is None:
        limit = DEFAULT_LIMIT
    elif _LIMIT.match(raw_limit) and int(raw_limit) <= MAX_LIMIT:
        limit = int(raw_limit)
    else:
        raise Decline
    keys = _SORT_KEYS[sort]
    cursor = given.get("cursor")
    if cursor is not None:
        if not cursor or len(cursor) > 512:
            raise Decline
        try:
            values = decode_cursor(cursor, len(keys))
        except Exception as exc:  # its 422 is FastAPI's to give
            raise Decline from exc
        for i, (name, value) in enumerate(zip(keys, values, strict=True)):
            if type(value) is not _KEY_TYPES[name]:
                raise Decline
            params[f"key{i}"] = value
    params["limit"] = limit + 1
    filters = tuple(name for name in _EQUAL if name in params)
    sql, fixed = _statement(filters, q_kind, _include_deleted(given.get("include_deleted")),
                            sort, cursor is not None, False)
    direction = " DESC" if sort.descending else ""
    order = ", ".join(f"route.{name}{direction}" for name in keys)
    return Prepared(sql, {**fixed, **params}, _pager(limit, keys), order)


def _pager(limit: int, keys: tuple[str, ...]) -> Callable[[list[tuple[Any, ...]]], Answer]:
    def answer(rows: list[tuple[Any, ...]]) -> Answer:
        cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            cursor = encode_cursor([rows[-1][_ROW[name]] for name in keys])
        page = {"items": [_vehicle(row) for row in rows], "next_cursor": cursor}
        return 200, to_json(page), []

    return answer


ROUTES = (
    LaneRoute("/v1/vehicles/{vehicle_id}", re.compile(r"/v1/vehicles/(?P<vehicle_id>[^/]+)"),
              "vehicles:read", prepare_vehicle),
    LaneRoute("/v1/vehicles", re.compile(r"/v1/vehicles"), "vehicles:read", prepare_vehicles),
)
"""The fleet's routes on the read lane (``fleetcore.app`` installs them)."""
