"""One way to declare a resource: its service helpers and its ``/v1`` routes.

Services: :class:`Rows` is a domain's table of constraint names → problems bound to the few
things every service does with a row — read it (404), check a body's reference (422), flush
(violations become problems), read back its ``version``, soft-delete it under ``If-Match`` and
restore it. The audit trail is written by the tables' triggers, as for any other change.

Routes: :class:`ResourceRoutes` declares the get / create / update / delete / restore routes of
one resource the same way everywhere: ``ETag`` on every answer that shows a row, ``Location``
on a creation, :data:`~fleetcore.core.versioning.RequiredIfMatch` on changes, the deletion's
reason as a query parameter. A route that does more than that is written out in the domain's
``api.py`` as before. A list and its CSV export share one filter dependency
(``Annotated[XFilter, Depends(x_filter)]``), so both take the same query parameters.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.deps import DbSession
from fleetcore.core.errors import (
    Conflict,
    ConstraintProblem,
    NotFound,
    ValidationProblem,
    flush_checked,
)
from fleetcore.core.export import Column, csv_response, csv_responses
from fleetcore.core.pagination import Page, PageParams, Pagination, keyset_page
from fleetcore.core.schemas import Deletion, model_response
from fleetcore.core.versioning import (
    RequiredIfMatch,
    check_if_match,
    etag,
    lock_and_check_if_match,
)

__all__ = ["SAFE_TEXT", "DeletionReason", "IncludeDeleted", "ResourceRoutes", "Rows",
           "check_transition", "invalid", "no_content", "page_response", "pager", "parameter",
           "patch", "route_function", "value_of"]

T = TypeVar("T")
F = TypeVar("F")

SAFE_TEXT = r"^[^\x00]*$"
"""Text PostgreSQL can store (no NUL character)."""

DeletionReason = Annotated[str | None, Query(
    max_length=1000, pattern=SAFE_TEXT, description="Why the row is deleted (kept with it).")]
"""The ``reason`` query parameter of a soft delete."""

IncludeDeleted = Annotated[bool, Query(description="Also soft-deleted rows.")]
"""The ``include_deleted`` query parameter of a list, an export or a read."""


def invalid(field_name: str, message: str, **extensions: Any) -> ValidationProblem:
    """A 422 naming one request field (``detail`` is ``field: message``)."""
    return ValidationProblem(f"{field_name}: {message}",
                             errors=[{"field": field_name, "message": message}], **extensions)


def patch(row: Any, data: BaseModel, names: Iterable[str] | None = None, *,
          required: Collection[str] = ()) -> set[str]:
    """Copy the fields a PATCH body sent (those of ``names``; all by default) onto ``row``, an
    enum as its value, and return their names. A ``required`` field sent as null is refused
    first (422 ``cannot be null`` naming it); the rules between fields stay the service's."""
    allowed = None if names is None else set(names)
    sent = [name for name in type(data).model_fields
            if name in data.model_fields_set and (allowed is None or name in allowed)]
    for name in sent:
        if name in required and getattr(data, name) is None:
            raise invalid(name, "cannot be null")
    for name in sent:
        value = getattr(data, name)
        setattr(row, name, value.value if isinstance(value, Enum) else value)
    return set(sent)


def check_transition(current: str, target: str, transitions: Mapping[str, Collection[str]],
                     what: str, problem: type[Conflict] = Conflict) -> None:
    """A 409 (``problem``) naming ``status`` unless ``current`` may become ``target`` in the
    state machine ``transitions`` (status → statuses it may become); with ``from``, ``to``
    and ``allowed``."""
    allowed = sorted(transitions[current])
    if target not in allowed:
        error = problem(f"A {current} {what} cannot become {target}"
                        + (f" (allowed: {', '.join(allowed)})." if allowed else " (final)."),
                        errors=[{"field": "status", "message": "transition not allowed"}],
                        to=target, allowed=allowed)
        error.extensions["from"] = current
        raise error


def value_of(choice: Enum | None) -> Any:
    """An enum query parameter as the value a filter holds (None: not filtered)."""
    return choice.value if choice is not None else None


def page_response(rows: Iterable[Any], cursor: str | None,
                  out: Callable[[Any], BaseModel]) -> Response:
    """A list page of ``rows`` in their response model (route: ``response_model=Page[X]``)."""
    return model_response(Page(items=[out(row) for row in rows], next_cursor=cursor))


def no_content() -> Response:
    """The empty 204 answer of a deletion."""
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def pager(query: Callable[[Actor, F], Select[Any]], *keys: Any, descending: bool = False,
          doc: str | None = None
          ) -> Callable[[Session, Actor, PageParams, F], tuple[list[Any], str | None]]:
    """``list_x(session, actor, params, filters)``: one keyset page of ``query(actor,
    filters)`` ordered by ``keys`` (the list route's service call; its export orders
    ``query`` the same way)."""
    def page(session: Session, actor: Actor, params: PageParams,
             filters: F) -> tuple[list[Any], str | None]:
        return keyset_page(session, query(actor, filters), keys, params, descending=descending)

    page.__doc__ = doc
    return page


# --- services ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rows:
    """A domain's rows: its constraint table (name or SQLSTATE → problem; others get the
    default of their kind, :func:`~fleetcore.core.errors.constraint_problem`) and the reads and
    writes every service repeats."""

    constraints: Mapping[str, ConstraintProblem] = field(default_factory=dict)
    not_deleted: str = "This row is not deleted."
    tenant_scoped: bool = True
    """Reads name the actor's tenant too (False: row-level security alone picks the rows)."""
    refreshed: tuple[str, ...] | None = ("version", "updated_at")
    """What :meth:`refresh` reads back after a write (None: the whole row)."""

    def flush(self, session: Session,
              known: Mapping[str, ConstraintProblem] | None = None) -> None:
        """Flush in a savepoint; constraint violations become 409/422 problems naming the
        field (``known`` replaces the domain's table for one write)."""
        flush_checked(session, self.constraints if known is None else known)

    def refresh(self, session: Session, row: T,
                known: Mapping[str, ConstraintProblem] | None = None) -> T:
        """Flush, then read back what the touch trigger set (``version``, ``updated_at``)."""
        self.flush(session, known)
        session.refresh(row, None if self.refreshed is None else list(self.refreshed))
        return row

    def new(self, actor: Actor, model: Callable[..., T], data: BaseModel, *,
            include: Iterable[str] | None = None, exclude: Iterable[str] = (),
            **values: Any) -> T:
        """A row of ``model`` made from a creation body: the body's fields of the same names
        (``include`` only; not ``exclude`` nor those in ``values``), an enum as its value,
        then ``values``; the actor's tenant, and the actor as its creator (not yet added)."""
        body = data.model_dump(include=None if include is None else set(include),
                               exclude={*exclude, *values})
        values.setdefault("tenant_id", tenant_of(actor))
        return model(created_by=actor.id, updated_by=actor.id, **values, **{
            name: value.value if isinstance(value, Enum) else value
            for name, value in body.items()})

    def add(self, session: Session, row: T,
            known: Mapping[str, ConstraintProblem] | None = None) -> T:
        """Insert ``row`` (constraint violations become problems) and read back its version."""
        session.add(row)
        return self.refresh(session, row, known)

    def save(self, session: Session, actor: Actor, row: T,
             known: Mapping[str, ConstraintProblem] | None = None) -> T:
        """Record ``actor`` as the last to change ``row``, write it, read back its version."""
        row.updated_by = actor.id  # type: ignore[attr-defined]
        return self.refresh(session, row, known)

    def get(self, session: Session, actor: Actor, model: type[T], row_id: uuid.UUID,
            what: str, *, include_deleted: bool = False, lock: bool = False,
            if_match: str | None = None) -> T:
        """The tenant's row ``row_id`` of ``model`` (live unless ``include_deleted``), or 404
        ``No such <what>.``; ``lock`` takes it ``FOR UPDATE``; with ``if_match``, 412 unless
        it names the row's version."""
        table: Any = model
        stmt = select(table).where(table.id == row_id)
        if self.tenant_scoped:
            stmt = stmt.where(table.tenant_id == tenant_of(actor))
        if not include_deleted and hasattr(table, "deleted_at"):
            stmt = stmt.where(table.deleted_at.is_(None))
        if lock:
            stmt = stmt.with_for_update()
        row: T | None = session.scalar(stmt)
        if row is None:
            raise NotFound(f"No such {what}.")
        if if_match is not None:
            check_if_match(if_match, row.version)  # type: ignore[attr-defined]
        return row

    def select(self, actor: Actor, model: Any, include_deleted: bool = False) -> Select[Any]:
        """The tenant's rows of ``model`` (live ones unless ``include_deleted``), to filter
        further: the start of a list's and its export's query."""
        stmt = select(model).where(model.tenant_id == tenant_of(actor))
        return stmt if include_deleted else stmt.where(model.deleted_at.is_(None))

    def require(self, session: Session, actor: Actor, model: type[Any],
                row_id: uuid.UUID | None, field_name: str, what: str) -> None:
        """A body's reference must name a live row the tenant sees; else 422 naming
        ``field_name`` (``None``: nothing referenced)."""
        if row_id is None:
            return
        stmt = select(model.id).where(model.tenant_id == tenant_of(actor), model.id == row_id)
        if hasattr(model, "deleted_at"):
            stmt = stmt.where(model.deleted_at.is_(None))
        if session.scalar(stmt) is None:
            raise invalid(field_name, f"no such {what}")

    def delete(self, session: Session, actor: Actor, row: Any, *, reason: str | None,
               if_match: str | None) -> None:
        """Soft-delete ``row`` (read with ``lock=True``) if ``if_match`` names its version
        (412 otherwise); who, when and why are kept on it."""
        check_if_match(if_match, row.version)
        row.mark_deleted(actor.id, reason)
        self.refresh(session, row)

    def restore(self, session: Session, actor: Actor, row: T) -> T:
        """Bring a soft-deleted ``row`` back (409 when it is not deleted)."""
        if not row.mark_restored(actor.id):  # type: ignore[attr-defined]
            raise Conflict(self.not_deleted)
        self.refresh(session, row)
        return row

    def delete_by_id(self, session: Session, actor: Actor, model: type[Any],
                     row_id: uuid.UUID, what: str, *, reason: str | None,
                     if_match: str | None) -> None:
        """:meth:`delete` the live row ``row_id`` of ``model`` (404 when there is none)."""
        row = self.get(session, actor, model, row_id, what, lock=True)
        self.delete(session, actor, row, reason=reason, if_match=if_match)

    def restore_by_id(self, session: Session, actor: Actor, model: type[T],
                      row_id: uuid.UUID, what: str) -> T:
        """:meth:`restore` the row ``row_id`` of ``model``, deleted or not (404, 409)."""
        row = self.get(session, actor, model, row_id, what, include_deleted=True, lock=True)
        return self.restore(session, actor, row)


    def getter(self, model: type[T], what: str) -> Callable[..., T]:
        """``get_x(session, actor, row_id, *, include_deleted=False, lock=False,
        if_match=None)`` of one model: its live row, or 404 ``No such <what>.``"""
        def get(session: Session, actor: Actor, row_id: uuid.UUID, *,
                include_deleted: bool = False, lock: bool = False,
                if_match: str | None = None) -> T:
            return self.get(session, actor, model, row_id, what,
                            include_deleted=include_deleted, lock=lock, if_match=if_match)

        get.__doc__ = f"One {what}, or 404."
        return get

    def deleter(self, model: type[Any], what: str,
                guard: Callable[[Session, Any], None] | None = None) -> Callable[..., None]:
        """``delete_x(session, actor, row_id, *, reason, if_match=None)``: soft-delete the
        live row under ``If-Match``; ``guard(session, row)`` may refuse it (after the 412)."""
        def delete(session: Session, actor: Actor, row_id: uuid.UUID, *, reason: str | None = None,
                   if_match: str | None = None) -> None:
            row = self.get(session, actor, model, row_id, what, lock=True)
            check_if_match(if_match, row.version)
            if guard is not None:
                guard(session, row)
            self.delete(session, actor, row, reason=reason, if_match=if_match)

        delete.__doc__ = f"Soft-delete a {what} (If-Match)."
        return delete

    def restorer(self, model: type[T], what: str,
                 guard: Callable[[Session, Any], None] | None = None) -> Callable[..., T]:
        """``restore_x(session, actor, row_id)``: bring a deleted row back (409 when it is not
        deleted, or when ``guard(session, row)`` refuses it)."""
        def restore(session: Session, actor: Actor, row_id: uuid.UUID) -> T:
            row = self.get(session, actor, model, row_id, what, include_deleted=True, lock=True)
            if guard is not None and getattr(row, "deleted_at", None) is not None:
                guard(session, row)
            return self.restore(session, actor, row)

        restore.__doc__ = f"Bring a deleted {what} back."
        return restore


# --- routes ------------------------------------------------------------------------------------


def parameter(name: str, annotation: Any, default: Any = inspect.Parameter.empty
              ) -> inspect.Parameter:
    """One parameter of a :func:`route_function` (FastAPI reads ``annotation``)."""
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
                             annotation=annotation)


def route_function(name: str, parameters: Sequence[inspect.Parameter],
                   run: Callable[..., Response]) -> Callable[..., Response]:
    """A route function called ``name`` taking ``parameters`` (what FastAPI reads to build
    the operation: its id comes from the name, its parameters from the signature); Python
    callers (the console) may pass them by position too."""
    signature = inspect.Signature(list(parameters), return_annotation=Response)

    def endpoint(*args: Any, **kwargs: Any) -> Response:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return run(**bound.arguments)

    endpoint.__name__ = endpoint.__qualname__ = name
    endpoint.__signature__ = signature  # type: ignore[attr-defined]
    return endpoint


@dataclass(frozen=True)
class ResourceRoutes:
    """The standard routes of one resource under ``router``.

    ``path`` is the collection (``vehicle-insurances``), ``param`` the id's path parameter
    (``insurance_id``), ``noun`` the suffix of the operation names (``get_insurance`` →
    ``getInsurance``), ``out`` turns a row into its response model ``model``, ``read`` and
    ``write`` are the permission dependencies (``Annotated[Actor, require(...)]``);
    ``row_of`` finds the row (its ``id`` and ``version``) in what the service functions return
    (a view around it, say).
    """

    router: APIRouter
    path: str
    param: str
    noun: str
    tags: Sequence[str | Enum]
    model: type[BaseModel]
    out: Callable[[Any], BaseModel]
    read: Any
    write: Any
    row_of: Callable[[Any], Any] = field(default=lambda found: found)
    plural: str | None = None
    """The collection's name in its list and export operations (``noun`` + s by default)."""

    def _item(self) -> str:
        return f"/{self.path}/{{{self.param}}}"

    def answer(self, row: Any, status_code: int = 200, **headers: str) -> Response:
        """``row`` in its response model, with its ``ETag`` (and ``headers``)."""
        version = self.row_of(row).version
        return model_response(self.out(row), {"ETag": etag(version), **headers},
                              status_code=status_code)

    def _add(self, method: str, path: str, name: str, summary: str,
             parameters: Sequence[inspect.Parameter], run: Callable[..., Response],
             **options: Any) -> Callable[..., Response]:
        if method != "DELETE":
            options.setdefault("response_model", self.model)
        endpoint = route_function(name, parameters, run)
        self.router.add_api_route(path, endpoint, methods=[method], tags=list(self.tags),
                                  summary=summary, name=name, **options)
        return endpoint

    def listing(self, summary: str, filters: Any, page_of: Callable[..., tuple[Any, str | None]],
             *, out: Callable[[Any], BaseModel] | None = None, page_first: bool = False,
             name: str | None = None, **options: Any) -> None:
        """``GET /<path>``: ``page_of(session, actor, page, filters)`` → (rows, next cursor);
        ``filters`` is the filter dependency the export shares (``page_first``: the page's
        parameters come first in the document)."""
        pair = [parameter("filters", filters), parameter("page", Pagination)]
        parameters = [*self._who(self.read), *(pair[::-1] if page_first else pair)]

        def run(actor: Any, session: Session, filters: Any, page: PageParams) -> Response:
            return page_response(*page_of(session, actor, page, filters), out or self.out)

        self._add("GET", f"/{self.path}", name or f"list_{self.plural or self.noun + 's'}",
                  summary, parameters, run,
                  response_model=Page[self.model],  # type: ignore[name-defined]
                  **options)

    def export(self, summary: str, filters: Any, query: Callable[[Any, Any], Any],
               columns: Sequence[Column], filename: str, *, order_by: Sequence[Any] = (),
               name: str | None = None, **options: Any) -> Callable[..., StreamingResponse]:
        """``GET /<path>/export.csv``: the rows of ``query(actor, filters)`` (in its order, or
        ``order_by``) as a streamed CSV of ``columns``; returns the route function (the console
        calls it)."""
        parameters = [*self._who(self.read), parameter("filters", filters)]

        def run(actor: Any, session: Session, filters: Any) -> StreamingResponse:
            stmt = query(actor, filters)
            if order_by:
                stmt = stmt.order_by(*order_by)
            return csv_response(session, stmt, columns, filename=filename)

        endpoint = self._add(
            "GET", f"/{self.path}/export.csv", name or f"export_{self.plural or self.noun + 's'}",
            summary, parameters, run, response_model=None, response_class=StreamingResponse,
            responses=csv_responses(columns), **options)
        return endpoint  # type: ignore[return-value]

    def _who(self, permission: Any) -> list[inspect.Parameter]:
        return [parameter("actor", permission), parameter("session", DbSession)]

    def get(self, summary: str, fetch: Callable[..., Any], *, include_deleted: bool = True,
            name: str | None = None, **options: Any) -> None:
        """``GET /<path>/{id}``: ``fetch(session, actor, id, include_deleted=…)`` (without
        the keyword when the resource has no ``include_deleted``)."""
        parameters = [*self._who(self.read), parameter(self.param, uuid.UUID)]
        if include_deleted:
            parameters.append(parameter("include_deleted", IncludeDeleted, False))

        def run(actor: Any, session: Session, **kwargs: Any) -> Response:
            row_id = kwargs.pop(self.param)
            return self.answer(fetch(session, actor, row_id, **kwargs))

        self._add("GET", self._item(), name or f"get_{self.noun}", summary, parameters, run,
                  **options)

    def create(self, summary: str, body: type[BaseModel], make: Callable[..., Any], *,
               name: str | None = None, **options: Any) -> None:
        """``POST /<path>``: ``make(session, actor, data=…)`` → the row (201, ``Location``)."""
        parameters = [*self._who(self.write), parameter("data", body)]

        def run(actor: Any, session: Session, data: BaseModel) -> Response:
            row = make(session, actor, data=data)
            return self.answer(row, status.HTTP_201_CREATED,
                                Location=f"/v1/{self.path}/{self.row_of(row).id}")

        self._add("POST", f"/{self.path}", name or f"create_{self.noun}", summary, parameters,
                  run, status_code=status.HTTP_201_CREATED, **options)

    def update(self, summary: str, body: type[BaseModel], change: Callable[..., Any], *,
               name: str | None = None, **options: Any) -> None:
        """``PATCH /<path>/{id}``: ``change(session, actor, id, data=…, if_match=…)`` → the
        row."""
        self._change("PATCH", self._item(), name or f"update_{self.noun}", summary, body,
                     change, **options)

    def action(self, verb: str, summary: str, body: type[BaseModel] | None,
               change: Callable[..., Any], *, optional: bool = False, lock: Any = None,
               name: str | None = None, **options: Any) -> None:
        """``POST /<path>/{id}/<verb>``, a state transition under ``If-Match``:
        ``change(session, actor, id, data=…, if_match=…)`` (no ``data`` without a body; None
        when an ``optional`` body is not sent). With ``lock`` (a model), the route locks that
        row and checks ``If-Match`` itself: ``change`` gets no ``if_match``."""
        self._change("POST", f"{self._item()}/{verb}", name or f"{verb}_{self.noun}", summary,
                     body, change, optional=optional, lock=lock, **options)

    def _change(self, method: str, path: str, name: str, summary: str,
                body: type[BaseModel] | None, change: Callable[..., Any], *,
                optional: bool = False, lock: Any = None, **options: Any) -> None:
        parameters = [*self._who(self.write), parameter("if_match", RequiredIfMatch),
                      parameter(self.param, uuid.UUID)]
        if body is not None:
            parameters.append(parameter("data", body | None, None) if optional
                              else parameter("data", body))

        def run(actor: Any, session: Session, if_match: str, **kwargs: Any) -> Response:
            row_id = kwargs.pop(self.param)
            if lock is None:
                kwargs["if_match"] = if_match
            else:
                lock_and_check_if_match(session, lock, if_match, lock.id == row_id)
            return self.answer(change(session, actor, row_id, **kwargs))

        self._add(method, path, name, summary, parameters, run, **options)

    def delete(self, summary: str, remove: Callable[..., Any], *,
               reason: Literal["query", "body"] | None = "query", name: str | None = None,
               **options: Any) -> None:
        """``DELETE /<path>/{id}`` (204): ``remove(session, actor, id, reason=…,
        if_match=…)``; the reason is the ``reason`` query parameter, an optional
        :class:`Deletion` body, or none (``reason=None``: ``remove`` takes no ``reason``)."""
        parameters = [*self._who(self.write), parameter("if_match", RequiredIfMatch),
                      parameter(self.param, uuid.UUID)]
        if reason == "body":
            parameters.append(parameter("data", Deletion | None, None))
        elif reason == "query":
            parameters.append(parameter("reason", DeletionReason, None))

        def run(actor: Any, session: Session, if_match: str, **kwargs: Any) -> Response:
            row_id = kwargs.pop(self.param)
            if reason == "body":
                data = kwargs.pop("data")
                kwargs["reason"] = data.reason if data is not None else None
            remove(session, actor, row_id, if_match=if_match, **kwargs)
            return no_content()

        self._add("DELETE", self._item(), name or f"delete_{self.noun}", summary, parameters,
                  run, status_code=status.HTTP_204_NO_CONTENT, **options)

    def restore(self, summary: str, bring_back: Callable[..., Any], *,
                name: str | None = None, **options: Any) -> None:
        """``POST /<path>/{id}/restore``: ``bring_back(session, actor, id)`` → the row."""
        parameters = [*self._who(self.write), parameter(self.param, uuid.UUID)]

        def run(actor: Any, session: Session, **kwargs: Any) -> Response:
            return self.answer(bring_back(session, actor, kwargs[self.param]))

        self._add("POST", f"{self._item()}/restore", name or f"restore_{self.noun}", summary,
                  parameters, run, **options)
