"""The last per-row reference checks of the import's two bulk writes become set-checked
(decision 0012, after 0008).

An import proves every reference of the rows it writes before writing them (the platform
account and driver of each row are looked up, the import and platform are the import's own),
yet PostgreSQL still ran a foreign-key trigger per written row: a report row's key to its
import, a trip's keys to its platform, vehicle and client invoice (the last two NULL on
imported trips, each still a queued trigger call). Measured with ``auto_explain`` on a
200,000-row import, they were the largest trigger costs left (import 2.3 s, platform 3.1 s,
invoice and vehicle 0.7 s, against 0.1-0.3 s for each set-checked reference). They become
set-checked references (migration 0016), checked once per statement, under the same names:

* ``trp_trips`` → ``flt_vehicles`` and → ``trp_client_invoices``: ``NO ACTION``, the functions
  of 0016 as they are;
* ``trp_trips.platform_id`` → ``dir_platforms``: the check locks the platform rows
  ``FOR KEY SHARE``, which row-level security allows only to a role that passes an ``UPDATE``
  policy of the table. ``dir_platforms`` gets one that lets every session *select a platform
  for key share* (``USING (true)``) and lets none write through it (``WITH CHECK (false)``):
  only the provider's policy lets a row be changed, as before (a tenant's ``UPDATE`` is now an
  error instead of zero rows);
* ``rev_import_rows (tenant_id, import_id, platform_id)`` → ``rev_revenue_imports``: the key
  cascaded deletes (decision 0004). The referenced side's delete trigger is
  ``fc_set_checked_reference_cascade``: after the statement it deletes the rows of the
  imports removed, in one statement (under ``READ COMMITTED``: a row written meanwhile by an
  import that held its ``KEY SHARE`` lock is seen; at another isolation level removing an
  import that rows may reference is refused, as ``fc_set_checked_reference_kept`` does).

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

import importlib

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels = None
depends_on = None

IMPORT_KEY = "fk_rev_import_rows_tenant_id_import_id_platform_id"

# (constraint, referencing table, its columns, referenced table, its columns)
SET_CHECKED: tuple[tuple[str, str, tuple[str, ...], str, tuple[str, ...]], ...] = (
    ("fk_trp_trips_platform_id", "trp_trips", ("platform_id",), "dir_platforms", ("id",)),
    ("fk_trp_trips_tenant_id_vehicle_id", "trp_trips", ("tenant_id", "vehicle_id"),
     "flt_vehicles", ("tenant_id", "id")),
    ("fk_trp_trips_tenant_id_client_invoice_id", "trp_trips", ("tenant_id", "client_invoice_id"),
     "trp_client_invoices", ("tenant_id", "id")),
    (IMPORT_KEY, "rev_import_rows", ("tenant_id", "import_id", "platform_id"),
     "rev_revenue_imports", ("tenant_id", "id", "platform_id")),
)

CASCADE_FUNCTION = r"""
CREATE FUNCTION fc_set_checked_reference_cascade() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $fn$
DECLARE
    own text[] := '{}';
    theirs text[] := '{}';
    found text;
    scope text := current_setting('app.driver_id', true);
BEGIN
    -- TG_ARGV: constraint, referencing table, then (own column, referencing column) pairs.
    FOR i IN 2 .. TG_NARGS - 1 BY 2 LOOP
        own := own || TG_ARGV[i];
        theirs := theirs || TG_ARGV[i + 1];
    END LOOP;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        SELECT 1 INTO found FROM old_rows LIMIT 1;
        IF found IS NOT NULL THEN
            RAISE EXCEPTION 'rows of "%" that "%" may reference are removed only under READ'
                ' COMMITTED', TG_TABLE_NAME, TG_ARGV[1]
                USING ERRCODE = 'serialization_failure', CONSTRAINT = TG_ARGV[0];
        END IF;
    END IF;
    -- Every row of the removed keys goes, as a foreign key's cascade would: a driver's scope
    -- (migration 0020) narrows what the session sees, so it is lifted for this statement and
    -- put back; the tenant's policies still apply.
    PERFORM set_config('app.driver_id', '', true);
    EXECUTE format(
        'DELETE FROM %I r USING (SELECT DISTINCT %s FROM old_rows) g WHERE (%s) = (%s)',
        TG_ARGV[1], (SELECT string_agg(format('%I', c), ', ') FROM unnest(own) c),
        (SELECT string_agg(format('r.%I', c), ', ') FROM unnest(theirs) c),
        (SELECT string_agg(format('g.%I', c), ', ') FROM unnest(own) c));
    PERFORM set_config('app.driver_id', coalesce(scope, ''), true);
    RETURN NULL;
END
$fn$"""


# The functions and trigger layout of the set-checked references (migration 0016).
_0016 = importlib.import_module("fleetcore.migrations.versions.0016_set_checked_references")


def upgrade() -> None:
    op.execute(CASCADE_FUNCTION)
    # Every session may lock a platform for key share (what a reference check does); only the
    # provider's policy lets a row be written.
    op.execute("CREATE POLICY lock_for_reference ON dir_platforms FOR UPDATE TO PUBLIC"
               " USING (true) WITH CHECK (false)")
    for name, table, _columns, _referenced, _keys in SET_CHECKED:
        op.drop_constraint(name, table, type_="foreignkey")
    for statement in _0016.trigger_statements(SET_CHECKED, frozenset({IMPORT_KEY})):
        op.execute(statement)


def downgrade() -> None:
    for name, table, columns, referenced, keys in SET_CHECKED:
        for suffix, on in (("ins", table), ("upd", table), ("del_ref", referenced),
                           ("upd_ref", referenced), ("trunc_ref", referenced)):
            op.execute(f"DROP TRIGGER IF EXISTS {_0016._short(name, suffix)} ON {on}")
        op.create_foreign_key(name, table, referenced, list(columns), list(keys),
                              ondelete="CASCADE" if name == IMPORT_KEY else None)
    op.execute("DROP POLICY lock_for_reference ON dir_platforms")
    op.execute("DROP FUNCTION IF EXISTS fc_set_checked_reference_cascade()")
