"""SQL building blocks of the database's security and integrity rules, for migrations.

Migrations call these with explicit table names, so a migration keeps meaning what it meant
when it was written. The catalogue tests (``tests/core/test_catalogue.py``) check the result
for every table, so a new table that forgets one of them fails CI.

Settings the policies read (set per transaction by ``fleetcore.core.db.apply_context``):
``app.tenant_id`` (uuid or ''), ``app.context`` (``tenant`` | ``provider``), ``app.actor_type``,
``app.actor_id``, ``app.request_id``.
"""

from __future__ import annotations

import re

from alembic import op


def setting(name: str) -> str:
    """A setting of the transaction, read once per statement.

    ``current_setting`` is stable, not constant: written bare in a policy it is called for
    every row the policy filters. Inside a scalar sub-select it is an *init plan*, evaluated
    once when the statement first needs it, and the rows compare against its value (decision
    0021). Policies read settings this way — but for the tenant, see :data:`CURRENT_TENANT`."""
    return f"(SELECT current_setting('{name}', true))"


CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
"""The tenant of the transaction; NULL when unset or reset to '' by a pooled connection.

Left bare, unlike the other settings (decision 0021): the planner folds a stable call when it
*estimates* (not when it runs), so it counts a tenant's rows from the tenant's own statistics;
as an init plan the value is unknown and a large fleet's rows are underestimated (the demo
scale's driver lists turned into sequential scans). In a tenant's statement the comparison
is true on every row it keeps; the all-tenants arm, evaluated for the others and for every row
of a provider job, is the part read once per statement."""

PROVIDER_CONTEXT = f"({setting('app.context')} = 'provider')"
"""Fleetcore staff and system jobs; always audited by the code that sets it. The comparison
stays outside the init plan: the planner estimates it as it did the bare call (an equality
with an unknown value), where a boolean init plan would count as half of every table."""

ALL_TENANTS = f"({PROVIDER_CONTEXT} AND {CURRENT_TENANT} IS NULL)"
"""Provider context with no tenant opened: an all-tenant system job."""


def _policy(table: str, name: str, command: str, using: str | None, check: str | None) -> None:
    clauses = f"CREATE POLICY {name} ON {table} AS PERMISSIVE FOR {command} TO PUBLIC"
    if using is not None:
        clauses += f" USING ({using})"
    if check is not None:
        clauses += f" WITH CHECK ({check})"
    op.execute(clauses)


def force_rls(table: str) -> None:
    """``ENABLE`` + ``FORCE`` row-level security (the owner is subject to it too)."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def tenant_owned(table: str) -> None:
    """A tenant-owned table: rows of the current tenant only; all tenants for system jobs."""
    force_rls(table)
    rule = f"tenant_id = {CURRENT_TENANT}"
    _policy(table, "tenant_isolation", "ALL", rule, rule)
    _policy(table, "all_tenants_system", "ALL", ALL_TENANTS, ALL_TENANTS)


def tenant_row(table: str = "adm_tenants") -> None:
    """``adm_tenants``: a tenant sees (and may update) its own row; provider context all."""
    force_rls(table)
    rule = f"id = {CURRENT_TENANT}"
    _policy(table, "own_tenant_read", "SELECT", rule, None)
    _policy(table, "own_tenant_update", "UPDATE", rule, rule)
    _policy(table, "provider_all", "ALL", PROVIDER_CONTEXT, PROVIDER_CONTEXT)


def shared_catalogue(table: str) -> None:
    """A global catalogue everyone reads and only the provider context writes."""
    force_rls(table)
    _policy(table, "read_all", "SELECT", "true", None)
    _policy(table, "provider_write", "ALL", PROVIDER_CONTEXT, PROVIDER_CONTEXT)


def tenant_extensible_catalogue(table: str) -> None:
    """Global rows (``tenant_id`` NULL) for all, plus each tenant's private additions."""
    force_rls(table)
    _policy(table, "read_global_or_own", "SELECT",
            f"tenant_id IS NULL OR tenant_id = {CURRENT_TENANT}", None)
    own = f"tenant_id = {CURRENT_TENANT}"
    _policy(table, "write_own", "ALL", own, own)
    _policy(table, "provider_write", "ALL", PROVIDER_CONTEXT, PROVIDER_CONTEXT)


def provider_only(table: str, *, tenant_reads_own: bool = False) -> None:
    """A provider-level table; optionally a tenant reads the rows carrying its ``tenant_id``."""
    force_rls(table)
    _policy(table, "provider_all", "ALL", PROVIDER_CONTEXT, PROVIDER_CONTEXT)
    if tenant_reads_own:
        _policy(table, "tenant_read_own", "SELECT", f"tenant_id = {CURRENT_TENANT}", None)


def audit_log(table: str = "adm_audit_logs") -> None:
    """Audit rows: a tenant reads its own; rows are written for the current tenant (or by the
    provider context); nobody updates or deletes them (see :func:`append_only`)."""
    force_rls(table)
    own = f"tenant_id = {CURRENT_TENANT}"
    _policy(table, "tenant_read_own", "SELECT", own, None)
    _policy(table, "provider_read", "SELECT", PROVIDER_CONTEXT, None)
    _policy(table, "insert_current", "INSERT", None,
            f"tenant_id IS NOT DISTINCT FROM {CURRENT_TENANT} OR {PROVIDER_CONTEXT}")


_BARE_SETTING = re.compile(r"current_setting\('[^']*'::text(?:, (?:true|false))?\)")
"""How PostgreSQL deparses a bare ``current_setting`` call."""


def _outside_subselects(expression: str) -> list[tuple[bool, str]]:
    """``expression`` (SQL as PostgreSQL deparses it) cut into pieces, each marked whether it
    lies outside every ``( SELECT …)`` (string literals and quoted names skipped)."""
    pieces: list[tuple[bool, str]] = []
    start = i = 0
    depth = 0  # parentheses opened since the current sub-select's own
    inside = False
    while i < len(expression):
        char = expression[i]
        if char in "'\"":
            end = i + 1
            while end < len(expression):
                if expression[end] == char:
                    if expression[end + 1 : end + 2] == char:  # doubled: escaped
                        end += 2
                        continue
                    break
                end += 1
            i = end + 1
            continue
        if char == "(":
            if not inside and re.match(r"\(\s*SELECT\b", expression[i:]):
                pieces.append((True, expression[start:i]))
                start, inside, depth = i, True, 0
            elif inside:
                depth += 1
        elif char == ")" and inside:
            if depth == 0:
                pieces.append((False, expression[start : i + 1]))
                start, inside = i + 1, False
            else:
                depth -= 1
        i += 1
    pieces.append((not inside, expression[start:]))
    return [(outside, text) for outside, text in pieces if text]


def settings_read_once(expression: str) -> str:
    """A policy expression (as deparsed) with every setting read bare turned into an init plan
    (:func:`setting`), except the tenant's (:data:`CURRENT_TENANT` stays as it is). What is
    already a sub-select is left as it is."""
    return "".join(
        _BARE_SETTING.sub(_wrapped, piece) if outside else piece
        for outside, piece in _outside_subselects(expression)
    )


def _wrapped(call: re.Match[str]) -> str:
    return call.group(0) if _TENANT_SETTING in call.group(0) else f"(SELECT {call.group(0)})"


_TENANT_SETTING = "current_setting('app.tenant_id'::text"


def bare_settings(expression: str) -> list[str]:
    """The ``current_setting`` calls of a deparsed expression that are not inside a sub-select
    (each evaluated per row), but for the tenant's (see :data:`CURRENT_TENANT`)."""
    return [
        call
        for outside, piece in _outside_subselects(expression)
        if outside
        for call in _BARE_SETTING.findall(piece)
        if _TENANT_SETTING not in call
    ]


def read_policy_settings_once() -> None:
    """Re-state every policy of the schema whose expressions read a setting bare, with
    :func:`settings_read_once` (same meaning; ``ALTER POLICY``, names and commands kept)."""
    bind = op.get_bind()
    rows = bind.exec_driver_sql(
        "SELECT p.polname, c.relname, pg_get_expr(p.polqual, p.polrelid),"
        " pg_get_expr(p.polwithcheck, p.polrelid)"
        " FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
        " ORDER BY c.relname, p.polname"
    ).all()
    for name, table, using, check in rows:
        if not (bare_settings(using or "") or bare_settings(check or "")):
            continue
        clauses = f'ALTER POLICY "{name}" ON "{table}"'
        if using is not None:
            clauses += f" USING ({settings_read_once(using)})"
        if check is not None:
            clauses += f" WITH CHECK ({settings_read_once(check)})"
        op.execute(clauses)


def grant_app(table: str, role: str, *, append_only: bool = False) -> None:
    """Table privileges of the app role: read/write, or read/insert for append-only tables."""
    privileges = "SELECT, INSERT" if append_only else "SELECT, INSERT, UPDATE, DELETE"
    op.execute(f'GRANT {privileges} ON {table} TO "{role}"')
    if append_only:
        op.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM "{role}"')


def append_only(table: str) -> None:
    """Refuse UPDATE, DELETE and TRUNCATE for everyone, owner included (trigger)."""
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION fc_refuse_change()"
    )
    op.execute(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION fc_refuse_change()"
    )


def touch_on_update(table: str, *, versioned: bool) -> None:
    """Maintain ``updated_at`` (and bump ``version``) in the database on every UPDATE."""
    function = "fc_touch_versioned" if versioned else "fc_touch"
    op.execute(
        f"CREATE TRIGGER {table}_touch BEFORE UPDATE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}()"
    )


def catalogue_scope(table: str, column: str, target: str) -> None:
    """A tenant row may reference a catalogue row only if it is global or its own tenant's."""
    op.execute(
        f"CREATE TRIGGER {table}_{column}_scope BEFORE INSERT OR UPDATE OF {column} ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION fc_check_catalogue_scope('{column}', '{target}')"
    )


FUNCTIONS_SQL = r"""
CREATE FUNCTION fc_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Record a correcting entry (a reversal) instead.';
END $$;

CREATE FUNCTION fc_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END $$;

CREATE FUNCTION fc_touch_versioned() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  NEW.version := OLD.version + 1;
  RETURN NEW;
END $$;

-- TG_ARGV: referencing column, catalogue table (with a nullable tenant_id).
CREATE FUNCTION fc_check_catalogue_scope() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  ref uuid := (to_jsonb(NEW) ->> TG_ARGV[0])::uuid;
  owner_tenant uuid;
  found_row boolean;
BEGIN
  IF ref IS NULL THEN
    RETURN NEW;
  END IF;
  EXECUTE format('SELECT true, tenant_id FROM %I WHERE id = $1', TG_ARGV[1])
    INTO found_row, owner_tenant USING ref;
  IF found_row IS NULL
     OR (owner_tenant IS NOT NULL AND owner_tenant IS DISTINCT FROM NEW.tenant_id) THEN
    RAISE EXCEPTION '%.% refers to a % row of another tenant',
      TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1]
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NEW;
END $$;

"""
"""Trigger functions shared by many tables."""


def routing_function(name: str, argument: str, query: str, *, grant_to: str) -> None:
    """A ``SECURITY DEFINER`` lookup that returns only a tenant id, for requests that have no
    tenant yet (sign-in, webhooks). ``query`` selects one uuid; it runs in the provider context,
    which the function sets for its own duration and restores before returning."""
    op.execute(
        f"CREATE FUNCTION {name}({argument}) RETURNS uuid LANGUAGE plpgsql VOLATILE "
        "SECURITY DEFINER SET search_path = public, pg_temp AS $fn$\n"
        "DECLARE previous text := current_setting('app.context', true); found uuid;\n"
        "BEGIN\n"
        "  PERFORM set_config('app.context', 'provider', true);\n"
        f"  {query} INTO found;\n"
        "  PERFORM set_config('app.context', coalesce(previous, ''), true);\n"
        "  RETURN found;\n"
        "END $fn$"
    )
    op.execute(f"REVOKE ALL ON FUNCTION {name}({argument}) FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION {name}({argument}) TO "{grant_to}"')


def ensure_role(role: str) -> None:
    """Create the app role (NOLOGIN, no RLS bypass) if the server does not have it yet.

    An operator turns it into a login role (``ALTER ROLE … LOGIN PASSWORD …``) or grants it
    to their login role; see the README.
    """
    op.execute(
        "DO $$ BEGIN "
        f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
        f'CREATE ROLE "{role}" NOLOGIN NOSUPERUSER NOBYPASSRLS; '
        "END IF; END $$"
    )
