"""Stripe: Connect transfers that pay drivers (``finance.payout_service.TransferSender``) and
the ``/webhooks/stripe`` receiver (``transfer.*``, ``payout.*``)."""
