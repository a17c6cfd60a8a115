"""A Python client generated from ``/openapi.json`` by ``openapi-python-client`` builds, and
works against the running API over real HTTP: create, read, list, update with ``If-Match``,
and a problem for another fleet's id — the operation ids (``createVehicle`` →
``create_vehicle``) and the documented problem responses are what it is generated from."""

from __future__ import annotations

import compileall
import importlib
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fleet_support import Fleet
from live_server import served

PACKAGE = "fleetcore_api_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, client: TestClient) -> Iterator[Any]:
    """The generated client package, imported."""
    root = tmp_path_factory.mktemp("generated-client")
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    (root / "openapi.json").write_text(json.dumps(spec.json()))
    tool = Path(sys.executable).with_name("openapi-python-client")
    result = subprocess.run(
        [str(tool), "generate", "--path", str(root / "openapi.json"),
         "--output-path", str(root / PACKAGE), "--meta", "none"],
        capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # Only the binary downloads (PDF, ZIP, XML) may be left out of the parsed responses.
    unparsed = [line for line in result.stdout.splitlines()
                if line.startswith(("Unable to parse", "Cannot parse"))
                and "Unsupported content_type application/" not in line]
    assert unparsed == [], "\n".join(unparsed)
    assert compileall.compile_dir(str(root / PACKAGE), quiet=1)
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _module(package: Any, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def test_the_generated_client_drives_the_api(
    generated: Any, api_app: FastAPI, make_fleet: Callable[[], Fleet],
) -> None:
    fleet = make_fleet()
    other = make_fleet()
    client_module = _module(generated, "client")
    create_vehicle = _module(generated, "api.vehicles.create_vehicle")
    get_vehicle = _module(generated, "api.vehicles.get_vehicle")
    list_vehicles = _module(generated, "api.vehicles.list_vehicles")
    update_vehicle = _module(generated, "api.vehicles.update_vehicle")
    models = _module(generated, "models")
    token = fleet.headers()["Authorization"].removeprefix("Bearer ")
    foreign = other.vehicle()

    with served(api_app) as base_url:
        api = client_module.AuthenticatedClient(base_url=base_url, token=token,
                                                raise_on_unexpected_status=True)
        body = models.VehicleCreate.from_dict(fleet.vehicle_body())
        created = create_vehicle.sync_detailed(client=api, body=body)
        assert created.status_code == 201
        vehicle = created.parsed
        assert isinstance(vehicle, models.VehicleOut)
        assert vehicle.licence_plate == body.licence_plate

        read = get_vehicle.sync_detailed(vehicle_id=uuid.UUID(str(vehicle.id)), client=api)
        assert read.status_code == 200
        assert read.parsed.vin == body.vin
        etag = read.headers["etag"]

        page = list_vehicles.sync(client=api, limit=200)
        assert str(vehicle.id) in {str(v.id) for v in page.items}
        assert foreign["id"] not in {str(v.id) for v in page.items}

        changed = update_vehicle.sync_detailed(
            vehicle_id=uuid.UUID(str(vehicle.id)), client=api, if_match=etag,
            body=models.VehicleUpdate.from_dict({"notes": "Generated client"}))
        assert changed.status_code == 200, changed.content[:500]
        stale = update_vehicle.sync_detailed(
            vehicle_id=uuid.UUID(str(vehicle.id)), client=api, if_match=etag,
            body=models.VehicleUpdate.from_dict({"notes": "Again"}))
        assert stale.status_code == 412
        assert isinstance(stale.parsed, models.Problem)

        missing = get_vehicle.sync_detailed(vehicle_id=uuid.UUID(foreign["id"]), client=api)
        assert missing.status_code == 404
        assert isinstance(missing.parsed, models.Problem)
        assert missing.parsed.type_.endswith("/not-found")
