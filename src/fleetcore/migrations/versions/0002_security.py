"""Security and integrity: row-level security, grants, append-only and touch triggers,
catalogue-scope checks and the SECURITY DEFINER routing functions.

Table lists are written out (not computed from the models) so this revision keeps meaning
what it meant when it was written. The catalogue tests check the result for every table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import context, op

from fleetcore.migrations import security

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_OWNED = (
    "adm_email_suppressions",
    "adm_idempotency_keys",
    "adm_member_roles",
    "adm_members",
    "adm_notifications",
    "adm_number_sequences",
    "adm_roles",
    "adm_tenant_lifecycle_events",
    "bil_payment_methods",
    "bil_tenant_invoice_lines",
    "bil_tenant_invoices",
    "bil_tenant_subscriptions",
    "bil_tenant_usage_metrics",
    "doc_documents",
    "fin_accounts",
    "fin_driver_payment_batches",
    "fin_driver_payments",
    "fin_toll_transactions",
    "fin_traffic_fines",
    "fin_transactions",
    "flt_odometer_readings",
    "flt_vehicle_assignments",
    "flt_vehicle_events",
    "flt_vehicle_expenses",
    "flt_vehicle_insurances",
    "flt_vehicle_maintenance",
    "flt_vehicles",
    "rev_driver_revenues",
    "rev_import_rows",
    "rev_reconciliation_items",
    "rev_reconciliations",
    "rev_revenue_imports",
    "rid_driver_blacklists",
    "rid_driver_cooperation_terms",
    "rid_driver_documents",
    "rid_driver_performances",
    "rid_driver_requests",
    "rid_driver_training",
    "rid_drivers",
    "sch_goals",
    "sch_maintenance_schedules",
    "sch_shift_series",
    "sch_shifts",
    "sch_tasks",
    "sup_customer_feedback",
    "sup_ticket_messages",
    "sup_tickets",
    "trp_client_invoices",
    "trp_platform_accounts",
    "trp_settlement_lines",
    "trp_settlements",
    "trp_trips",
)
SHARED_CATALOGUES = (
    "bil_billing_plans",
    "dir_country_regulations",
    "dir_platforms",
    "dir_vehicle_classes",
)
TENANT_EXTENSIBLE_CATALOGUES = (
    "dir_car_makes",
    "dir_car_models",
)
PROVIDER_ONLY = (
    "adm_provider_employees",
    "adm_webhook_deliveries",
    "crm_leads",
    "crm_opportunities",
)
APPEND_ONLY = (
    "adm_audit_logs",
    "adm_tenant_lifecycle_events",
    "fin_transactions",
)
TOUCHED_VERSIONED = (
    "adm_members",
    "adm_provider_employees",
    "adm_roles",
    "adm_tenants",
    "bil_billing_plans",
    "bil_payment_methods",
    "bil_tenant_invoices",
    "bil_tenant_subscriptions",
    "crm_contracts",
    "crm_leads",
    "crm_opportunities",
    "dir_car_makes",
    "dir_car_models",
    "dir_country_regulations",
    "dir_platforms",
    "dir_vehicle_classes",
    "doc_documents",
    "fin_accounts",
    "fin_driver_payment_batches",
    "fin_driver_payments",
    "fin_toll_transactions",
    "fin_traffic_fines",
    "flt_odometer_readings",
    "flt_vehicle_assignments",
    "flt_vehicle_events",
    "flt_vehicle_expenses",
    "flt_vehicle_insurances",
    "flt_vehicle_maintenance",
    "flt_vehicles",
    "rev_revenue_imports",
    "rid_driver_blacklists",
    "rid_driver_cooperation_terms",
    "rid_driver_documents",
    "rid_driver_requests",
    "rid_driver_training",
    "rid_drivers",
    "sch_goals",
    "sch_maintenance_schedules",
    "sch_shift_series",
    "sch_shifts",
    "sch_tasks",
    "sup_tickets",
    "trp_client_invoices",
    "trp_platform_accounts",
    "trp_settlements",
)
TOUCHED = (
    "adm_email_suppressions",
    "adm_idempotency_keys",
    "adm_member_roles",
    "adm_notifications",
    "adm_number_sequences",
    "adm_webhook_deliveries",
    "bil_tenant_invoice_lines",
    "bil_tenant_usage_metrics",
    "rev_driver_revenues",
    "rev_reconciliations",
    "rid_driver_performances",
    "sup_customer_feedback",
    "sup_ticket_messages",
)
CATALOGUE_SCOPE = (
    ("flt_vehicles", "make_id", "dir_car_makes"),
    ("flt_vehicles", "model_id", "dir_car_models"),
    ("dir_car_models", "make_id", "dir_car_makes"),
)

ROUTING_FUNCTIONS = (
    (
        "tenant_for_clerk_org",
        "organization_id text",
        "SELECT id FROM adm_tenants WHERE clerk_organization_id = organization_id"
        " AND deleted_at IS NULL",
    ),
    (
        "tenant_for_stripe_customer",
        "customer_id text",
        "SELECT id FROM adm_tenants WHERE stripe_customer_id = customer_id AND deleted_at IS NULL",
    ),
    (
        "tenant_for_slug",
        "tenant_slug text",
        "SELECT id FROM adm_tenants WHERE slug = tenant_slug AND deleted_at IS NULL",
    ),
    (
        "tenant_for_support_conversation",
        "system text, conversation_id text",
        # Only an unambiguous match routes: a conversation id known to two tenants does not.
        "SELECT min(tenant_id::text)::uuid FROM sup_tickets"
        " WHERE external_system = system AND external_id = conversation_id"
        " HAVING count(DISTINCT tenant_id) = 1",
    ),
)


def upgrade() -> None:
    app_role = context.config.attributes.get("app_role", "fleetcore_app")
    security.ensure_role(app_role)
    op.execute(security.FUNCTIONS_SQL)
    op.execute(f'GRANT USAGE ON SCHEMA public TO "{app_role}"')
    op.execute(f'GRANT SELECT ON alembic_version TO "{app_role}"')

    for table in TENANT_OWNED:
        security.tenant_owned(table)
    security.tenant_row("adm_tenants")
    for table in SHARED_CATALOGUES:
        security.shared_catalogue(table)
    for table in TENANT_EXTENSIBLE_CATALOGUES:
        security.tenant_extensible_catalogue(table)
    for table in PROVIDER_ONLY:
        security.provider_only(table)
    security.provider_only("crm_contracts", tenant_reads_own=True)
    security.audit_log("adm_audit_logs")

    all_tables = (
        *TENANT_OWNED,
        "adm_tenants",
        *SHARED_CATALOGUES,
        *TENANT_EXTENSIBLE_CATALOGUES,
        *PROVIDER_ONLY,
        "crm_contracts",
        "adm_audit_logs",
    )
    for table in all_tables:
        security.grant_app(table, app_role, append_only=table in APPEND_ONLY)
    for table in APPEND_ONLY:
        security.append_only(table)
    for table in TOUCHED_VERSIONED:
        security.touch_on_update(table, versioned=True)
    for table in TOUCHED:
        security.touch_on_update(table, versioned=False)
    for table, column, target in CATALOGUE_SCOPE:
        security.catalogue_scope(table, column, target)
    for name, argument, body in ROUTING_FUNCTIONS:
        security.routing_function(name, argument, body, grant_to=app_role)


def downgrade() -> None:
    app_role = context.config.attributes.get("app_role", "fleetcore_app")
    for name, argument, _body in ROUTING_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {name}({argument})")
    for table, column, _target in CATALOGUE_SCOPE:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_{column}_scope ON {table}")
    for table in (*TOUCHED_VERSIONED, *TOUCHED):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_touch ON {table}")
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    op.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{app_role}"')
    op.execute(
        "DO $$ DECLARE r record; BEGIN"
        " FOR r IN SELECT schemaname, tablename, policyname FROM pg_policies"
        "  WHERE schemaname = 'public' LOOP"
        "  EXECUTE format('DROP POLICY %I ON %I.%I', r.policyname, r.schemaname, r.tablename);"
        " END LOOP; END $$"
    )
    for fn in ("fc_refuse_change", "fc_touch", "fc_touch_versioned", "fc_check_catalogue_scope"):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}() CASCADE")
