"""Stripe Billing Meters with the official ``stripe`` SDK: ``POST /v1/billing/meter_events``.

Each event carries our identifier (``usage-<uuid>``, see ``fleetcore.billing.reporting``) as
both Stripe's ``identifier`` and the request's idempotency key, so the SDK's own retries and a
rerun after a crash are absorbed by Stripe; what is reported is kept durable on our side.
"""

from __future__ import annotations

import stripe

from fleetcore.billing.reporting import MeterEvent, UsageReporter
from fleetcore.settings import Settings

__all__ = ["StripeMeters", "usage_reporter"]


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
