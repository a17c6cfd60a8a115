"""Row-level security reads the transaction's settings once per statement (decision 0021).

Every policy reads ``app.context``, ``app.actor_type``… through a scalar sub-select (an init
plan, evaluated once per statement), never as a bare ``current_setting`` call evaluated for
every row — but for ``app.tenant_id``, left bare so that the planner estimates a tenant's rows
from its statistics (``security.CURRENT_TENANT``). Checked on the live catalogue, on a plan,
and on what migration 0028 does to a policy written the old way.
"""

from __future__ import annotations

import re
import uuid

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from fleetcore.core.db import DbContext, bind_context
from fleetcore.migrations import security

POLICIES = text(
    "SELECT tablename, policyname, coalesce(qual, ''), coalesce(with_check, '')"
    " FROM pg_policies WHERE schemaname = 'public' ORDER BY 1, 2"
)


def _without_subselects(expression: str) -> str:
    """``expression`` with every ``( SELECT …)`` cut out (parentheses counted; the policies'
    string literals hold no parenthesis)."""
    out, depth, i = [], 0, 0
    while i < len(expression):
        if depth == 0 and re.match(r"\(\s*SELECT\b", expression[i:]):
            depth = 1
            i += 1
            continue
        if depth:
            depth += {"(": 1, ")": -1}.get(expression[i], 0)
        else:
            out.append(expression[i])
        i += 1
    return "".join(out)


def test_no_policy_calls_current_setting_per_row(owner_engine: Engine) -> None:
    with owner_engine.connect() as conn:
        rows = conn.execute(POLICIES).all()
    tenant = "(NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid"
    bare = [
        (table, name)
        for table, name, using, check in rows
        if "current_setting" in _without_subselects(using).replace(tenant, "")
        or "current_setting" in _without_subselects(check).replace(tenant, "")
    ]
    reading = [r for r in rows if "current_setting" in r[2] + r[3]]
    assert len(rows) > 150
    assert len(reading) > 120  # every tenant-owned table's policies, and more
    assert bare == []


def test_a_read_evaluates_the_provider_context_once(db: Session) -> None:
    """The trips' filter reads the context from init plans (``$n`` up to PostgreSQL 17,
    ``(InitPlan n).coln`` from 18); only the tenant's own comparison calls
    ``current_setting``."""
    bind_context(db, DbContext.for_tenant(uuid.uuid4()))
    plan = "\n".join(
        db.execute(text("EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM trp_trips")).scalars()
    )
    scan = next(line for line in plan.splitlines() if line.strip().startswith("Filter:"))
    assert re.search(r"(\$\d+|\(InitPlan \d+\)\.col\d+) = 'provider'::text", scan)
    assert scan.count("current_setting") == 2  # the tenant's, in each of the two policies
    assert "app.context" not in scan
    assert "InitPlan" in plan


def test_migration_0028_gives_old_policies_the_form_new_tables_get(owner_engine: Engine) -> None:
    """A table with the policies of revision 0027 (settings read bare), re-stated as 0028 does,
    reads exactly as a table built by ``security`` today; the rewrite is idempotent and leaves
    other tables alone (rolled back)."""
    old_tenant = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    old_provider = "(current_setting('app.context', true) = 'provider')"
    with owner_engine.connect() as conn, conn.begin() as outer:
        conn.execute(text("CREATE TABLE zz_old (tenant_id uuid NOT NULL, note text)"))
        conn.execute(text("CREATE TABLE zz_new (tenant_id uuid NOT NULL, note text)"))
        conn.execute(
            text(
                f"CREATE POLICY tenant_isolation ON zz_old USING (tenant_id = {old_tenant})"
                f" WITH CHECK (tenant_id = {old_tenant})"
            )
        )
        conn.execute(
            text(
                "CREATE POLICY all_tenants_system ON zz_old"
                f" USING ({old_provider} AND {old_tenant} IS NULL)"
                f" WITH CHECK ({old_provider} AND {old_tenant} IS NULL)"
            )
        )
        conn.execute(
            text(
                "CREATE POLICY staff_notes ON zz_old AS RESTRICTIVE FOR SELECT USING (note IS NULL"
                " OR current_setting('app.actor_type', true) IS DISTINCT FROM 'member')"
            )
        )
        before = conn.execute(POLICIES).all()
        with Operations.context(MigrationContext.configure(conn)):
            security.tenant_owned("zz_new")
            security.read_policy_settings_once()
            security.read_policy_settings_once()
        after = conn.execute(POLICIES).all()
        outer.rollback()
    policies = {(t, n): (u, c) for t, n, u, c in after if t in ("zz_old", "zz_new")}
    for name in ("tenant_isolation", "all_tenants_system"):
        assert policies["zz_old", name] == policies["zz_new", name]
    assert policies["zz_old", "staff_notes"] == (
        "((note IS NULL) OR (( SELECT current_setting('app.actor_type'::text, true) AS"
        " current_setting) IS DISTINCT FROM 'member'::text))",
        "",
    )
    rewritten = " ".join(policies["zz_old", "all_tenants_system"])
    assert "app.context" not in _without_subselects(rewritten)
    # Nothing else was re-stated: every other policy reads as it did.
    assert [r for r in after if r[0] not in ("zz_old", "zz_new")] == [
        r for r in before if r[0] not in ("zz_old", "zz_new")
    ]
