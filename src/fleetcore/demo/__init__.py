"""Demo data: two fleet operators (Lumière VTC in Paris, Thames Private Hire in London) with
vehicles, drivers, documents, custody history and twelve weeks of platform trips.

A tool package, not a business domain: :func:`generate_demo` builds the rows without a database
(deterministic for a seed and a date) and :func:`write_demo` / :func:`load_demo` write them under
row-level security. ``fleetcore serve`` loads it on first run; ``fleetcore demo load`` on demand.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fleetcore.demo.presence import demo_present

if TYPE_CHECKING:
    from fleetcore.demo.dataset import DemoDataset, generate_demo
    from fleetcore.demo.loader import DemoReport, load_demo, write_demo

__all__ = ["DemoDataset", "DemoReport", "demo_present", "generate_demo", "load_demo", "write_demo"]

_LAZY = {"DemoDataset": "dataset", "generate_demo": "dataset", "DemoReport": "loader",
         "load_demo": "loader", "write_demo": "loader"}


def __getattr__(name: str) -> Any:
    """The generator and the loader load on first use (``fleetcore serve`` only asks
    :func:`demo_present` at every start)."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"fleetcore.demo.{_LAZY[name]}"), name)
    raise AttributeError(name)
