"""Platform accounts, trips, settlements and client invoices (trp_)."""
