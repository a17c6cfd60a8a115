"""The resource contract (401, 403, cross-tenant 404, CRUD, stale If-Match) for drivers,
their training and blacklist entries."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from drivers_support import driver_body
from fastapi.testclient import TestClient

from api_support import TenantWorld
from resource_contract import ContractContext, ResourceContract, check_resource_contract


def _driver(ctx: ContractContext) -> dict[str, Any]:
    return driver_body(uuid.uuid4().int % 10_000, email=f"{uuid.uuid4().hex[:10]}@example.com")


def _driver_id(ctx: ContractContext) -> str:
    response = ctx.client.post("/v1/drivers", json=_driver(ctx), headers=ctx.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _training(ctx: ContractContext) -> dict[str, Any]:
    return {"driver_id": _driver_id(ctx), "training_name": "Safe driving",
            "training_type": "mandatory", "status": "planned", "scheduled_on": "2026-12-10"}


def _blacklist(ctx: ContractContext) -> dict[str, Any]:
    return {"driver_id": _driver_id(ctx), "category": "conduct", "reason": "Rude to riders"}


# fmt: off
DRIVERS = ResourceContract("/v1/drivers", _driver, {"notes": "Prefers nights"}, "drivers:read", "drivers:write")  # noqa: E501
TRAINING = ResourceContract("/v1/driver-training", _training, {"provider": "ACME"}, "drivers:read", "drivers:write")  # noqa: E501
BLACKLISTS = ResourceContract("/v1/driver-blacklists", _blacklist, {"reason": "Repeated complaints"}, "drivers:read", "drivers:write")  # noqa: E501
# fmt: on


@pytest.mark.parametrize("contract", [DRIVERS, TRAINING, BLACKLISTS], ids=str)
def test_driver_resources_keep_the_contract(
    contract: ResourceContract, client: TestClient, make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]],
) -> None:
    check_resource_contract(contract, client, make_tenant, auth)
