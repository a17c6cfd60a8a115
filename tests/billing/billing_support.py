"""Helpers of the billing tests: committed plans with unique codes, a fleet's January usage,
and a race of threads released together."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.billing import service
from fleetcore.billing.schemas import PlanCreate

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)


def plan_body(code: str | None = None, *, fee: str = "100.00", trial_days: int = 0,
              **extra: Any) -> dict[str, Any]:
    return {
        "code": code or f"p{uuid.uuid4().hex[:12]}", "name": "Plan",
        "monthly_fee": {"amount": fee, "currency": "EUR"}, "trial_days": trial_days,
        "included": {"vehicles": 2, "drivers": 2, "trips": 10, "km": 100},
        "overage": {"vehicles": "5.00", "drivers": "2.00", "trips": "0.10", "km": "0.0150"},
        **extra,
    }


def create_plan(client: TestClient, headers: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    answer = client.post("/v1/billing/plans", json=plan_body(**kwargs), headers=headers)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def service_plan(session: Session, fee: str, *, trial_days: int = 0) -> str:
    code = f"s{uuid.uuid4().hex[:12]}"
    service.create_plan(session, None, PlanCreate.model_validate({
        "code": code, "name": code, "monthly_fee": {"amount": fee, "currency": "EUR"},
        "trial_days": trial_days,
        "included": {"vehicles": 5, "drivers": 2, "trips": 10, "km": 100},
        "overage": {"vehicles": "5.00", "drivers": "2.00", "trips": "0.10", "km": "0.0150"}}))
    return code


def seed_usage(session: Session, tenant: uuid.UUID) -> None:
    platform = session.scalar(text(
        "INSERT INTO dir_platforms (id, code, name) VALUES (gen_random_uuid(), :c, 'P')"
        " RETURNING id"), {"c": f"b{uuid.uuid4().hex[:10]}"})
    session.execute(text(
        "INSERT INTO rid_drivers (tenant_id, id, first_name, last_name, status)"
        " SELECT :t, gen_random_uuid(), 'D', 'N' || g, 'active' FROM generate_series(1, 3) g"),
        {"t": tenant})
    session.execute(text(
        "INSERT INTO rid_drivers (tenant_id, id, first_name, last_name, status)"
        " VALUES (:t, gen_random_uuid(), 'Gone', 'X', 'inactive')"), {"t": tenant})
    session.execute(text(
        "INSERT INTO trp_trips (tenant_id, id, platform_id, external_trip_id, status, ended_at,"
        " distance_km) SELECT :t, gen_random_uuid(), :p, 'b-' || g, 'completed',"
        " :at + g * interval '1 hour', 10.5 FROM generate_series(1, 15) g"),
        {"t": tenant, "p": platform, "at": datetime(2026, 1, 10, tzinfo=UTC)})
    # Outside the period, and cancelled: not counted.
    session.execute(text(
        "INSERT INTO trp_trips (tenant_id, id, platform_id, external_trip_id, status, ended_at,"
        " distance_km) VALUES (:t, gen_random_uuid(), :p, 'b-feb', 'completed', :feb, 99),"
        " (:t, gen_random_uuid(), :p, 'b-x', 'cancelled_by_rider', :jan, 99)"),
        {"t": tenant, "p": platform, "feb": FEB, "jan": datetime(2026, 1, 20, tzinfo=UTC)})


def race(count: int, work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[n] = work(n)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results
