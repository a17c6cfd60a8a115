"""Drivers: documents, cooperation terms, requests, performance, blacklist, training (rid_)."""
