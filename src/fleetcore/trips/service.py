"""Trips: platform accounts (how platforms name a driver) and the trips reports bring.

Linking an account to a driver is what turns waiting report rows into the driver's revenue:
rows imported before the link carry ``driver_id`` NULL, and linking fills them in, set-based,
and recomputes the driver revenues they feed (``revenue.service.link_account_rows``).
Services flush, never commit: the request (or job) owns the transaction.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from fleetcore.admin.models import Tenant
from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.errors import (
    Conflict,
    ConstraintProblem,
    NotFound,
    ValidationProblem,
    flush_checked,
)
from fleetcore.core.pagination import PageParams, keyset_page
from fleetcore.core.versioning import check_if_match, refresh_version
from fleetcore.drivers.models import Driver
from fleetcore.fleet.models import Vehicle
from fleetcore.reference.models import Platform
from fleetcore.revenue import service as revenue
from fleetcore.trips.filters import (
    PlatformAccountFilter,
    TripFilter,
    apply_platform_account_filter,
    apply_trip_filter,
)
from fleetcore.trips.models import (
    ExternalAccountKind,
    PlatformAccount,
    PlatformAccountStatus,
    Trip,
)
from fleetcore.trips.schemas import PlatformAccountCreate, PlatformAccountUpdate

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

_CONSTRAINTS = {
    "uq_trp_platform_accounts_external_id_live": ConstraintProblem(
        "external_account_id", "This platform already has an account with this identifier."),
}


def _now() -> datetime:
    return datetime.now(UTC)


def _field_error(field: str, message: str) -> ValidationProblem:
    return ValidationProblem(message, errors=[{"field": field, "message": message}])


def _flush(session: Session) -> None:
    """Flush; the duplicate-identifier violation becomes a 409 naming the field."""
    flush_checked(session, _CONSTRAINTS)


def detect_account_kind(value: str) -> ExternalAccountKind:
    """What kind of identifier ``value`` is: a UUID, an e-mail, or a phone number."""
    text = value.strip()
    if _UUID.fullmatch(text):
        return ExternalAccountKind.UUID
    if "@" in text:
        return ExternalAccountKind.EMAIL
    if sum(c.isdigit() for c in text) >= 6 and re.fullmatch(r"[+0-9 ().\-/]+", text):
        return ExternalAccountKind.PHONE
    return ExternalAccountKind.OTHER


def normalise_account_id(value: str, kind: ExternalAccountKind, country: str) -> str:
    """The stored form report rows are compared with: lower-case UUID and e-mail, E.164 phone
    (a national number is read in ``country``). ValueError with the reason when invalid."""
    text = value.strip()
    if kind is ExternalAccountKind.UUID:
        if not _UUID.fullmatch(text):
            raise ValueError("is not a UUID")
        return text.lower()
    if kind is ExternalAccountKind.EMAIL:
        try:
            return validate_email(text, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            raise ValueError(f"is not an e-mail address ({exc})") from exc
    if kind is ExternalAccountKind.PHONE:
        try:
            number = phonenumbers.parse(text, country)
        except phonenumbers.NumberParseException as exc:
            raise ValueError("is not a phone number") from exc
        # "Possible" (the right length for its country), not "valid": the identifier is the
        # key the platform's files carry, read by the importer with the same rule; a number
        # in a range newer than phonenumbers' metadata must still be recordable, or its rows
        # could never be linked.
        if not phonenumbers.is_possible_number(number):
            raise ValueError("is not a phone number (wrong length for its country)")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return text


def _platform(session: Session, code: str) -> Platform:
    platform = session.scalar(select(Platform).where(Platform.code == code))
    if platform is None:
        raise _field_error("platform", f"No platform with the code {code!r}.")
    return platform


def _check_driver(session: Session, driver_id: uuid.UUID | None) -> None:
    if driver_id is not None and session.scalar(
            select(Driver.id).where(Driver.id == driver_id, Driver.deleted_at.is_(None))) is None:
        raise _field_error("driver_id", "No such driver.")


def _check_vehicle(session: Session, vehicle_id: uuid.UUID | None) -> None:
    if vehicle_id is not None and session.scalar(
            select(Vehicle.id).where(Vehicle.id == vehicle_id,
                                     Vehicle.deleted_at.is_(None))) is None:
        raise _field_error("vehicle_id", "No such vehicle.")


def create_platform_account(
    session: Session, actor: Actor, *, data: PlatformAccountCreate
) -> PlatformAccount:
    """Record how a platform names a driver; with a driver, waiting report rows are linked."""
    tenant_id = tenant_of(actor)
    platform = _platform(session, data.platform)
    kind = data.external_account_kind or detect_account_kind(data.external_account_id)
    country = session.scalar(select(Tenant.country).where(Tenant.id == tenant_id)) or "FR"
    try:
        external_id = normalise_account_id(data.external_account_id, kind, country)
    except ValueError as exc:
        raise _field_error("external_account_id", f"The identifier {exc}.") from exc
    if data.driver_id is None and data.vehicle_id is None:
        raise _field_error("driver_id", "An account belongs to a driver or a vehicle.")
    _check_driver(session, data.driver_id)
    _check_vehicle(session, data.vehicle_id)
    account = PlatformAccount(
        tenant_id=tenant_id, platform_id=platform.id, external_account_id=external_id,
        external_account_kind=kind.value, driver_id=data.driver_id, vehicle_id=data.vehicle_id,
        display_name=data.display_name, payout_receiver=data.payout_receiver.value,
        status=PlatformAccountStatus.ACTIVE.value,
        linked_at=_now() if data.driver_id else None,
        created_by=actor.id, updated_by=actor.id,
    )
    session.add(account)
    _flush(session)
    refresh_version(session, account)
    if account.driver_id is not None:
        revenue.link_account_rows(session, account)
    return account


def get_platform_account(session: Session, actor: Actor, account_id: uuid.UUID, *,
                         include_deleted: bool = False) -> PlatformAccount:
    """One platform account, or 404."""
    stmt = select(PlatformAccount).where(PlatformAccount.id == account_id)
    if not include_deleted:
        stmt = stmt.where(PlatformAccount.deleted_at.is_(None))
    account = session.scalar(stmt)
    if account is None:
        raise NotFound("No such platform account.")
    return account


def platform_accounts_query(actor: Actor, spec: PlatformAccountFilter) -> Select[Any]:
    """The filtered platform accounts (list and CSV)."""
    return apply_platform_account_filter(
        select(PlatformAccount).where(PlatformAccount.tenant_id == tenant_of(actor)), spec)


def list_platform_accounts(session: Session, actor: Actor, params: PageParams,
                           spec: PlatformAccountFilter) -> tuple[list[PlatformAccount], str | None]:
    """A page of platform accounts."""
    return keyset_page(session, platform_accounts_query(actor, spec), [PlatformAccount.id], params)


def update_platform_account(
    session: Session, actor: Actor, account_id: uuid.UUID, *, data: PlatformAccountUpdate,
    if_match: str | None = None,
) -> PlatformAccount:
    """Link (or re-link) the account to a driver, or change its payout receiver or status."""
    account = get_platform_account(session, actor, account_id)
    check_if_match(if_match, account.version)
    changed = data.model_fields_set
    linked_now = False
    if "driver_id" in changed and data.driver_id != account.driver_id:
        _check_driver(session, data.driver_id)
        account.driver_id = data.driver_id
        account.linked_at = _now() if data.driver_id else None
        linked_now = data.driver_id is not None
    if "vehicle_id" in changed:
        _check_vehicle(session, data.vehicle_id)
        account.vehicle_id = data.vehicle_id
    if account.driver_id is None and account.vehicle_id is None:
        raise _field_error("driver_id", "An account belongs to a driver or a vehicle.")
    if "display_name" in changed:
        account.display_name = data.display_name
    for name in ("payout_receiver", "status"):
        value = getattr(data, name)
        if name in changed:
            if value is None:
                raise _field_error(name, "may not be null")
            setattr(account, name, value.value)
    if "status" in changed:
        account.unlinked_at = _now() if account.status == PlatformAccountStatus.UNLINKED else None
    account.updated_by = actor.id
    refresh_version(session, account)
    if linked_now:
        revenue.link_account_rows(session, account)
    return account


def delete_platform_account(session: Session, actor: Actor, account_id: uuid.UUID, *,
                            reason: str | None, if_match: str | None = None) -> None:
    """Soft-delete an account created by mistake (rows it linked keep their driver)."""
    account = get_platform_account(session, actor, account_id)
    check_if_match(if_match, account.version)
    account.mark_deleted(actor.id, reason)
    _flush(session)


def restore_platform_account(session: Session, actor: Actor,
                             account_id: uuid.UUID) -> PlatformAccount:
    """Bring a deleted account back (409 when another live account took its identifier)."""
    account = get_platform_account(session, actor, account_id, include_deleted=True)
    if not account.mark_restored(actor.id):
        raise Conflict("It is not deleted.")
    _flush(session)
    refresh_version(session, account)
    return account


# --- trips -------------------------------------------------------------------------------------


def trips_query(actor: Actor, spec: TripFilter) -> Select[Any]:
    """The filtered live trips (list and CSV)."""
    return apply_trip_filter(select(Trip).where(Trip.tenant_id == tenant_of(actor)), spec)


def list_trips(session: Session, actor: Actor, params: PageParams,
               spec: TripFilter) -> tuple[list[Trip], str | None]:
    """A page of trips, newest first (ids are time-ordered UUIDv7, so by id)."""
    return keyset_page(session, trips_query(actor, spec), [Trip.id], params, descending=True)


def get_trip(session: Session, actor: Actor, trip_id: uuid.UUID) -> Trip:
    """One live trip, or 404."""
    trip = session.scalar(select(Trip).where(Trip.id == trip_id, Trip.deleted_at.is_(None)))
    if trip is None:
        raise NotFound("No such trip.")
    return trip
