"""Clerk: session tokens are verified in ``fleetcore.core.auth``; this package receives Clerk's
Svix-signed webhooks and maps their payloads to the admin domain's directory types."""
