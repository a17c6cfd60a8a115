"""A fine remembers when the fleet charged it: the week it lands in a driver's settlement.

A traffic fine arrives weeks after the offence and is paid (and recharged to the driver) later
still. ``fin_traffic_fines.charged_at`` is set when the fine is paid (``pay``) — or recharged
without a recorded payment — and the driver-level settlement takes the fine in the week of
``charged_at`` (the offence time for rows written before this column), so a recharge is a line
of the week it is charged, not of a long-closed offence week. The terms in force on the offence
day still decide whether fines are recharged at all (``docs/settlements.md``).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE fin_traffic_fines ADD COLUMN charged_at timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE fin_traffic_fines DROP COLUMN charged_at")
