"""The personal-data routes of a person (docs/privacy.md): ``GET /<path>/{id}/export`` and
``POST /<path>/{id}/erase``, declared once for drivers and members."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from enum import Enum
from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy.orm import Session

from fleetcore.core.deps import DbSession
from fleetcore.core.resource import parameter, route_function
from fleetcore.core.schemas import model_response
from fleetcore.core.versioning import RequiredIfMatch, lock_and_check_if_match
from fleetcore.documents.api import Storage
from fleetcore.documents.storage import delete_after_commit
from fleetcore.privacy.permissions import PrivacyManage
from fleetcore.privacy.schemas import (
    EXPORT_RESPONSES,
    ErasureOut,
    ErasureRequest,
    erasure_out,
    export_response,
)
from fleetcore.privacy.service import Erasure, ExportFile


def personal_data_routes(
    router: APIRouter, path: str, param: str, noun: str, tags: list[str | Enum], model: Any,
    export: Callable[..., ExportFile], erase: Callable[..., Erasure],
) -> None:
    """``export_<noun>_data`` (``export(session, actor, storage, id)``, one zip) and
    ``erase_<noun>_data`` (``erase(session, actor, id, reason=…)`` under ``If-Match`` on the
    person's row of ``model``) under ``/<path>/{<param>}``."""
    who = [parameter("actor", PrivacyManage), parameter("session", DbSession)]

    def run_export(actor: Any, session: Session, storage: Any, **kwargs: Any) -> Response:
        return export_response(export(session, actor, storage, kwargs[param]))

    def run_erase(actor: Any, session: Session, if_match: str, storage: Any,
                  data: ErasureRequest, **kwargs: Any) -> Response:
        person_id: uuid.UUID = kwargs[param]
        lock_and_check_if_match(session, model, if_match, model.id == person_id)
        erasure = erase(session, actor, person_id, reason=data.reason)
        # Once the request commits: a rolled-back erasure never deletes a file its rows point to.
        delete_after_commit(session, storage, erasure.storage_keys)
        return model_response(erasure_out(erasure))

    name = f"export_{noun}_data"
    router.add_api_route(
        f"/{path}/{{{param}}}/export",
        route_function(name, [*who, parameter("storage", Storage),
                              parameter(param, uuid.UUID)], run_export),
        methods=["GET"], tags=list(tags), name=name, response_class=Response,
        summary=f"Export everything held about a {noun} (JSON and documents, one zip)",
        responses=EXPORT_RESPONSES)
    name = f"erase_{noun}_data"
    router.add_api_route(
        f"/{path}/{{{param}}}/erase",
        route_function(name, [*who, parameter("if_match", RequiredIfMatch),
                              parameter("storage", Storage), parameter(param, uuid.UUID),
                              parameter("data", ErasureRequest)], run_erase),
        methods=["POST"], tags=list(tags), name=name, response_model=ErasureOut,
        summary=f"Erase a {noun}'s personal data (refused with 409 while retention applies)")
