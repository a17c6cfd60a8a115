"""Confirming a week's settlements at once: ``POST /v1/settlements/confirm`` (each item against
its version, a stale one reported and the others confirmed, those needing terms skipped without
a decision, another fleet's unknown) and the week page's bulk form with its summary."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from settlement_fixtures import WEEK, Books, at, committed_books, midnight

from api_support import TenantWorld
from fleetcore.core.db import DbContext, context_session
from fleetcore.trips import settlement_service as service
from web_support import Browser

Auth = Callable[..., dict[str, str]]


@pytest.fixture
def week(tenant_a: TenantWorld, sessions: Any) -> dict[str, Any]:
    """Three drivers on Uber in WEEK: Ana and Bob with terms, Chloé without (needs terms)."""
    books = committed_books(sessions, tenant_a.id)
    uber = books.platform("uber")
    drivers = {}
    for name, fare, with_terms in (("Ana", "100.00", True), ("Bob", "60.00", True),
                                   ("Chloe", "80.00", False)):
        driver = books.driver(name)
        ref = books.account(driver, uber)
        if with_terms:
            books.terms(driver, midnight(date(2026, 1, 1)), pct="25")
        report = books.report(uber)
        books.row(report, uber, driver, at(WEEK), ref=ref, trip=f"t-{name}", fare_gross=fare,
                  commission="0.00")
        drivers[name] = driver
    return {"books": books, "uber": uber, **drivers}


def _drafts(client: TestClient, headers: dict[str, str]) -> dict[uuid.UUID, dict[str, Any]]:
    computed = client.post("/v1/settlements/compute", json={"week": WEEK.isoformat()},
                           headers=headers)
    assert computed.status_code == 200, computed.text
    return {uuid.UUID(s["driver_id"]): s for s in computed.json()["settlements"]
            if s["platform_id"]}


def _status(books: Books, settlement_id: str) -> str:
    return str(books.sql("SELECT status FROM trp_settlements WHERE id = :s", s=settlement_id)[0][0])


def test_a_stale_one_is_reported_the_others_confirmed_and_needing_terms_skipped(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Auth,
    week: dict[str, Any],
) -> None:
    owner, books = auth(tenant_a), week["books"]
    drafts = _drafts(client, owner)
    ana, bob, chloe = (drafts[week[n]] for n in ("Ana", "Bob", "Chloe"))
    assert chloe["needs_terms"]
    assert not ana["needs_terms"]
    items = [{"id": ana["id"], "version": ana["version"]},
             {"id": bob["id"], "version": bob["version"] + 1},  # not the version shown
             {"id": chloe["id"], "version": chloe["version"]}]

    # Another fleet's member knows none of them: nothing is confirmed.
    foreign = client.post("/v1/settlements/confirm", json={"items": items},
                          headers=auth(tenant_b))
    assert foreign.status_code == 200, foreign.text
    assert foreign.json()["confirmed"] == []
    assert {r["status"] for r in foreign.json()["refused"]} == {404}
    assert {_status(books, s["id"]) for s in (ana, bob, chloe)} == {"draft"}
    # Without the permission to confirm: 403.
    assert client.post("/v1/settlements/confirm", json={"items": items},
                       headers=auth(tenant_a, "driver")).status_code == 403
    # The decision to confirm without terms needs its reason; each settlement once.
    assert client.post("/v1/settlements/confirm", json={"items": items, "without_terms": True},
                       headers=owner).status_code == 422
    assert client.post("/v1/settlements/confirm", json={"items": items + items[:1]},
                       headers=owner).status_code == 422

    done = client.post("/v1/settlements/confirm", json={"items": items}, headers=owner)
    assert done.status_code == 200, done.text
    body = done.json()
    assert [s["id"] for s in body["confirmed"]] == [ana["id"]]
    assert body["confirmed"][0]["status"] == "confirmed"
    assert [(r["id"], r["status"]) for r in body["refused"]] == [(bob["id"], 412)]
    assert [s["id"] for s in body["skipped_needs_terms"]] == [chloe["id"]]
    assert body["skipped_needs_terms"][0]["days_without_terms"] == [WEEK.isoformat()]
    assert body["totals"] == [{"currency": "EUR", "count": 1, "net": ana["net"]}]
    assert (_status(books, ana["id"]), _status(books, bob["id"]),
            _status(books, chloe["id"])) == ("confirmed", "draft", "draft")
    # The confirmed one posted to the ledger, the others did not (their savepoints undone).
    posted = books.sql("SELECT count(DISTINCT settlement_id) FROM fin_transactions"
                       " WHERE settlement_id = ANY(:s)",
                       s=[uuid.UUID(x["id"]) for x in (ana, bob, chloe)])[0][0]
    assert posted == 1

    # Again with the versions now read, and the decision for the one needing terms.
    again = client.post("/v1/settlements/confirm", json={
        "items": [{"id": ana["id"], "version": ana["version"]},
                  {"id": bob["id"], "version": bob["version"]},
                  {"id": chloe["id"], "version": chloe["version"]}],
        "without_terms": True, "reason": "Trial week, agreed"}, headers=owner)
    assert again.status_code == 200, again.text
    body = again.json()
    assert {s["id"] for s in body["confirmed"]} == {bob["id"], chloe["id"]}
    assert [(r["id"], r["status"]) for r in body["refused"]] == [(ana["id"], 409)]
    assert body["skipped_needs_terms"] == []
    audit = books.sql("SELECT changes->>'reason' FROM adm_audit_logs WHERE entity_id = :s"
                      " AND action = 'confirm_without_terms'", s=uuid.UUID(chloe["id"]))
    assert audit == [("Trial week, agreed",)]


def test_two_bulk_confirmations_of_one_week_confirm_each_settlement_once(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, sessions: Any,
    week: dict[str, Any],
) -> None:
    """The first holds the week's lock until it commits; the second then finds every
    settlement confirmed (409 each), nothing is posted twice."""
    drafts = _drafts(client, auth(tenant_a))
    chosen = [(uuid.UUID(s["id"]), s["version"]) for s in drafts.values()
              if not s["needs_terms"]]
    books: Books = week["books"]
    first_done = threading.Event()
    outcome: dict[str, Any] = {}

    def second() -> None:
        with context_session(sessions, DbContext.for_tenant(tenant_a.id)) as session:
            result = service.confirm_many(session, books.actor, chosen)
            outcome["second"] = ([s.id for s in result.confirmed],
                                 sorted(p.status for _, p in result.refused),
                                 first_done.is_set())

    with context_session(sessions, DbContext.for_tenant(tenant_a.id)) as session:
        first = service.confirm_many(session, books.actor, chosen)
        assert len(first.confirmed) == 2
        racer = threading.Thread(target=second)
        racer.start()
        racer.join(timeout=1.0)
        assert racer.is_alive()  # waiting for the week's lock
        first_done.set()
    racer.join(timeout=30)
    assert outcome["second"] == ([], [409, 409], True)
    ids = [i for i, _ in chosen]
    assert books.sql("SELECT count(DISTINCT settlement_id) FROM fin_transactions"
                     " WHERE settlement_id = ANY(:s)", s=ids)[0][0] == 2
    assert {_status(books, str(i)) for i in ids} == {"confirmed"}


def test_the_week_page_confirms_the_ticked_drafts_after_its_summary(
    client: TestClient, tenant_a: TenantWorld, auth: Auth, week: dict[str, Any],
    signed_in: Callable[..., Browser],
) -> None:
    drafts = _drafts(client, auth(tenant_a))
    books: Books = week["books"]
    browser = signed_in(tenant_a)
    page = f"/app/settlements?week={WEEK.isoformat()}"
    html = browser.get(page).text
    ticked = re.findall(r'form="bulk-confirm" name="item" value="([0-9a-f-]{36}:\d+)"[^>]*'
                        r' checked>', html)
    every = books.sql("SELECT id, version FROM trp_settlements WHERE status = 'draft'")
    assert sorted(ticked) == sorted(f"{i}:{v}" for i, v in every)  # every draft, ticked
    assert len(ticked) == len(drafts) == 3
    summary = html[html.index('id="bulk-summary"'):html.index('id="bulk-confirm"')]
    assert "Drafts on this page</dt><dd>3" in summary
    assert "Need terms</dt><dd>1" in summary
    assert 'data-confirm="Confirm the ticked drafts of' in html
    assert "1 need terms and are skipped" in html

    # Nothing ticked: refused next to the selection; without terms but no reason: refused.
    nothing = browser.post("/app/settlements/confirm", {"week": WEEK.isoformat()}, page=page)
    assert nothing.status_code == 422
    assert "tick at least one draft" in nothing.text
    no_reason = browser.post("/app/settlements/confirm", {
        "week": WEEK.isoformat(), "item": ticked, "without_terms": "1"}, page=page)
    assert no_reason.status_code == 422
    assert "say why" in no_reason.text

    # Bob's draft changes after the page was read: it is left draft, the others confirmed.
    bob = drafts[week["Bob"]]
    books.sql("UPDATE trp_settlements SET version = version + 1 WHERE id = :s", s=bob["id"])
    done = browser.post("/app/settlements/confirm", {"week": WEEK.isoformat(), "item": ticked},
                        page=page)
    assert done.status_code == 303, done.text[:1500]
    assert done.headers["location"] == page
    after = browser.get(page).text
    assert "1 confirmed and posted to the ledger: net €75.00 (1)." in after
    assert "1 left draft: they need terms" in after
    assert "1 not confirmed (changed since shown)" in after
    states = dict(books.sql("SELECT driver_id, status FROM trp_settlements"
                            " WHERE platform_id IS NOT NULL"))
    assert states == {week["Ana"]: "confirmed", week["Bob"]: "draft",
                      week["Chloe"]: "draft"}
    assert len(re.findall(r'name="item" value=', after)) == 2  # only drafts stay tickable
