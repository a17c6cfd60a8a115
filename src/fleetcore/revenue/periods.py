"""The ``[period_start, period_end)`` a revenue computation covers, as a request gives it:
both instants with their offset, the end after the start, at most :data:`MAX_PERIOD`."""

from __future__ import annotations

from datetime import datetime, timedelta

from fleetcore.core.errors import ValidationProblem

MAX_PERIOD = timedelta(days=366)


def field_error(name: str, message: str) -> ValidationProblem:
    """A 422 whose ``detail`` is ``message``, naming the request field ``name``."""
    return ValidationProblem(message, errors=[{"field": name, "message": message}])


def check_period(period_start: datetime, period_end: datetime, *, what: str) -> None:
    """422 naming the field unless both have an offset, the end is after the start and the
    span is at most 366 days (``what`` names the span in the message: ``A <what> covers…``)."""
    for name, value in (("period_start", period_start), ("period_end", period_end)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise field_error(name, "Give a time zone offset (e.g. 2026-11-16T00:00:00+01:00).")
    if period_end <= period_start:
        raise field_error("period_end", "The period must end after it starts.")
    if period_end - period_start > MAX_PERIOD:
        raise field_error("period_end", f"A {what} covers at most 366 days.")
