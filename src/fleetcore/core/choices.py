"""An option of a select, as the domains' label queries return them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Choice:
    """An option of a select: a value and its label."""

    value: uuid.UUID
    label: str
