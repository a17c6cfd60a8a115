"""Stripe Connect transfers with the official ``stripe`` SDK (a ``StripeClient``, no module
globals). ``STRIPE_API_BASE`` points it at a local fake in tests. Each transfer carries the
idempotency key derived from the payment id and attempt, and our ids in its metadata (the
webhook finds the payment by them); the SDK's own retries reuse that key.
"""

from __future__ import annotations

import stripe

from fleetcore.finance.payout_service import TransferFailed, TransferRequest, TransferSender
from fleetcore.settings import Settings

__all__ = ["StripeTransfers", "transfer_sender"]


class StripeTransfers:
    """``TransferSender`` on ``POST /v1/transfers``."""

    def __init__(self, api_key: str, *, api_base: str | None = None,
                 max_network_retries: int = 2) -> None:
        base = api_base.rstrip("/") if api_base else None
        self._client = stripe.StripeClient(
            api_key, base_addresses={"api": base, "connect": base} if base else {},
                                           max_network_retries=max_network_retries)

    def transfer(self, request: TransferRequest) -> str:
        """Create the transfer; Stripe's id (``tr_…``). A refusal raises ``TransferFailed``
        with Stripe's message (never the key); a network or server error propagates, so the
        request rolls back and a retry reuses the same keys (Stripe answers with the first
        result, and ``transfer.created`` webhooks record what was made meanwhile)."""
        try:
            created = self._client.v1.transfers.create(
                {"amount": request.amount_minor, "currency": request.currency.lower(),
                 "destination": request.destination,
                 "transfer_group": f"batch-{request.batch_id}",
                 "metadata": {"tenant_id": str(request.tenant_id),
                              "payment_id": str(request.payment_id),
                              "attempt": str(request.attempt)}},
                {"idempotency_key": request.idempotency_key})
        except (stripe.InvalidRequestError, stripe.IdempotencyError,
                stripe.PermissionError) as error:
            raise TransferFailed(error.user_message or "transfer refused") from error
        return str(created.id)


def transfer_sender(settings: Settings) -> TransferSender | None:
    """The sender ``STRIPE_API_KEY`` configures (None without a key: Stripe payouts are
    refused with a clear problem, SEPA still works)."""
    if not settings.stripe_api_key:
        return None
    return StripeTransfers(settings.stripe_api_key, api_base=settings.stripe_api_base)
