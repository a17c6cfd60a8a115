"""Fleetcore's sales pipeline in the staff console (``/app/provider``): the pipeline board
(open deals by stage, with the weighted forecast), leads, and contracts with their signing.

Everything goes through ``crm.service`` under the same rules as ``/v1/crm``: the forms build
the API's own request models, and a change names the version the page showed (If-Match).
"""

from __future__ import annotations

import uuid
from datetime import date

from fastapi.responses import HTMLResponse, Response

from fleetcore.billing import queries as billing_queries
from fleetcore.core.errors import Problem
from fleetcore.crm import queries as crm_queries
from fleetcore.crm import service
from fleetcore.crm.models import (
    ContractStatus,
    LeadPriority,
    LeadStatus,
    OpportunityStage,
)
from fleetcore.crm.permissions import CrmRead, CrmWrite
from fleetcore.crm.schemas import (
    ContractCreate,
    ContractSign,
    LeadCreate,
    OpportunityCreate,
    OpportunityUpdate,
)
from fleetcore.web.deps import Form, StaffCtx
from fleetcore.web.forms import (
    FormState,
    attempt,
    drop_empty,
    money_input,
    submit,
    text_values,
)
from fleetcore.web.i18n import gettext
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import enum_value, form_if_match, options, page, page_router

router = page_router()

BOARD_STAGES = (OpportunityStage.PROSPECTING, OpportunityStage.PROPOSAL,
                OpportunityStage.NEGOTIATION)
FORECAST_MONTHS = 6
LEAD_FIELDS = ("company_name", "contact_name", "email", "phone", "country", "fleet_size",
               "source", "priority")
OPPORTUNITY_FIELDS = ("lead_id", "name", "stage", "expected_value", "currency",
                      "probability_pct", "expected_close_on", "proposed_plan_id")
CONTRACT_FIELDS = ("opportunity_id", "starts_on", "ends_on", "plan_id", "customer_vat_number",
                   "signatory_email")


def _plans(c: Console) -> list[tuple[str, str]]:
    plans = billing_queries.active_plans(c.session)
    return [(str(p.id), f"{p.name} ({p.code} v{p.plan_version})") for p in plans]


def _month(day: date, ahead: int) -> str:
    index = day.year * 12 + day.month - 1 + ahead
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# --- the pipeline board --------------------------------------------------------------------


def _board(c: Console, state: FormState, status_code: int = 200) -> HTMLResponse:
    open_deals = crm_queries.open_deals(c.session, limit=500)
    columns = {stage.value: [o for o in open_deals if o.stage == stage.value]
               for stage in BOARD_STAGES}
    since = _month(c.today, 0)
    until = _month(c.today, FORECAST_MONTHS - 1)
    leads = crm_queries.open_leads(c.session, limit=500)
    return c.render("provider/pipeline.html", status_code=status_code, columns=columns,
                    stages=BOARD_STAGES, forecast=service.forecast(c.session, since=since,
                                                                   until=until),
                    since=since, until=until, plans=_plans(c), state=state,
                    lead_options=[(str(lead.id), lead.company_name) for lead in leads],
                    stage_options=options(OpportunityStage))


@router.get("/provider/pipeline")
def pipeline(c: StaffCtx, _: CrmRead) -> HTMLResponse:
    """Open deals by stage, and the weighted forecast of the next months."""
    return _board(c, FormState(values={"stage": OpportunityStage.PROSPECTING.value,
                                       "currency": "EUR"}))


@router.post("/provider/opportunities")
def create_opportunity(c: StaffCtx, _: CrmWrite, form: Form) -> Response:
    """Open a deal with a lead."""
    state = FormState(values=text_values(form, OPPORTUNITY_FIELDS))
    values = drop_empty({k: v for k, v in state.values.items()
                         if k not in ("expected_value", "currency")})
    values["expected_value"] = money_input(state.values.get("expected_value"),
                                           state.values.get("currency") or "EUR")

    made = submit(c.session, state, OpportunityCreate, drop_empty(values),
                  lambda data: service.create_opportunity(c.session, c.actor, data),
                  lambda s, code: _board(c, s, code))
    if isinstance(made, Response):
        return made
    return redirect(c.request, "/app/provider/pipeline",
                               flash=gettext("Deal %(name)s opened.", name=made.name))


@router.post("/provider/opportunities/{opportunity_id}/stage")
def move_opportunity(c: StaffCtx, _: CrmWrite, opportunity_id: uuid.UUID,
                     form: Form) -> Response:
    """Move a deal to another stage (lost: with the reason), as of the version shown."""
    if_match = form_if_match(form.get("version"), "deal")
    changes = drop_empty({"stage": form.get("stage"), "lost_reason": form.get("lost_reason")})
    try:
        data = OpportunityUpdate.model_validate(changes)
        moved = attempt(c.session, lambda: service.update_opportunity(
            c.session, c.actor, opportunity_id, data, if_match=if_match))
    except Problem as problem:
        if problem.status == 412:
            problem.detail = gettext("This deal changed meanwhile: reload the page and try again.")
        return redirect(c.request, "/app/provider/pipeline", flash=problem.detail or problem.title)
    except ValueError as exc:
        return redirect(c.request, "/app/provider/pipeline",
                                   flash=gettext("Not a stage: %(exc)s", exc=exc))
    return redirect(c.request, "/app/provider/pipeline",
                    flash=f"{moved.name}: {moved.stage.replace('_', ' ')}.")


# --- leads ---------------------------------------------------------------------------------


def _leads(c: Console, state: FormState, *, status: str | None = None,
           cursor: str | None = None, status_code: int = 200) -> HTMLResponse:
    rows, next_cursor = crm_queries.leads_page(c.session, page(cursor), status=status)
    return c.render("provider/leads.html", status_code=status_code, leads=rows,
                    next_cursor=next_cursor, params={"status": status}, state=state,
                    statuses=options(LeadStatus), priorities=options(LeadPriority))


@router.get("/provider/leads")
def leads(c: StaffCtx, _: CrmRead, status: str | None = None,
          cursor: str | None = None) -> HTMLResponse:
    """The leads, newest id last; add one."""
    return _leads(c, FormState(values={"priority": LeadPriority.NORMAL.value}),
                  status=enum_value(LeadStatus, status, "lead status"), cursor=cursor)


@router.post("/provider/leads")
def create_lead(c: StaffCtx, _: CrmWrite, form: Form) -> Response:
    """Record a new lead."""
    state = FormState(values=text_values(form, LEAD_FIELDS))

    made = submit(c.session, state, LeadCreate, drop_empty(dict(state.values)),
                  lambda data: service.create_lead(c.session, c.actor, data),
                  lambda s, code: _leads(c, s, status_code=code))
    if isinstance(made, Response):
        return made
    return redirect(c.request, "/app/provider/leads", flash=gettext("%(company_name)s added.",
                                                                    company_name=made.company_name))


# --- contracts -----------------------------------------------------------------------------


def _contracts(c: Console, state: FormState, *, status: str | None = None,
               cursor: str | None = None, status_code: int = 200) -> HTMLResponse:
    rows, next_cursor = crm_queries.contracts_page(c.session, page(cursor), status=status)
    deals = crm_queries.live_deals(c.session, limit=500)
    return c.render("provider/contracts.html", status_code=status_code, contracts=rows,
                    next_cursor=next_cursor, params={"status": status}, state=state,
                    statuses=options(ContractStatus), plans=_plans(c),
                    deal_options=[(str(d.id), d.name) for d in deals])


@router.get("/provider/contracts")
def contracts(c: StaffCtx, _: CrmRead, status: str | None = None,
              cursor: str | None = None) -> HTMLResponse:
    """The contracts; draft one for a deal, sign one (which provisions the fleet)."""
    return _contracts(c, FormState(), status=enum_value(ContractStatus, status,
                                                        "contract status"), cursor=cursor)


@router.post("/provider/contracts")
def create_contract(c: StaffCtx, _: CrmWrite, form: Form) -> Response:
    """Draft a contract for a deal (numbered at once)."""
    state = FormState(values=text_values(form, CONTRACT_FIELDS))

    made = submit(c.session, state, ContractCreate, drop_empty(dict(state.values)),
                  lambda data: service.create_contract(c.session, c.actor, data),
                  lambda s, code: _contracts(c, s, status_code=code))
    if isinstance(made, Response):
        return made
    return redirect(c.request, "/app/provider/contracts",
                    flash=gettext("Contract %(contract_number)s drafted.",
                                  contract_number=made.contract_number))


@router.post("/provider/contracts/{contract_id}/sign")
def sign_contract(c: StaffCtx, _: CrmWrite, contract_id: uuid.UUID, form: Form) -> Response:
    """Sign: the customer's fleet, its invited owner and trial subscription are made at once."""
    if_match = form_if_match(form.get("version"), "contract")
    try:
        data = ContractSign.model_validate(drop_empty({"timezone": form.get("timezone")}))
        signed = attempt(c.session, lambda: service.sign_contract(
            c.session, c.actor, contract_id, data, if_match=if_match))
    except Problem as problem:
        if problem.status == 412:
            problem.detail = gettext("This contract changed meanwhile: reload the page and try "
                                     "again.")
        return redirect(c.request, "/app/provider/contracts",
                        flash=problem.detail or problem.title)
    except ValueError as exc:
        return redirect(c.request, "/app/provider/contracts", flash=str(exc))
    return redirect(c.request, "/app/provider/contracts", flash=(
        gettext("Contract %(contract_number)s signed: fleet %(tenant_slug)s is ready and its owner "
                "invited.",
                contract_number=signed.contract.contract_number, tenant_slug=signed.tenant_slug)))

