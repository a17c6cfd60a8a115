"""Where payouts go and come from: drivers' bank and Stripe Connect accounts, and the tenant's
payout settings (four-eyes approval, the fleet's own bank account for SEPA files).

IBANs and BICs are validated with ``schwifty`` (checksum, country format, SEPA zone) before
anything is stored; a driver's new account replaces the previous one for the same currency
(closed, kept: payments already made still point at it). IBANs are personal data: they are
never logged nor returned in full.
"""

from __future__ import annotations

import uuid
from typing import Any

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from sqlalchemy import Select, select, text
from sqlalchemy.orm import Session

from fleetcore.admin.models import Tenant
from fleetcore.core.auth import Actor, tenant_of
from fleetcore.core.errors import Conflict, NotFound, ValidationProblem
from fleetcore.core.versioning import check_if_match
from fleetcore.finance.models import Account, AccountKind, AccountStatus
from fleetcore.finance.payout_schemas import BankAccountIn, PayoutSettingsIn, StripeAccountIn

__all__ = ["add_bank_account", "add_stripe_account", "checked_bank", "list_payout_accounts",
           "update_payout_settings"]


def checked_bank(iban: str, bic: str | None, *, field: str = "") -> tuple[str, str | None]:
    """The IBAN (compact) and BIC (given, or the bank's from the IBAN when known), or a 422
    naming the field and why. The IBAN must be in the SEPA zone."""
    try:
        parsed = IBAN(iban)
    except SchwiftyException as exc:
        raise ValidationProblem("The IBAN is not valid.", errors=[
            {"field": f"{field}iban", "message": str(exc) or "not a valid IBAN"}]) from None
    if not parsed.in_sepa_zone:
        raise ValidationProblem("The IBAN is outside the SEPA zone.", errors=[
            {"field": f"{field}iban", "message": f"{parsed.country_code} is not in the SEPA "
                                                 "zone"}])
    if bic is None:
        derived = parsed.bic
        return parsed.compact, derived.compact if derived is not None else None
    try:
        parsed_bic = BIC(bic)
    except SchwiftyException as exc:
        raise ValidationProblem("The BIC is not valid.", errors=[
            {"field": f"{field}bic", "message": str(exc) or "not a valid BIC"}]) from None
    return parsed.compact, parsed_bic.compact


def _driver(session: Session, tenant_id: uuid.UUID, driver_id: uuid.UUID) -> tuple[str, str]:
    row = session.execute(text(
        "SELECT first_name, last_name FROM rid_drivers WHERE tenant_id = :t AND id = :d"
        " AND deleted_at IS NULL"), {"t": tenant_id, "d": driver_id}).one_or_none()
    if row is None:
        raise NotFound("No such driver.")
    return str(row[0] or ""), str(row[1] or "")


def _default_currency(session: Session, tenant_id: uuid.UUID) -> str:
    return str(session.execute(text("SELECT default_currency FROM adm_tenants WHERE id = :t"),
                               {"t": tenant_id}).scalar_one())


def _replace(session: Session, actor: Actor, tenant_id: uuid.UUID, driver_id: uuid.UUID,
             kind: str, currency: str) -> None:
    """Close the driver's live accounts of ``kind`` in ``currency`` (the new one replaces
    them)."""
    session.execute(text("""
        UPDATE fin_accounts SET status = 'closed', updated_by = :actor
         WHERE tenant_id = :t AND driver_id = :d AND kind = :kind AND currency = :c
           AND status = 'active' AND deleted_at IS NULL"""),
        {"t": tenant_id, "d": driver_id, "kind": kind, "c": currency, "actor": actor.id})


def add_bank_account(session: Session, actor: Actor, driver_id: uuid.UUID, *,
                     data: BankAccountIn) -> Account:
    """Save a driver's bank account for SEPA payouts (422 with the field when the IBAN or BIC
    is not valid)."""
    tenant_id = tenant_of(actor)
    first, last = _driver(session, tenant_id, driver_id)
    iban, bic = checked_bank(data.iban, data.bic)
    currency = data.currency or _default_currency(session, tenant_id)
    _replace(session, actor, tenant_id, driver_id, AccountKind.BANK, currency)
    account = Account(tenant_id=tenant_id, owner_type="driver", driver_id=driver_id,
                      kind=AccountKind.BANK.value, currency=currency, iban=iban, bic=bic,
                      name=(data.holder_name or f"{first} {last}".strip() or "Driver")[:200],
                      allow_negative=True, created_by=actor.id, updated_by=actor.id)
    session.add(account)
    session.flush()
    session.refresh(account)
    return account


def add_stripe_account(session: Session, actor: Actor, driver_id: uuid.UUID, *,
                       data: StripeAccountIn) -> Account:
    """Save a driver's Stripe Connect account (409 when another driver of the tenant has
    it)."""
    tenant_id = tenant_of(actor)
    first, last = _driver(session, tenant_id, driver_id)
    currency = data.currency or _default_currency(session, tenant_id)
    taken = session.scalar(select(Account.driver_id).where(
        Account.tenant_id == tenant_id, Account.stripe_account_id == data.stripe_account_id,
        Account.deleted_at.is_(None)))
    if taken is not None and taken != driver_id:
        raise Conflict("Another driver already has this Stripe account.", errors=[
            {"field": "stripe_account_id", "message": "used by another driver"}])
    if taken is not None:
        session.execute(text("""
            UPDATE fin_accounts SET deleted_at = now(), updated_by = :actor
             WHERE tenant_id = :t AND stripe_account_id = :s AND deleted_at IS NULL"""),
            {"t": tenant_id, "s": data.stripe_account_id, "actor": actor.id})
    _replace(session, actor, tenant_id, driver_id, AccountKind.STRIPE_CONNECT, currency)
    account = Account(tenant_id=tenant_id, owner_type="driver", driver_id=driver_id,
                      kind=AccountKind.STRIPE_CONNECT.value, currency=currency,
                      stripe_account_id=data.stripe_account_id,
                      name=f"Stripe {first} {last}".strip()[:200], allow_negative=True,
                      created_by=actor.id, updated_by=actor.id)
    session.add(account)
    session.flush()
    session.refresh(account)
    return account


def payout_accounts_query(session: Session, actor: Actor, driver_id: uuid.UUID) -> Select[Any]:
    """A driver's live bank and Stripe accounts, active first, newest first (list and CSV);
    404 for a driver not of this fleet."""
    tenant_id = tenant_of(actor)
    _driver(session, tenant_id, driver_id)
    return select(Account).where(
        Account.tenant_id == tenant_id, Account.driver_id == driver_id,
        Account.kind.in_((AccountKind.BANK.value, AccountKind.STRIPE_CONNECT.value)),
        Account.deleted_at.is_(None),
    ).order_by((Account.status == AccountStatus.ACTIVE.value).desc(),
               Account.created_at.desc(), Account.id)


def list_payout_accounts(session: Session, actor: Actor, driver_id: uuid.UUID) -> list[Account]:
    """A driver's live bank and Stripe accounts, active first, newest first."""
    return list(session.scalars(payout_accounts_query(session, actor, driver_id)
                                .execution_options(populate_existing=True)))


def get_tenant_row(session: Session, actor: Actor) -> Tenant:
    """The actor's tenant row (the payout settings live in its ``settings``)."""
    tenant = session.scalar(select(Tenant).where(Tenant.id == tenant_of(actor)))
    if tenant is None:
        raise NotFound("No such tenant.")
    return tenant


def update_payout_settings(session: Session, actor: Actor, *, data: PayoutSettingsIn,
                           if_match: str | None) -> Tenant:
    """Set the tenant's payout settings (four-eyes approval, the fleet's bank account for SEPA
    files); the ETag is the tenant's."""
    tenant = session.scalar(select(Tenant).where(Tenant.id == tenant_of(actor))
                            .with_for_update())
    if tenant is None:
        raise NotFound("No such tenant.")
    check_if_match(if_match, tenant.version)
    payouts: dict[str, Any] = {"four_eyes": data.four_eyes}
    if data.debtor is not None:
        iban, bic = checked_bank(data.debtor.iban, data.debtor.bic, field="debtor.")
        payouts["debtor"] = {"name": data.debtor.name, "iban": iban, "bic": bic}
    tenant.settings = {**(tenant.settings or {}), "payouts": payouts}
    tenant.updated_by = actor.id
    session.flush()
    session.refresh(tenant)
    return tenant
