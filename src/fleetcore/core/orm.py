"""Declarative base and the column conventions every Fleetcore table follows.

`docs/data-model.md` in the spec decides the conventions; this module is the only place
they are spelled out, so a domain model reads as a list of business columns:

* tenant-owned tables mix in :class:`TenantOwned` → ``tenant_id`` + ``id`` with the primary key
  ``(tenant_id, id)``; global tables mix in :class:`GlobalRow` → ``PRIMARY KEY (id)``;
* references between tenant tables are composite (:func:`tenant_fk`), so PostgreSQL itself
  refuses a row that points into another tenant;
* enumerations are ``text`` + ``CHECK`` (:func:`enum_check`) built from a ``StrEnum`` that the
  API reuses;
* money is ``numeric(18,4)`` (:data:`MoneyAmount`) beside ``char(3)`` (:data:`CurrencyCode`),
  checked by :func:`currency_check`;
* ``updated_at`` and ``version`` are maintained by database triggers (see the migration), not
  by Python, so no write path can forget them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from sqlalchemy import (
    CHAR,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Numeric,
    Text,
    Uuid,
    event,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, ExcludeConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column
from uuid6 import uuid7

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

LIVE_ROWS = "deleted_at IS NULL"
"""Predicate of partial unique indexes that hold among rows that are not soft-deleted."""


def new_id() -> uuid.UUID:
    """A new UUIDv7: time-ordered, so primary-key indexes stay compact (PG 15 has no uuidv7())."""
    return uuid.UUID(bytes=uuid7().bytes)


UUID7_SQL = (
    "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing"
    " substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)"
    " FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid"
)
""":func:`new_id` in SQL, for set-based inserts (PostgreSQL 15 has no ``uuidv7()``): the 48-bit
Unix millisecond timestamp over the first six bytes of a random UUID, then the version (7) and
variant bits, so bulk-inserted rows get time-ordered ids like the ORM's."""


def uuid7_prefix() -> str:
    """The first 24 hex digits of a new UUIDv7 (timestamp, version, variant and 42 random
    bits): made once per bulk statement, see :func:`uuid7_series_sql`."""
    return new_id().hex[:24]


def uuid7_series_sql(prefix: str, counter: str) -> str:
    """SQL of time-ordered UUIDv7 ids for a set-based insert of many rows: ``prefix`` (SQL of
    :func:`uuid7_prefix`'s text, one per statement) then ``counter`` (SQL of a non-negative
    integer below 2**32, unique within the statement) as the last 32 bits (RFC 9562, 6.2
    method 1). About a quarter of :data:`UUID7_SQL`'s cost per row — no strong-random call,
    no byte surgery — and, with a counter that grows in insertion order, the ids arrive in
    primary-key order."""
    return f"CAST({prefix} || lpad(to_hex({counter}), 8, '0') AS uuid)"


MoneyAmount = Annotated[Decimal, mapped_column(Numeric(18, 4))]
"""A money amount: numeric(18,4) beside a currency column (money.md)."""
CurrencyCode = Annotated[str, mapped_column(CHAR(3))]
"""An ISO 4217 currency code."""
CountryCode = Annotated[str, mapped_column(CHAR(2))]
"""An ISO 3166-1 alpha-2 country code."""
JsonObject = Annotated[dict[str, Any], mapped_column(JSONB, server_default=text("'{}'::jsonb"))]
"""A JSON object defaulting to ``{}``."""
JsonList = Annotated[list[Any], mapped_column(JSONB, server_default=text("'[]'::jsonb"))]
"""A JSON array defaulting to ``[]``."""


class Base(DeclarativeBase):
    """The declarative base of every Fleetcore model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        uuid.UUID: Uuid(as_uuid=True),
        str: Text(),
        datetime: DateTime(timezone=True),
        date: Date(),
        int: Integer(),
        Decimal: Numeric(18, 4),
        dict[str, Any]: JSONB(),
        list[Any]: JSONB(),
    }


class TenantOwned:
    """A row owned by one tenant: ``PRIMARY KEY (tenant_id, id)``, forced RLS on ``tenant_id``."""

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("adm_tenants.id", ondelete="RESTRICT"), primary_key=True, sort_order=-100
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id, sort_order=-99)


class GlobalRow:
    """A row shared by all tenants (or owned by the provider): ``PRIMARY KEY (id)``."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id, sort_order=-100)


class Timestamped:
    """``created_at``/``updated_at`` set by the database, ``created_by``/``updated_by`` actors.

    The actor columns hold a member or provider-employee id (the actor kind is in the audit
    log), so they carry no foreign key.
    """

    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), sort_order=900)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), sort_order=901)
    created_by: Mapped[uuid.UUID | None] = mapped_column(sort_order=902)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(sort_order=903)


def _touched_by(row: Timestamped, actor_id: uuid.UUID | None) -> None:
    row.updated_by = actor_id


class SoftDeletable:
    """Soft delete: deleted rows stay for history, are hidden from normal reads, restorable.

    :meth:`mark_deleted` and :meth:`mark_restored` are the only places that write the three
    columns, so every domain records a deletion the same way (who, when, why) and a restore
    clears all of it; services add their own rules (If-Match, "still in use"…) around them.
    """

    deleted_at: Mapped[datetime | None] = mapped_column(sort_order=910)
    deleted_by: Mapped[uuid.UUID | None] = mapped_column(sort_order=911)
    deletion_reason: Mapped[str | None] = mapped_column(sort_order=912)

    def mark_deleted(
        self, by: uuid.UUID | None, reason: str | None = None, *, at: datetime | None = None
    ) -> None:
        """Hide the row, recording who deleted it, when (now by default) and why.

        The actor is also the row's ``updated_by``: the deletion is its last change.
        """
        self.deleted_at = at or datetime.now(UTC)
        self.deleted_by = by
        self.deletion_reason = reason
        if isinstance(self, Timestamped):
            _touched_by(self, by)

    def mark_restored(self, by: uuid.UUID | None) -> bool:
        """Bring the row back (the actor becomes ``updated_by``); False when it was not deleted,
        so the caller decides whether that is a no-op or a conflict."""
        if self.deleted_at is None:
            return False
        self.deleted_at = None
        self.deleted_by = None
        self.deletion_reason = None
        if isinstance(self, Timestamped):
            _touched_by(self, by)
        return True


class Versioned:
    """Optimistic concurrency: ``version``, bumped by a trigger on every UPDATE (ETag)."""

    version: Mapped[int] = mapped_column(server_default=text("1"), sort_order=920)


class WithMetadata:
    """Free-form integration extras (``metadata`` jsonb; the attribute is ``extra`` because
    SQLAlchemy reserves ``metadata`` on declarative classes)."""

    extra: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, server_default=text("'{}'::jsonb"), sort_order=930
    )


def enum_check(column: str, values: Iterable[str] | type[StrEnum]) -> CheckConstraint:
    """``CHECK (column IN (...))`` named ``ck_<table>_<column>_valid``."""
    allowed = [str(v.value) if isinstance(v, StrEnum) else str(v) for v in values]
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in allowed)
    return CheckConstraint(f"{column} IN ({quoted})", name=f"{column}_valid")


def currency_check(column: str = "currency") -> CheckConstraint:
    """An ISO 4217 code: three upper-case letters (the list itself is validated by the API)."""
    return CheckConstraint(f"{column} ~ '^[A-Z]{{3}}$'", name=f"{column}_iso4217")


def country_check(column: str = "country") -> CheckConstraint:
    """An ISO 3166-1 alpha-2 code: two upper-case letters."""
    return CheckConstraint(f"{column} ~ '^[A-Z]{{2}}$'", name=f"{column}_iso3166")


EMAIL_PATTERN = "^[^@[:space:]]+@[^@[:space:]]+$"
"""Shape of an e-mail address (full validation is the API's, with a library)."""
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
"""An E.164 phone number (normalised by the API with ``phonenumbers``)."""
SHA256_PATTERN = "^[0-9a-f]{64}$"
"""A lower-case hex SHA-256 digest."""
SNAKE_CASE_PATTERN = "^[a-z][a-z0-9_]*$"
"""A lower snake_case identifier (actions, entity types, reasons)."""


def matches(column: str, pattern: str, name: str) -> CheckConstraint:
    """``CHECK (column ~ pattern)`` named ``ck_<table>_<name>`` (NULL passes)."""
    return CheckConstraint(f"{column} ~ '{pattern}'", name=name)


def email_check(column: str = "email") -> CheckConstraint:
    """``column`` looks like an e-mail address."""
    return matches(column, EMAIL_PATTERN, f"{column}_shape")


def e164_check(column: str = "phone") -> CheckConstraint:
    """``column`` is an E.164 phone number."""
    return matches(column, E164_PATTERN, f"{column}_e164")


def sha256_check(column: str = "sha256") -> CheckConstraint:
    """``column`` is a hex SHA-256 digest."""
    return matches(column, SHA256_PATTERN, f"{column}_hex")


def snake_case_check(column: str) -> CheckConstraint:
    """``column`` is a lower snake_case identifier."""
    return matches(column, SNAKE_CASE_PATTERN, f"{column}_snake_case")


def non_negative(*columns: str) -> list[CheckConstraint]:
    """``CHECK (col >= 0)`` for each column (NULL passes, as in SQL)."""
    return [CheckConstraint(f"{c} >= 0", name=f"{c}_non_negative") for c in columns]


def tenant_fk(
    column: str, target: str, *, ondelete: str | None = None, use_alter: bool = False
) -> ForeignKeyConstraint:
    """Composite tenant-safe reference ``(tenant_id, column) → target(tenant_id, id)``.

    ``ondelete="SET NULL"`` nulls only ``column`` (PostgreSQL ≥ 15 column list), never
    ``tenant_id``. The default (NO ACTION) refuses a hard delete of a referenced row: business
    rows are soft-deleted instead.
    """
    if ondelete in ("SET NULL", "SET DEFAULT"):
        ondelete = f"{ondelete} ({column})"
    return ForeignKeyConstraint(
        ["tenant_id", column],
        [f"{target}.tenant_id", f"{target}.id"],
        ondelete=ondelete,
        use_alter=use_alter,
    )


SET_CHECKED_REFERENCES: dict[str, set[str]] = {}
"""Referencing table → the tables it references through a set-checked reference: checked once
per statement by triggers instead of a foreign key (decision 0008, migration 0016)."""


def set_checked_reference(table: str, target: str) -> None:
    """Declare that ``table`` references ``target`` through a set-checked reference, so that
    a flush still inserts ``target``'s rows first (the unit of work orders tables by their
    foreign keys, and by these)."""
    SET_CHECKED_REFERENCES.setdefault(table, set()).add(target)


@event.listens_for(Mapper, "before_configured")
def _order_set_checked_references() -> None:
    tables = Base.metadata.tables
    for table, targets in SET_CHECKED_REFERENCES.items():
        if table in tables:
            for target in targets:
                if target in tables:
                    tables[table].add_is_dependent_on(tables[target])


def live_unique(table: str, *columns: str, where: str = LIVE_ROWS) -> Index:
    """A unique index among live rows: ``UNIQUE (...) WHERE deleted_at IS NULL``."""
    name = f"uq_{table}_{'_'.join(columns)}_live"
    return Index(name, *columns, unique=True, postgresql_where=text(where))


def no_overlap(
    name: str,
    *equal_columns: str,
    start: str,
    end: str,
    where: str | None = None,
    bounds: str = "[)",
    range_type: str = "tstzrange",
) -> ExcludeConstraint:
    """An exclusion constraint refusing two rows with equal keys whose ``[start, end)`` overlap.

    ``end`` NULL means open-ended. Needs ``btree_gist`` for the equality columns.
    """
    elements: list[tuple[Any, str]] = [(c, "=") for c in equal_columns]
    elements.append((text(f"{range_type}({start}, {end}, '{bounds}')"), "&&"))
    return ExcludeConstraint(
        *elements,
        name=name,
        using="gist",
        where=text(where) if where else None,
    )
