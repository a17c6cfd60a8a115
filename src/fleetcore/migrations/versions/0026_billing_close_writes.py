"""What the hourly billing close writes costs less per row (``bench/billing.py``, decision 0017).

The close (``fleetcore.billing.closing``) writes, for every due fleet, four usage values, an
invoice and its lines. Measured on 2,000 fleets (``EXPLAIN ANALYZE``, PostgreSQL 15), a third
of that time was not the rows but what checked them one at a time:

* ``bil_tenant_usage_metrics``' exclusion constraint against overlapping periods (a GiST index
  entry and a GiST probe per value: about 100 ms of the 230 ms of 8,000 values) goes. The
  usage of a fleet is only ever stored for its subscription's billing periods, which follow
  one another (each starts where the previous ended, decision 0017); the unique key on
  (tenant, metric, period start), which the upsert already uses as its arbiter, is what keeps
  a period's value single.
* Five references become set-checked (decision 0008, migration 0016): checked once per
  statement instead of once per row (about 100 ms of the 220 ms of 2,000 invoices and
  8,000 lines, 30 ms of the usage values): the usage value's, the invoice's and the line's
  tenant, the invoice's subscription, and the line's invoice (with its currency; the lines
  still go with their invoice, ``fc_set_checked_reference_cascade`` of migration 0025).
* The check of a set-checked reference (``fc_set_checked_reference_present``) locks the
  referenced rows one key at a time, each by its index (a ``LATERAL`` probe), instead of one
  semi-join of the keys with the referenced table: under the provider's row-level security
  policy the planner expects one referenced row and chose a nested loop over every key and
  every row (290 ms for the subscriptions of 2,000 invoices; 6 ms now). Same rows locked,
  same errors.
* ``bil_tenant_subscriptions`` gets a fill factor of 50: the close's advance of every
  period (dates, metadata, version; no indexed value changes) is then a HOT update, writing
  no index entry, in the room left on each page (about 5 % of a 10,000-fleet close).
* The Stripe ids' unique keys of the three tables become partial unique indexes (``WHERE …
  IS NOT NULL``), same names, same rule: the rows the close writes have no Stripe id yet, and
  a NULL is an index entry too.

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

import importlib

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels = None
depends_on = None

LINE_INVOICE = "fk_bil_tenant_invoice_lines_invoice"

# (constraint, referencing table, its columns, referenced table, its columns)
SET_CHECKED: tuple[tuple[str, str, tuple[str, ...], str, tuple[str, ...]], ...] = (
    ("fk_bil_tenant_usage_metrics_tenant_id", "bil_tenant_usage_metrics", ("tenant_id",),
     "adm_tenants", ("id",)),
    ("fk_bil_tenant_invoices_tenant_id", "bil_tenant_invoices", ("tenant_id",), "adm_tenants",
     ("id",)),
    ("fk_bil_tenant_invoices_tenant_id_subscription_id", "bil_tenant_invoices",
     ("tenant_id", "subscription_id"), "bil_tenant_subscriptions", ("tenant_id", "id")),
    ("fk_bil_tenant_invoice_lines_tenant_id", "bil_tenant_invoice_lines", ("tenant_id",),
     "adm_tenants", ("id",)),
    (LINE_INVOICE, "bil_tenant_invoice_lines", ("tenant_id", "invoice_id", "currency"),
     "bil_tenant_invoices", ("tenant_id", "id", "currency")),
)

# Unique where set: the rows the close writes have no Stripe id yet.
PARTIAL_UNIQUE = (
    ("bil_tenant_usage_metrics", "stripe_meter_event_id"),
    ("bil_tenant_invoices", "stripe_invoice_id"),
    ("bil_tenant_invoice_lines", "stripe_line_id"),
)

EXCLUSION = "ex_bil_tenant_usage_metrics_period"


def _set_checked() -> object:
    return importlib.import_module("fleetcore.migrations.versions.0016_set_checked_references")


_LOCK_SET = """
        'WITH k AS MATERIALIZED (%s),'
        ' l AS (SELECT 1 FROM %I p WHERE (%s) IN (SELECT * FROM k) FOR KEY SHARE OF p)'
        ' SELECT (SELECT count(*) FROM k), (SELECT count(*) FROM l)',
        wanted, TG_ARGV[1],
        (SELECT string_agg(format('p.%I', c), ', ') FROM unnest(theirs) c))"""

# Each key's row, found by its index (the keys are unique in the referenced table).
_LOCK_EACH = """
        'WITH k AS MATERIALIZED (%s),'
        ' l AS (SELECT 1 FROM k CROSS JOIN LATERAL'
        ' (SELECT 1 FROM %I p WHERE (%s) = (%s) FOR KEY SHARE OF p) x)'
        ' SELECT (SELECT count(*) FROM k), (SELECT count(*) FROM l)',
        wanted, TG_ARGV[1],
        (SELECT string_agg(format('p.%I', c), ', ') FROM unnest(theirs) c),
        (SELECT string_agg(format('k.%I', c), ', ') FROM unnest(own) c))"""


def _present_function(lock: str) -> str:
    original: str = _set_checked().FUNCTIONS[0]  # type: ignore[attr-defined]
    assert _LOCK_SET in original
    assert "CREATE FUNCTION fc_set_checked_reference_present" in original
    return original.replace(_LOCK_SET, lock).replace("CREATE FUNCTION",
                                                     "CREATE OR REPLACE FUNCTION")


def upgrade() -> None:
    op.execute(_present_function(_LOCK_EACH))
    op.execute("ALTER TABLE bil_tenant_subscriptions SET (fillfactor = 50)")
    op.execute(f"ALTER TABLE bil_tenant_usage_metrics DROP CONSTRAINT {EXCLUSION}")
    for name, table, _columns, _referenced, _keys in SET_CHECKED:
        op.drop_constraint(name, table, type_="foreignkey")
    for statement in _set_checked().trigger_statements(  # type: ignore[attr-defined]
            SET_CHECKED, frozenset({LINE_INVOICE})):
        op.execute(statement)
    for table, column in PARTIAL_UNIQUE:
        name = f"uq_{table}_tenant_id_{column}"
        op.drop_constraint(name, table, type_="unique")
        op.execute(f"CREATE UNIQUE INDEX {name} ON {table} (tenant_id, {column})"
                   f" WHERE {column} IS NOT NULL")


def downgrade() -> None:
    for table, column in PARTIAL_UNIQUE:
        name = f"uq_{table}_tenant_id_{column}"
        op.execute(f"DROP INDEX {name}")
        op.create_unique_constraint(name, table, ["tenant_id", column])
    short = _set_checked()._short  # type: ignore[attr-defined]
    for name, table, columns, referenced, keys in SET_CHECKED:
        for suffix, on in (("ins", table), ("upd", table), ("del_ref", referenced),
                           ("upd_ref", referenced), ("trunc_ref", referenced)):
            op.execute(f"DROP TRIGGER IF EXISTS {short(name, suffix)} ON {on}")
        ondelete = {"adm_tenants": "RESTRICT", "bil_tenant_invoices": "CASCADE"}.get(referenced)
        op.create_foreign_key(name, table, referenced, list(columns), list(keys),
                              ondelete=ondelete)
    op.execute(f"ALTER TABLE bil_tenant_usage_metrics ADD CONSTRAINT {EXCLUSION} EXCLUDE USING"
               " gist (tenant_id WITH =, metric WITH =,"
               " tstzrange(period_start, period_end, '[)') WITH &&)")
    op.execute(_present_function(_LOCK_SET))
    op.execute("ALTER TABLE bil_tenant_subscriptions RESET (fillfactor)")
