"""No silent 100 %: a settlement remembers the days its earnings had no accepted terms.

``trp_settlements.days_without_terms`` lists the local days of the report rows of a platform
settlement for which no accepted cooperation terms were in force when it was computed: no fleet
share could be taken on them, so the driver keeps everything. It is written only when a draft
is inserted (computation), never by the confirmation, so the triggers of 0010 that freeze
confirmed settlements are unaffected. A settlement with such days (``needs_terms``) is confirmed
only with an explicit decision recorded in the audit trail (``docs/settlements.md``).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE trp_settlements"
               " ADD COLUMN days_without_terms date[] NOT NULL DEFAULT '{}'")


def downgrade() -> None:
    op.execute("ALTER TABLE trp_settlements DROP COLUMN days_without_terms")
