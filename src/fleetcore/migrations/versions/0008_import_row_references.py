"""Import rows reference their import by (tenant, import, platform), and nothing else for
tenant and platform (decision 0004).

A foreign key is checked once per inserted row. An import writes up to a million report rows:
the separate ``tenant_id → adm_tenants`` and ``platform_id → dir_platforms`` keys were half of
the row's four checks and implied by the import's key once that key includes the platform —
which also makes a row's platform provably its import's.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_unique_constraint("uq_rev_revenue_imports_tenant_id_id_platform_id",
                                "rev_revenue_imports", ["tenant_id", "id", "platform_id"])
    op.drop_constraint("fk_rev_import_rows_tenant_id_import_id", "rev_import_rows",
                       type_="foreignkey")
    op.create_foreign_key(
        "fk_rev_import_rows_tenant_id_import_id_platform_id", "rev_import_rows",
        "rev_revenue_imports", ["tenant_id", "import_id", "platform_id"],
        ["tenant_id", "id", "platform_id"], ondelete="CASCADE")
    op.drop_constraint("fk_rev_import_rows_tenant_id", "rev_import_rows", type_="foreignkey")
    op.drop_constraint("fk_rev_import_rows_platform_id", "rev_import_rows", type_="foreignkey")


def downgrade() -> None:
    op.create_foreign_key("fk_rev_import_rows_platform_id", "rev_import_rows", "dir_platforms",
                          ["platform_id"], ["id"])
    op.create_foreign_key("fk_rev_import_rows_tenant_id", "rev_import_rows", "adm_tenants",
                          ["tenant_id"], ["id"], ondelete="RESTRICT")
    op.drop_constraint("fk_rev_import_rows_tenant_id_import_id_platform_id", "rev_import_rows",
                       type_="foreignkey")
    op.create_foreign_key("fk_rev_import_rows_tenant_id_import_id", "rev_import_rows",
                          "rev_revenue_imports", ["tenant_id", "import_id"], ["tenant_id", "id"],
                          ondelete="CASCADE")
    op.drop_constraint("uq_rev_revenue_imports_tenant_id_id_platform_id", "rev_revenue_imports",
                       type_="unique")
