"""Helpers of the billing tests: committed plans with unique codes."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient


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
