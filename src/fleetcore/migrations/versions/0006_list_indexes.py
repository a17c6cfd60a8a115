"""Index the drivers list's default order (creation time), so the first page of drivers is an
index scan at any fleet size instead of a sort of the whole table.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_rid_drivers_created", "rid_drivers", ["tenant_id", "created_at", "id"],
        postgresql_where="deleted_at IS NULL",
    )


def downgrade() -> None:
    op.drop_index("ix_rid_drivers_created", table_name="rid_drivers")
