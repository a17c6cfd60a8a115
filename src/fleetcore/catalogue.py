"""The table catalogue: every domain's models, registered on one metadata.

Migrations, the catalogue tests and the demo loader import all models through here, so a
new domain is added in one place.
"""

from __future__ import annotations

import importlib

DOMAINS: tuple[str, ...] = (
    "admin",
    "reference",
    "documents",
    "fleet",
    "drivers",
    "scheduling",
    "tasks",
    "trips",
    "finance",
    "revenue",
    "billing",
    "crm",
    "support",
)

# fmt: off
SEED_TABLES: frozenset[str] = frozenset(
    {
        # 1 Administration
        "adm_tenants", "adm_members", "adm_roles", "adm_member_roles", "adm_audit_logs",
        "adm_provider_employees", "adm_tenant_lifecycle_events",
        # 2 Reference data
        "dir_car_makes", "dir_car_models", "dir_vehicle_classes", "dir_platforms",
        "dir_country_regulations",
        # 3 Documents
        "doc_documents",
        # 4 Fleet
        "flt_vehicles", "flt_vehicle_assignments", "flt_vehicle_events",
        "flt_vehicle_maintenance", "flt_vehicle_expenses", "flt_vehicle_insurances",
        # 5 Drivers
        "rid_drivers", "rid_driver_documents", "rid_driver_cooperation_terms",
        "rid_driver_requests", "rid_driver_performances", "rid_driver_blacklists",
        "rid_driver_training",
        # 6 Scheduling
        "sch_shifts", "sch_maintenance_schedules", "sch_goals", "sch_tasks",
        # 7 Trips
        "trp_platform_accounts", "trp_trips", "trp_settlements", "trp_client_invoices",
        # 8 Finance
        "fin_accounts", "fin_transactions", "fin_driver_payment_batches",
        "fin_driver_payments", "fin_toll_transactions", "fin_traffic_fines",
        # 9 Revenue
        "rev_revenue_imports", "rev_driver_revenues", "rev_reconciliations",
        # 10 SaaS billing
        "bil_billing_plans", "bil_tenant_subscriptions", "bil_tenant_usage_metrics",
        "bil_tenant_invoices", "bil_tenant_invoice_lines", "bil_payment_methods",
        # 11 CRM
        "crm_leads", "crm_opportunities", "crm_contracts",
        # 12 Support
        "sup_tickets", "sup_ticket_messages", "sup_customer_feedback",
    }
)
"""The 55 tables of the seed data model."""

INFRASTRUCTURE_TABLES: frozenset[str] = frozenset(
    {
        "trp_settlement_lines", "rev_import_rows", "rev_reconciliation_items",
        "flt_odometer_readings", "sch_shift_series", "adm_notifications",
        "adm_email_suppressions", "adm_webhook_deliveries", "adm_idempotency_keys",
        "adm_number_sequences", "flt_gps_devices", "flt_gps_track",
        "sup_unrouted_conversations",
    }
)
# fmt: on
"""The infrastructure tables data-model.md allows beside the seed's."""

APPEND_ONLY_TABLES: frozenset[str] = frozenset(
    {"adm_audit_logs", "adm_tenant_lifecycle_events", "fin_transactions"}
)
"""Rows that are never updated or deleted (enforced by privileges and triggers)."""

FINAL_ONCE_CONFIRMED_TABLES: frozenset[str] = frozenset({"trp_settlements", "trp_settlement_lines"})
"""Rows that never change once their settlement is confirmed (a ``<table>_final`` trigger:
only a confirmed settlement's payout may still move on)."""

NOT_UPDATED_BY_APP_TABLES: frozenset[str] = frozenset({"trp_settlement_lines"})
"""Rows the app role inserts and deletes but never updates (drafts are rebuilt, not edited)."""

BULK_TABLES: frozenset[str] = frozenset(
    {"trp_trips", "rev_import_rows", "trp_settlement_lines", "rev_reconciliation_items",
     "fin_driver_payments", "bil_tenant_subscriptions", "bil_tenant_usage_metrics",
     "bil_tenant_invoices", "bil_tenant_invoice_lines"}
)
"""Tables written in bulk: audited per statement, never per row."""


def import_all_models() -> None:
    """Import every domain's ``models`` module so that ``Base.metadata`` knows all tables."""
    for domain in DOMAINS:
        importlib.import_module(f"fleetcore.{domain}.models")
