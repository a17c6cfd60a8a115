"""``/v1/support``: a fleet's tickets and replies, staff-only notes and assignment, SLA due
times, feedback after resolution; another fleet's or another driver's tickets are 404."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api_support import TenantWorld, if_match
from fleetcore.core.auth import Actor
from fleetcore.core.db import ActorType, DbContext, context_session
from fleetcore.core.errors import NotFound
from fleetcore.core.orm import new_id
from fleetcore.core.pagination import PageParams
from fleetcore.support import service
from fleetcore.support.schemas import MessageCreate, TicketCreate

URL = "/v1/support/tickets"


def _open(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(URL, headers=headers, json={"subject": "Payout missing", **body})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_a_member_opens_a_ticket_with_its_sla_and_staff_answer_it(
    desk_client: TestClient, tenant_a: TenantWorld, auth: Any, make_staff: Any,
    staff_auth: Any,
) -> None:
    member = auth(tenant_a, "admin")
    ticket = _open(desk_client, member, priority="high", description="Week 48")
    created = _at(ticket["created_at"])
    assert _at(ticket["first_response_due_at"]) - created == pytest.approx(
        timedelta(hours=4), abs=timedelta(seconds=5))
    assert _at(ticket["sla_due_at"]) - created == pytest.approx(
        timedelta(hours=24), abs=timedelta(seconds=5))
    assert ticket["reporter_type"] == "member"
    assert ticket["reporter_id"] == str(tenant_a.person("admin").member_id)

    staff_member = make_staff()
    staff = staff_auth(staff_member, tenant_a.slug)
    note = desk_client.post(f"{URL}/{ticket['id']}/messages", headers=staff,
                            json={"body": "Batch 48 bounced", "is_internal_note": True})
    assert note.status_code == 201, note.text
    reply = desk_client.post(f"{URL}/{ticket['id']}/messages", headers=staff,
                             json={"body": "Paid again today."})
    assert reply.status_code == 201

    seen_by_member = desk_client.get(f"{URL}/{ticket['id']}/messages", headers=member).json()
    assert [m["body"] for m in seen_by_member["items"]] == ["Paid again today."]
    exported = desk_client.get(f"{URL}/{ticket['id']}/messages/export.csv", headers=member)
    assert exported.status_code == 200
    assert "Paid again today." in exported.text
    assert "Batch 48" not in exported.text
    seen_by_staff = desk_client.get(f"{URL}/{ticket['id']}/messages", headers=staff).json()
    assert {m["body"] for m in seen_by_staff["items"]} == {"Batch 48 bounced",
                                                          "Paid again today."}

    after = desk_client.get(f"{URL}/{ticket['id']}", headers=member).json()
    assert after["status"] == "pending"
    assert after["first_response_at"] is not None

    # The member answers: the ticket is open again.
    desk_client.post(f"{URL}/{ticket['id']}/messages", headers=member,
                     json={"body": "Still nothing."})
    assert desk_client.get(f"{URL}/{ticket['id']}", headers=member).json()["status"] == "open"

    # Assignment is staff-only.
    refused = desk_client.patch(f"{URL}/{ticket['id']}", json={"assignee_id": str(staff_member.id)},
                                headers=if_match(desk_client, f"{URL}/{ticket['id']}", member))
    assert refused.status_code == 403
    assigned = desk_client.patch(f"{URL}/{ticket['id']}",
                                 json={"assignee_id": str(staff_member.id)},
                                 headers=if_match(desk_client, f"{URL}/{ticket['id']}", staff))
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["assignee_id"] == str(staff_member.id)


def test_members_cannot_write_internal_notes_nor_read_them_in_the_database(
    desk_client: TestClient, tenant_a: TenantWorld, auth: Any, make_staff: Any, staff_auth: Any,
    sessions: Any,
) -> None:
    member = auth(tenant_a)
    ticket = _open(desk_client, member)
    refused = desk_client.post(f"{URL}/{ticket['id']}/messages", headers=member,
                               json={"body": "psst", "is_internal_note": True})
    assert refused.status_code == 403
    desk_client.post(f"{URL}/{ticket['id']}/messages",
                     headers=staff_auth(make_staff(), tenant_a.slug),
                     json={"body": "staff eyes only", "is_internal_note": True})
    owner = tenant_a.person("owner").member_id
    with context_session(sessions, DbContext.for_tenant(
            tenant_a.id, actor_type=ActorType.MEMBER, actor_id=owner)) as session:
        visible = session.execute(text(
            "SELECT count(*) FROM sup_ticket_messages WHERE ticket_id = :t"),
            {"t": ticket["id"]}).scalar()
        assert visible == 0
    with context_session(sessions, DbContext.for_tenant(tenant_a.id)) as session:
        assert session.execute(text(
            "SELECT count(*) FROM sup_ticket_messages WHERE ticket_id = :t"),
            {"t": ticket["id"]}).scalar() == 1


def test_another_fleets_ticket_is_404_and_absent_from_lists(
    desk_client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Any,
) -> None:
    mine = _open(desk_client, auth(tenant_a), subject="A's problem")
    other = auth(tenant_b)
    assert desk_client.get(f"{URL}/{mine['id']}", headers=other).status_code == 404
    assert desk_client.get(f"{URL}/{mine['id']}/messages", headers=other).status_code == 404
    assert desk_client.post(f"{URL}/{mine['id']}/messages", headers=other,
                            json={"body": "hi"}).status_code == 404
    patched = desk_client.patch(f"{URL}/{mine['id']}", json={"status": "closed"},
                                headers={**other, "If-Match": '"1"'})
    assert patched.status_code == 404
    assert mine["id"] not in {t["id"] for t in desk_client.get(URL, headers=other).json()["items"]}
    assert mine["id"] not in desk_client.get(f"{URL}/export.csv", headers=other).text


def test_updates_need_if_match_and_a_priority_moves_the_sla(
    desk_client: TestClient, tenant_a: TenantWorld, auth: Any,
) -> None:
    member = auth(tenant_a)
    ticket = _open(desk_client, member, priority="low")
    url = f"{URL}/{ticket['id']}"
    assert desk_client.patch(url, json={"priority": "urgent"}, headers=member).status_code == 428
    stale = desk_client.patch(url, json={"priority": "urgent"},
                              headers={**member, "If-Match": '"99"'})
    assert stale.status_code == 412
    urgent = desk_client.patch(url, json={"priority": "urgent"},
                               headers=if_match(desk_client, url, member))
    assert urgent.status_code == 200
    body = urgent.json()
    assert _at(body["sla_due_at"]) - _at(body["created_at"]) == pytest.approx(
        timedelta(hours=8), abs=timedelta(seconds=5))
    overdue = desk_client.get(URL, headers=member, params={"overdue": "true"}).json()
    assert ticket["id"] not in {t["id"] for t in overdue["items"]}


def test_feedback_after_resolution_once_per_kind(
    desk_client: TestClient, tenant_a: TenantWorld, auth: Any, make_staff: Any, staff_auth: Any,
) -> None:
    member = auth(tenant_a)
    ticket = _open(desk_client, member)
    url = f"{URL}/{ticket['id']}"
    early = desk_client.post(f"{url}/feedback", headers=member, json={"rating": 5})
    assert early.status_code == 409
    desk_client.patch(url, json={"status": "resolved"},
                      headers=if_match(desk_client, url, member))
    resolved = desk_client.get(url, headers=member).json()
    assert resolved["resolved_at"] is not None
    assert desk_client.post(f"{url}/feedback", headers=member,
                            json={"kind": "csat", "rating": 6}).status_code == 422
    assert desk_client.post(f"{url}/feedback", headers=member,
                            json={"kind": "nps", "rating": 11}).status_code == 422
    csat = desk_client.post(f"{url}/feedback", headers=member,
                            json={"kind": "csat", "rating": 5, "comment": "Fast"})
    assert csat.status_code == 201, csat.text
    nps = desk_client.post(f"{url}/feedback", headers=member, json={"kind": "nps", "rating": 0})
    assert nps.status_code == 201
    again = desk_client.post(f"{url}/feedback", headers=member, json={"kind": "csat", "rating": 1})
    assert again.status_code == 409
    staff = desk_client.post(f"{url}/feedback", headers=staff_auth(make_staff(), tenant_a.slug),
                             json={"rating": 5})
    assert staff.status_code == 403
    listed = desk_client.get("/v1/support/feedback", headers=member,
                             params={"ticket_id": ticket["id"]}).json()["items"]
    assert sorted((f["kind"], f["rating"]) for f in listed) == [("csat", 5), ("nps", 0)]
    exported = desk_client.get("/v1/support/feedback/export.csv", headers=member,
                               params={"ticket_id": ticket["id"]})
    assert exported.status_code == 200
    assert exported.text.count("\n") == 3


# --- drivers -------------------------------------------------------------------------------


def _driver(sessions: Any, tenant: TenantWorld, member_id: uuid.UUID | None) -> uuid.UUID:
    driver_id = new_id()
    with context_session(sessions, DbContext.for_tenant(tenant.id)) as session:
        session.execute(text(
            "INSERT INTO rid_drivers (tenant_id, id, first_name, last_name, status, member_id,"
            " date_of_birth, licence_number, licence_country, licence_issued_on,"
            " licence_expires_on) VALUES (:t, :id, 'Dri', 'Ver', 'active', :m, '1990-05-01',"
            " 'L-1', 'FR', '2010-01-01', '2035-01-01')"),
            {"t": tenant.id, "id": driver_id, "m": member_id})
    return driver_id


def _as_driver(tenant: TenantWorld, member_id: uuid.UUID, driver_id: uuid.UUID
               ) -> tuple[Actor, DbContext]:
    actor = Actor(type=ActorType.MEMBER, id=member_id, clerk_user_id="u", tenant_id=tenant.id,
                  tenant_status="active", permissions=frozenset({"portal:read", "portal:write"}),
                  portal_driver_id=driver_id)
    return actor, actor.db_context(request_id=None, ip=None, user_agent=None)


def test_a_driver_sees_only_the_tickets_they_raised(
    desk_client: TestClient, tenant_a: TenantWorld, auth: Any, sessions: Any,
    make_tenant: Callable[..., TenantWorld],
) -> None:
    member_ticket = _open(desk_client, auth(tenant_a), subject="Fleet-level question")
    driver_member = tenant_a.person("driver").member_id
    mine = _driver(sessions, tenant_a, driver_member)
    actor, ctx = _as_driver(tenant_a, driver_member, mine)
    with context_session(sessions, ctx) as session:
        ticket = service.create_ticket(session, actor, data=TicketCreate(subject="My payout"),
                                       sla=service.SlaPolicy(), mirror=service.Mirror())
        service.add_message(session, actor, ticket.id, data=MessageCreate(body="Any news?"),
                            mirror=service.Mirror())
        assert (ticket.reporter_type, ticket.reporter_id) == ("driver", mine)
        mine_id = ticket.id
    # Another driver of the same fleet (a second portal account) sees none of it.
    other_driver = _driver(sessions, tenant_a, None)
    other_actor, other_ctx = _as_driver(tenant_a, driver_member, other_driver)
    with context_session(sessions, other_ctx) as session:
        with pytest.raises(NotFound):
            service.get_ticket(session, other_actor, mine_id)
        assert session.execute(text("SELECT count(*) FROM sup_ticket_messages")).scalar() == 0
        assert session.execute(text("SELECT count(*) FROM sup_tickets")).scalar() == 0
    with context_session(sessions, ctx) as session:
        listed, _ = service.list_tickets(session, actor, PageParams(limit=50),
                                         service.TicketFilter())
        assert [t.id for t in listed] == [mine_id]
        with pytest.raises(NotFound):
            service.get_ticket(session, actor, uuid.UUID(member_ticket["id"]))
    # The fleet's members see both.
    listed_ids = {t["id"] for t in desk_client.get(URL, headers=auth(tenant_a)).json()["items"]}
    assert {str(mine_id), member_ticket["id"]} <= listed_ids
