"""Finance tests build their books with the settlement builders of ``tests/trips``."""

from __future__ import annotations

import sys
from pathlib import Path

_TRIPS = str(Path(__file__).resolve().parents[1] / "trips")
if _TRIPS not in sys.path:  # what pytest's prepend import mode does for that folder's tests
    sys.path.insert(0, _TRIPS)
