"""Administration: tenants, members, roles, audit trail, provider staff, lifecycle (adm_)."""
