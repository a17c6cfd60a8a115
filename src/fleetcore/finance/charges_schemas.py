"""Request and response models of the finance API: toll transactions and traffic fines."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, model_validator

from fleetcore.core.schemas import MoneyIn, MoneyOut
from fleetcore.finance.models import TollSource, TollStatus, TrafficFineStatus


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("give the time zone (e.g. 2026-11-16T09:59:00+01:00 or ...Z)")
    return value


ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]
Plate = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=20),
    AfterValidator(_no_nul),
]
Instant = Annotated[datetime, AfterValidator(_aware)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- tolls -------------------------------------------------------------------------------------


class TollOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000201",
        "vehicle_id": "0195f3c2-7a10-7000-8000-000000000001",
        "driver_id": "0195f3c2-7a10-7000-8000-000000000002", "operator": "APRR",
        "gate": "Paris Sud → Fleury", "plate": "AB-123-CD",
        "occurred_at": "2026-11-16T08:59:00Z", "amount": {"amount": "4.10", "currency": "EUR"},
        "source": "import", "trip_id": None, "status": "assigned",
        "external_reference": "bipandgo:sha256:97fcb337…", "task_id": None,
        "created_at": "2026-12-02T09:00:00Z", "updated_at": "2026-12-02T09:00:00Z",
        "version": 1,
    }]})

    id: uuid.UUID
    vehicle_id: uuid.UUID | None
    driver_id: uuid.UUID | None
    operator: str | None
    gate: str | None
    plate: str | None
    occurred_at: datetime
    amount: MoneyOut
    source: TollSource
    trip_id: uuid.UUID | None
    status: TollStatus
    external_reference: str | None
    task_id: uuid.UUID | None = None
    created_at: datetime
    updated_at: datetime
    version: int


class TollCreate(Input):
    """A toll charge entered by hand: the vehicle or its plate, when, how much, where."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "plate": "AB-123-CD", "occurred_at": "2026-11-16T09:59:00+01:00",
        "amount": {"amount": "4.10", "currency": "EUR"}, "operator": "APRR",
        "gate": "Paris Sud → Fleury", "external_reference": "APRR-2026-11-000123",
    }]})

    vehicle_id: uuid.UUID | None = None
    plate: Plate | None = None
    occurred_at: Instant
    amount: MoneyIn
    operator: ShortText | None = None
    gate: ShortText | None = None
    trip_id: uuid.UUID | None = None
    external_reference: ShortText | None = None

    @model_validator(mode="after")
    def _vehicle_or_plate(self) -> TollCreate:
        if self.vehicle_id is None and self.plate is None:
            raise ValueError("plate: give the vehicle_id or the plate")
        return self


class TollDispute(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "reason": "The car was in the garage that day."}]})

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=1000), AfterValidator(_no_nul)]


class TollImportOut(BaseModel):
    """What an import stored: every charge of the statement once, whoever imports it again."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "format": "bipandgo", "rows": 42, "created": 40, "already_imported": 2,
        "assigned": 38, "unassigned": 2, "task_ids": ["0195f3c2-7a10-7000-8000-000000000301"],
        "toll_ids": ["0195f3c2-7a10-7000-8000-000000000201"],
    }]})

    format: str
    rows: int
    created: int
    already_imported: int
    assigned: int
    unassigned: int
    task_ids: list[uuid.UUID]
    toll_ids: list[uuid.UUID]


class ResolveOut(BaseModel):
    """Unassigned charges tried again against the assignment history."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"assigned": 3, "still_unassigned": 1}]})

    assigned: int
    still_unassigned: int


class StatementFormatOut(BaseModel):
    name: str
    label: str
    currency: str | None
    decimal_mark: str | None
    columns: dict[str, list[str]]


class StatementFormatsOut(BaseModel):
    """The statement formats the import reads (``toll_mappings/*.toml``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"formats": [{
        "name": "generic", "label": "Generic toll export", "currency": None,
        "decimal_mark": "dot", "columns": {"plate": ["Plate", "Licence plate"]}}]}]})

    formats: list[StatementFormatOut]


# --- fines -------------------------------------------------------------------------------------


class FineAction(StrEnum):
    DESIGNATE = "designate"
    PAY = "pay"
    CONTEST = "contest"
    CANCEL = "cancel"
    RECHARGE = "recharge"


class FineOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000401",
        "vehicle_id": "0195f3c2-7a10-7000-8000-000000000001",
        "driver_id": "0195f3c2-7a10-7000-8000-000000000002",
        "fine_reference": "ANTAI-7712345678", "issuing_authority": "ANTAI",
        "offence_type": "speeding", "offence_at": "2026-11-16T08:59:00Z",
        "offence_place": "A6 Paris Sud", "plate": "AB-123-CD",
        "amount": {"amount": "135.00", "currency": "EUR"}, "due_on": "2026-12-31",
        "designation_deadline_on": "2026-12-31", "designated_at": None, "charged_at": None,
        "status": "received",
        "scan_document_id": "0195f3c2-7a10-7000-8000-000000000007", "task_id": None,
        "created_at": "2026-12-02T09:00:00Z", "updated_at": "2026-12-02T09:00:00Z",
        "deleted_at": None, "version": 1,
    }]})

    id: uuid.UUID
    vehicle_id: uuid.UUID | None
    driver_id: uuid.UUID | None
    fine_reference: str
    issuing_authority: str | None
    offence_type: str | None
    offence_at: datetime
    offence_place: str | None
    plate: str | None
    amount: MoneyOut
    due_on: date | None
    designation_deadline_on: date | None
    designated_at: datetime | None
    charged_at: datetime | None
    status: TrafficFineStatus
    scan_document_id: uuid.UUID | None
    task_id: uuid.UUID | None = None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    version: int


class FineCreate(Input):
    """A fine as its notice says (avis de contravention): reference, authority, offence, place,
    time, plate, amount, due date and designation deadline, and the scan of the notice."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "fine_reference": "ANTAI-7712345678", "issuing_authority": "ANTAI",
        "offence_type": "speeding", "offence_at": "2026-11-16T09:59:00+01:00",
        "offence_place": "A6 Paris Sud", "plate": "AB-123-CD",
        "amount": {"amount": "135.00", "currency": "EUR"}, "due_on": "2026-12-31",
        "designation_deadline_on": "2026-12-31",
        "scan_document_id": "0195f3c2-7a10-7000-8000-000000000007",
    }]})

    fine_reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                     max_length=100), AfterValidator(_no_nul)]
    issuing_authority: ShortText | None = None
    offence_type: ShortText | None = None
    offence_at: Instant
    offence_place: ShortText | None = None
    vehicle_id: uuid.UUID | None = None
    plate: Plate | None = None
    amount: MoneyIn
    due_on: date | None = None
    designation_deadline_on: date | None = None
    scan_document_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _vehicle_or_plate(self) -> FineCreate:
        if self.vehicle_id is None and self.plate is None:
            raise ValueError("plate: give the vehicle_id or the plate")
        if self.designation_deadline_on is not None and (
                self.designation_deadline_on < self.offence_at.date()):
            raise ValueError("designation_deadline_on: cannot be before the offence")
        return self


class FineTransition(Input):
    """A step of the fine's life. ``designate`` names the driver (by default the one who had the
    vehicle at the offence); ``recharge`` needs a driver too."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"action": "designate"}, {"action": "pay"},
        {"action": "recharge", "driver_id": "0195f3c2-7a10-7000-8000-000000000002"}]})

    action: FineAction
    driver_id: uuid.UUID | None = None
