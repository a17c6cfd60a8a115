"""Support tickets and messages mirrored with Chatwoot/FreeScout, and feedback (sup_)."""
