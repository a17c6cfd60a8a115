"""Fleetcore: multi-tenant platform for ride-hailing fleet operators."""

__version__ = "0.1.0"
