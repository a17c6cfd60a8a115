"""What the weekly cycle needs on a driver's page: the bank account SEPA payouts pay to (IBAN
checked, shown masked) and the member who signs in to the driver portal as the driver."""

from __future__ import annotations

import re
from collections.abc import Callable

from fleet_support import Fleet
from web_support import Browser

IBAN = "FR14 2004 1010 0505 0001 3M02 606"


def _error(html: str, field: str) -> str:
    found = re.search(rf'<small id="{field}-error" class="field-error">([^<]*)</small>', html)
    assert found, f"no error next to {field}"
    return found.group(1)


def test_a_drivers_bank_account_is_checked_saved_and_shown_masked(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world, "finance")
    driver = fleet.driver(first_name="Inès", last_name="Carvalho")
    page = browser.get(f"/app/drivers/{driver}")
    assert "No payout account: SEPA batches cannot pay this driver yet." in page.text
    assert f'href="/app/drivers/{driver}/bank-accounts/new"' in page.text
    form = browser.get(f"/app/drivers/{driver}/bank-accounts/new")
    assert 'value="Inès Carvalho"' in form.text  # the holder defaults to the driver

    wrong = browser.post(f"/app/drivers/{driver}/bank-accounts",
                         {"iban": IBAN[:-1] + "7", "holder_name": "Inès Carvalho"},
                         page=f"/app/drivers/{driver}/bank-accounts/new")
    assert wrong.status_code == 422
    assert _error(wrong.text, "iban")
    assert fleet.sql("SELECT count(*) FROM fin_accounts WHERE driver_id = :d", d=driver) == [
        (0,)]
    blank = browser.post(f"/app/drivers/{driver}/bank-accounts", {"iban": ""},
                         page=f"/app/drivers/{driver}/bank-accounts/new")
    assert _error(blank.text, "iban") == "Fill in the iban"

    saved = browser.post(f"/app/drivers/{driver}/bank-accounts", {"iban": IBAN},
                         page=f"/app/drivers/{driver}/bank-accounts/new")
    assert saved.status_code == 303, saved.text[:2000]
    assert saved.headers["location"] == f"/app/drivers/{driver}#payout-accounts"
    assert fleet.sql("SELECT iban, kind, status FROM fin_accounts WHERE driver_id = :d",
                     d=driver) == [("FR1420041010050500013M02606", "bank", "active")]
    shown = browser.get(f"/app/drivers/{driver}")
    assert "FR14…2606" in shown.text
    assert "FR1420041010050500013M02606" not in shown.text  # never the whole IBAN
    assert "Change the bank account" in shown.text


def test_bank_accounts_follow_permissions_and_tenants(
    fleet: Fleet, other_fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    theirs = other_fleet.driver()
    ours = fleet.driver()
    dispatcher = signed_in(fleet.world, "dispatcher")
    assert 'id="payout-accounts"' not in dispatcher.get(f"/app/drivers/{ours}").text
    assert dispatcher.get(f"/app/drivers/{ours}/bank-accounts/new").status_code == 403
    owner = signed_in(fleet.world, "owner")
    assert owner.get(f"/app/drivers/{theirs}/bank-accounts/new").status_code == 404
    refused = owner.post(f"/app/drivers/{theirs}/bank-accounts", {"iban": IBAN})
    assert refused.status_code == 404
    assert other_fleet.sql("SELECT count(*) FROM fin_accounts WHERE driver_id = :d",
                           d=theirs) == [(0,)]


def test_the_driver_form_links_the_member_who_signs_in_to_the_portal(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    browser = signed_in(fleet.world)
    member = fleet.world.person("driver")
    form = browser.get("/app/drivers/new")
    assert '<option value="">No portal access</option>' in form.text
    assert f'<option value="{member.member_id}"' in form.text
    saved = browser.post("/app/drivers", {
        "first_name": "Léa", "last_name": "Moreau", "phone": "+33612345603",
        "status": "active", "preferred_language": "fr", "member_id": str(member.member_id)},
        page="/app/drivers/new")
    assert saved.status_code == 303, saved.text[:2000]
    driver = saved.headers["location"].rsplit("/", 1)[1]
    assert fleet.sql("SELECT member_id FROM rid_drivers WHERE id = :d", d=driver) == [
        (member.member_id,)]
    edit = browser.get(f"/app/drivers/{driver}/edit")
    assert f'<option value="{member.member_id}" selected>' in edit.text
    version = re.search(r'name="version" value="(\d+)"', edit.text)
    assert version
    # Taken away: the member no longer signs in as this driver.
    cleared = browser.post(f"/app/drivers/{driver}/edit", {
        "first_name": "Léa", "last_name": "Moreau", "phone": "+33612345603",
        "status": "active", "preferred_language": "fr", "member_id": "",
        "version": version.group(1)}, page=f"/app/drivers/{driver}/edit")
    assert cleared.status_code == 303, cleared.text[:2000]
    assert fleet.sql("SELECT member_id FROM rid_drivers WHERE id = :d", d=driver) == [(None,)]
