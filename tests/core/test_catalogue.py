"""Catalogue tests: the schema as PostgreSQL sees it keeps the data-model conventions.

They read the live catalogue of the migrated database, so they hold for every table that any
migration creates — a new table that forgets RLS, tenant-scoped keys or composite references
fails here.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

from fleetcore.catalogue import (
    APPEND_ONLY_TABLES,
    FINAL_ONCE_CONFIRMED_TABLES,
    INFRASTRUCTURE_TABLES,
    NOT_UPDATED_BY_APP_TABLES,
    SEED_TABLES,
    import_all_models,
)
from fleetcore.core.migrations import include_object
from fleetcore.core.orm import SET_CHECKED_REFERENCES, Base

NULLABLE_TENANT_TABLES = {
    "dir_car_makes",
    "dir_car_models",
    "crm_contracts",
    "adm_audit_logs",
    "adm_webhook_deliveries",
}


def _tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
                " AND c.relname <> 'alembic_version' AND c.relname NOT LIKE 'procrastinate%'"
            )
        )
        return {r[0] for r in rows}


def _set_checked(engine: Engine) -> list[tuple[str, str, str, list[str], list[str]]]:
    """The set-checked references (decision 0008): (constraint, referencing table, referenced
    table, referencing columns, referenced columns), read from their statement triggers."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.tgrelid::regclass::text, encode(t.tgargs, 'escape')"
                " FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
                " WHERE p.proname = 'fc_set_checked_reference_present'"
                " AND t.tgtype & 4 = 4"  # the INSERT trigger: one per reference
            )
        ).all()
    out = []
    for table, raw in rows:
        args = raw.split("\\000")[:-1]
        name, referenced, pairs = args[0], args[1], args[2:]
        out.append((name, table, referenced, pairs[0::2], pairs[1::2]))
    return sorted(out)


def _tenant_owned(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT table_name FROM information_schema.columns"
                " WHERE table_schema = 'public' AND column_name = 'tenant_id'"
                " AND is_nullable = 'NO'"
            )
        )
        return {r[0] for r in rows}


def test_seed_has_55_tables() -> None:
    assert len(SEED_TABLES) == 55
    assert not SEED_TABLES & INFRASTRUCTURE_TABLES


def test_tables_are_exactly_the_seed_plus_infrastructure(owner_engine: Engine) -> None:
    tables = _tables(owner_engine)
    assert tables - (SEED_TABLES | INFRASTRUCTURE_TABLES) == set(), "unexpected tables"
    assert (SEED_TABLES | INFRASTRUCTURE_TABLES) - tables == set(), "missing tables"


def test_models_and_migrations_do_not_drift(owner_engine: Engine) -> None:
    import_all_models()
    with owner_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_type": True}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_every_table_has_forced_rls_and_policies(owner_engine: Engine) -> None:
    with owner_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
                " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind = 'r'"
                " AND c.relname <> 'alembic_version' AND c.relname NOT LIKE 'procrastinate%'"
            )
        ).all()
    missing = [r[0] for r in rows if not (r[1] and r[2] and r[3] > 0)]
    assert rows
    assert missing == []


def test_tenant_tables_policies_key_on_the_transaction_tenant(owner_engine: Engine) -> None:
    tenant_tables = _tenant_owned(owner_engine)
    with owner_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT tablename, string_agg(qual || ' ' || coalesce(with_check, ''), ' ')"
                " FROM pg_policies WHERE schemaname = 'public' GROUP BY tablename"
            )
        ).all()
    quals = dict(rows)
    wrong = [
        t
        for t in tenant_tables
        if "tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid"
        not in (quals.get(t) or "")
    ]
    assert len(tenant_tables) > 40
    assert wrong == []


def test_primary_and_unique_keys_of_tenant_tables_include_tenant_id(owner_engine: Engine) -> None:
    tenant_tables = _tenant_owned(owner_engine)
    with owner_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.relname, i.relname, ix.indisprimary,"
                " array(SELECT a.attname FROM unnest(ix.indkey) k"
                "       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k)"
                " FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid"
                " JOIN pg_class i ON i.oid = ix.indexrelid"
                " JOIN pg_namespace n ON n.oid = t.relnamespace"
                " WHERE n.nspname = 'public' AND (ix.indisunique OR ix.indisprimary)"
            )
        ).all()
    offenders = [
        (table, index)
        for table, index, _primary, columns in rows
        if table in tenant_tables and "tenant_id" not in columns
    ]
    primary_keys = {table: cols for table, _i, primary, cols in rows if primary}
    assert offenders == []
    assert all(primary_keys[t] == ["tenant_id", "id"] for t in tenant_tables)


def test_references_between_tenant_tables_are_composite(owner_engine: Engine) -> None:
    tenant_tables = _tenant_owned(owner_engine)
    with owner_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT src.relname, dst.relname, con.conname,"
                " array(SELECT a.attname FROM unnest(con.conkey) k"
                "       JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k)"
                " FROM pg_constraint con JOIN pg_class src ON src.oid = con.conrelid"
                " JOIN pg_class dst ON dst.oid = con.confrelid WHERE con.contype = 'f'"
            )
        ).all()
    rows = [*rows, *((t, r, name, cols) for name, t, r, cols, _k in _set_checked(owner_engine))]
    between_tenant_tables = [r for r in rows if r[0] in tenant_tables and r[1] in tenant_tables]
    not_composite = [r[2] for r in between_tenant_tables if r[3][0] != "tenant_id"]
    assert len(between_tenant_tables) > 50
    assert not_composite == []


# Tables whose tenant is implied by a composite reference that cannot be NULL (decision 0004).
TENANT_IMPLIED_BY = {"rev_import_rows": ("rev_revenue_imports", ["tenant_id", "import_id",
                                                                 "platform_id"]),
                     "flt_gps_track": ("flt_vehicles", ["tenant_id", "vehicle_id"])}


def test_tenant_tables_reference_their_tenant_or_an_owner_that_does(
        owner_engine: Engine) -> None:
    with owner_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT src.relname, dst.relname, array(SELECT a.attname FROM unnest(con.conkey)"
                "  WITH ORDINALITY k(n, i) JOIN pg_attribute a"
                "  ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i),"
                " (SELECT bool_and(a.attnotnull) FROM unnest(con.conkey) k(n) JOIN pg_attribute a"
                "  ON a.attrelid = con.conrelid AND a.attnum = k.n)"
                " FROM pg_constraint con JOIN pg_class src ON src.oid = con.conrelid"
                " JOIN pg_class dst ON dst.oid = con.confrelid WHERE con.contype = 'f'"
            )
        ).all()
        not_null = {(t, c) for t, c in conn.execute(text(
            "SELECT attrelid::regclass::text, attname FROM pg_attribute"
            " WHERE attnotnull AND attnum > 0 AND NOT attisdropped"))}
    # A set-checked reference (decisions 0008, 0012) counts as the key it replaces.
    rows = [*rows, *((t, r, cols, all((t, c) in not_null for c in cols))
                     for _n, t, r, cols, _k in _set_checked(owner_engine))]
    references_tenant = {r[0] for r in rows if r[1] == "adm_tenants" and r[2] == ["tenant_id"]}
    without = _tenant_owned(owner_engine) - references_tenant - {"adm_tenants"}
    assert without == set(TENANT_IMPLIED_BY)
    for table, (owner, columns) in TENANT_IMPLIED_BY.items():
        # The implying reference exists and none of its columns can be NULL (MATCH SIMPLE
        # would skip the check for a row with a NULL in it).
        assert (table, owner, columns, True) in rows


def test_set_checked_references_are_guarded_on_both_sides(owner_engine: Engine) -> None:
    """A reference checked per statement instead of by a foreign key (decision 0008) keeps all
    that the key did: checked on insert and update of the referencing table, removal and
    truncation of the referenced rows refused while referenced; and it is the one the models
    declare, not also a foreign key."""
    checked = _set_checked(owner_engine)
    assert {(t, r) for _n, t, r, _c, _k in checked} == {
        (table, target) for table, targets in SET_CHECKED_REFERENCES.items() for target in targets}
    # Decision 0008 (migration 0016), then decision 0012 (migration 0025): every reference
    # of the import's two bulk writes, proven before they are written.
    assert {n for n, *_ in checked} == {
        "fk_rev_import_rows_tenant_id_driver_id", "fk_trp_trips_tenant_id_driver_id",
        "fk_trp_trips_tenant_id_platform_account_id", "fk_trp_trips_tenant_id_import_id",
        "fk_trp_trips_tenant_id", "fk_trp_trips_platform_id",
        "fk_trp_trips_tenant_id_vehicle_id", "fk_trp_trips_tenant_id_client_invoice_id",
        "fk_rev_import_rows_tenant_id_import_id_platform_id",
        # A payout draft's payments (decision 0011, migration 0024).
        "fk_fin_driver_payments_tenant_id", "fk_fin_driver_payments_batch",
        "fk_fin_driver_payments_tenant_id_driver_id", "fk_fin_driver_payments_destination",
        # What the hourly billing close writes (decision 0017, migration 0026).
        "fk_bil_tenant_usage_metrics_tenant_id", "fk_bil_tenant_invoices_tenant_id",
        "fk_bil_tenant_invoices_tenant_id_subscription_id",
        "fk_bil_tenant_invoice_lines_tenant_id", "fk_bil_tenant_invoice_lines_invoice"}
    # The references that cascade (a report row goes with its import, decision 0004; a line
    # with its invoice).
    cascading = {"fk_rev_import_rows_tenant_id_import_id_platform_id",
                 "fk_bil_tenant_invoice_lines_invoice"}
    with owner_engine.connect() as conn:
        triggers = conn.execute(
            text(
                "SELECT t.tgrelid::regclass::text, p.proname, t.tgtype::int,"
                " encode(t.tgargs, 'escape') FROM pg_trigger t JOIN pg_proc p"
                " ON p.oid = t.tgfoid WHERE p.proname LIKE 'fc_set_checked_reference%'"
                " AND t.tgenabled = 'O'"
            )
        ).all()
        keys = {r[0] for r in conn.execute(text("SELECT conname FROM pg_constraint"
                                                " WHERE contype = 'f'"))}
    # tgtype bits: 1 row, 2 before, 4 insert, 8 delete, 16 update, 32 truncate.
    found = {(table, function, kind & ~1 & ~2, raw.split("\\000")[0])
             for table, function, kind, raw in triggers}
    for name, table, referenced, columns, referenced_columns in checked:
        assert len(columns) == len(referenced_columns) >= 1
        assert name not in keys
        on_delete = ("fc_set_checked_reference_cascade" if name in cascading
                     else "fc_set_checked_reference_kept")
        assert {(table, "fc_set_checked_reference_present", 4, name),
                (table, "fc_set_checked_reference_present", 16, name),
                (referenced, on_delete, 8, name),
                (referenced, "fc_set_checked_reference_kept", 16, name),
                (referenced, "fc_set_checked_reference_no_truncate", 32, name)} <= found
    # Statement triggers (not per row), all of them.
    assert all(kind & 1 == 0 for _t, _f, kind, _a in triggers)


def test_only_documented_tables_have_a_nullable_tenant(owner_engine: Engine) -> None:
    with owner_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
                " AND column_name = 'tenant_id' AND is_nullable = 'YES'"
            )
        )
        nullable = {r[0] for r in rows}
    assert nullable == NULLABLE_TENANT_TABLES


def test_money_columns_are_numeric_18_4_beside_a_currency(owner_engine: Engine) -> None:
    with owner_engine.connect() as conn:
        columns = conn.execute(
            text(
                "SELECT table_name, column_name, data_type, numeric_precision, numeric_scale"
                " FROM information_schema.columns WHERE table_schema = 'public'"
            )
        ).all()
    by_table: dict[str, dict[str, tuple[str, int | None, int | None]]] = {}
    for table, column, dtype, precision, scale in columns:
        by_table.setdefault(table, {})[column] = (dtype, precision, scale)
    floats = [(t, c) for t, cols in by_table.items() for c, (d, _p, _s) in cols.items()
              if d in ("real", "double precision", "money")]
    assert floats == []
    # numeric(18,4) columns that are quantities, not money.
    quantities = {("bil_tenant_usage_metrics", "value"), ("bil_tenant_invoice_lines", "quantity"),
                  ("sch_goals", "target"), ("sch_goals", "current_value")}
    money_tables = [
        t for t, cols in by_table.items()
        if any(d == "numeric" and (p, s) == (18, 4) and (t, c) not in quantities
               for c, (d, p, s) in cols.items())
    ]
    without_currency = [
        t for t in money_tables
        if not any(c == "currency" or c.endswith("_currency") for c in by_table[t])
    ]
    assert len(money_tables) > 20
    assert without_currency == []


def test_app_role_cannot_change_append_only_tables(owner_engine: Engine) -> None:
    with owner_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT table_name, privilege_type FROM information_schema.role_table_grants"
                " WHERE grantee = 'fleetcore_app' AND table_schema = 'public'"
            )
        ).all()
        triggers = {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT tgrelid::regclass::text FROM pg_trigger"
                    " WHERE tgname LIKE '%append_only'"
                )
            )
        }
    granted: dict[str, set[str]] = {}
    for table, privilege in rows:
        granted.setdefault(table, set()).add(privilege)
    for table in APPEND_ONLY_TABLES:
        assert granted[table] == {"SELECT", "INSERT"}, table
        assert table in triggers, table
    for table in NOT_UPDATED_BY_APP_TABLES:
        assert granted[table] == {"SELECT", "INSERT", "DELETE"}, table
    others = _tables(owner_engine) - APPEND_ONLY_TABLES - NOT_UPDATED_BY_APP_TABLES
    assert all({"SELECT", "INSERT", "UPDATE", "DELETE"} <= granted[t] for t in others)


def test_confirmed_settlements_are_guarded_by_a_trigger(owner_engine: Engine) -> None:
    with owner_engine.connect() as conn:
        guarded = {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE '%\\_final'"
                    # Row-level (1), BEFORE (2), on DELETE (8) and UPDATE (16).
                    " AND tgtype & 27 = 27"
                )
            )
        }
    assert guarded == FINAL_ONCE_CONFIRMED_TABLES


def test_updated_at_is_maintained_by_a_trigger(owner_engine: Engine) -> None:
    with owner_engine.connect() as conn:
        with_updated_at = {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT table_name FROM information_schema.columns"
                    " WHERE table_schema = 'public' AND column_name = 'updated_at'"
                )
            )
        }
        touched = {
            r[0]
            for r in conn.execute(
                text("SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE '%_touch'")
            )
        }
    from fleetcore.catalogue import BULK_TABLES

    assert with_updated_at - touched - BULK_TABLES - APPEND_ONLY_TABLES == set()


def test_app_role_is_not_owner_and_cannot_bypass_rls(app_engine: Engine) -> None:
    from fleetcore.core.db import check_app_role

    check_app_role(app_engine)  # raises UnsafeDatabaseRole otherwise
    with app_engine.connect() as conn:
        row = conn.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
    assert tuple(row) == (False, False)


def test_constraints_alembic_cannot_compare_match_the_models(owner_engine: Engine) -> None:
    """CHECK and exclusion constraints are invisible to ``alembic check``: build the models into
    a scratch schema (rolled back) and compare every constraint definition with the migrated
    one, so a model edit without a migration fails here."""
    import_all_models()
    query = text(
        "SELECT rel.relname, con.conname, pg_get_constraintdef(con.oid)"
        " FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid"
        " JOIN pg_namespace n ON n.oid = rel.relnamespace"
        " WHERE n.nspname = :schema AND con.contype IN ('c', 'x', 'u', 'f', 'p')"
    )
    with owner_engine.connect() as conn:
        migrated = {
            (t, c): d
            for t, c, d in conn.execute(query, {"schema": "public"})
            if t != "alembic_version" and not t.startswith("procrastinate")
        }
        conn.rollback()
        with conn.begin():
            conn.execute(text("CREATE SCHEMA drift_check"))
            conn.execute(text("SET LOCAL search_path = drift_check, public"))
            scratch = conn.execution_options(schema_translate_map={None: "drift_check"})
            Base.metadata.create_all(scratch)
            modelled = {
                (t, c): d.replace("drift_check.", "")
                for t, c, d in conn.execute(query, {"schema": "drift_check"})
            }
            conn.rollback()
    assert len(modelled) > 500
    assert set(modelled) == set(migrated)
    differing = {k: (modelled[k], migrated[k]) for k in modelled if modelled[k] != migrated[k]}
    assert differing == {}
