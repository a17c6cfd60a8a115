"""Documents attached to any entity, with expiry and verification (doc_)."""
