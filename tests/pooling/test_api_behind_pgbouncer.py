"""The API's isolation walker and resource contracts, re-run behind PgBouncer.

Here ``client`` is the app whose every query goes through PgBouncer in transaction mode
(``tests/pooling/conftest.py``); the tests are the originals' own functions, imported unchanged
(with their parametrisation), so what those files check is checked behind the pooler too:

* ``admin/test_api_isolation.py``: every ``/v1`` operation read from ``/openapi.json``
  answers 404 on another tenant's ids (changing nothing), and no list shows another tenant's
  rows (its third test, 401 without a token, never reaches the database: not re-run);
* the resource contracts of the fleet, driver and scheduling resources: create, read, update
  with ``If-Match``, a stale ``If-Match`` is 412, soft delete, 401/403, cross-tenant 404.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from pgbouncer_support import PgBouncer

TESTS = Path(__file__).parents[1]

REUSED: dict[str, tuple[str, ...]] = {
    "admin/test_api_isolation.py": (
        "test_another_tenants_ids_are_404_everywhere_and_change_nothing",
        "test_no_list_shows_another_tenants_rows",
    ),
    "fleet/test_fleet_contracts.py": ("test_fleet_resources_keep_the_contract",),
    "drivers/test_drivers_contract.py": ("test_driver_resources_keep_the_contract",),
    "scheduling/test_scheduling_contracts.py": ("test_scheduling_resources_keep_the_contract",),
}
"""Test files (under tests/) and which of their tests run here."""


def _tests_of(relative: str, names: tuple[str, ...]) -> dict[str, Callable[..., Any]]:
    path = TESTS / relative
    if str(path.parent) not in sys.path:  # what pytest's prepend import mode does for them
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"pgbouncer_rerun_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    missing = [name for name in names if not callable(getattr(module, name, None))]
    assert not missing, (relative, missing)
    return {name: getattr(module, name) for name in names}


RERUN: dict[str, Callable[..., Any]] = {}
for _relative, _names in REUSED.items():
    RERUN.update(_tests_of(_relative, _names))
globals().update(RERUN)


def test_the_reused_tests_run_here_behind_pgbouncer(
    client: TestClient, pgbouncer: PgBouncer,
) -> None:
    assert len(RERUN) == sum(len(names) for names in REUSED.values())
    assert all(globals()[name] is fn for name, fn in RERUN.items())
    assert client.app.state.engine.url.port == pgbouncer.port  # type: ignore[attr-defined]
