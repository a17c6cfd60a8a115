"""The contract every ``/v1`` resource keeps, checked by one reusable function.

Given a resource's base path, a factory for a valid create body, a patch body and the
permissions it needs, :func:`check_resource_contract` proves over HTTP:

* 401 without a token (list, create, get, patch, delete);
* 403 for a built-in role that lacks the write permission — create, patch and delete are
  refused and nothing changed (same list, same ETag);
* 404 for another tenant's id on get, patch and delete — and that row is unchanged;
* create (201, ``Location``, ``ETag``) → read (same ETag) → update or delete without
  ``If-Match`` is 428 → update with ``If-Match`` (new ETag) → a stale ``If-Match`` is 412 →
  delete (soft) → 404 on read and gone from the list.

A resource gets all of it with one line::

    VEHICLES = ResourceContract("/v1/vehicles", vehicle_body, {"colour": "Blue"},
                                read="vehicles:read", write="vehicles:write")

    @pytest.mark.parametrize("contract", [VEHICLES, ...], ids=lambda c: c.path)
    def test_contract(contract, client, make_tenant, auth):
        check_resource_contract(contract, client, make_tenant, auth)

The body factory receives a :class:`ContractContext` (the client, the tenant and the owner's
headers) so it can create what the body refers to (a vehicle for an insurance…) through the
API or the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from api_support import TenantWorld
from fleetcore.admin.permissions import SYSTEM_ROLES


@dataclass(frozen=True)
class ContractContext:
    """What a body factory may use: the client, the tenant, the owner's headers."""

    client: TestClient
    world: TenantWorld
    headers: dict[str, str]


BodyFactory = Callable[[ContractContext], dict[str, Any]]


@dataclass(frozen=True)
class ResourceContract:
    """A resource under test: where it lives, how to make and change one, who may."""

    path: str
    create_body: BodyFactory
    patch_body: dict[str, Any]
    read: str
    write: str
    id_field: str = "id"
    list_params: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.path


def _role_without(permission: str, *, having: str) -> str:
    """A built-in role holding ``having`` but not ``permission`` (else one holding neither)."""
    candidates = [r for r in SYSTEM_ROLES if permission not in r.permissions]
    assert candidates, f"every built-in role holds {permission}"
    for role in candidates:
        if having in role.permissions:
            return role.name
    return candidates[0].name


def _ids(client: TestClient, contract: ResourceContract, headers: dict[str, str]) -> list[str]:
    found: list[str] = []
    cursor = None
    while True:
        params = {**contract.list_params, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = client.get(contract.path, params=params, headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        found += [item[contract.id_field] for item in body["items"]]
        cursor = body.get("next_cursor")
        if not cursor:
            return found


def check_resource_contract(
    contract: ResourceContract,
    client: TestClient,
    make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]],
) -> None:
    """Run every check of the contract against ``contract``'s resource (fresh tenants)."""
    world, other = make_tenant(), make_tenant()
    owner = auth(world, "owner")
    ctx = ContractContext(client, world, owner)
    item_path = contract.path + "/{}"

    # 401: no token, whatever the operation.
    some_id = uuid.uuid4()
    for method, url, body in (
        ("GET", contract.path, None),
        ("POST", contract.path, contract.create_body(ctx)),
        ("GET", item_path.format(some_id), None),
        ("PATCH", item_path.format(some_id), contract.patch_body),
        ("DELETE", item_path.format(some_id), None),
    ):
        response = client.request(method, url, json=body)
        assert response.status_code == 401, (method, url, response.status_code, response.text)

    # create → read with the same ETag.
    created = client.post(contract.path, json=contract.create_body(ctx), headers=owner)
    assert created.status_code == 201, created.text
    item = created.json()
    row_id = item[contract.id_field]
    assert created.headers["location"].endswith(f"/{row_id}")
    assert created.headers.get("etag")
    read = client.get(item_path.format(row_id), headers=owner)
    assert read.status_code == 200, read.text
    assert read.headers["etag"] == created.headers["etag"]
    etag = read.headers["etag"]

    # 403: a role without the write permission changes nothing.
    role = _role_without(contract.write, having=contract.read)
    limited = auth(world, role)
    before = _ids(client, contract, owner)
    refused = [
        client.post(contract.path, json=contract.create_body(ctx), headers=limited),
        client.patch(item_path.format(row_id), json=contract.patch_body,
                     headers={**limited, "If-Match": etag}),
        client.delete(item_path.format(row_id), headers={**limited, "If-Match": etag}),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403], [r.text for r in refused]
    assert _ids(client, contract, owner) == before
    assert client.get(item_path.format(row_id), headers=owner).headers["etag"] == etag

    # 404: another tenant neither sees nor touches the row (even naming its version).
    stranger = auth(other, "owner")
    for response in (
        client.get(item_path.format(row_id), headers=stranger),
        client.patch(item_path.format(row_id), json=contract.patch_body,
                     headers={**stranger, "If-Match": etag}),
        client.delete(item_path.format(row_id), headers={**stranger, "If-Match": etag}),
    ):
        assert response.status_code == 404, (response.request.method, response.text)
    assert row_id not in _ids(client, contract, stranger)
    assert client.get(item_path.format(row_id), headers=owner).headers["etag"] == etag

    # update without If-Match → 428, nothing changed.
    for response in (
        client.patch(item_path.format(row_id), json=contract.patch_body, headers=owner),
        client.delete(item_path.format(row_id), headers=owner),
    ):
        assert response.status_code == 428, (response.request.method, response.text)
        assert response.json()["type"].endswith("/precondition-required")
    assert client.get(item_path.format(row_id), headers=owner).headers["etag"] == etag

    # update with If-Match → new ETag; the old one is now stale → 412.
    updated = client.patch(item_path.format(row_id), json=contract.patch_body,
                           headers={**owner, "If-Match": etag})
    assert updated.status_code == 200, updated.text
    assert updated.headers["etag"] != etag
    for key, value in contract.patch_body.items():
        if not isinstance(value, dict):
            assert updated.json()[key] == value, key
    stale = client.patch(item_path.format(row_id), json=contract.patch_body,
                         headers={**owner, "If-Match": etag})
    assert stale.status_code == 412, stale.text
    assert stale.json()["type"].endswith("/precondition-failed")
    stale_delete = client.delete(item_path.format(row_id), headers={**owner, "If-Match": etag})
    assert stale_delete.status_code == 412, stale_delete.text

    # delete (soft) → 404 and gone from the list.
    deleted = client.delete(item_path.format(row_id),
                            headers={**owner, "If-Match": updated.headers["etag"]})
    assert deleted.status_code == 204, deleted.text
    assert client.get(item_path.format(row_id), headers=owner).status_code == 404
    assert row_id not in _ids(client, contract, owner)
