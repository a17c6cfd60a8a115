"""Loading the shipped reference data into the real schema, as serve does (app role, system)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from fleetcore.core.db import DbContext, bind_context
from fleetcore.reference.service import load_reference_data


def test_reference_data_loads_once_and_then_changes_nothing(system_db: Session) -> None:
    first = load_reference_data(system_db)
    second = load_reference_data(system_db)
    # On a fresh database the first load inserts everything; another test of the session may
    # have loaded it already (committed), in which case it is all there, unchanged.
    rows = sum(c.inserted + c.updated + c.unchanged for c in first.by_table().values())
    assert rows > 100
    assert first.changed in (0, rows) or first.changed > 100
    assert second.changed == 0
    platforms = set(system_db.execute(text("SELECT code FROM dir_platforms")).scalars())
    assert {"uber", "bolt", "heetch", "freenow", "careem"} <= platforms
    countries = set(
        system_db.execute(text("SELECT DISTINCT country FROM dir_country_regulations")).scalars()
    )
    assert {"FR", "GB", "AE", "NL", "BE", "ES", "PT", "DE", "US"} <= countries


def test_tenants_read_the_global_catalogue_but_cannot_change_it(system_db: Session) -> None:
    load_reference_data(system_db)
    bind_context(system_db, DbContext())  # a tenant context (no tenant needed to read catalogues)
    assert system_db.execute(text("SELECT count(*) FROM dir_platforms")).scalar_one() >= 5
    # Every session may lock a platform for key share (a trip's set-checked reference,
    # decision 0012), so a tenant's UPDATE reaches the rows and is refused by their policy.
    with pytest.raises(DBAPIError) as caught, system_db.begin_nested():
        system_db.execute(text("UPDATE dir_platforms SET name = 'Hacked'"))
    assert getattr(caught.value.orig, "sqlstate", None) == "42501"
    assert system_db.execute(text(
        "SELECT count(*) FROM dir_platforms WHERE name = 'Hacked'")).scalar_one() == 0
