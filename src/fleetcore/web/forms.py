"""Forms: submitted values → the API's own request models → errors next to the fields.

The console builds the very Pydantic models the API takes (``VehicleCreate``,
``AssignmentCreate``…) from form fields, so a value the API refuses is refused here with the
same message. Errors come from two places and end up in one shape, field → message:
Pydantic's validation and the services' problems (``errors[]`` of ``{field, message}``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from fleetcore.core.errors import Problem
from fleetcore.web.i18n import gettext

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

_PREFIXES = ("Value error, ", "Assertion failed, ")


@dataclass
class FormState:
    """What a form shows: the values as typed, errors per field, and a summary."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    details: list[str] = field(default_factory=list)

    @property
    def invalid(self) -> bool:
        """Whether anything was refused."""
        return bool(self.errors or self.message)

    def value(self, name: str, default: object = "") -> str:
        """The submitted value of ``name`` (or ``default``) for re-display."""
        return self.values.get(name, "" if default is None else str(default))

    def add(self, name: str, message: str) -> None:
        """Refuse ``name`` with ``message`` (the first error of a field is kept)."""
        self.errors.setdefault(name, message)


class FormInvalid(Exception):  # noqa: N818 - reads as the condition
    """The form cannot become a request model; ``state`` says why, field by field."""

    def __init__(self, state: FormState) -> None:
        super().__init__(state.message or "invalid form")
        self.state = state


def text_values(form: FormData, names: Iterable[str]) -> dict[str, str]:
    """The text fields ``names`` of ``form``, stripped (files and absent fields left out)."""
    values = {}
    for name in names:
        raw = form.get(name)
        if raw is not None and not isinstance(raw, UploadFile):
            values[name] = raw.strip()
    return values


def optional(values: dict[str, str], *names: str) -> dict[str, Any]:
    """``values`` with the empty ``names`` turned into None (an empty input means 'none')."""
    return {k: (None if (k in names and v == "") else v) for k, v in values.items()}


def drop_empty(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` without empty fields (a create form's blank input means 'default')."""
    return {k: v for k, v in values.items() if v not in ("", None)}


def local_datetime(value: str | None, zone: ZoneInfo, *, name: str,
                   state: FormState) -> datetime | None:
    """A ``datetime-local`` input read in the tenant's zone (None when empty)."""
    if not value:
        return None
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        state.add(name, gettext("not a date and time (YYYY-MM-DD HH:MM)"))
        return None
    return naive.replace(tzinfo=zone) if naive.tzinfo is None else naive


def parse_date(value: str | None, *, name: str, state: FormState) -> date | None:
    """A ``date`` input (None when empty)."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        state.add(name, gettext("not a date (YYYY-MM-DD)"))
        return None


def money_input(value: str | None, currency: str) -> dict[str, str] | None:
    """A money input as the API's ``{amount, currency}`` (a lone decimal comma is accepted)."""
    if not value:
        return None
    amount = value.replace(" ", "").replace("\u00a0", "")
    if "," in amount and "." not in amount:
        amount = amount.replace(",", ".")
    return {"amount": amount, "currency": currency}


def _message(raw: str) -> str:
    for prefix in _PREFIXES:
        if raw.startswith(prefix):
            return raw[len(prefix):]
    return raw


def _noun(name: str) -> str:
    """``make_id`` → ``make``, ``odometer_out_km`` → ``odometer out km``."""
    return name.removesuffix("_id").replace("_", " ")


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"


def _choose(noun: str) -> str:
    return gettext("Choose %(a_noun)s", a_noun=f"{_article(noun)} {noun}")


def people_words(error: dict[str, Any], name: str) -> str:
    """Pydantic's message for ``name`` as a person reads it next to the field.

    A select left on its blank choice arrives as an empty string: "Input should be a valid
    UUID, invalid length: found 0" becomes "Choose a make". Other parsing errors say what to
    type; a rule of ours (``Value error, …``) keeps its own words.
    """
    kind = str(error.get("type", ""))
    given = error.get("input")
    blank = given is None or (isinstance(given, str) and not given.strip())
    noun = _noun(name) if name else "value"
    if kind == "missing" or (blank and kind not in ("value_error", "assertion_error")):
        if name.endswith("_id") or kind in ("enum", "literal_error"):
            return _choose(noun)
        return gettext("Fill in the %(noun)s", noun=noun)
    if kind.startswith("uuid"):
        return gettext("Choose %(a_noun)s from the list", a_noun=f"{_article(noun)} {noun}")
    if kind in ("enum", "literal_error"):
        expected = (error.get("ctx") or {}).get("expected")
        return gettext("Choose one of %(expected)s", expected=expected) if expected \
            else _choose(noun)
    if kind.startswith(("decimal", "float", "int")):
        return gettext("Enter a number") + ("" if kind.endswith(("parsing", "type")) else
                                            f" ({_message(str(error.get('msg', '')))})".lower())
    if kind.startswith("date") and not kind.startswith("datetime"):
        return gettext("Enter a date (YYYY-MM-DD)")
    if kind.startswith(("datetime", "time")):
        return gettext("Enter a date and time (YYYY-MM-DD HH:MM)")
    if kind == "string_too_long":
        limit = (error.get("ctx") or {}).get("max_length")
        return (gettext("Too long: at most %(limit)s characters", limit=limit) if limit
                else gettext("Too long"))
    return _message(str(error.get("msg", "invalid")))


def _field_of(loc: tuple[Any, ...], message: str, known: Iterable[str]) -> str:
    names = [str(p) for p in loc if not isinstance(p, int)]
    if names:
        return names[0]
    # A model-level rule ("ends_at must be after starts_at") names its field first.
    first = re.match(r"[a-z_]+", message)
    if first and first.group(0) in set(known):
        return first.group(0)
    return ""


def build(model: type[M], data: dict[str, Any], state: FormState) -> M:
    """``model`` from ``data``; FormInvalid with every refused field (and earlier ones)."""
    try:
        built = model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            raw = _message(str(error.get("msg", "invalid")))
            name = _field_of(tuple(error.get("loc", ())), raw, model.model_fields)
            if name:
                state.add(name, people_words(dict(error), name))
            else:
                state.message = raw
        raise FormInvalid(state) from exc
    if state.invalid:
        raise FormInvalid(state)
    return built


def apply_problem(state: FormState, problem: Problem) -> FormState:
    """Put a service's problem on the form: its ``errors[]`` next to the fields, its detail
    (and any listed reasons or failed rules) at the top."""
    for error in problem.errors:
        name = error.get("field", "").split(".", 1)[0]
        if name:
            state.add(name, error.get("message", "invalid"))
    state.message = problem.detail
    reasons = problem.extensions.get("reasons")
    if isinstance(reasons, list):
        state.details.extend(str(r) for r in reasons)
    failures = problem.extensions.get("failures")
    if isinstance(failures, list):
        for failure in failures:
            if isinstance(failure, dict):
                state.details.append(
                    f"{str(failure.get('subject', '')).capitalize()} — "
                    f"{str(failure.get('rule', '')).replace('_', ' ')}: {failure.get('reason', '')}"
                )
    return state


def attempt(session: Session, call: Callable[[], T]) -> T:
    """Run a service call in a savepoint: when it raises, whatever it wrote is undone and the
    page can still render (and commit nothing) in the same transaction."""
    with session.begin_nested():
        return call()



P = TypeVar("P", bound=Response)


def submit(session: Session, state: FormState, model: type[M], values: dict[str, Any],
           change: Callable[[M], T], render: Callable[[FormState, int], P], *,
           adjust: Callable[[Problem, FormState], object] | None = None) -> T | P:
    """A form's submission: ``values`` as ``model`` (the API's request model), then
    ``change(data)`` in a savepoint and its result; when refused, the page ``render(state,
    status)`` — the form again with the refused fields marked (422 for the form's own errors,
    the problem's status for the service's). The caller returns a page it gets back.
    ``adjust(problem, state)`` first sees a service's problem: it may re-word it, mark a
    field, or raise it on (a 404 is no form error)."""
    try:
        data = build(model, values, state)
        return attempt(session, lambda: change(data))
    except FormInvalid:
        return render(state, 422)
    except Problem as problem:
        if adjust is not None:
            adjust(problem, state)
        return render(apply_problem(state, problem), problem.status)


def changed_meanwhile(message: str) -> Callable[[Problem, FormState], None]:
    """An ``adjust`` of :func:`submit`: a 412 (someone saved another change since the page was
    shown) says ``message`` instead."""
    def adjust(problem: Problem, _state: FormState) -> None:
        if problem.status == 412:
            problem.detail = message

    return adjust


def not_found_raised(problem: Problem, _state: FormState) -> None:
    """An ``adjust`` of :func:`submit`: a 404 is raised on (the row is gone: no form to show)."""
    if problem.status == 404:
        raise problem
