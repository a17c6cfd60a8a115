"""Personal data on request: export everything held about a driver or a member, and erase it
once the retention period allows (docs/privacy.md, decision 0005)."""
