"""Row-level security reads the transaction's settings once per statement (decision 0021).

Every policy compared its rows with ``current_setting(…)`` written bare: a stable function,
called again for every row it filtered (``app.tenant_id`` looked up and parsed as a uuid, then
``app.context`` and the tenant again for the all-tenants policy): about 0.2 s of the billing
close's 10,000 fleets went to the policies of the 500,000 trips it measures. Each such read is
now a scalar sub-select — an *init plan*, evaluated once when the statement first needs it —
and the rows compare with its value. Same policies, same names, commands and meaning; the
comparisons around the settings are kept, so the planner estimates them as before.

The policies built by ``security`` (tenant-owned tables, catalogues, audit rows, provider
tables) already have this form on a new database; this revision re-states the ones of an
existing database, and those that migrations wrote by hand (0009's erasure scrub, 0023's staff
notes), from the catalogue: every policy of the schema that still reads a setting bare.

Revision ID: 0028
Revises: 0027
"""

from __future__ import annotations

from fleetcore.migrations import security

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    security.read_policy_settings_once()


def downgrade() -> None:
    # Nothing to undo: the policies mean what they meant, and ``security`` builds this form
    # for every revision from 0002 on (a database created at 0027 has it already).
    pass
