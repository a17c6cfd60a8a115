"""The fleet's settings: its legal identity (printed on statements and invoices), contact,
time zone, currency and tax settings (``tenants:write``), and how payouts are approved and
paid from (``payouts:approve``). The same services and rules as ``/v1/tenant-settings`` and
``/v1/payout-settings``."""

from __future__ import annotations

from typing import Any

from fastapi.responses import HTMLResponse, Response

from fleetcore.admin import service as admin_service
from fleetcore.admin.permissions import SettingsRead, SettingsWrite
from fleetcore.admin.schemas import TenantSettingsUpdate
from fleetcore.core.errors import Problem
from fleetcore.finance import payout_account_service, payout_service
from fleetcore.finance.payout_schemas import PayoutSettingsIn
from fleetcore.finance.permissions import PayoutsApprove
from fleetcore.web.deps import Ctx, Form
from fleetcore.web.forms import FormInvalid, FormState, apply_problem, attempt, build, text_values
from fleetcore.web.i18n import CONSOLE_LANGUAGES, gettext, use_locale
from fleetcore.web.rendering import Console, redirect
from fleetcore.web.routes.base import form_if_match, page_router
from fleetcore.web.security import safe_next

router = page_router()

FIELDS = ("name", "legal_name", "contact_email", "vat_number", "vat_rate_pct", "siret",
          "address", "default_currency", "timezone", "language", "version")
CHECKS = ("self_billing", "prices_include_vat")
PAYOUT_FIELDS = ("debtor_name", "debtor_iban", "debtor_bic", "version")


def _page(c: Console, state: FormState, payouts: FormState,
          status_code: int = 200) -> HTMLResponse:
    return c.render("settings.html", status_code=status_code, state=state, payouts=payouts,
                    languages=list(CONSOLE_LANGUAGES.items()))


def _initial(c: Console) -> tuple[FormState, FormState]:
    tenant = admin_service.own_tenant(c.session, c.actor)
    out = admin_service.tenant_settings(tenant)
    values = {k: "" if v is None else str(v) for k, v in out.model_dump().items()}
    for check in CHECKS:
        values[check] = "on" if getattr(out, check) else ""
    payouts = FormState(values={"version": str(tenant.version)})
    if c.can("payouts:approve"):
        current = payout_service.payout_settings(c.session, c.actor)
        debtor = current.get("debtor") or {}
        payouts.values.update(four_eyes="on" if current.get("four_eyes") else "",
                              debtor_name=debtor.get("name", ""),
                              debtor_iban=debtor.get("iban", ""),
                              debtor_bic=debtor.get("bic") or "")
    return FormState(values=values), payouts


@router.get("/settings")
def settings_page(c: Ctx, _: SettingsRead) -> HTMLResponse:
    """The fleet's settings (read-only without ``tenants:write``)."""
    state, payouts = _initial(c)
    return _page(c, state, payouts)


@router.post("/settings")
def save_settings(c: Ctx, _: SettingsWrite, form: Form) -> Response:
    """Save identity, contact and tax settings with the version the page showed."""
    payouts = _initial(c)[1]
    state = FormState(values=text_values(form, FIELDS))
    for check in CHECKS:
        state.values[check] = "on" if form.get(check) else ""
    data: dict[str, Any] = {k: (v or None) for k, v in state.values.items()
                            if k not in ("version", *CHECKS)}
    for required in ("name", "default_currency", "timezone"):
        if not data.get(required):
            data.pop(required, None)
    data.update({check: bool(state.values[check]) for check in CHECKS})
    try:
        update = build(TenantSettingsUpdate, data, state)
        if_match = form_if_match(state.values.get("version"), "settings")
        attempt(c.session, lambda: admin_service.update_tenant_settings(
            c.session, c.actor, data=update, if_match=if_match))
    except FormInvalid:
        return _page(c, state, payouts, 422)
    except Problem as problem:
        if problem.status == 412:
            problem.detail = gettext("Someone changed the settings while you were editing: reload "
                               "the page to see their change, then apply yours again.")
        return _page(c, apply_problem(state, problem), payouts, problem.status)
    return redirect(c.request, "/app/settings", flash=gettext("Settings saved."))


@router.post("/settings/payouts")
def save_payout_settings(c: Ctx, _: PayoutsApprove, form: Form) -> Response:
    """Four-eyes approval of payout batches and the fleet's bank account for SEPA files."""
    state = _initial(c)[0]
    payouts = FormState(values=text_values(form, PAYOUT_FIELDS))
    payouts.values["four_eyes"] = "on" if form.get("four_eyes") else ""
    data: dict[str, Any] = {"four_eyes": bool(payouts.values["four_eyes"])}
    if payouts.values.get("debtor_iban"):
        data["debtor"] = {"name": payouts.values.get("debtor_name", ""),
                          "iban": payouts.values["debtor_iban"],
                          "bic": payouts.values.get("debtor_bic") or None}
    try:
        update = build(PayoutSettingsIn, data, payouts)
        if_match = form_if_match(payouts.values.get("version"), "settings")
        attempt(c.session, lambda: payout_account_service.update_payout_settings(
            c.session, c.actor, data=update, if_match=if_match))
    except FormInvalid:
        return _page(c, state, _debtor_errors(payouts), 422)
    except Problem as problem:
        if problem.status == 412:
            problem.detail = gettext("The settings changed meanwhile: reload the page and try "
                                     "again.")
        return _page(c, state, _debtor_errors(apply_problem(payouts, problem)), problem.status)
    return redirect(c.request, "/app/settings#payouts", flash=gettext("Payout settings saved."))


@router.post("/language")
def change_language(c: Ctx, form: Form) -> Response:
    """The signed-in member's own console language (the menu next to their e-mail)."""
    language = str(form.get("language") or "")
    back = safe_next(str(form.get("next") or ""))
    if language not in CONSOLE_LANGUAGES or c.member_language is None:
        return redirect(c.request, back, flash=gettext("This language is not offered."))
    admin_service.set_own_language(c.session, c.actor, language)
    use_locale(language)
    return redirect(c.request, back, flash=gettext("The console now speaks English."))


def _debtor_errors(state: FormState) -> FormState:
    """The API's ``debtor`` (or ``debtor.iban``) error lands next to the form's IBAN or BIC."""
    message = state.errors.pop("debtor", None)
    if message:
        state.add("debtor_bic" if "bic" in message.lower() else "debtor_iban", message)
    return state


__all__ = ["router"]
