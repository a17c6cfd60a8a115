"""Fixtures of the scheduling service tests."""

from __future__ import annotations

import pytest
from scheduling_support import World, make_world
from sqlalchemy.orm import Session


@pytest.fixture
def world(db: Session) -> World:
    return make_world(db)
