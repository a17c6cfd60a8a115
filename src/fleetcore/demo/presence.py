"""Whether the demo is loaded, without loading the demo's code.

Every start of ``fleetcore serve`` asks :func:`demo_present`; the generator and the loader
(thousands of lines, and on a machine that does not write bytecode, compiled at every start)
are imported only when the demo is actually written.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

MAIN_SLUG = "lumiere-vtc"
"""The main demo fleet (Lumière VTC, Paris)."""

SECOND_SLUG = "thames-private-hire"
"""The second, smaller demo fleet (Thames Private Hire, London)."""


def demo_present(session: Session) -> bool:
    """Whether the main demo tenant exists (call it in the system context)."""
    return bool(session.execute(
        text("SELECT EXISTS (SELECT 1 FROM adm_tenants WHERE slug = :slug)"),
        {"slug": MAIN_SLUG}).scalar())
