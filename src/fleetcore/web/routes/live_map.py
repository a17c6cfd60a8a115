"""The live map: tracked vehicles' last positions, who drives them, recent events.

The page lists the vehicles server-side (it works without JavaScript and without tiles); the
script (``static/map.js``, vendored Leaflet) draws them on tiles from
``FLEETCORE_MAP_TILES_URL`` and refreshes from ``/app/map/positions`` every 30 s. The page's
Content-Security-Policy adds the tile server's origin to ``img-src``, nothing else.
"""

from __future__ import annotations

from fastapi.responses import HTMLResponse, JSONResponse

from fleetcore.core.http_security import map_page_policy
from fleetcore.fleet import gps_service
from fleetcore.fleet.gps_schemas import VehiclePositionOut, VehiclePositionsOut
from fleetcore.fleet.permissions import VehiclesRead
from fleetcore.settings import Settings
from fleetcore.web.deps import Ctx
from fleetcore.web.routes.base import page_router

router = page_router()


@router.get("/map")
def live_map(c: Ctx, _: VehiclesRead) -> HTMLResponse:
    settings: Settings = c.request.app.state.settings
    vehicles = gps_service.vehicle_positions(c.session, c.actor)
    response = c.render("vehicles/map.html", vehicles=vehicles,
                        tiles_url=settings.fleetcore_map_tiles_url,
                        tiles_attribution=settings.fleetcore_map_tiles_attribution)
    response.headers["Content-Security-Policy"] = map_page_policy(settings)
    return response


@router.get("/map/positions")
def map_positions(c: Ctx, _: VehiclesRead) -> JSONResponse:
    """What the map's script draws (the same as ``GET /v1/vehicle-positions``)."""
    out = VehiclePositionsOut(items=[VehiclePositionOut.model_validate(p)
                                     for p in gps_service.vehicle_positions(c.session, c.actor)])
    return JSONResponse(out.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
