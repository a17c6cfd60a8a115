"""Adapters for external services: Clerk, Stripe, Resend, Traccar, Chatwoot, FreeScout,
Sentry, Supabase and the ride-hailing platforms."""
