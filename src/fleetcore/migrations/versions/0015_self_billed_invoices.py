"""Self-billed invoices: a driver's week invoiced by the fleet in the driver's name.

Where the tenant has self-billing on (``adm_tenants.tax_settings.self_billing``) and a driver
works as an independent contractor, each confirmed week yields a self-billed invoice, numbered
gaplessly per tenant and year like client invoices (``adm_number_sequences``). It is a row of
``trp_client_invoices`` (same numbering, amounts, tax and credit notes) that names its driver:

* ``driver_id`` — the driver the invoice is self-billed for (NULL for client invoices);
* its series is a ``self_billing…`` series (CHECK);
* one self-billed invoice per driver, week and currency (unique among live invoices; a
  correction is a credit note, never a second invoice).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE trp_client_invoices ADD COLUMN driver_id uuid")
    op.execute("ALTER TABLE trp_client_invoices ADD CONSTRAINT"
               " fk_trp_client_invoices_tenant_id_driver_id FOREIGN KEY (tenant_id, driver_id)"
               " REFERENCES rid_drivers (tenant_id, id)")
    op.execute("ALTER TABLE trp_client_invoices ADD CONSTRAINT"
               " ck_trp_client_invoices_self_billed_series"
               " CHECK (driver_id IS NULL OR starts_with(series, 'self_billing'))")
    op.execute("CREATE UNIQUE INDEX uq_trp_client_invoices_self_billed_week"
               " ON trp_client_invoices (tenant_id, driver_id, period_start, currency)"
               " WHERE driver_id IS NOT NULL AND kind = 'invoice' AND deleted_at IS NULL")


def downgrade() -> None:
    op.execute("DROP INDEX uq_trp_client_invoices_self_billed_week")
    op.execute("ALTER TABLE trp_client_invoices DROP COLUMN driver_id")
