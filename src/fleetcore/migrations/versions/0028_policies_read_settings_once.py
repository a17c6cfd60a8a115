"""Row-level security reads the provider context once per statement (decision 0021).

Every policy compared its rows with ``current_setting(…)`` written bare: a stable function,
called again for every row it filtered (three calls a row in a provider job). The settings
other than the tenant — ``app.context``, and ``app.actor_type`` and ``fleetcore.erasing`` in
the policies written by hand — are now scalar sub-selects: *init plans*, evaluated once when
the statement first needs them; the comparisons around them are kept, so the planner
estimates them as before. The tenant's own comparison stays a bare call: the planner folds
it when it estimates, and counts the current tenant's rows from its statistics
(``security.CURRENT_TENANT``). Same policies, same names, commands and meaning.

The policies built by ``security`` already have this form on a new database; this revision
re-states, from the catalogue, every policy of the schema that still reads such a setting
bare (those of an existing database, 0009's erasure scrub, 0023's staff notes).

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
