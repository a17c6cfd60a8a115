"""Traccar: receivers of its position and event forwarding (``docs/gps.md``)."""
