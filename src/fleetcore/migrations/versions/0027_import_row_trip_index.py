"""Report rows lose their (tenant, platform, external trip id) index (decision 0018).

Every committed report row wrote an entry into three indexes on random keys; the trip id's was
one of them (about 1 s of CPU per 200,000 rows on the import's bulk write, measured one index
at a time) and served one query: reconciliation's lookup of the first report row of a trip
missing from the period, which now finds those rows in one pass over the period's rows (the
import index bounds it). Linking an account finds its rows by their platform account and
reaches the trips through the trips' own unique trip-id index.

Revision ID: 0027
Revises: 0026
"""

from __future__ import annotations

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_rev_import_rows_tenant_id_platform_trip", table_name="rev_import_rows")


def downgrade() -> None:
    op.create_index("ix_rev_import_rows_tenant_id_platform_trip", "rev_import_rows",
                    ["tenant_id", "platform_id", "external_trip_id"])
