"""Audit trail: database triggers write ``adm_audit_logs`` for every mutation.

The actor, request id, ip and user agent come from the transaction-local settings that
``fleetcore.core.db.apply_context`` sets, so no write path — API, job, CLI or a hand-written
SQL statement as the app role — can skip the audit. Ordinary tables get a row trigger that
records the changed fields only (before/after), with secrets redacted. Bulk tables get
statement triggers with transition tables: one audit row per tenant and statement, never one
per row, so a million-row import commit costs one audit insert.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Columns whose values never enter the audit log (the change itself is still recorded).
REDACTED: dict[str, tuple[str, ...]] = {
    "fin_accounts": ("iban", "bic", "stripe_account_id"),
    "trp_platform_accounts": ("secret_ref",),
    "rid_drivers": ("licence_number", "professional_card_number", "date_of_birth"),
    "rid_driver_cooperation_terms": ("accepted_ip",),
}

# Tables audited per statement (bulk writers).
BULK = ("trp_trips", "rev_import_rows", "trp_settlement_lines", "rev_reconciliation_items")

# Not audited: the audit log itself and exactly-once bookkeeping rows whose every write is
# already the trace of an audited action (idempotency keys, notifications, webhook
# deliveries, number sequences, e-mail suppressions).
NOT_AUDITED = (
    "adm_audit_logs",
    "adm_idempotency_keys",
    "adm_notifications",
    "adm_webhook_deliveries",
    "adm_number_sequences",
    "adm_email_suppressions",
)

ROW_AUDITED = (
    "adm_tenants",
    "adm_members",
    "adm_roles",
    "adm_member_roles",
    "adm_provider_employees",
    "adm_tenant_lifecycle_events",
    "dir_car_makes",
    "dir_car_models",
    "dir_vehicle_classes",
    "dir_platforms",
    "dir_country_regulations",
    "doc_documents",
    "flt_vehicles",
    "flt_vehicle_assignments",
    "flt_vehicle_events",
    "flt_vehicle_maintenance",
    "flt_vehicle_expenses",
    "flt_vehicle_insurances",
    "flt_odometer_readings",
    "rid_drivers",
    "rid_driver_documents",
    "rid_driver_cooperation_terms",
    "rid_driver_requests",
    "rid_driver_performances",
    "rid_driver_blacklists",
    "rid_driver_training",
    "sch_shifts",
    "sch_shift_series",
    "sch_maintenance_schedules",
    "sch_goals",
    "sch_tasks",
    "trp_platform_accounts",
    "trp_settlements",
    "trp_client_invoices",
    "fin_accounts",
    "fin_transactions",
    "fin_driver_payment_batches",
    "fin_driver_payments",
    "fin_toll_transactions",
    "fin_traffic_fines",
    "rev_revenue_imports",
    "rev_driver_revenues",
    "rev_reconciliations",
    "bil_billing_plans",
    "bil_tenant_subscriptions",
    "bil_tenant_usage_metrics",
    "bil_tenant_invoices",
    "bil_tenant_invoice_lines",
    "bil_payment_methods",
    "crm_leads",
    "crm_opportunities",
    "crm_contracts",
    "sup_tickets",
    "sup_ticket_messages",
    "sup_customer_feedback",
)

FUNCTIONS = r"""
CREATE FUNCTION fc_audit_actor_type() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN current_setting('app.actor_type', true) IN
    ('member', 'provider_employee', 'system', 'integration')
    AND (current_setting('app.actor_type', true) IN ('system', 'integration')
         OR NULLIF(current_setting('app.actor_id', true), '') IS NOT NULL)
  THEN current_setting('app.actor_type', true) ELSE 'system' END
$$;

CREATE FUNCTION fc_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  before jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END;
  after jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END;
  row_data jsonb := coalesce(after, before);
  redacted text[] := TG_ARGV;
  ignored text[] := ARRAY['updated_at', 'updated_by', 'version', 'created_at'];
  changes jsonb := '{}'::jsonb;
  key text;
  verb text := lower(TG_OP);
  row_tenant uuid;
BEGIN
  IF row_data ? 'tenant_id' THEN
    row_tenant := (row_data ->> 'tenant_id')::uuid;
  ELSIF TG_TABLE_NAME = 'adm_tenants' THEN
    row_tenant := (row_data ->> 'id')::uuid;
  END IF;

  FOR key IN SELECT jsonb_object_keys(row_data) LOOP
    CONTINUE WHEN key = ANY (ignored);
    IF TG_OP = 'UPDATE' AND (before -> key) IS NOT DISTINCT FROM (after -> key) THEN
      CONTINUE;
    END IF;
    IF TG_OP <> 'UPDATE' AND jsonb_typeof(row_data -> key) = 'null' THEN
      CONTINUE;
    END IF;
    changes := changes || jsonb_build_object(key, jsonb_build_object(
      'before', CASE WHEN key = ANY (redacted) AND before IS NOT NULL THEN to_jsonb('[redacted]'::text)
                     ELSE before -> key END,
      'after', CASE WHEN key = ANY (redacted) AND after IS NOT NULL THEN to_jsonb('[redacted]'::text)
                    ELSE after -> key END));
  END LOOP;

  IF TG_OP = 'UPDATE' THEN
    IF changes = '{}'::jsonb THEN
      RETURN NULL;  -- nothing but bookkeeping columns changed
    END IF;
    IF changes ? 'deleted_at' THEN
      verb := CASE WHEN after ->> 'deleted_at' IS NULL THEN 'restore' ELSE 'delete' END;
    END IF;
  ELSIF TG_OP = 'INSERT' THEN
    verb := 'create';
  END IF;

  INSERT INTO adm_audit_logs (id, tenant_id, actor_type, actor_id, action, entity_type,
                              entity_id, changes, ip, user_agent, request_id, occurred_at)
  VALUES (gen_random_uuid(), row_tenant, fc_audit_actor_type(),
          NULLIF(current_setting('app.actor_id', true), '')::uuid,
          verb, TG_TABLE_NAME, (row_data ->> 'id')::uuid, changes,
          NULLIF(current_setting('app.ip', true), '')::inet,
          NULLIF(current_setting('app.user_agent', true), ''),
          NULLIF(current_setting('app.request_id', true), ''),
          clock_timestamp());
  RETURN NULL;
END $$;

-- One audit row per tenant for a whole bulk statement (transition table "changed_rows").
CREATE FUNCTION fc_audit_bulk() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO adm_audit_logs (id, tenant_id, actor_type, actor_id, action, entity_type,
                              entity_id, changes, ip, user_agent, request_id, occurred_at)
  SELECT gen_random_uuid(), tenant_id, fc_audit_actor_type(),
         NULLIF(current_setting('app.actor_id', true), '')::uuid,
         'bulk_' || lower(TG_OP), TG_TABLE_NAME, NULL,
         jsonb_build_object('rows', count(*)),
         NULLIF(current_setting('app.ip', true), '')::inet,
         NULLIF(current_setting('app.user_agent', true), ''),
         NULLIF(current_setting('app.request_id', true), ''),
         clock_timestamp()
    FROM changed_rows GROUP BY tenant_id;
  RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute(FUNCTIONS)
    for table in ROW_AUDITED:
        arguments = ", ".join(f"'{c}'" for c in REDACTED.get(table, ()))
        op.execute(
            f"CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION fc_audit_row({arguments})"
        )
    for table in BULK:
        for event, transition in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            op.execute(
                f"CREATE TRIGGER {table}_audit_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {transition} TABLE AS changed_rows "
                "FOR EACH STATEMENT EXECUTE FUNCTION fc_audit_bulk()"
            )


def downgrade() -> None:
    for table in BULK:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_audit_{event} ON {table}")
    for table in ROW_AUDITED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_audit ON {table}")
    op.execute("DROP FUNCTION IF EXISTS fc_audit_bulk()")
    op.execute("DROP FUNCTION IF EXISTS fc_audit_row()")
    op.execute("DROP FUNCTION IF EXISTS fc_audit_actor_type()")
