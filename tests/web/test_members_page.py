"""The members page: invite with roles, grant and revoke a role, suspend and reactivate, under
the same rules as /v1/members; another fleet's members are never listed or touched."""

from __future__ import annotations

import re
from collections.abc import Callable

from fleet_support import Fleet
from web_support import Browser


def test_members_are_invited_given_roles_and_suspended_from_the_console(
    fleet: Fleet, other_fleet: Fleet, signed_in: Callable[..., Browser],
) -> None:
    world = fleet.world
    browser = signed_in(world)
    page = browser.get("/app/members")
    assert page.status_code == 200
    assert world.person("dispatcher").email in page.text
    assert other_fleet.world.person("owner").email not in page.text

    bad = browser.post("/app/members", {"email": "not-an-address", "preferred_language": "en"},
                       page="/app/members")
    assert bad.status_code == 422
    assert re.search(r'<small id="email-error" class="field-error">[^<]+</small>', bad.text)

    finance_role = world.roles["finance"]
    invited = browser.post("/app/members", {
        "email": "camille.durand@example.com", "first_name": "Camille", "last_name": "Durand",
        "preferred_language": "fr", "role_ids": str(finance_role)}, page="/app/members")
    assert invited.status_code == 303, invited.text[:800]
    (camille, status), = fleet.sql(
        "SELECT id, status FROM adm_members WHERE email = 'camille.durand@example.com'")
    assert status == "invited"
    held = fleet.sql(f"SELECT role_id FROM adm_member_roles WHERE member_id = '{camille}'")
    assert held == [(finance_role,)]

    viewer_role = world.roles["viewer"]
    granted = browser.post(f"/app/members/{camille}/roles",
                           {"role_id": str(viewer_role), "action": "grant"},
                           page="/app/members")
    assert granted.status_code == 303
    revoked = browser.post(f"/app/members/{camille}/roles",
                           {"role_id": str(finance_role), "action": "revoke"},
                           page="/app/members")
    assert revoked.status_code == 303
    held = fleet.sql(f"SELECT role_id FROM adm_member_roles WHERE member_id = '{camille}'")
    assert held == [(viewer_role,)]

    # The last owner keeps the role (the service's rule, shown as a message).
    owner = world.person("owner").member_id
    browser.post(f"/app/members/{owner}/roles", {"role_id": str(world.roles["owner"]),
                                                  "action": "revoke"}, page="/app/members")
    assert fleet.sql(f"SELECT count(*) FROM adm_member_roles WHERE member_id = '{owner}'"
                     f" AND role_id = '{world.roles['owner']}'")[0][0] == 1

    version = fleet.sql(f"SELECT version FROM adm_members WHERE id = '{camille}'")[0][0]
    stale = browser.post(f"/app/members/{camille}/status",
                         {"status": "suspended", "version": str(version + 5)},
                         page="/app/members")
    assert stale.status_code == 303
    assert fleet.sql(f"SELECT status FROM adm_members WHERE id = '{camille}'")[0][0] == "invited"
    suspended = browser.post(f"/app/members/{camille}/status",
                             {"status": "suspended", "version": str(version)},
                             page="/app/members")
    assert suspended.status_code == 303
    assert fleet.sql(f"SELECT status FROM adm_members WHERE id = '{camille}'")[0][0] == \
        "suspended"

    # Another fleet's member cannot be touched from here.
    stranger = other_fleet.world.person("dispatcher").member_id
    browser.post(f"/app/members/{stranger}/roles", {"role_id": str(viewer_role),
                                                     "action": "grant"}, page="/app/members")
    assert other_fleet.sql(f"SELECT count(*) FROM adm_member_roles WHERE member_id ="
                           f" '{stranger}' AND role_id = '{viewer_role}'")[0][0] == 0

    # Without members:write the page is read-only; without members:read it is refused.
    dispatcher = signed_in(world, "dispatcher")
    assert dispatcher.get("/app/members").status_code == 403
