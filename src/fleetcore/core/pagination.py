"""The one way to paginate and filter list endpoints: opaque keyset cursors.

A page is ordered by a few key columns ending in a unique one (usually ``id``); its cursor
encodes the last row's key values, so the next page starts strictly after it — stable under
concurrent inserts and as fast on page 1,000 as on page 1. Filters are equality (or range)
predicates applied only when the client gave a value.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, and_, tuple_
from sqlalchemy.orm import InstrumentedAttribute, QueryableAttribute, Session

from fleetcore.core.bounded_json import load_json
from fleetcore.core.errors import ValidationProblem

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items`` and the cursor of the next page (null on the last)."""

    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last."
    )


@dataclass(frozen=True, slots=True)
class PageParams:
    """``limit`` and ``cursor`` of a list request."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512, description="From `next_cursor`.")] = None,
) -> PageParams:
    """The pagination query parameters of a list endpoint."""
    return PageParams(limit=limit, cursor=cursor)


Pagination = Annotated[PageParams, Depends(page_params)]


def _encode_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"n": str(value)}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, raw),) = value.items()
        decoders: dict[str, Callable[[str], Any]] = {
            "u": uuid.UUID, "t": datetime.fromisoformat, "d": date.fromisoformat, "n": Decimal,
        }
        if tag in decoders and isinstance(raw, str):
            return decoders[tag](raw)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    raise ValueError("bad cursor value")


def encode_cursor(values: Sequence[Any]) -> str:
    """An opaque cursor for the key ``values`` of a row."""
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> list[Any]:
    """The key values in ``cursor``; a 422 naming ``cursor`` when it was not made by us."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = load_json(base64.urlsafe_b64decode(padded.encode()), max_depth=2)
        if not isinstance(values, list) or len(values) != width:
            raise ValueError("wrong width")
        return [_decode_value(v) for v in values]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationProblem(
            "The cursor is not valid: pass back `next_cursor` unchanged.",
            errors=[{"field": "cursor", "message": "not a cursor of this list"}],
        ) from exc


def keyset_page(
    session: Session,
    statement: Select[Any],
    keys: Sequence[QueryableAttribute[Any]],
    params: PageParams,
    *,
    descending: bool = False,
) -> tuple[list[Any], str | None]:
    """Rows of ``statement`` (one entity) ordered by ``keys``, after ``params.cursor``.

    ``keys`` must end in a unique column; returns the rows and the next page's cursor.
    """
    if params.cursor:
        values = decode_cursor(params.cursor, len(keys))
        row_key = tuple_(*keys)
        after = row_key < tuple_(*values) if descending else row_key > tuple_(*values)
        statement = statement.where(after)
    order = [k.desc() for k in keys] if descending else [k.asc() for k in keys]
    rows = list(session.scalars(statement.order_by(*order).limit(params.limit + 1)))
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, k.key) for k in keys])
    return rows, next_cursor


def equal_filters(
    statement: Select[Any], filters: Mapping[InstrumentedAttribute[Any], Any]
) -> Select[Any]:
    """``statement`` with ``column = value`` for each filter whose value was given."""
    clauses: list[ColumnElement[bool]] = [
        column == value for column, value in filters.items() if value is not None
    ]
    return statement.where(and_(*clauses)) if clauses else statement


def range_filter(
    statement: Select[Any],
    column: InstrumentedAttribute[Any],
    *,
    since: Any = None,
    until: Any = None,
) -> Select[Any]:
    """``since <= column < until`` for the bounds given."""
    if since is not None:
        statement = statement.where(column >= since)
    if until is not None:
        statement = statement.where(column < until)
    return statement


__all__ = [
    "Page",
    "PageParams",
    "Pagination",
    "decode_cursor",
    "encode_cursor",
    "equal_filters",
    "keyset_page",
    "page_params",
    "range_filter",
]
