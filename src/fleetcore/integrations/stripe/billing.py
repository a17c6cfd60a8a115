"""Stripe Billing with the official ``stripe`` SDK: meter events
(``POST /v1/billing/meter_events``) and the Stripe twins of our invoices.

Each event carries our identifier (``usage-<uuid>``, see ``fleetcore.billing.reporting``) as
both Stripe's ``identifier`` and the request's idempotency key, so the SDK's own retries and a
rerun after a crash are absorbed by Stripe; what is reported is kept durable on our side.
"""

from __future__ import annotations

import stripe

from fleetcore.billing.reporting import (
    InvoiceMirror,
    InvoicePush,
    MeterEvent,
    MirroredInvoice,
    UsageReporter,
)
from fleetcore.settings import Settings

__all__ = ["StripeInvoices", "StripeMeters", "invoice_mirror", "usage_reporter"]


class StripeMeters:
    """``UsageReporter`` on Stripe Billing Meters."""

    def __init__(self, api_key: str, *, api_base: str | None = None,
                 max_network_retries: int = 2) -> None:
        base = api_base.rstrip("/") if api_base else None
        self._client = stripe.StripeClient(
            api_key, base_addresses={"api": base} if base else {},
            max_network_retries=max_network_retries)

    def report(self, event: MeterEvent) -> None:
        """Send one meter event (a refusal or network error propagates: the run rolls back
        and its rows stay unreported for the next run)."""
        self._client.v1.billing.meter_events.create(
            {"event_name": event.event_name, "identifier": event.identifier,
             "timestamp": int(event.timestamp.timestamp()),
             "payload": {"stripe_customer_id": event.customer, "value": str(event.value)}},
            {"idempotency_key": event.identifier})


def usage_reporter(settings: Settings) -> UsageReporter | None:
    """The reporter ``STRIPE_API_KEY`` configures (None without a key: usage is computed and
    kept, and reported once a key is set)."""
    if not settings.stripe_api_key:
        return None
    return StripeMeters(settings.stripe_api_key, api_base=settings.stripe_api_base)


class StripeInvoices:
    """``InvoiceMirror`` on ``POST /v1/invoices``, ``/v1/invoiceitems`` and
    ``/v1/invoices/{id}/finalize``: our number (Stripe's ``number`` parameter: set, Stripe
    assigns none at finalisation; decision 0013) and in the metadata with our ids, our
    lines; every request keyed by our ids (``invoice-<uuid>``, ``invoice-<uuid>-line-<uuid>``,
    ``invoice-<uuid>-finalize``)."""

    def __init__(self, api_key: str, *, api_base: str | None = None,
                 max_network_retries: int = 2) -> None:
        base = api_base.rstrip("/") if api_base else None
        self._client = stripe.StripeClient(
            api_key, base_addresses={"api": base} if base else {},
            max_network_retries=max_network_retries)

    def push(self, invoice: InvoicePush) -> MirroredInvoice:
        meta = {"tenant_id": str(invoice.tenant_id), "invoice_id": str(invoice.invoice_id),
                "fleetcore_number": invoice.number}
        created = self._client.v1.invoices.create(
            {"customer": invoice.customer, "currency": invoice.currency.lower(),
             "collection_method": "charge_automatically", "auto_advance": False,
             "pending_invoice_items_behavior": "exclude", "number": invoice.number,
             "metadata": meta},
            {"idempotency_key": invoice.key()})
        for line in invoice.lines:
            self._client.v1.invoice_items.create(
                {"customer": invoice.customer, "invoice": created.id,
                 "amount": line.amount_minor, "currency": invoice.currency.lower(),
                 "description": line.description,
                 "metadata": {**meta, "line_id": str(line.line_id)}},
                {"idempotency_key": invoice.key(f"-line-{line.line_id}")})
        final = self._client.v1.invoices.finalize_invoice(
            str(created.id), {"auto_advance": True},
            {"idempotency_key": invoice.key("-finalize")})
        return MirroredInvoice(str(final.id), final.hosted_invoice_url or None,
                               final.invoice_pdf or None, final.number or None)


def invoice_mirror(settings: Settings) -> InvoiceMirror | None:
    """The mirror ``STRIPE_API_KEY`` configures (None without a key)."""
    if not settings.stripe_api_key:
        return None
    return StripeInvoices(settings.stripe_api_key, api_base=settings.stripe_api_base)
