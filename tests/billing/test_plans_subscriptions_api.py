"""Plans are versioned by staff; a fleet subscribes (trial first), changes plan (upgrade now
with proration, downgrade at period end) and cancels, each change writing a lifecycle event;
another fleet never sees it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billing_support import create_plan, plan_body
from fastapi.testclient import TestClient

from api_support import Staff, TenantWorld, if_match

SUB = "/v1/billing/subscription"


def _events(read_system: Callable[..., list[Any]], tenant: TenantWorld) -> list[str]:
    return [r.event_type for r in read_system(
        "SELECT event_type FROM adm_tenant_lifecycle_events WHERE tenant_id = :t"
        " ORDER BY created_at, id", t=tenant.id)]


def test_a_price_change_is_a_new_version_and_subscribers_keep_theirs(
    client: TestClient, make_staff: Callable[..., Staff], staff_auth: Callable[..., Any],
    auth: Callable[..., Any], tenant_a: TenantWorld, read_system: Callable[..., list[Any]],
) -> None:
    staff = staff_auth(make_staff())
    v1 = create_plan(client, staff, fee="49.00")
    code = v1["code"]
    assert (v1["plan_version"], v1["status"]) == (1, "active")
    assert client.post(SUB, json={"plan_code": code}, headers=auth(tenant_a)).status_code == 201

    url = f"/v1/billing/plans/{v1['id']}/versions"
    body = {k: v for k, v in plan_body(fee="59.00").items() if k != "code"}
    assert client.post(url, json=body, headers=staff).status_code == 428
    answer = client.post(url, json=body, headers=if_match(client, f"/v1/billing/plans/{v1['id']}",
                                                          staff))
    assert answer.status_code == 201, answer.text
    v2 = answer.json()
    assert (v2["code"], v2["plan_version"], v2["monthly_fee"]["amount"]) == (code, 2, "59.00")
    assert client.get(f"/v1/billing/plans/{v1['id']}", headers=staff).json()["status"] == (
        "archived")
    # Publishing again from the archived version is refused: v2 is the latest.
    again = client.post(url, json=body, headers=if_match(
        client, f"/v1/billing/plans/{v1['id']}", staff))
    assert again.status_code == 409
    # The subscriber keeps version 1.
    sub = client.get(SUB, headers=auth(tenant_a)).json()
    assert (sub["plan_id"], sub["plan_version"]) == (v1["id"], 1)
    listed = client.get(f"/v1/billing/plans?code={code}", headers=staff).json()["items"]
    assert sorted(p["plan_version"] for p in listed) == [1, 2]
    # A fleet sees the version on offer (to choose it), never the archived one.
    offered = client.get(f"/v1/billing/plans?code={code}", headers=auth(tenant_a)).json()
    assert [p["plan_version"] for p in offered["items"]] == [2]
    assert client.get(f"/v1/billing/plans/{v1['id']}", headers=auth(tenant_a)
                      ).status_code == 404
    assert client.get(f"/v1/billing/plans/{v2['id']}", headers=auth(tenant_a)
                      ).status_code == 200
    # Only staff publish: the fleet's owner is refused once the plan is found.
    assert client.post(f"/v1/billing/plans/{v2['id']}/versions", json=body, headers=if_match(
        client, f"/v1/billing/plans/{v2['id']}", auth(tenant_a))).status_code == 403
    assert _events(read_system, tenant_a)[-1] == "activated"
    # Staff migrate the subscribers: the fleet is on version 2, with a lifecycle event.
    migrate = f"/v1/billing/plans/{v2['id']}/migrate-subscribers"
    assert client.post(migrate, headers=staff).status_code == 428
    assert client.post(f"/v1/billing/plans/{v1['id']}/migrate-subscribers", headers=if_match(
        client, f"/v1/billing/plans/{v1['id']}", staff)).status_code == 409  # archived
    moved = client.post(migrate, headers=if_match(client, f"/v1/billing/plans/{v2['id']}",
                                                  staff))
    assert moved.status_code == 200, moved.text
    assert moved.json()["moved"] == 1
    sub = client.get(SUB, headers=auth(tenant_a)).json()
    assert (sub["plan_id"], sub["plan_version"]) == (v2["id"], 2)
    assert _events(read_system, tenant_a)[-1] == "plan_changed"


def test_only_staff_outside_a_tenant_write_plans(
    client: TestClient, make_staff: Callable[..., Staff], staff_auth: Callable[..., Any],
    auth: Callable[..., Any], tenant_a: TenantWorld,
) -> None:
    assert client.post("/v1/billing/plans", json=plan_body(), headers=auth(tenant_a)
                       ).status_code == 403
    reader = staff_auth(make_staff(["plans:read"]))
    assert client.post("/v1/billing/plans", json=plan_body(), headers=reader).status_code == 403
    inside = staff_auth(make_staff(), tenant=tenant_a.slug)
    # Inside a tenant a staff member acts as that fleet: no provider permissions.
    assert client.post("/v1/billing/plans", json=plan_body(), headers=inside).status_code == 403
    bad = plan_body()
    bad["monthly_fee"] = {"amount": "-1", "currency": "EUR"}
    answer = client.post("/v1/billing/plans", json=bad, headers=staff_auth(make_staff()))
    assert answer.status_code == 422
    assert any("monthly_fee" in e["field"] for e in answer.json()["errors"])


def test_trial_then_upgrade_downgrade_and_cancel_each_write_a_lifecycle_event(
    client: TestClient, make_staff: Callable[..., Staff], staff_auth: Callable[..., Any],
    auth: Callable[..., Any], tenant_a: TenantWorld, tenant_b: TenantWorld,
    read_system: Callable[..., list[Any]],
) -> None:
    staff = staff_auth(make_staff())
    small = create_plan(client, staff, fee="50.00", trial_days=14)
    big = create_plan(client, staff, fee="150.00")
    owner = auth(tenant_a)
    sub = client.post(SUB, json={"plan_code": small["code"]}, headers=owner)
    assert sub.status_code == 201, sub.text
    one = f"/v1/billing/subscriptions/{sub.json()['id']}"
    assert sub.json()["status"] == "trialing"
    assert sub.json()["trial_ends_at"]
    assert client.post(SUB, json={"plan_code": small["code"]}, headers=owner).status_code == 409
    # Another fleet sees no subscription, and cannot change this one.
    assert client.get(SUB, headers=auth(tenant_b)).status_code == 404
    assert client.post(f"{one}/cancel", json={}, headers=if_match(
        client, f"{one}/cancel", auth(tenant_b))).status_code == 404
    # An admin reads the subscription but does not change it; a viewer does not see it.
    assert client.get(SUB, headers=auth(tenant_a, "admin")).status_code == 200
    assert client.get(SUB, headers=auth(tenant_a, "viewer")).status_code == 403
    assert client.post(f"{one}/change-plan", json={"plan_code": big["code"]}, headers=if_match(
        client, f"{one}/change-plan", auth(tenant_a, "admin"))).status_code == 403

    assert client.post(f"{one}/change-plan", json={"plan_code": big["code"]},
                       headers=owner).status_code == 428
    up = client.post(f"{one}/change-plan", json={"plan_code": big["code"]},
                     headers=if_match(client, f"{one}/change-plan", owner))
    assert up.status_code == 200, up.text
    assert up.json()["plan_id"] == big["id"]
    down = client.post(f"{one}/change-plan", json={"plan_code": small["code"]},
                       headers=if_match(client, f"{one}/change-plan", owner))
    # In a trial the plan simply changes.
    assert down.json()["plan_id"] == small["id"]
    assert down.json()["scheduled_plan_id"] is None
    stale = {**owner, "If-Match": '"1"'}
    assert client.post(f"{one}/cancel", json={}, headers=stale).status_code == 412
    cancelled = client.post(f"{one}/cancel", json={"at_period_end": False},
                            headers=if_match(client, f"{one}/cancel", owner))
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert client.get(SUB, headers=owner).status_code == 404
    assert client.get(one, headers=owner).json()["status"] == "cancelled"
    assert client.get(one, headers=auth(tenant_b)).status_code == 404
    assert _events(read_system, tenant_a)[-4:] == [
        "trial_started", "plan_changed", "plan_changed", "cancelled"]
