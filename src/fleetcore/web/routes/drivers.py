"""Drivers: the filtered list, a driver's page (documents, terms, requests, training,
performance, compliance, custody) and the add/edit forms."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from fleetcore.admin import queries as admin_queries
from fleetcore.core.deps import request_info
from fleetcore.core.errors import NotFound, Problem
from fleetcore.core.pagination import PageParams
from fleetcore.core.versioning import lock_and_check_if_match
from fleetcore.documents import service as documents_service
from fleetcore.documents.filters import DocumentFilter, DocumentSort
from fleetcore.drivers import api as drivers_api
from fleetcore.drivers import service as drivers_service
from fleetcore.drivers.filters import (
    DriverFilter,
    DriverSort,
    PerformanceFilter,
    RequestFilter,
    TermsFilter,
    TrainingFilter,
)
from fleetcore.drivers.models import (
    Driver,
    DriverCooperationTerms,
    DriverStatus,
    ProfessionalCardType,
    RentPeriod,
    SettlementModel,
)
from fleetcore.drivers.permissions import DriversRead, DriversWrite
from fleetcore.drivers.schemas import CooperationTermsCreate, DriverCreate, DriverUpdate
from fleetcore.finance import payout_account_service
from fleetcore.finance import service as ledger
from fleetcore.finance.payout_schemas import PayoutAccountOut
from fleetcore.fleet import queries as fleet_queries
from fleetcore.fleet import service as fleet_service
from fleetcore.fleet.filters import AssignmentFilter
from fleetcore.reference import queries as reference_queries
from fleetcore.trips import service as trips_service
from fleetcore.trips.filters import PlatformAccountFilter
from fleetcore.trips.models import PayoutReceiver
from fleetcore.trips.permissions import TripsWrite
from fleetcore.trips.schemas import PlatformAccountCreate
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import (
    FormState,
    attempt,
    changed_meanwhile,
    local_datetime,
    money_input,
    optional,
    submit,
    text_values,
)
from fleetcore.web.i18n import N_, gettext
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import enum_value, form_if_match, options, page, page_router

router = page_router()

FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth", "licence_number",
          "licence_country", "licence_issued_on", "licence_expires_on", "professional_card_type",
          "professional_card_number", "professional_card_expires_on", "status", "hired_on",
          "preferred_language", "notes", "member_id", "version")
OPTIONAL = ("email", "date_of_birth", "licence_number", "licence_country", "licence_issued_on",
            "licence_expires_on", "professional_card_type", "professional_card_number",
            "professional_card_expires_on", "hired_on", "notes", "member_id")
SORTS = [(DriverSort.NAME.value, N_("Name A→Z")), (DriverSort.NAME_DESC.value, N_("Name Z→A")),
         (DriverSort.NEWEST.value, N_("Newest first")),
         (DriverSort.CREATED.value, N_("Oldest first"))]
DETAIL_ROWS = 10


def _list_filter(q: str | None, status: str | None, sort: str | None) -> DriverFilter:
    return DriverFilter(status=enum_value(DriverStatus, status, "status"),
                        q=q.strip() if q and q.strip() else None,
                        sort=DriverSort(enum_value(DriverSort, sort, "sort") or DriverSort.NAME))


@router.get("/drivers")
def driver_list(
    c: Ctx, _: DriversRead, q: Annotated[str | None, Query(max_length=100)] = None,
    status: str | None = None, sort: str | None = None, cursor: str | None = None,
) -> HTMLResponse:
    """The fleet's drivers by name, e-mail or phone, with their car and compliance."""
    spec = _list_filter(q, status, sort)
    drivers, next_cursor = drivers_service.list_drivers(c.session, c.actor, page(cursor), spec)
    ids = [d.id for d in drivers]
    now = datetime.now(UTC)
    custody = {k.driver_id: k for k in fleet_queries.current_custody(
        c.session, c.tenant.id, now, driver_ids=ids)}
    vehicles = fleet_queries.vehicle_labels(c.session, c.tenant.id,
                                            {k.vehicle_id for k in custody.values()})
    compliance = drivers_service.drivers_compliance(c.session, c.actor, ids, now) if ids else {}
    params = {"q": spec.q, "status": spec.status, "sort": spec.sort.value}
    template = "drivers/_table.html" if c.is_htmx else "drivers/list.html"
    return c.render(template, drivers=drivers, custody=custody, vehicles=vehicles,
                    compliance=compliance, params=params, next_cursor=next_cursor,
                    statuses=options(DriverStatus), sorts=SORTS)


@router.get("/drivers/export.csv")
def driver_export(
    c: Ctx, _: DriversRead, q: Annotated[str | None, Query(max_length=100)] = None,
    status: str | None = None, sort: str | None = None,
) -> StreamingResponse:
    """The filtered drivers as the API's CSV (``GET /v1/drivers/export.csv``)."""
    return drivers_api.export_drivers(c.actor, c.session, _list_filter(q, status, sort))


# --- add and edit --------------------------------------------------------------------------


def _form(c: Console, state: FormState, *, driver: Driver | None,
          status_code: int = 200) -> HTMLResponse:
    members = [(m.value, m.label) for m in admin_queries.member_choices(c.session, c.tenant.id)]
    return c.render("drivers/form.html", status_code=status_code, state=state, driver=driver,
                    statuses=options(DriverStatus), cards=options(ProfessionalCardType),
                    members=members)


def _initial(driver: Driver | None) -> FormState:
    if driver is None:
        return FormState(values={"status": "onboarding", "preferred_language": "en"})
    values = {name: "" if getattr(driver, name, None) is None else str(getattr(driver, name))
              for name in FIELDS if name != "version"}
    values["version"] = str(driver.version)
    return FormState(values=values)


def _data(values: dict[str, str]) -> dict[str, Any]:
    data = optional({k: v for k, v in values.items() if k != "version"}, *OPTIONAL)
    if data.get("licence_country"):
        data["licence_country"] = data["licence_country"].upper()
    return data


@router.get("/drivers/new")
def new_driver(c: Ctx, _: DriversWrite) -> HTMLResponse:
    """The add-a-driver form."""
    return _form(c, _initial(None), driver=None)


@router.post("/drivers")
def create_driver(c: Ctx, _: DriversWrite, form: Form) -> Response:
    """Add a driver (the phone is read in the fleet's country)."""
    state = FormState(values=text_values(form, FIELDS))
    driver = submit(c.session, state, DriverCreate,
                    {k: v for k, v in _data(state.values).items() if v is not None},
                    lambda data: drivers_service.create_driver(c.session, c.actor, data=data),
                    lambda s, code: _form(c, s, driver=None, status_code=code))
    if isinstance(driver, Response):
        return driver
    return redirect(c.request, f"/app/drivers/{driver.id}",
                    flash=gettext("%(first_name)s %(last_name)s added.",
                                  first_name=driver.first_name, last_name=driver.last_name))


@router.get("/drivers/{driver_id}/edit")
def edit_driver(c: Ctx, _: DriversWrite, driver_id: uuid.UUID) -> HTMLResponse:
    """The edit form of a driver."""
    driver = drivers_service.get_driver(c.session, c.actor, driver_id)
    return _form(c, _initial(driver), driver=driver)


@router.post("/drivers/{driver_id}/edit")
def update_driver(c: Ctx, _: DriversWrite, driver_id: uuid.UUID, form: Form) -> Response:
    """Save a driver's changes (refused when someone saved another change meanwhile)."""
    driver = drivers_service.get_driver(c.session, c.actor, driver_id)
    state = FormState(values=text_values(form, FIELDS))
    version = state.values.get("version", "")
    refused = submit(c.session, state, DriverUpdate, _data(state.values),
                     lambda data: drivers_service.update_driver(
                         c.session, c.actor, driver_id, data=data,
                         if_match=form_if_match(version, "driver")),
                     lambda s, code: _form(c, s, driver=driver, status_code=code),
                     adjust=changed_meanwhile(gettext(
                         "Someone else changed this driver while you were editing: reload the "
                         "page to see their change, then apply yours again.")))
    if isinstance(refused, Response):
        return refused
    return redirect(c.request, f"/app/drivers/{driver_id}", flash=gettext("Driver saved."))


# --- one driver ----------------------------------------------------------------------------


@router.get("/drivers/{driver_id}")
def driver_detail(c: Ctx, _: DriversRead, driver_id: uuid.UUID) -> HTMLResponse:
    """Everything about one driver, each section shown to those who may read it."""
    driver = drivers_service.get_driver(c.session, c.actor, driver_id)
    now = datetime.now(UTC)
    rows = PageParams(limit=DETAIL_ROWS)
    context: dict[str, Any] = {
        "driver": driver,
        "compliance": drivers_service.driver_compliance(c.session, c.actor, driver_id, now),
        "terms": drivers_service.list_cooperation_terms(
            c.session, c.actor, rows, TermsFilter(driver_id=driver_id))[0],
        "training": drivers_service.list_training(
            c.session, c.actor, rows, TrainingFilter(driver_id=driver_id))[0],
        "performance": drivers_service.list_performances(
            c.session, c.actor, PageParams(limit=8), PerformanceFilter(driver_id=driver_id))[0],
        "requests": None, "documents": None, "requirements": {}, "assignments": None,
        "vehicle_labels": {}, "balances": None,
        "drivers": {driver.id: f"{driver.first_name} {driver.last_name}"},
    }
    context["accounts"] = None
    if c.can("trips:read"):
        context["accounts"], _more = trips_service.list_platform_accounts(
            c.session, c.actor, rows, PlatformAccountFilter(driver_id=driver_id))
        context["platforms"] = {p.id: p.name for p in reference_queries.platform_labels(c.session)}
    if c.can("driver_requests:read"):
        context["requests"] = drivers_service.list_driver_requests(
            c.session, c.actor, rows, RequestFilter(driver_id=driver_id))[0]
    if c.can("documents:read"):
        context["documents"], _more = documents_service.list_documents(
            c.session, c.actor, PageParams(limit=20), DocumentFilter(
                entity_type="driver", entity_id=driver_id, sort=DocumentSort.NEWEST))
        links = drivers_service.driver_documents(c.session, c.actor, driver_id)
        context["requirements"] = {doc.id: link.requirement for link, doc in links}
    context["payout_accounts"] = None
    if c.can("payouts:read"):
        context["payout_accounts"] = [
            PayoutAccountOut.of(a)
            for a in payout_account_service.list_payout_accounts(c.session, c.actor, driver_id)]
    if c.can("ledger:read"):
        context["balances"] = ledger.driver_balances(
            c.session, c.actor, driver_ids=[driver_id],
            as_of=c.today)
    if c.can("assignments:read"):
        assignments, _more = fleet_service.list_assignments(
            c.session, c.actor, rows, AssignmentFilter(driver_id=driver_id))
        context["assignments"] = assignments
        context["vehicle_labels"] = fleet_queries.vehicle_labels(
            c.session, c.tenant.id, {a.vehicle_id for a in assignments})
    return c.render("drivers/detail.html", **context)


# --- cooperation terms ---------------------------------------------------------------------

TERMS_FIELDS = ("terms_version", "effective_from", "effective_to", "settlement_model",
                "fleet_share_pct", "rent", "rent_period", "deposit", "weekly_deposit_instalment")
RECHARGES = (("recharge_fuel", N_("Fuel")), ("recharge_tolls", N_("Tolls")),
             ("recharge_fines", N_("Traffic fines")),
             ("recharge_other_expenses", N_("Other expenses")))


def _terms_form(c: Console, driver: Driver, state: FormState,
                status_code: int = 200) -> HTMLResponse:
    return c.render("drivers/terms_form.html", status_code=status_code, state=state,
                    driver=driver, models=options(SettlementModel), periods=options(RentPeriod),
                    recharges=RECHARGES)


@router.get("/drivers/{driver_id}/terms/new")
def new_terms(c: Ctx, _: DriversWrite, driver_id: uuid.UUID) -> HTMLResponse:
    """Offer a driver a version of cooperation terms (revenue share or rent, recharges)."""
    driver = drivers_service.get_driver(c.session, c.actor, driver_id)
    monday = c.today - timedelta(days=c.today.weekday())
    start = monday + timedelta(weeks=1)
    return _terms_form(c, driver, FormState(values={
        "terms_version": f"{c.today:%Y-%m}", "settlement_model": "revenue_share",
        "effective_from": f"{start.isoformat()}T00:00", "rent_period": "week"}))


@router.post("/drivers/{driver_id}/terms")
def create_terms(c: Ctx, _: DriversWrite, driver_id: uuid.UUID, form: Form) -> Response:
    """Record the offered terms (pending until the driver's acceptance is recorded)."""
    driver = drivers_service.get_driver(c.session, c.actor, driver_id)
    state = FormState(values=text_values(form, TERMS_FIELDS))
    for name, _label in RECHARGES:
        if form.get(name):
            state.values[name] = "on"
    values: dict[str, Any] = optional(state.values, "effective_to", "fleet_share_pct",
                                      "rent_period")
    for name in ("effective_from", "effective_to"):
        values[name] = local_datetime(values.get(name), c.tenant.zone, name=name, state=state)
    if not state.values.get("effective_from"):
        state.add("effective_from", gettext("Fill in the start"))
    for name in ("rent", "deposit", "weekly_deposit_instalment"):
        values[name] = money_input(values.get(name), c.tenant.currency)
    if values.get("settlement_model") != SettlementModel.FIXED_RENT.value:
        values.pop("rent_period", None)  # the form always sends a period; only rent uses it
    values.update({name: name in state.values for name, _label in RECHARGES},
                  driver_id=str(driver_id), currency=c.tenant.currency)
    terms = submit(c.session, state, CooperationTermsCreate,
                   {k: v for k, v in values.items() if v is not None},
                   lambda data: drivers_service.create_cooperation_terms(
                       c.session, c.actor, data=data),
                   lambda s, code: _terms_form(c, driver, s, code))
    if isinstance(terms, Response):
        return terms
    return redirect(c.request, f"/app/drivers/{driver_id}#terms",
                    flash=gettext("Terms %(terms_version)s offered to %(first_name)s "
                                  "%(last_name)s: record the acceptance once signed.",
                                  terms_version=terms.terms_version, first_name=driver.first_name,
                                  last_name=driver.last_name))


@router.post("/drivers/{driver_id}/terms/{terms_id}/accept")
def accept_terms(c: Ctx, _: DriversWrite, driver_id: uuid.UUID, terms_id: uuid.UUID,
                 form: Form) -> Response:
    """Record the driver's acceptance; the terms in force until then end where these start."""
    if_match = form_if_match(form.get("version"), "terms")
    try:
        attempt(c.session, lambda: _accept(c, terms_id, driver_id, if_match))
    except Problem as problem:
        if problem.status == 412:
            problem.detail = gettext(
                "These terms changed meanwhile: reload the page and try again.")
        return redirect(c.request, f"/app/drivers/{driver_id}#terms", flash=problem.detail)
    return redirect(c.request, f"/app/drivers/{driver_id}#terms",
                    flash=gettext("Acceptance recorded: these terms are in force from their "
                                  "start."))


def _accept(c: Console, terms_id: uuid.UUID, driver_id: uuid.UUID, if_match: str) -> None:
    if drivers_service.get_cooperation_terms(c.session, c.actor, terms_id).driver_id != driver_id:
        raise NotFound(gettext("No such cooperation terms for this driver."))
    lock_and_check_if_match(c.session, DriverCooperationTerms, if_match,
                            DriverCooperationTerms.id == terms_id,
                            DriverCooperationTerms.driver_id == driver_id)
    info = request_info(c.request)
    drivers_service.accept_cooperation_terms(c.session, c.actor, terms_id, ip=info.ip,
                                             user_agent=info.user_agent)


# --- platform accounts ---------------------------------------------------------------------

ACCOUNT_FIELDS = ("platform", "external_account_id", "payout_receiver", "display_name")


def _account_form(c: Console, driver: Driver, state: FormState,
                  status_code: int = 200) -> HTMLResponse:
    platforms = reference_queries.platform_labels(c.session)
    return c.render("drivers/account_form.html", status_code=status_code, state=state,
                    driver=driver, platforms=[(p.code, p.name) for p in platforms],
                    receivers=options(PayoutReceiver))


@router.get("/drivers/{driver_id}/platform-accounts/new")
def new_platform_account(c: Ctx, _: TripsWrite, driver_id: uuid.UUID) -> HTMLResponse:
    """Link how a platform names this driver (Uber driver UUID, Bolt phone or e-mail)."""
    driver = drivers_service.get_driver(c.session, c.actor, driver_id)
    return _account_form(c, driver, FormState(values={"payout_receiver": "fleet"}))


@router.post("/drivers/{driver_id}/platform-accounts")
def create_platform_account(c: Ctx, _: TripsWrite, driver_id: uuid.UUID,
                            form: Form) -> Response:
    """Save the account; report rows waiting for it are given to the driver."""
    driver = drivers_service.get_driver(c.session, c.actor, driver_id)
    state = FormState(values=text_values(form, ACCOUNT_FIELDS))
    values: dict[str, Any] = optional(state.values, "display_name")
    values["driver_id"] = str(driver_id)
    account = submit(c.session, state, PlatformAccountCreate,
                     {k: v for k, v in values.items() if v is not None},
                     lambda data: trips_service.create_platform_account(
                         c.session, c.actor, data=data),
                     lambda s, code: _account_form(c, driver, s, code))
    if isinstance(account, Response):
        return account
    return redirect(c.request, f"/app/drivers/{driver_id}#accounts",
                    flash=gettext("Account %(external_account_id)s linked to %(first_name)s "
                                  "%(last_name)s.",
                                  external_account_id=account.external_account_id,
                                  first_name=driver.first_name, last_name=driver.last_name))
