"""``core.resource.ResourceRoutes``: the routes it declares answer as the hand-written ones did.

A toy resource over fake service calls (no database: the session dependency is overridden),
so what is checked is the HTTP shape every domain now gets from one place: the operation ids,
the ``ETag`` and ``Location`` headers, ``If-Match`` required on changes, the deletion reason,
a list page, and the route function the console calls by position.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict

from fleetcore.core.deps import get_session
from fleetcore.core.errors import install_error_handlers
from fleetcore.core.openapi import operation_id
from fleetcore.core.resource import ResourceRoutes
from fleetcore.core.versioning import document_required_if_match


class ThingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str


class ThingChange(BaseModel):
    name: str


@dataclass
class Thing:
    id: uuid.UUID
    name: str
    version: int = 1


@dataclass
class Calls:
    seen: list[tuple[Any, ...]] = field(default_factory=list)


def _actor() -> str:
    return "actor"


Actor = Annotated[str, Depends(_actor)]


def _thing_filter(name: Annotated[str | None, Query(description="Part of the name.")] = None
                  ) -> str | None:
    return name


ThingFilter = Annotated[str | None, Depends(_thing_filter)]


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def routes(calls: Calls) -> tuple[FastAPI, Any]:
    thing = Thing(uuid.uuid4(), "first")
    router = APIRouter(prefix="/v1")
    things = ResourceRoutes(router, "things", "thing_id", "thing", ["things"], ThingOut,
                            ThingOut.model_validate, Actor, Actor)

    def change(session: Any, actor: Any, thing_id: uuid.UUID, data: Any, if_match: str) -> Thing:
        calls.seen.append(("update", thing_id, data.name, if_match))
        return Thing(thing_id, data.name, version=2)

    def remove(session: Any, actor: Any, thing_id: uuid.UUID, reason: str | None,
               if_match: str) -> None:
        calls.seen.append(("delete", thing_id, reason, if_match))

    def page_of(session: Any, actor: Any, page: Any, name: str | None) -> tuple[list[Thing], None]:
        calls.seen.append(("list", name, page.limit))
        return [thing], None

    def query(actor: Any, name: str | None) -> Any:
        calls.seen.append(("export", actor, name))
        return "query"

    things.listing("List things", ThingFilter, page_of)
    export = things.export("Export things", ThingFilter, query, [], "things.csv")
    things.create("Add a thing", ThingChange,
                  lambda s, a, data: Thing(thing.id, data.name))
    things.get("Get a thing", lambda s, a, i, include_deleted: Thing(i, f"got {include_deleted}"))
    things.update("Rename a thing", ThingChange, change)
    things.delete("Delete a thing", remove)
    things.restore("Restore a thing", lambda s, a, i: Thing(i, "back", version=3))
    app = FastAPI(generate_unique_id_function=operation_id)
    install_error_handlers(app)
    document_required_if_match(app)
    app.include_router(router)
    app.dependency_overrides[get_session] = lambda: None
    return app, export


def test_operations_keep_the_names_and_parameters_of_hand_written_routes(
    routes: tuple[FastAPI, Any],
) -> None:
    paths = routes[0].openapi()["paths"]
    ids = {op["operationId"] for item in paths.values() for op in item.values()}
    assert ids == {"listThings", "exportThings", "createThing", "getThing", "updateThing",
                   "deleteThing", "restoreThing"}
    patch = paths["/v1/things/{thing_id}"]["patch"]
    if_match = next(p for p in patch["parameters"] if p["name"] == "If-Match")
    assert if_match["in"] == "header"
    assert if_match["required"] is True
    delete = paths["/v1/things/{thing_id}"]["delete"]
    assert [p["name"] for p in delete["parameters"] if p["in"] == "query"] == ["reason"]
    listed = [p["name"] for p in paths["/v1/things"]["get"]["parameters"]]
    exported = [p["name"] for p in paths["/v1/things/export.csv"]["get"]["parameters"]]
    assert listed == ["name", "limit", "cursor"]
    assert exported == ["name"]


def test_reads_and_changes_answer_with_etag_location_and_if_match(
    routes: tuple[FastAPI, Any], calls: Calls,
) -> None:
    client = TestClient(routes[0])
    thing_id = uuid.uuid4()
    got = client.get(f"/v1/things/{thing_id}", params={"include_deleted": "true"})
    assert got.status_code == 200
    assert got.headers["ETag"] == '"1"'
    assert got.json() == {"id": str(thing_id), "name": "got True"}
    created = client.post("/v1/things", json={"name": "new"})
    assert created.status_code == 201
    assert created.headers["Location"] == f"/v1/things/{created.json()['id']}"
    refused = client.patch(f"/v1/things/{thing_id}", json={"name": "x"})
    assert refused.status_code == 428
    assert calls.seen == []
    renamed = client.patch(f"/v1/things/{thing_id}", json={"name": "x"},
                           headers={"If-Match": '"1"'})
    assert renamed.status_code == 200
    assert renamed.headers["ETag"] == '"2"'
    deleted = client.delete(f"/v1/things/{thing_id}", params={"reason": "twice"},
                            headers={"If-Match": '"2"'})
    assert deleted.status_code == 204
    assert deleted.content == b""
    restored = client.post(f"/v1/things/{thing_id}/restore")
    assert restored.status_code == 200
    assert restored.headers["ETag"] == '"3"'
    assert calls.seen == [("update", thing_id, "x", '"1"'),
                          ("delete", thing_id, "twice", '"2"')]


def test_a_list_pages_its_filter_and_the_export_is_callable_by_position(
    routes: tuple[FastAPI, Any], calls: Calls, monkeypatch: pytest.MonkeyPatch,
) -> None:
    listed = TestClient(routes[0]).get("/v1/things", params={"name": "fir", "limit": 5})
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()["items"]] == ["first"]
    assert listed.json()["next_cursor"] is None
    streamed: list[tuple[Any, ...]] = []
    monkeypatch.setattr("fleetcore.core.resource.csv_response",
                        lambda session, query, columns, filename: streamed.append(
                            (session, query, filename)))
    routes[1]("member", "session", "fir")
    assert streamed == [("session", "query", "things.csv")]
    assert calls.seen == [("list", "fir", 5), ("export", "member", "fir")]
