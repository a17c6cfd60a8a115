"""Request and response models of the administration API (tenants, members, roles, audit)."""

from __future__ import annotations

import re
import uuid
import zoneinfo
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

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


_TENANT_EXAMPLE: dict[str, Any] = {
    "id": "0195f3c2-7a10-7000-8000-000000000004", "name": "Lumière VTC", "slug": "lumiere-vtc",
    "legal_name": "Lumière VTC SAS", "country": "FR", "default_currency": "EUR",
    "timezone": "Europe/Paris", "status": "active", "clerk_organization_id": "org_2pLumiere",
    "contact_email": "ops@lumiere-vtc.fr", "trial_ends_at": None,
    "created_at": "2026-01-05T08:00:00Z", "updated_at": "2026-11-25T10:15:00Z", "version": 3,
}


class TenantOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [_TENANT_EXAMPLE]})

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


_SETTINGS_EXAMPLE: dict[str, Any] = {
    "name": "Lumière VTC", "legal_name": "Lumière VTC SAS", "country": "FR",
    "default_currency": "EUR", "timezone": "Europe/Paris", "contact_email": "ops@lumiere-vtc.fr",
    "vat_number": "FR40123456789", "vat_rate_pct": "20.0000", "self_billing": True,
    "prices_include_vat": True, "siret": "12345678900012",
    "address": "12 rue de la Paix, 75002 Paris", "language": "fr", "version": 3,
}


class TenantSettingsOut(BaseModel):
    """The fleet's own settings: its legal identity (on statements and invoices), time zone,
    currency and tax settings."""

    model_config = ConfigDict(json_schema_extra={"examples": [_SETTINGS_EXAMPLE]})

    name: str
    legal_name: str | None
    country: str
    default_currency: str
    timezone: str
    contact_email: str | None
    vat_number: str | None
    vat_rate_pct: Decimal | None
    self_billing: bool = Field(description="Issue a self-billed invoice per confirmed week to "
                                           "independent drivers.")
    prices_include_vat: bool
    siret: str | None
    address: str | None
    language: str | None = Field(None, description="The fleet's default language (BCP 47): "
                                 "the console's for members who chose none, and the e-mails'.")
    version: int


class TenantSettingsUpdate(Input):
    """What the owner changes (absent fields are kept). The currency and the time zone decide
    the weeks and the money of every settlement: they change only while the fleet has none."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"legal_name": "Lumière VTC SAS", "vat_number": "FR40123456789", "self_billing": True}]})

    name: Name | None = None
    legal_name: Name | None = None
    default_currency: Currency | None = None
    timezone: TimeZone | None = None
    contact_email: EmailStr | None = None
    vat_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=4,
                                                 max_length=20)] | None = None
    vat_rate_pct: Annotated[Decimal, Field(ge=0, le=100, max_digits=7,
                                           decimal_places=4)] | None = None
    self_billing: bool | None = None
    prices_include_vat: bool | None = None
    siret: Annotated[str, StringConstraints(pattern=r"^\d{14}$")] | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=500)] | None = None
    language: Language | None = None


class OwnerInvitation(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "email": "owner@lumiere-vtc.fr", "first_name": "Inès", "last_name": "Moreau",
    }]})

    email: EmailStr
    first_name: Name | None = None
    last_name: Name | None = None


class TenantProvision(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "Lumière VTC", "slug": "lumiere-vtc", "legal_name": "Lumière VTC SAS",
        "country": "FR", "default_currency": "EUR", "timezone": "Europe/Paris",
        "contact_email": "ops@lumiere-vtc.fr", "trial_days": 14,
        "owner": {"email": "owner@lumiere-vtc.fr", "first_name": "Inès"},
    }]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "reason": "Unpaid invoice INV-2026-0113.",
    }]})

    reason: Annotated[str, StringConstraints(max_length=1000)] | None = None


# --- members -------------------------------------------------------------------------------


class RoleRef(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000005", "name": "dispatcher",
    }]})

    id: uuid.UUID
    name: str


class MemberOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000003", "email": "camille.durand@lumiere-vtc.fr",
        "first_name": "Camille", "last_name": "Durand", "phone": "+33612345678",
        "status": "active", "preferred_language": "fr", "clerk_user_id": "user_2pCamille",
        "invited_at": "2026-01-05T08:00:00Z", "last_login_at": "2026-11-25T09:30:00Z",
        "created_at": "2026-01-05T08:00:00Z", "updated_at": "2026-11-25T10:15:00Z", "version": 2,
        "roles": [{"id": "0195f3c2-7a10-7000-8000-000000000005", "name": "dispatcher"}],
    }]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "email": "camille.durand@lumiere-vtc.fr", "first_name": "Camille", "last_name": "Durand",
        "phone": "+33612345678", "preferred_language": "fr",
        "role_ids": ["0195f3c2-7a10-7000-8000-000000000005"],
    }]})

    email: EmailStr
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    preferred_language: Language = "en"
    role_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)


class MemberUpdate(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "phone": "+33698765432", "preferred_language": "en",
    }]})

    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    preferred_language: Language | None = None


class MemberStatusChange(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "reason": "Left the company.",
    }]})

    reason: Annotated[str, StringConstraints(max_length=1000)] | None = None


class MemberRoleOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "role_id": "0195f3c2-7a10-7000-8000-000000000005", "name": "dispatcher",
        "granted_by": "0195f3c2-7a10-7000-8000-000000000101", "granted_at": "2026-11-25T09:30:00Z",
    }]})

    role_id: uuid.UUID
    name: str
    granted_by: uuid.UUID | None
    granted_at: datetime


# --- roles ---------------------------------------------------------------------------------


class RoleOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000005", "name": "Night dispatch",
        "description": "Shifts and assignments at night.",
        "permissions": ["assignments:read", "assignments:write", "shifts:read", "shifts:write"],
        "is_system": False, "created_at": "2026-11-25T09:30:00Z",
        "updated_at": "2026-11-25T10:15:00Z", "version": 1,
    }]})

    id: uuid.UUID
    name: str
    description: str | None
    permissions: list[str]
    is_system: bool
    created_at: datetime
    updated_at: datetime
    version: int


class RoleCreate(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "Night dispatch", "description": "Shifts and assignments at night.",
        "permissions": ["assignments:read", "assignments:write", "shifts:read", "shifts:write"],
    }]})

    name: Name
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    permissions: list[Permission] = Field(default_factory=list, max_length=200)


class RoleUpdate(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "permissions": ["shifts:read", "shifts:write"],
    }]})

    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    permissions: list[Permission] | None = Field(default=None, max_length=200)


# --- me, audit -----------------------------------------------------------------------------


class MeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "actor_type": "member", "id": "0195f3c2-7a10-7000-8000-000000000003",
        "email": "camille.durand@lumiere-vtc.fr",
        "tenant": _TENANT_EXAMPLE,
        "permissions": ["drivers:read", "vehicles:read"],
        "roles": [{"id": "0195f3c2-7a10-7000-8000-000000000005", "name": "dispatcher"}],
    }]})

    actor_type: str
    id: uuid.UUID
    email: str | None
    tenant: TenantOut | None
    permissions: list[str]
    roles: list[RoleRef] = Field(default_factory=list)


class AuditLogOut(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0195f3c2-7a10-7000-8000-000000000102", "occurred_at": "2026-11-25T09:30:00Z",
        "actor_type": "member", "actor_id": "0195f3c2-7a10-7000-8000-000000000003",
        "action": "update", "entity_type": "rid_drivers",
        "entity_id": "0195f3c2-7a10-7000-8000-000000000002",
        "changes": {"status": {"before": "onboarding", "after": "active"}}, "ip": "203.0.113.9",
        "user_agent": "Mozilla/5.0", "request_id": "4f1c2b7e9a0d4c3b8e6f5a4b3c2d1e0f",
    }]})

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

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 1042, "task": "fleetcore.send_notification", "status": "failed", "attempts": 3,
        "queue": "emails", "scheduled_at": None, "last_event_at": "2026-11-25T09:30:00Z",
    }]})

    id: int
    task: str = Field(examples=["fleetcore.admin.jobs.send_notification"])
    status: str = Field(examples=["failed"])
    attempts: int
    queue: str
    scheduled_at: datetime | None
    last_event_at: datetime | None


class JobQueued(BaseModel):
    """A failed job put back in the queue."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "queued",
    }]})

    status: Literal["queued"] = "queued"
