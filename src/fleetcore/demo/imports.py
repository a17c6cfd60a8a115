"""The demo's platform reports: the last complete weeks of each demo tenant, written as the
platforms export them (Uber's per-transaction CSV, Bolt's orders JSON) from the demo's own
trips, and imported through the real pipeline (``revenue.service.upload_import``, committed).

So a first ``fleetcore serve`` shows what a fleet sees after its weekly imports: committed
imports, report rows, the drivers' weekly revenues on the dashboard, weeks ready to reconcile
and to settle. The reports carry the platforms' own meaning of each amount (Uber's "Your
earnings" leaves toll refunds out), so importing them corrects the few demo trips whose
earnings the generator counted otherwise — as a real import would.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from fleetcore.core.auth import ALL_PERMISSIONS, Actor
from fleetcore.core.db import ActorType, DbContext, bind_context
from fleetcore.core.periods import Period, period_containing, period_of_week
from fleetcore.demo.dataset import DemoDataset, TenantData
from fleetcore.demo.reports import (
    SampleReport,
    to_csv,
    to_json,
    uber_payments_order_columns,
)
from fleetcore.documents.storage import DocumentStorage
from fleetcore.revenue import service as revenue_service

__all__ = ["DEMO_REPORT_WEEKS", "DemoImport", "demo_reports", "import_demo_reports"]

DEMO_REPORT_WEEKS = 8
"""How many complete weeks before the current one get their reports imported."""

_TRANSACTIONS = uuid.UUID("6b1f3c52-8d0e-4a57-9c1e-2f4d5a6b7c80")
"""Namespace of the demo's Uber transaction UUIDs (one per trip, stable across loads)."""


@dataclass(frozen=True, slots=True)
class DemoImport:
    """One demo report: its file and what it holds."""

    file_name: str
    data: bytes
    platform: str
    rows: int


def _weeks(tenant: TenantData) -> list[Period]:
    """The last complete weeks before the tenant's current one, oldest first."""
    current = period_containing(tenant.trips_until, tenant.timezone).first_day
    weeks = [period_of_week(current - timedelta(weeks=back), tenant.timezone)
             for back in range(DEMO_REPORT_WEEKS, 0, -1)]
    return [w for w in weeks if w.start >= tenant.trips_from]


def demo_reports(tenant: TenantData) -> list[DemoImport]:
    """The tenant's Uber and Bolt reports of its last complete weeks, from its trips."""
    accounts = {a["id"]: a["external_account_id"]
                for a in tenant.table("trp_platform_accounts").dicts()}
    drivers = {d["id"]: (d["first_name"], d["last_name"])
               for d in tenant.table("rid_drivers").dicts()}
    plates = {v["id"]: v["licence_plate"] for v in tenant.table("flt_vehicles").dicts()}
    trips = [t for t in tenant.table("trp_trips").dicts() if t["status"] == "completed"]
    reports = []
    for period in _weeks(tenant):
        start, end = period.start, period.end
        week = [t for t in trips if start <= t["ended_at"] < end]
        label = period.first_day.isoformat()
        uber = [t for t in week if t["platform_id"].key == ("uber",)]
        if uber:
            report = _uber(tenant, uber, accounts, drivers, start, end)
            reports.append(DemoImport(f"uber-payments-{label}.csv", to_csv(report), "uber",
                                      len(report.rows)))
        bolt = [t for t in week if t["platform_id"].key == ("bolt",)]
        if bolt:
            report = _bolt(tenant, bolt, accounts, drivers, plates, start, end)
            reports.append(DemoImport(f"bolt-orders-{label}.json", to_json(report), "bolt",
                                      len(report.rows)))
    return reports


def _uber(tenant: TenantData, trips: list[dict[str, Any]], accounts: dict[Any, str],
          drivers: dict[Any, tuple[str, str]], start: datetime, end: datetime) -> SampleReport:
    rows = []
    for t in sorted(trips, key=lambda t: t["ended_at"]):
        fare, fee = t["fare_gross"], t["platform_commission"]
        tip, toll, cash = t["tip"], t["tolls"], t["cash_collected"]
        earnings = fare - fee + tip  # Uber's "Your earnings": toll refunds are not earnings
        first, last = drivers[t["driver_id"]]
        rows.append({
            "transaction_id": str(uuid.uuid5(_TRANSACTIONS, str(t["id"]))),
            "driver_uuid": accounts[t["platform_account_id"]],
            "first_name": first,
            "surname": last,
            "trip_id": t["external_trip_id"],
            "description": "trip completed order",
            "organisation": tenant.name,
            "reported_at": t["ended_at"],
            "paid_to_you": earnings + toll - cash,
            "your_earnings": earnings,
            "earnings_fare": fare,
            "fare_fare": fare,
            "fare_surge": None,
            "fare_booking_fee": None,
            "fare_wait_time": None,
            "service_fee": -fee if fee else None,
            "tip": tip or None,
            "toll": toll or None,
            "cash_collected": -cash if cash else None,
            "bank": None,
        })
    return SampleReport("uber", "payments_order", tenant.currency,
                        uber_payments_order_columns(), rows, [], start, end, tenant.timezone)


_BOLT_PAYMENT = {"cash": "cash", "card": "in_app", "wallet": "apple_pay"}


def _bolt(tenant: TenantData, trips: list[dict[str, Any]], accounts: dict[Any, str],
          drivers: dict[Any, tuple[str, str]], plates: dict[Any, str], start: datetime,
          end: datetime) -> SampleReport:
    orders = []
    for t in sorted(trips, key=lambda t: t["requested_at"]):
        first, last = drivers[t["driver_id"]]
        fare, fee = t["fare_gross"], t["platform_commission"]
        orders.append({
            "order_reference": t["external_trip_id"],
            "driver_uuid": accounts[t["platform_account_id"]],
            "driver_name": f"{first} {last}",
            "vehicle_license_plate": plates.get(t["vehicle_id"], "").replace("-", ""),
            "order_status": "finished",
            "payment_method": _BOLT_PAYMENT.get(t["payment_method"], "in_app"),
            "ride_distance": int(t["distance_km"] * 1000),
            "order_created_timestamp": int(t["requested_at"].timestamp()),
            "order_pickup_timestamp": int(t["started_at"].timestamp()),
            "order_dropoff_timestamp": int(t["ended_at"].timestamp()),
            "order_finished_timestamp": int(t["ended_at"].timestamp()),
            "order_price": {
                "ride_price": fare,
                "booking_fee": Decimal("0.00"),
                "toll_fee": t["tolls"],
                "cancellation_fee": Decimal("0.00"),
                "tip": t["tip"],
                "net_earnings": fare - fee + t["tip"] + t["tolls"],
                "commission": fee,
            },
        })
    return SampleReport("bolt", "bolt_orders", tenant.currency, [], orders, [], start, end,
                        tenant.timezone)


def import_demo_reports(session: Session, storage: DocumentStorage,
                        dataset: DemoDataset) -> dict[str, list[DemoImport]]:
    """Import and commit every demo tenant's reports in the session's transaction, each under
    its tenant's context (restored to the system context afterwards)."""
    done: dict[str, list[DemoImport]] = {}
    try:
        for tenant in dataset.tenants:
            bind_context(session, DbContext.for_tenant(tenant.tenant_id,
                                                       request_id="demo-imports"))
            actor = Actor(type=ActorType.SYSTEM, id=uuid.UUID(int=0), clerk_user_id="demo",
                          tenant_id=tenant.tenant_id, tenant_status="active",
                          permissions=frozenset({ALL_PERMISSIONS}))
            reports = demo_reports(tenant)
            for report in reports:
                revenue_service.upload_import(
                    session, actor, storage, commit=True,
                    upload=revenue_service.ImportUpload(
                        file_name=report.file_name, data=report.data, platform=report.platform,
                        currency=tenant.currency))
            done[tenant.slug] = reports
    finally:
        bind_context(session, DbContext.system(request_id="demo-imports"))
    return done
