"""Fleetcore's own sales pipeline: leads, opportunities, contracts (crm_)."""
