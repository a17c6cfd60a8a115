"""The resource contract (401, 403, cross-tenant 404, CRUD, stale If-Match) for scheduling and
maintenance resources."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import phonenumbers
import pytest
from fastapi.testclient import TestClient

from api_support import TenantWorld
from fleet_support import fr_plate, private_make, vin
from resource_contract import ContractContext, ResourceContract, check_resource_contract


def _vehicle_id(ctx: ContractContext) -> str:
    make_id, model_id = private_make(ctx.client, ctx.world.id, ctx.headers)
    response = ctx.client.post("/v1/vehicles", headers=ctx.headers, json={
        "make_id": str(make_id), "model_id": str(model_id), "licence_plate": fr_plate(),
        "vin": vin(), "country": "FR", "year": 2024, "fuel_type": "diesel",
        "ownership_type": "owned"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _valid_mobile() -> str:
    """A random French mobile number that phonenumbers accepts (about 9% of random ones are
    in unallocated ranges and would be refused by the API)."""
    while True:
        number = f"+336{random.randint(10_000_000, 99_999_999)}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            return number


def _driver_id(ctx: ContractContext) -> str:
    response = ctx.client.post("/v1/drivers", headers=ctx.headers, json={
        "first_name": "Karim", "last_name": "Benali", "phone": _valid_mobile()})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _schedule(ctx: ContractContext) -> dict[str, Any]:
    return {"vehicle_id": _vehicle_id(ctx), "maintenance_type": "oil_change",
            "interval_km": 15000, "interval_days": 365}


def _maintenance(ctx: ContractContext) -> dict[str, Any]:
    return {"vehicle_id": _vehicle_id(ctx), "maintenance_type": "tyres",
            "scheduled_on": "2026-12-10", "cost": {"amount": "320.00", "currency": "EUR"}}


def _shift(ctx: ContractContext) -> dict[str, Any]:
    # A new driver each time, so the contract's repeated creates never overlap.
    return {"driver_id": _driver_id(ctx), "starts_at": "2027-01-01T08:00:00+01:00",
            "ends_at": "2027-01-01T16:00:00+01:00"}


def _task(ctx: ContractContext) -> dict[str, Any]:
    return {"title": "Verify the licence", "task_type": "document_verification"}


def _goal(ctx: ContractContext) -> dict[str, Any]:
    return {"scope": "tenant", "metric": "trips", "target": "500",
            "period_start": "2026-11-01T00:00:00+01:00",
            "period_end": "2026-12-01T00:00:00+01:00"}


# fmt: off
SCHEDULES = ResourceContract("/v1/maintenance-schedules", _schedule, {"reminder_lead_days": 30}, "maintenance:read", "maintenance:write")  # noqa: E501
MAINTENANCE = ResourceContract("/v1/vehicle-maintenance", _maintenance, {"provider": "Garage du Centre"}, "maintenance:read", "maintenance:write")  # noqa: E501
SHIFTS = ResourceContract("/v1/shifts", _shift, {"notes": "Airport runs"}, "shifts:read", "shifts:write")  # noqa: E501
TASKS = ResourceContract("/v1/tasks", _task, {"priority": "urgent"}, "tasks:read", "tasks:write")
GOALS = ResourceContract("/v1/goals", _goal, {"name": "November trips"}, "goals:read", "goals:write")  # noqa: E501
# fmt: on


@pytest.mark.parametrize("contract", [SCHEDULES, MAINTENANCE, SHIFTS, TASKS, GOALS], ids=str)
def test_scheduling_resources_keep_the_contract(
    contract: ResourceContract, client: TestClient, make_tenant: Callable[..., TenantWorld],
    auth: Callable[..., dict[str, str]],
) -> None:
    check_resource_contract(contract, client, make_tenant, auth)
