"""Stripe Billing events on ``POST /webhooks/stripe`` (dispatched from
:mod:`fleetcore.integrations.stripe.webhooks`, which verified, recorded and deduplicated the
event): invoices, subscriptions, payment methods and customers of Fleetcore's own billing.

Deliveries come in any order. Each object we mirror keeps the ``created`` time of the last
Stripe event applied to it (``metadata.stripe_event_created``) and an older event changes
nothing; an invoice's status only moves forward (draft → open → paid/void/uncollectible). An
event about an object we do not know is ``ignored`` (acknowledged, recorded). Runs in the
provider context of the webhook transaction.

Dunning: ``invoice.payment_failed`` on an unpaid invoice → the tenant is ``past_due`` (the
hourly billing job suspends it after the grace period); ``invoice.paid`` → reactivated when no
other failed invoice is unpaid.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from fleetcore.admin.models import LifecycleEventType
from fleetcore.billing import service
from fleetcore.billing.models import (
    PaymentMethod,
    SubscriptionStatus,
    TenantInvoice,
    TenantSubscription,
)
from fleetcore.billing.reporting import STRIPE_NUMBER_KEY, stripe_number_reference
from fleetcore.core.money import Money
from fleetcore.settings import get_settings

__all__ = ["BILLING_PREFIXES", "apply_billing_event"]

BILLING_PREFIXES = ("invoice.", "customer.subscription.", "payment_method.", "customer.")

_RANK = {"draft": 0, "open": 1, "paid": 2, "void": 2, "uncollectible": 2}


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def _newer(row_extra: dict[str, Any] | None, created: int) -> bool:
    return int((row_extra or {}).get("stripe_event_created", 0)) <= created


def _stamp(row: Any, created: int, **more: Any) -> None:
    row.extra = {**(row.extra or {}), "stripe_event_created": created, **more}


def _at(created: int) -> datetime:
    return datetime.fromtimestamp(created, UTC) if created else datetime.now(UTC)


def _tenant_of_customer(session: Session, customer: Any) -> uuid.UUID | None:
    if not isinstance(customer, str) or not customer:
        return None
    found: uuid.UUID | None = session.scalar(text(
        "SELECT id FROM adm_tenants WHERE stripe_customer_id = :c AND deleted_at IS NULL"),
        {"c": customer})
    return found


def _invoice(session: Session, obj: dict[str, Any]) -> TenantInvoice | None:
    """Ours by Stripe id, else by the ids we put in its metadata (checked against the row)."""
    stripe_id = str(obj.get("id") or "")
    found = session.scalar(select(TenantInvoice).where(
        TenantInvoice.stripe_invoice_id == stripe_id).with_for_update()) if stripe_id else None
    if found is None:
        meta = _metadata(obj)
        tenant, invoice = _uuid(meta.get("tenant_id")), _uuid(meta.get("invoice_id"))
        if tenant and invoice:
            found = session.scalar(select(TenantInvoice).where(
                TenantInvoice.tenant_id == tenant, TenantInvoice.id == invoice,
                TenantInvoice.stripe_invoice_id.is_(None)).with_for_update())
            if found is not None and stripe_id.startswith("in_"):
                found.stripe_invoice_id = stripe_id
    return found


def _on_invoice(session: Session, kind: str, obj: dict[str, Any],
                created: int) -> tuple[str, uuid.UUID | None]:
    invoice = _invoice(session, obj)
    if invoice is None:
        return "ignored", None
    tenant = invoice.tenant_id
    for ours, theirs in (("hosted_invoice_url", "hosted_invoice_url"),
                         ("invoice_pdf_url", "invoice_pdf")):
        if isinstance(obj.get(theirs), str) and obj[theirs]:
            setattr(invoice, ours, obj[theirs])
    # Our gapless number is the invoice's; a different one Stripe shows is kept as a reference.
    reference = stripe_number_reference(invoice.invoice_number, obj.get("number"))
    if reference and (invoice.extra or {}).get(STRIPE_NUMBER_KEY) != reference[STRIPE_NUMBER_KEY]:
        invoice.extra = {**(invoice.extra or {}), **reference}
    target = {"invoice.paid": "paid", "invoice.payment_succeeded": "paid",
              "invoice.voided": "void", "invoice.marked_uncollectible": "uncollectible",
              "invoice.finalized": "open"}.get(kind)
    if kind == "invoice.updated" and obj.get("status") in _RANK:
        target = str(obj["status"])
    if target and invoice.status != "draft" and _RANK[target] > _RANK[invoice.status]:
        invoice.status = target
        if target == "paid":
            paid = obj.get("amount_paid")
            if isinstance(paid, int):
                invoice.amount_paid = Money.from_minor(paid, invoice.currency).amount
            invoice.amount_due = invoice.amount_paid * 0
            invoice.paid_at = _at(created)
            invoice.extra = {**(invoice.extra or {}), "payment_failed": False}
    if kind == "invoice.payment_failed" and invoice.status == "open":
        invoice.extra = {**(invoice.extra or {}), "payment_failed": True}
        session.flush()
        service.mark_past_due(
            session, tenant, at=_at(created),
            reason=f"Payment of invoice {invoice.invoice_number} failed",
            grace=service.grace_period(get_settings().fleetcore_billing_grace_days))
    if _newer(invoice.extra, created):
        _stamp(invoice, created)
    session.flush()
    if invoice.status == "paid":
        service.reactivate_after_payment(session, tenant, at=_at(created))
    return "processed", tenant


def _on_subscription(session: Session, kind: str, obj: dict[str, Any],
                     created: int) -> tuple[str, uuid.UUID | None]:
    stripe_id = str(obj.get("id") or "")
    sub = session.scalar(select(TenantSubscription).where(
        TenantSubscription.stripe_subscription_id == stripe_id).with_for_update())
    if sub is None:
        meta = _metadata(obj)
        tenant, ours = _uuid(meta.get("tenant_id")), _uuid(meta.get("subscription_id"))
        if tenant and ours:
            sub = session.scalar(select(TenantSubscription).where(
                TenantSubscription.tenant_id == tenant, TenantSubscription.id == ours,
                TenantSubscription.stripe_subscription_id.is_(None)).with_for_update())
            if sub is not None and stripe_id.startswith("sub_"):
                sub.stripe_subscription_id = stripe_id
    if sub is None:
        return "ignored", None
    if not _newer(sub.extra, created) or sub.status == SubscriptionStatus.CANCELLED.value:
        return "processed", sub.tenant_id  # older than what we applied, or final
    if kind == "customer.subscription.deleted" or obj.get("status") == "canceled":
        sub.status = SubscriptionStatus.CANCELLED.value
        sub.cancelled_at = _at(created)
        service.lifecycle(session, sub.tenant_id, LifecycleEventType.CANCELLED, None,
                          reason="Cancelled in Stripe", effective_at=_at(created),
                          subscription_id=str(sub.id))
    elif isinstance(obj.get("cancel_at_period_end"), bool):
        sub.cancel_at_period_end = obj["cancel_at_period_end"]
    _stamp(sub, created)
    session.flush()
    return "processed", sub.tenant_id


def _on_payment_method(session: Session, kind: str, obj: dict[str, Any],
                       created: int) -> tuple[str, uuid.UUID | None]:
    pm_id = str(obj.get("id") or "")
    if kind == "payment_method.detached":
        row = session.scalar(select(PaymentMethod).where(
            PaymentMethod.stripe_payment_method_id == pm_id).with_for_update())
        if row is None:
            return "ignored", None
        if _newer(row.extra, created):
            row.status, row.is_default = "detached", False
            _stamp(row, created)
        return "processed", row.tenant_id
    tenant = _tenant_of_customer(session, obj.get("customer"))
    kind_of = str(obj.get("type") or "")
    if tenant is None or kind_of not in ("card", "sepa_debit"):
        return "ignored", None
    card = obj.get("card") if isinstance(obj.get("card"), dict) else {}
    details = obj.get(kind_of) if isinstance(obj.get(kind_of), dict) else {}
    session.execute(text("""
        INSERT INTO bil_payment_methods
               (tenant_id, id, stripe_payment_method_id, method_type, brand, last4, exp_month,
                exp_year, status, metadata)
        VALUES (:t, gen_random_uuid(), :pm, :kind, :brand, :last4, :m, :y, 'active',
                jsonb_build_object('stripe_event_created', CAST(:created AS bigint)))
        ON CONFLICT (tenant_id, stripe_payment_method_id) DO UPDATE
           SET brand = EXCLUDED.brand, last4 = EXCLUDED.last4, exp_month = EXCLUDED.exp_month,
               exp_year = EXCLUDED.exp_year,
               metadata = bil_payment_methods.metadata || EXCLUDED.metadata
         WHERE coalesce(CAST(bil_payment_methods.metadata ->> 'stripe_event_created' AS bigint),
                        0) <= CAST(:created AS bigint)
           AND bil_payment_methods.status <> 'detached'"""),
        {"t": tenant, "pm": pm_id, "kind": kind_of,
         "brand": (card or {}).get("brand"), "last4": (details or {}).get("last4"),
         "m": (card or {}).get("exp_month"), "y": (card or {}).get("exp_year"),
         "created": created})
    return "processed", tenant


def apply_billing_event(session: Session, event: dict[str, Any],
                        obj: dict[str, Any]) -> tuple[str, uuid.UUID | None]:
    """Apply one verified, first-seen billing event: (outcome, tenant it concerned)."""
    kind = str(event.get("type") or "")
    created = int(event.get("created") or 0)
    if kind.startswith("invoice.") and str(obj.get("id", "")).startswith("in_"):
        return _on_invoice(session, kind, obj, created)
    if kind.startswith("customer.subscription."):
        return _on_subscription(session, kind, obj, created)
    if kind.startswith("payment_method."):
        return _on_payment_method(session, kind, obj, created)
    if kind.startswith("customer."):
        tenant = _tenant_of_customer(session, obj.get("id"))
        return ("processed" if tenant else "ignored"), tenant
    return "ignored", None
