"""Resend: the e-mail sender behind ``core.email.EmailSender`` and the ``/webhooks/resend``
receiver (Svix-signed bounces and complaints)."""
