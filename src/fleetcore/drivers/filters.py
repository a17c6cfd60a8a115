"""The filter and sort specs of the drivers lists, shared by the API (list and CSV) and console."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, or_
from sqlalchemy.orm import InstrumentedAttribute

from fleetcore.core.pagination import equal_filters, range_filter
from fleetcore.drivers.models import (
    Driver,
    DriverBlacklist,
    DriverCooperationTerms,
    DriverPerformance,
    DriverRequest,
    DriverTraining,
)


class DriverSort(StrEnum):
    """List order: creation (``created``/``-created``) or name (``name``/``-name``)."""

    CREATED = "created"
    NEWEST = "-created"
    NAME = "name"
    NAME_DESC = "-name"


@dataclass(frozen=True, slots=True)
class DriverFilter:
    status: str | None = None
    q: str | None = None
    hired_since: date | None = None
    include_deleted: bool = False
    sort: DriverSort = DriverSort.CREATED


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def apply_driver_filter(statement: Select[Any], spec: DriverFilter) -> Select[Any]:
    """``statement`` narrowed to ``spec`` (``q`` matches names, e-mail and phone digits)."""
    statement = equal_filters(statement, {Driver.status: spec.status})
    statement = range_filter(statement, Driver.hired_on, since=spec.hired_since)
    if not spec.include_deleted:
        statement = statement.where(Driver.deleted_at.is_(None))
    if spec.q:
        pattern = _like(spec.q.strip())
        digits = "".join(c for c in spec.q if c.isdigit())
        clauses = [
            (Driver.first_name + " " + Driver.last_name).ilike(pattern),
            (Driver.last_name + " " + Driver.first_name).ilike(pattern),
            Driver.email.ilike(pattern),
        ]
        if len(digits) >= 3:
            clauses.append(Driver.phone.like(f"%{digits[-9:]}%"))
        statement = statement.where(or_(*clauses))
    return statement


def driver_sort_keys(sort: DriverSort) -> tuple[list[InstrumentedAttribute[Any]], bool]:
    """The keyset columns of ``sort`` and whether they run descending."""
    if sort in (DriverSort.NAME, DriverSort.NAME_DESC):
        return [Driver.last_name, Driver.first_name, Driver.id], sort is DriverSort.NAME_DESC
    return [Driver.created_at, Driver.id], sort is DriverSort.NEWEST


@dataclass(frozen=True, slots=True)
class TermsFilter:
    driver_id: uuid.UUID | None = None
    status: str | None = None
    include_deleted: bool = False


def apply_terms_filter(statement: Select[Any], spec: TermsFilter) -> Select[Any]:
    """``statement`` narrowed to ``spec``."""
    statement = equal_filters(statement, {DriverCooperationTerms.driver_id: spec.driver_id,
                                          DriverCooperationTerms.status: spec.status})
    if not spec.include_deleted:
        statement = statement.where(DriverCooperationTerms.deleted_at.is_(None))
    return statement


@dataclass(frozen=True, slots=True)
class RequestFilter:
    driver_id: uuid.UUID | None = None
    status: str | None = None
    request_type: str | None = None


def apply_request_filter(statement: Select[Any], spec: RequestFilter) -> Select[Any]:
    """``statement`` narrowed to ``spec``."""
    return equal_filters(statement, {DriverRequest.driver_id: spec.driver_id,
                                     DriverRequest.status: spec.status,
                                     DriverRequest.request_type: spec.request_type})


@dataclass(frozen=True, slots=True)
class BlacklistFilter:
    driver_id: uuid.UUID | None = None
    status: str | None = None
    category: str | None = None
    active_at: datetime | None = None
    include_deleted: bool = False


def apply_blacklist_filter(statement: Select[Any], spec: BlacklistFilter) -> Select[Any]:
    """``statement`` narrowed to ``spec`` (``active_at``: active entries covering that instant)."""
    statement = equal_filters(statement, {DriverBlacklist.driver_id: spec.driver_id,
                                          DriverBlacklist.status: spec.status,
                                          DriverBlacklist.category: spec.category})
    if not spec.include_deleted:
        statement = statement.where(DriverBlacklist.deleted_at.is_(None))
    if spec.active_at is not None:
        statement = statement.where(
            DriverBlacklist.status == "active", DriverBlacklist.starts_at <= spec.active_at,
            or_(DriverBlacklist.ends_at.is_(None), DriverBlacklist.ends_at > spec.active_at))
    return statement


@dataclass(frozen=True, slots=True)
class TrainingFilter:
    driver_id: uuid.UUID | None = None
    status: str | None = None
    training_type: str | None = None
    expiring_before: date | None = None
    include_deleted: bool = False


def apply_training_filter(statement: Select[Any], spec: TrainingFilter) -> Select[Any]:
    """``statement`` narrowed to ``spec``."""
    statement = equal_filters(statement, {DriverTraining.driver_id: spec.driver_id,
                                          DriverTraining.status: spec.status,
                                          DriverTraining.training_type: spec.training_type})
    statement = range_filter(statement, DriverTraining.expires_on, until=spec.expiring_before)
    if not spec.include_deleted:
        statement = statement.where(DriverTraining.deleted_at.is_(None))
    return statement


@dataclass(frozen=True, slots=True)
class PerformanceFilter:
    driver_id: uuid.UUID | None = None
    platform_id: uuid.UUID | None = None
    period_since: datetime | None = None
    period_until: datetime | None = None


def apply_performance_filter(statement: Select[Any], spec: PerformanceFilter) -> Select[Any]:
    """``statement`` narrowed to ``spec``: periods starting in ``[period_since, period_until)``."""
    statement = equal_filters(statement, {DriverPerformance.driver_id: spec.driver_id,
                                          DriverPerformance.platform_id: spec.platform_id})
    return range_filter(statement, DriverPerformance.period_start, since=spec.period_since,
                        until=spec.period_until)


__all__ = [
    "BlacklistFilter", "DriverFilter", "DriverSort", "PerformanceFilter", "RequestFilter",
    "TermsFilter", "TrainingFilter", "apply_blacklist_filter", "apply_driver_filter",
    "apply_performance_filter", "apply_request_filter", "apply_terms_filter",
    "apply_training_filter", "driver_sort_keys",
]
