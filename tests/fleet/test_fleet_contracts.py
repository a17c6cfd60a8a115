"""The resource contract (401, 403, cross-tenant 404, CRUD, stale If-Match) for fleet resources."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_support import TenantWorld
from fleet_support import fr_plate, private_make, vin
from resource_contract import ContractContext, ResourceContract, check_resource_contract


def _vehicle(ctx: ContractContext) -> dict[str, Any]:
    make_id, model_id = private_make(ctx.client, ctx.world.id, ctx.headers)
    return {"make_id": str(make_id), "model_id": str(model_id), "licence_plate": fr_plate(),
            "vin": vin(), "country": "FR", "year": 2024, "fuel_type": "diesel",
            "ownership_type": "owned"}


def _vehicle_id(ctx: ContractContext) -> str:
    response = ctx.client.post("/v1/vehicles", json=_vehicle(ctx), headers=ctx.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _insurance(ctx: ContractContext) -> dict[str, Any]:
    return {"vehicle_id": _vehicle_id(ctx), "provider": "AXA", "policy_number": "P-1",
            "coverage_type": "third_party", "currency": "EUR",
            "premium": {"amount": "99.90", "currency": "EUR"}, "premium_frequency": "monthly",
            "starts_on": "2026-01-01", "ends_on": "2026-12-31"}


def _expense(ctx: ContractContext) -> dict[str, Any]:
    return {"vehicle_id": _vehicle_id(ctx), "category": "fuel", "payment_method": "fuel_card",
            "amount": {"amount": "62.40", "currency": "EUR"}, "incurred_on": "2026-11-20"}


def _event(ctx: ContractContext) -> dict[str, Any]:
    return {"vehicle_id": _vehicle_id(ctx), "event_type": "accident", "severity": "medium",
            "occurred_at": (datetime.now(UTC) - timedelta(days=1)).isoformat()}


# fmt: off
VEHICLES = ResourceContract("/v1/vehicles", _vehicle, {"colour": "Blue"}, "vehicles:read", "vehicles:write")  # noqa: E501
INSURANCES = ResourceContract("/v1/vehicle-insurances", _insurance, {"notes": "Renewed"}, "insurances:read", "insurances:write")  # noqa: E501
EXPENSES = ResourceContract("/v1/vehicle-expenses", _expense, {"vendor": "Total"}, "expenses:read", "expenses:write")  # noqa: E501
EVENTS = ResourceContract("/v1/vehicle-events", _event, {"severity": "low"}, "vehicles:read", "vehicles:write")  # noqa: E501
# fmt: on


@pytest.mark.parametrize("contract", [VEHICLES, INSURANCES, EXPENSES, EVENTS], ids=str)
def test_fleet_resources_keep_the_contract(
    contract: ResourceContract, client: TestClient, make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]],
) -> None:
    check_resource_contract(contract, client, make_tenant, auth)
