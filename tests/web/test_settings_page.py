"""The settings page: the owner saves the fleet's identity and tax settings and the payout
settings (four-eyes, the fleet's bank account); a bad IBAN comes back next to its field;
members without tenants:write see the settings read-only."""

from __future__ import annotations

import re
from collections.abc import Callable

from fleet_support import Fleet
from web_support import Browser


def _version(html: str, action: str) -> str:
    found = re.search(rf'action="/app/{action}" novalidate>\s*<input type="hidden"'
                      r' name="csrf_token" value="[^"]*"><input type="hidden" name="version"'
                      r' value="(\d+)"', html)
    assert found, action
    return found.group(1)


def test_the_owner_saves_the_fleets_settings(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world)
    page = browser.get("/app/settings")
    assert page.status_code == 200
    version = _version(page.text, "settings")
    body = {"name": "Lumière VTC", "legal_name": "Lumière VTC SAS", "siret": "123",
            "default_currency": "EUR", "timezone": "Europe/Paris", "self_billing": "on",
            "prices_include_vat": "on", "version": version}
    bad = browser.post("/app/settings", body, page="/app/settings")
    assert bad.status_code == 422
    assert re.search(r'<small id="siret-error" class="field-error">[^<]+</small>', bad.text)
    saved = browser.post("/app/settings", {**body, "siret": "12345678900012"},
                         page="/app/settings")
    assert saved.status_code == 303, saved.text[:800]
    row = fleet.sql("SELECT legal_name, tax_settings->>'siret', tax_settings->>'self_billing'"
                    f" FROM adm_tenants WHERE id = '{fleet.world.id}'")
    assert row == [("Lumière VTC SAS", "12345678900012", "true")]

    page = browser.get("/app/settings")
    version = _version(page.text, "settings/payouts")
    iban = browser.post("/app/settings/payouts", {
        "four_eyes": "on", "debtor_name": "Lumière VTC SAS",
        "debtor_iban": "FR14 2004 1010 0505 0001 3M02 600", "version": version},
        page="/app/settings")
    assert iban.status_code == 422
    assert re.search(r'<small id="debtor_iban-error" class="field-error">[^<]+</small>',
                     iban.text)
    ok = browser.post("/app/settings/payouts", {
        "four_eyes": "on", "debtor_name": "Lumière VTC SAS",
        "debtor_iban": "FR14 2004 1010 0505 0001 3M02 606", "version": version},
        page="/app/settings")
    assert ok.status_code == 303, ok.text[:800]
    four_eyes = fleet.sql("SELECT settings->'payouts'->>'four_eyes' FROM adm_tenants"
                          f" WHERE id = '{fleet.world.id}'")
    assert four_eyes == [("true",)]

    viewer = signed_in(fleet.world, "fleet_manager")
    read_only = viewer.get("/app/settings")
    assert read_only.status_code == 200
    assert "<fieldset disabled>" in read_only.text
    assert viewer.post("/app/settings", body, page="/app/settings").status_code == 403
