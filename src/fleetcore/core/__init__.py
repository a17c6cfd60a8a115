"""Cross-cutting building blocks: database, tenancy, settings, money, ids, errors."""
