"""Demo data: two fleet operators (Lumière VTC in Paris, Thames Private Hire in London) with
vehicles, drivers, documents, custody history and twelve weeks of platform trips.

A tool package, not a business domain: :func:`generate_demo` builds the rows without a database
(deterministic for a seed and a date) and :func:`write_demo` / :func:`load_demo` write them under
row-level security. ``fleetcore serve`` loads it on first run; ``fleetcore demo load`` on demand.
"""

from fleetcore.demo.dataset import DemoDataset, generate_demo
from fleetcore.demo.loader import DemoReport, demo_present, load_demo, write_demo

__all__ = ["DemoDataset", "DemoReport", "demo_present", "generate_demo", "load_demo", "write_demo"]
