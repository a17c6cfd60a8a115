"""Fleetcore's own SaaS billing of its tenants through Stripe (bil_)."""
