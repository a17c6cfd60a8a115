"""Platform report imports, driver revenues and reconciliations (rev_)."""
