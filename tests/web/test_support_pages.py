"""Support in the console and the portal: a fleet opens and answers its tickets, staff work
every fleet's tickets from their inbox (notes stay theirs), a driver asks from the portal and
sees only their own questions."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from api_support import PROVIDER_ORG, Staff
from fleet_support import Fleet
from web_support import Browser


def _ticket_id(location: str) -> str:
    found = re.search(r"/support/([0-9a-f-]{36})", location)
    assert found, location
    return found.group(1)


def test_a_fleet_opens_a_ticket_and_staff_answer_it_from_their_inbox(
    fleet: Fleet, other_fleet: Fleet, signed_in: Callable[..., Browser], browser: Browser,
    token: Callable[..., str], make_staff: Callable[..., Staff],
) -> None:
    member = signed_in(fleet.world)
    page = member.get("/app/support")
    assert page.status_code == 200, page.text[:500]
    assert "Ask Fleetcore" in page.text
    refused = member.post("/app/support", {"subject": "", "priority": "normal"},
                          page="/app/support")
    assert refused.status_code == 422
    opened = member.post("/app/support", {"subject": "Import stuck", "priority": "high",
                                          "description": "Uber file of week 48"},
                         page="/app/support")
    assert opened.status_code == 303, opened.text[:800]
    ticket = _ticket_id(opened.headers["location"])
    detail = member.get(f"/app/support/{ticket}")
    assert detail.status_code == 200
    assert "Uber file of week 48" in detail.text
    assert "Internal note" not in detail.text
    assert member.get("/app/support/export.csv").text.count("Import stuck") == 1

    staff = make_staff()
    # A second browser: ``signed_in`` and ``browser`` share one cookie jar.
    browser = Browser(TestClient(browser.client.app))
    browser.sign_in(token(staff.user_id, PROVIDER_ORG))
    inbox = browser.get("/app/provider/support")
    assert inbox.status_code == 200, inbox.text[:500]
    assert f'id="ticket-{ticket}"' in inbox.text
    assert "Import stuck" in inbox.text
    went = browser.post("/app/provider/support/open", {"ticket": ticket},
                        page="/app/provider/support")
    assert went.status_code == 303
    assert went.headers["location"] == f"/app/support/{ticket}"
    staff_view = browser.get(f"/app/support/{ticket}")
    assert staff_view.status_code == 200, staff_view.text[:500]
    assert "Internal note (Fleetcore staff only)" in staff_view.text
    noted = browser.post(f"/app/support/{ticket}/messages",
                         {"body": "Parser bug, fix on Monday", "is_internal_note": "1"},
                         page=f"/app/support/{ticket}")
    assert noted.status_code == 303, noted.text[:800]
    answered = browser.post(f"/app/support/{ticket}/messages", {"body": "Fixed, re-import"},
                            page=f"/app/support/{ticket}")
    assert answered.status_code == 303
    assert "Parser bug" in browser.get(f"/app/support/{ticket}").text

    seen = member.get(f"/app/support/{ticket}").text
    assert "Fixed, re-import" in seen
    assert "Parser bug" not in seen
    # Another fleet's member: 404, and nothing in its list.
    # Members reach no staff inbox.
    assert member.get("/app/provider/support").status_code == 403
    other = signed_in(other_fleet.world)
    assert other.get(f"/app/support/{ticket}").status_code == 404
    assert "Import stuck" not in other.get("/app/support").text


def test_a_driver_asks_from_the_portal_and_sees_only_their_questions(
    fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    mine = fleet.driver(first_name="Lina", last_name="Portal", phone=None)
    fleet.sql("UPDATE rid_drivers SET member_id = :m WHERE id = :d",
              m=fleet.world.person("driver").member_id, d=mine)
    owner = signed_in(fleet.world)
    fleet_ticket = _ticket_id(owner.post("/app/support", {
        "subject": "Fleet invoice", "priority": "normal"}, page="/app/support").headers["location"])

    driver = signed_in(fleet.world, "driver")
    page = driver.get("/driver/support?lang=fr")
    assert page.status_code == 200, page.text[:500]
    assert "Poser une question" in page.text
    asked = driver.post("/driver/support?lang=en", {"subject": "Where is my payout?",
                                                   "description": "Week 48"},
                        page="/driver/support")
    assert asked.status_code == 303, asked.text[:800]
    ticket = _ticket_id(asked.headers["location"])
    answered = driver.post(f"/driver/support/{ticket}", {"body": "Still waiting"},
                           page=f"/driver/support/{ticket}")
    assert answered.status_code == 303
    shown = driver.get(f"/driver/support/{ticket}?lang=en").text
    assert "Where is my payout?" in shown
    assert "Still waiting" in shown
    listed = driver.get("/driver/support?lang=en").text
    assert "Where is my payout?" in listed
    assert "Fleet invoice" not in listed
    assert driver.get(f"/driver/support/{fleet_ticket}").status_code == 404
    rows = fleet.sql("SELECT reporter_type, reporter_id FROM sup_tickets WHERE id = :t",
                     t=ticket)
    assert [(r.reporter_type, r.reporter_id) for r in rows] == [("driver", mine)]
    # The fleet sees the driver's question in its list.
    owner = signed_in(fleet.world)
    assert "Where is my payout?" in owner.get("/app/support").text
