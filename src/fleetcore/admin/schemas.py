"""Request and response models of the administration API (tenants, members, roles, audit)."""

from __future__ import annotations

import re
import uuid
import zoneinfo
from datetime import datetime
from typing import Annotated, Any

import phonenumbers
import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
)

from fleetcore.admin.models import MemberStatus, TenantStatus

_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def _e164(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number in international format (+33 6 12 34 56 78)") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _language(value: str) -> str:
    if not _LANGUAGE.match(value):
        raise ValueError("not a language tag (en, fr, pt-BR)")
    return value


def _country(value: str) -> str:
    code = value.upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError("not an ISO 3166-1 alpha-2 country code")
    return code


def _currency(value: str) -> str:
    code = value.upper()
    if pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError("not an ISO 4217 currency code")
    return code


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("not an IANA time zone (Europe/Paris)") from exc
    return value


Phone = Annotated[str, AfterValidator(_e164)]
Language = Annotated[str, AfterValidator(_language)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=63)]
Country = Annotated[str, AfterValidator(_country)]
Currency = Annotated[str, AfterValidator(_currency)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
ClerkId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Permission = Annotated[str, StringConstraints(pattern=r"^[a-z_]+:[a-z_]+$", max_length=80)]


class Model(BaseModel):
    """Responses read attributes of ORM rows."""

    model_config = ConfigDict(from_attributes=True)


class Input(BaseModel):
    """Requests refuse unknown fields, so a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


# --- tenants -------------------------------------------------------------------------------


class TenantOut(Model):
    id: uuid.UUID
    name: str
    slug: str
    legal_name: str | None
    country: str
    default_currency: str
    timezone: str
    status: TenantStatus
    clerk_organization_id: str | None
    contact_email: str | None
    trial_ends_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class OwnerInvitation(Input):
    email: EmailStr
    first_name: Name | None = None
    last_name: Name | None = None


class TenantProvision(Input):
    name: Name
    slug: Slug
    legal_name: Name | None = None
    country: Country
    default_currency: Currency
    timezone: TimeZone
    clerk_organization_id: ClerkId | None = None
    contact_email: EmailStr | None = None
    trial_days: int = Field(default=14, ge=0, le=365, description="0: active at once.")
    owner: OwnerInvitation
    reason: Annotated[str, StringConstraints(max_length=1000)] | None = None


class LifecycleChange(Input):
    reason: Annotated[str, StringConstraints(max_length=1000)] | None = None


# --- members -------------------------------------------------------------------------------


class RoleRef(Model):
    id: uuid.UUID
    name: str


class MemberOut(Model):
    id: uuid.UUID
    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    status: MemberStatus
    preferred_language: str
    clerk_user_id: str | None
    invited_at: datetime | None
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    roles: list[RoleRef] = Field(default_factory=list)


class MemberInvite(Input):
    email: EmailStr
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    preferred_language: Language = "en"
    role_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)


class MemberUpdate(Input):
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    preferred_language: Language | None = None


class MemberStatusChange(Input):
    reason: Annotated[str, StringConstraints(max_length=1000)] | None = None


class MemberRoleOut(Model):
    role_id: uuid.UUID
    name: str
    granted_by: uuid.UUID | None
    granted_at: datetime


# --- roles ---------------------------------------------------------------------------------


class RoleOut(Model):
    id: uuid.UUID
    name: str
    description: str | None
    permissions: list[str]
    is_system: bool
    created_at: datetime
    updated_at: datetime
    version: int


class RoleCreate(Input):
    name: Name
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    permissions: list[Permission] = Field(default_factory=list, max_length=200)


class RoleUpdate(Input):
    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    permissions: list[Permission] | None = Field(default=None, max_length=200)


# --- me, audit -----------------------------------------------------------------------------


class MeOut(BaseModel):
    actor_type: str
    id: uuid.UUID
    email: str | None
    tenant: TenantOut | None
    permissions: list[str]
    roles: list[RoleRef] = Field(default_factory=list)


class AuditLogOut(Model):
    id: uuid.UUID
    occurred_at: datetime
    actor_type: str
    actor_id: uuid.UUID | None
    action: str
    entity_type: str
    entity_id: uuid.UUID | None
    changes: dict[str, Any]
    ip: Annotated[str | None, BeforeValidator(lambda v: None if v is None else str(v))]
    user_agent: str | None
    request_id: str | None


class JobOut(BaseModel):
    """A background job of the fleet, as an operator sees it."""

    id: int
    task: str = Field(examples=["fleetcore.admin.jobs.send_notification"])
    status: str = Field(examples=["failed"])
    attempts: int
    queue: str
    scheduled_at: datetime | None
    last_event_at: datetime | None
