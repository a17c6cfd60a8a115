"""Fleetcore's sales pipeline in the staff console: add a lead, open a deal, see it on the
board and in the forecast, move it, draft its contract and sign it (the fleet is made); fleet
members reach none of it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from api_support import PROVIDER_ORG, Staff
from fleet_support import Fleet
from web_support import Browser


def test_staff_run_a_deal_from_lead_to_signed_fleet(
    browser: Browser, token: Callable[..., str], make_staff: Callable[..., Staff],
    staff_auth: Callable[..., dict[str, str]], client: TestClient,
    read_system: Callable[..., list[Any]],
) -> None:
    staff = make_staff()
    plan = client.post("/v1/billing/plans", headers=staff_auth(staff), json={
        "code": f"web{uuid.uuid4().hex[:10]}", "name": "Console plan",
        "monthly_fee": {"amount": "99.00", "currency": "EUR"}, "trial_days": 14})
    assert plan.status_code == 201, plan.text
    browser.sign_in(token(staff.user_id, PROVIDER_ORG))
    tag = uuid.uuid4().hex[:6]

    home = browser.get("/app/provider")
    assert 'href="/app/provider/pipeline"' in home.text
    refused = browser.post("/app/provider/leads", {"company_name": "", "email": "nope"},
                           page="/app/provider/leads")
    assert refused.status_code == 422
    assert "field-error" in refused.text
    added = browser.post("/app/provider/leads", {
        "company_name": f"Taxis {tag}", "contact_name": "Rui Costa",
        "email": f"rui-{tag}@taxis-lisboa.pt", "country": "PT", "priority": "high"},
        page="/app/provider/leads")
    assert added.status_code == 303, added.text[:500]
    leads = browser.get("/app/provider/leads")
    assert f"Taxis {tag}" in leads.text
    lead_id = re.search(r'id="lead-([0-9a-f-]{36})"[^<]*<td><strong>Taxis ' + tag,
                        leads.text)
    assert lead_id, leads.text[:2000]

    opened = browser.post("/app/provider/opportunities", {
        "lead_id": lead_id.group(1), "name": f"Deal {tag}", "stage": "proposal",
        "expected_value": "1200,00", "currency": "EUR", "probability_pct": "",
        "expected_close_on": "2099-01-15", "proposed_plan_id": plan.json()["id"]},
        page="/app/provider/pipeline")
    assert opened.status_code == 303, opened.text[:1000]
    board = browser.get("/app/provider/pipeline")
    assert board.status_code == 200
    deal = re.search(r'<article class="deal" id="deal-([0-9a-f-]{36})">\s*<strong>Deal '
                     + tag, board.text)
    assert deal, board.text[:3000]
    column = board.text.split('id="stage-proposal"', 1)[1].split('id="stage-negotiation"', 1)[0]
    assert f"Deal {tag}" in column
    assert "40%" in column  # the proposal stage's probability

    moved = browser.post(f"/app/provider/opportunities/{deal.group(1)}/stage", {
        "stage": "negotiation", "version": "1"}, page="/app/provider/pipeline")
    assert moved.status_code == 303
    board = browser.get("/app/provider/pipeline")
    negotiation = board.text.split('id="stage-negotiation"', 1)[1]
    assert f"Deal {tag}" in negotiation
    stale = browser.post(f"/app/provider/opportunities/{deal.group(1)}/stage", {
        "stage": "proposal", "version": "1"}, page="/app/provider/pipeline")
    assert stale.status_code == 303
    assert f"Deal {tag}" in browser.get("/app/provider/pipeline").text.split(
        'id="stage-negotiation"', 1)[1]

    drafted = browser.post("/app/provider/contracts", {
        "opportunity_id": deal.group(1), "starts_on": "2099-02-01"},
        page="/app/provider/contracts")
    assert drafted.status_code == 303, drafted.text[:1000]
    contracts = browser.get("/app/provider/contracts")
    row = re.search(r'id="contract-(CT-[0-9]{4}-[0-9]{4})">(?:(?!</tr>).)*Taxis ' + tag
                    + r"(?:(?!</tr>).)*/provider/contracts/([0-9a-f-]{36})/sign", contracts.text,
                    re.S)
    assert row, contracts.text[:3000]
    # Portugal has three time zones: signing without one is refused, nothing is made.
    browser.post(f"/app/provider/contracts/{row.group(2)}/sign", {"version": "1"},
                 page="/app/provider/contracts")
    assert read_system("SELECT count(*) FROM adm_tenants WHERE metadata -> 'crm' ->>"
                       " 'contract_number' = :n", n=row.group(1)) == [(0,)]
    signed = browser.post(f"/app/provider/contracts/{row.group(2)}/sign", {
        "version": "1", "timezone": "Europe/Lisbon"}, page="/app/provider/contracts")
    assert signed.status_code == 303, signed.text[:500]
    tenants = read_system("SELECT slug, status, timezone FROM adm_tenants"
                        " WHERE metadata -> 'crm' ->> 'contract_number' = :n", n=row.group(1))
    assert [(t.status, t.timezone) for t in tenants] == [("trialing", "Europe/Lisbon")]
    after = browser.get("/app/provider/contracts")
    assert f'/provider/contracts/{row.group(2)}/sign' not in after.text
    assert "signed" in after.text


def test_fleet_members_reach_no_crm_page(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    b = signed_in(fleet.world)
    for path in ("/app/provider/pipeline", "/app/provider/leads", "/app/provider/contracts"):
        assert b.get(path).status_code == 403, path
    assert b.post("/app/provider/leads", {"company_name": "Mine"}).status_code == 403
