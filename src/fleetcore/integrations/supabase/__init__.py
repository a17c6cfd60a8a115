"""Supabase: Storage as the production document backend (``storage3``)."""
