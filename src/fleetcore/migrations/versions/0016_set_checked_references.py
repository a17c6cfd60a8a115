"""The bulk tables' driver, platform-account and import references are checked once per
statement, set-based, instead of once per row (decision 0008).

A foreign key is an ``AFTER`` row trigger: one SPI query and one ``KEY SHARE`` lock per written
row. An import writes up to a million report rows and as many trips, and on the trips the
three references below were about half of the write. Each becomes a *set-checked reference*:

* on the referencing table, ``AFTER INSERT`` and ``AFTER UPDATE`` statement triggers with a
  transition table: the distinct keys the statement wrote (for an update, only the keys it
  changed — as PostgreSQL's own check skips an unchanged key) are locked ``FOR KEY SHARE`` in
  the referenced table in one query, and any that is missing refuses the statement with the
  foreign-key SQLSTATE (23503) and the constraint's name;
* on the referenced table, ``AFTER DELETE`` and ``AFTER UPDATE`` statement triggers refuse
  to remove a key still referenced (``NO ACTION``, like the keys they replace), and a
  ``BEFORE TRUNCATE`` trigger refuses to empty it while anything references it.

The constraint names are kept (``fk_…``), so errors read and map as before. A trip's tenant
reference becomes set-checked too (≈ 5 µs a row, for one referenced row). Its platform
reference stays a foreign key: the lock needs the referenced row to pass the table's update
policy, and only the provider may update ``dir_platforms`` (a foreign key's check bypasses
row-level security; a trigger cannot). Its vehicle and client invoice references stay foreign
keys (NULL on imported trips, so nearly free), as does a report row's reference to its import
(``ON DELETE CASCADE``, decision 0004).

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels = None
depends_on = None

# (constraint, referencing table, its columns, referenced table, its columns)
SET_CHECKED: tuple[tuple[str, str, tuple[str, ...], str, tuple[str, ...]], ...] = (
    ("fk_rev_import_rows_tenant_id_driver_id", "rev_import_rows", ("tenant_id", "driver_id"),
     "rid_drivers", ("tenant_id", "id")),
    ("fk_trp_trips_tenant_id_driver_id", "trp_trips", ("tenant_id", "driver_id"),
     "rid_drivers", ("tenant_id", "id")),
    ("fk_trp_trips_tenant_id_platform_account_id", "trp_trips",
     ("tenant_id", "platform_account_id"), "trp_platform_accounts", ("tenant_id", "id")),
    ("fk_trp_trips_tenant_id_import_id", "trp_trips", ("tenant_id", "import_id"),
     "rev_revenue_imports", ("tenant_id", "id")),
    ("fk_trp_trips_tenant_id", "trp_trips", ("tenant_id",), "adm_tenants", ("id",)),
)

FUNCTIONS = (
    # Referencing side. TG_ARGV: constraint, referenced table, then (own column, referenced
    # column) pairs. A row with a NULL in its key is not checked (MATCH SIMPLE).
    r"""
CREATE FUNCTION fc_set_checked_reference_present() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $fn$
DECLARE
    own text[] := '{}';
    theirs text[] := '{}';
    keys text;
    wanted text;
    needed bigint;
    locked bigint;
    missing text;
BEGIN
    FOR i IN 2 .. TG_NARGS - 1 BY 2 LOOP
        own := own || TG_ARGV[i];
        theirs := theirs || TG_ARGV[i + 1];
    END LOOP;
    keys := (SELECT string_agg(format('%I', c), ', ') FROM unnest(own) c);
    wanted := format('SELECT DISTINCT %s FROM new_rows WHERE %s', keys,
                     (SELECT string_agg(format('%I IS NOT NULL', c), ' AND ') FROM unnest(own) c));
    IF TG_OP = 'UPDATE' THEN
        -- Only the keys this statement introduced: the others were checked when written,
        -- and the referenced side keeps them.
        wanted := wanted || format(' EXCEPT SELECT %s FROM old_rows', keys);
    END IF;
    EXECUTE format(
        'WITH k AS MATERIALIZED (%s),'
        ' l AS (SELECT 1 FROM %I p WHERE (%s) IN (SELECT * FROM k) FOR KEY SHARE OF p)'
        ' SELECT (SELECT count(*) FROM k), (SELECT count(*) FROM l)',
        wanted, TG_ARGV[1],
        (SELECT string_agg(format('p.%I', c), ', ') FROM unnest(theirs) c))
        INTO needed, locked;
    IF locked < needed THEN
        EXECUTE format(
            'SELECT concat_ws('', '', %s) FROM (%s) k WHERE NOT EXISTS'
            ' (SELECT 1 FROM %I p WHERE (%s) = (%s)) LIMIT 1',
            (SELECT string_agg(format('k.%I', c), ', ') FROM unnest(own) c), wanted,
            TG_ARGV[1], (SELECT string_agg(format('p.%I', c), ', ') FROM unnest(theirs) c),
            (SELECT string_agg(format('k.%I', c), ', ') FROM unnest(own) c))
            INTO missing;
        -- Present but not locked: a row this role's policies do not let it lock.
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
            TG_TABLE_NAME, TG_ARGV[0]
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[0],
                  TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA,
                  DETAIL = CASE WHEN missing IS NULL
                      THEN format('A key of (%s) in table "%s" cannot be locked.',
                                  array_to_string(own, ', '), TG_ARGV[1])
                      ELSE format('Key (%s)=(%s) is not present in table "%s".',
                                  array_to_string(own, ', '), missing, TG_ARGV[1]) END;
    END IF;
    RETURN NULL;
END
$fn$""",
    # Referenced side. TG_ARGV: constraint, referencing table, then (own column, referencing
    # column) pairs. The query runs after the statement, with a fresh snapshot under READ
    # COMMITTED: a reference committed meanwhile (it held a KEY SHARE lock the delete waited
    # for) is seen. A snapshot kept for the transaction would miss it, so a transaction at
    # another level may not remove keys.
    r"""
CREATE FUNCTION fc_set_checked_reference_kept() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $fn$
DECLARE
    own text[] := '{}';
    theirs text[] := '{}';
    gone text;
    found text;
BEGIN
    FOR i IN 2 .. TG_NARGS - 1 BY 2 LOOP
        own := own || TG_ARGV[i];
        theirs := theirs || TG_ARGV[i + 1];
    END LOOP;
    gone := format('SELECT %s FROM old_rows',
                   (SELECT string_agg(format('%I', c), ', ') FROM unnest(own) c));
    IF TG_OP = 'UPDATE' THEN
        gone := gone || format(' EXCEPT SELECT %s FROM new_rows',
                               (SELECT string_agg(format('%I', c), ', ') FROM unnest(own) c));
    END IF;
    EXECUTE format(
        'SELECT concat_ws('', '', %s) FROM (%s) g WHERE EXISTS'
        ' (SELECT 1 FROM %I r WHERE (%s) = (%s)) LIMIT 1',
        (SELECT string_agg(format('g.%I', c), ', ') FROM unnest(own) c), gone, TG_ARGV[1],
        (SELECT string_agg(format('r.%I', c), ', ') FROM unnest(theirs) c),
        (SELECT string_agg(format('g.%I', c), ', ') FROM unnest(own) c))
        INTO found;
    IF found IS NOT NULL THEN
        RAISE EXCEPTION 'update or delete on table "%" violates foreign key constraint "%" on'
            ' table "%"', TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1]
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[0],
                  TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA,
                  DETAIL = format('Key (%s)=(%s) is still referenced from table "%s".',
                                  array_to_string(own, ', '), found, TG_ARGV[1]);
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        EXECUTE format('SELECT 1 FROM (%s) g LIMIT 1', gone) INTO found;
        IF found IS NOT NULL THEN
            RAISE EXCEPTION 'rows of "%" that "%" may reference are removed only under READ'
                ' COMMITTED', TG_TABLE_NAME, TG_ARGV[1]
                USING ERRCODE = 'serialization_failure', CONSTRAINT = TG_ARGV[0];
        END IF;
    END IF;
    RETURN NULL;
END
$fn$""",
    # TG_ARGV: constraint, referencing table.
    r"""
CREATE FUNCTION fc_set_checked_reference_no_truncate() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_temp AS $fn$
DECLARE
    found boolean;
BEGIN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', TG_ARGV[1]) INTO found;
    IF found THEN
        RAISE EXCEPTION 'cannot truncate "%": "%" references it (%)', TG_TABLE_NAME,
            TG_ARGV[1], TG_ARGV[0]
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[0];
    END IF;
    RETURN NULL;
END
$fn$""",
)


def _short(constraint: str, suffix: str) -> str:
    """A trigger name under 63 bytes: the constraint's without its ``fk_`` prefix."""
    return f"{constraint.removeprefix('fk_')}_{suffix}"[:63]


def trigger_statements(
    references: tuple[tuple[str, str, tuple[str, ...], str, tuple[str, ...]], ...] = SET_CHECKED,
    cascading: frozenset[str] = frozenset(),
) -> list[str]:
    """The CREATE TRIGGER statements of the set-checked ``references`` (these of this
    revision by default; migrations 0024 and 0025 pass their own). A reference named in ``cascading``
    deletes the referencing rows with the referenced ones instead of refusing it."""
    out: list[str] = []
    for name, table, columns, referenced, keys in references:
        present = ", ".join(f"'{c}', '{k}'" for c, k in zip(columns, keys, strict=True))
        kept = ", ".join(f"'{k}', '{c}'" for c, k in zip(columns, keys, strict=True))
        on_delete = ("fc_set_checked_reference_cascade" if name in cascading
                     else "fc_set_checked_reference_kept")
        out += [
            f"CREATE TRIGGER {_short(name, 'ins')} AFTER INSERT ON {table}"
            " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION"
            f" fc_set_checked_reference_present('{name}', '{referenced}', {present})",
            f"CREATE TRIGGER {_short(name, 'upd')} AFTER UPDATE ON {table}"
            " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT"
            f" EXECUTE FUNCTION fc_set_checked_reference_present('{name}', '{referenced}',"
            f" {present})",
            f"CREATE TRIGGER {_short(name, 'del_ref')} AFTER DELETE ON {referenced}"
            " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION"
            f" {on_delete}('{name}', '{table}', {kept})",
            f"CREATE TRIGGER {_short(name, 'upd_ref')} AFTER UPDATE ON {referenced}"
            " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT"
            f" EXECUTE FUNCTION fc_set_checked_reference_kept('{name}', '{table}', {kept})",
            f"CREATE TRIGGER {_short(name, 'trunc_ref')} BEFORE TRUNCATE ON {referenced}"
            " FOR EACH STATEMENT EXECUTE FUNCTION"
            f" fc_set_checked_reference_no_truncate('{name}', '{table}')",
        ]
    return out


def upgrade() -> None:
    for function in FUNCTIONS:
        op.execute(function)
    for name, table, _columns, _referenced, _keys in SET_CHECKED:
        op.drop_constraint(name, table, type_="foreignkey")
    for statement in trigger_statements():
        op.execute(statement)


def downgrade() -> None:
    for name, table, columns, referenced, keys in SET_CHECKED:
        for suffix, on in (("ins", table), ("upd", table), ("del_ref", referenced),
                           ("upd_ref", referenced), ("trunc_ref", referenced)):
            op.execute(f"DROP TRIGGER IF EXISTS {_short(name, suffix)} ON {on}")
        # The tenant's key was RESTRICT (TenantOwned), the others NO ACTION.
        op.create_foreign_key(name, table, referenced, list(columns), list(keys),
                              ondelete="RESTRICT" if referenced == "adm_tenants" else None)
    for function in ("fc_set_checked_reference_present", "fc_set_checked_reference_kept",
                     "fc_set_checked_reference_no_truncate"):
        op.execute(f"DROP FUNCTION IF EXISTS {function}()")
