"""Constants shared by the documents tests and their fixtures."""

DOC_LIMIT = 64 * 1024
"""The upload limit of the documents test app (small, so size limits are cheap to test)."""
