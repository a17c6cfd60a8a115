"""Help desks support tickets are mirrored with: Chatwoot and FreeScout, each a
:class:`fleetcore.support.desk.SupportDesk`, chosen per deployment by ``SUPPORT_DESK``
(:func:`desk_for`); their webhook receivers are in :mod:`.webhooks`."""

from __future__ import annotations

from fleetcore.integrations.support_desk.chatwoot import ChatwootDesk
from fleetcore.integrations.support_desk.freescout import FreeScoutDesk
from fleetcore.settings import Settings
from fleetcore.support.desk import SupportDesk


class DeskNotConfigured(RuntimeError):  # noqa: N818 - reads as the condition it reports
    """``SUPPORT_DESK`` names a desk whose URL or credentials are missing."""


def chatwoot_desk(settings: Settings) -> ChatwootDesk:
    """Chatwoot from the settings (webhooks need only the secret; the API the rest)."""
    return ChatwootDesk(
        base_url=settings.chatwoot_url or "", api_token=settings.chatwoot_api_token or "",
        account_id=settings.chatwoot_account_id or "", inbox_id=settings.chatwoot_inbox_id or "",
        webhook_secret=settings.chatwoot_webhook_secret,
        allow_unsigned=settings.chatwoot_allow_unsigned)


def freescout_desk(settings: Settings) -> FreeScoutDesk:
    return FreeScoutDesk(
        base_url=settings.freescout_url or "", api_key=settings.freescout_api_key or "",
        mailbox_id=settings.freescout_mailbox_id or "", user_id=settings.freescout_user_id,
        webhook_secret=settings.freescout_webhook_secret)


def desk_for(settings: Settings) -> SupportDesk | None:
    """The deployment's desk (``SUPPORT_DESK``), None for ``none``; refuses a half-configured
    one at start-up rather than at the first push."""
    if settings.support_desk == "chatwoot":
        missing = [n for n, v in (("CHATWOOT_URL", settings.chatwoot_url),
                                  ("CHATWOOT_API_TOKEN", settings.chatwoot_api_token),
                                  ("CHATWOOT_ACCOUNT_ID", settings.chatwoot_account_id),
                                  ("CHATWOOT_INBOX_ID", settings.chatwoot_inbox_id)) if not v]
        if missing:
            raise DeskNotConfigured(f"SUPPORT_DESK=chatwoot needs {', '.join(missing)}.")
        return chatwoot_desk(settings)
    if settings.support_desk == "freescout":
        missing = [n for n, v in (("FREESCOUT_URL", settings.freescout_url),
                                  ("FREESCOUT_API_KEY", settings.freescout_api_key),
                                  ("FREESCOUT_MAILBOX_ID", settings.freescout_mailbox_id)) if not v]
        if missing:
            raise DeskNotConfigured(f"SUPPORT_DESK=freescout needs {', '.join(missing)}.")
        return freescout_desk(settings)
    return None


__all__ = ["ChatwootDesk", "DeskNotConfigured", "FreeScoutDesk", "desk_for"]
