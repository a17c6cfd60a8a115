"""Runtime configuration, read from environment variables (documented in the README).

Every variable Fleetcore reads is a field here; nothing else calls ``os.environ``.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class PoolMode(StrEnum):
    SESSION = "session"
    TRANSACTION = "transaction"


DEMO_PROVIDER_ORG = "org_demo_fleetcore_staff"
"""Staff organisation of a development server with none configured (demo sign-in only: its
tokens are signed with the local development key, which production never accepts)."""


class Settings(BaseSettings):
    """All configuration of a Fleetcore process."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL of the app role (not owner, NOBYPASSRLS). "
        "Unset: an embedded PostgreSQL is started under the data dir.",
    )
    database_owner_url: str | None = Field(
        default=None,
        description="PostgreSQL URL of the owner role that runs migrations. "
        "Defaults to DATABASE_URL only for the embedded server.",
    )
    database_pool_mode: PoolMode = Field(
        default=PoolMode.SESSION,
        description="'transaction' behind PgBouncer/Supavisor in transaction mode: "
        "disables prepared statements.",
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    fleetcore_data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("fleetcore", appauthor=False)),
        description="Where the embedded database, local documents and dev keys live.",
    )
    fleetcore_env: Environment = Environment.DEVELOPMENT
    fleetcore_app_role: str = Field(
        default="fleetcore_app",
        description="Database role the migrations grant table privileges to.",
    )
    fleetcore_demo: bool = Field(
        default=True, description="Load the demo tenants on the first `fleetcore serve`."
    )
    fleetcore_mappings_dir: Path | None = Field(
        default=None,
        description="Directory of extra report mapping files (*.toml, docs/mappings.md), "
        "loaded with the packaged ones; a file named like a packaged one replaces it.",
    )
    fleetcore_log_level: str = Field(
        default="INFO", description="Level of the JSON logs written to stderr by serve/worker."
    )

    clerk_jwt_key: str | None = None
    clerk_jwks_url: str | None = None
    # NoDecode: the value reaches the validator as written, not JSON-decoded first (a single
    # URL or a comma-separated list is not JSON, and crashed start-up).
    clerk_authorized_parties: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins a session token's azp may name: one URL, a comma-separated list "
        "or a JSON list. Unset: any azp.",
    )
    clerk_webhook_secret: str | None = None
    fleetcore_provider_org_id: str | None = Field(
        default=None,
        description="Clerk organisation of Fleetcore's own staff: its members sign in as "
        "provider employees (adm_provider_employees).",
    )
    clerk_sign_in_url: str | None = Field(
        default=None,
        description="Clerk's hosted sign-in page (Account Portal), e.g. "
        "https://accounts.example.com/sign-in: the web console sends people there and reads "
        "the __session cookie Clerk sets. Unset in development: the console's demo sign-in.",
    )
    console_secret: str | None = Field(
        default=None,
        description="HMAC key of the web console's CSRF tokens (share it between instances). "
        "Unset: a random key kept under FLEETCORE_DATA_DIR/keys.",
    )
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    fleetcore_billing_grace_days: int = Field(
        default=14, ge=0, le=365,
        description="Days a fleet whose payment failed stays past due (fully usable) before "
        "the hourly billing job suspends it (read-only).",
    )
    resend_api_key: str | None = None
    resend_api_url: str | None = None
    resend_webhook_secret: str | None = None
    email_from: str = "Fleetcore <no-reply@fleetcore.localhost>"
    sentry_dsn: str | None = None
    traccar_url: str | None = None
    traccar_token: str | None = None
    traccar_webhook_secret: str | None = None
    fleetcore_gps_track_days: int = Field(
        default=90, ge=1, le=3660,
        description="How long the minute-level GPS track (flt_gps_track) is kept, in days.",
    )
    fleetcore_map_tiles_url: str = Field(
        default="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="Tile URL template of the console's live map ({z}/{x}/{y}; {s} allowed). "
        "Empty: no tiles, the map page lists the vehicles only.",
    )
    fleetcore_map_tiles_attribution: str = Field(
        default="© OpenStreetMap contributors",
        description="Attribution shown under the map tiles (plain text).",
    )
    support_desk: Literal["none", "chatwoot", "freescout"] = Field(
        default="none",
        description="The help desk support tickets are mirrored with (docs/support.md): "
        "'chatwoot', 'freescout' or 'none' (tickets stay in Fleetcore).",
    )
    support_first_response_hours: dict[str, float] = Field(
        default_factory=lambda: {"urgent": 1.0, "high": 4.0, "normal": 8.0, "low": 24.0},
        description="First-response SLA per ticket priority, in hours (JSON object).",
    )
    support_resolution_hours: dict[str, float] = Field(
        default_factory=lambda: {"urgent": 8.0, "high": 24.0, "normal": 72.0, "low": 168.0},
        description="Resolution SLA per ticket priority, in hours (JSON object).",
    )
    chatwoot_url: str | None = Field(
        default=None, description="Chatwoot's base URL, e.g. https://chat.example.com.")
    chatwoot_api_token: str | None = Field(
        default=None, description="A Chatwoot agent's or bot's api_access_token.")
    chatwoot_account_id: str | None = None
    chatwoot_inbox_id: str | None = Field(
        default=None, description="The Chatwoot inbox Fleetcore opens conversations in.")
    chatwoot_webhook_secret: str | None = Field(
        default=None, description="The secret Chatwoot (4.12+) signs webhooks with "
        "(X-Chatwoot-Signature).")
    chatwoot_allow_unsigned: bool = Field(
        default=False, description="Accept unsigned Chatwoot webhooks (older versions sign "
        "nothing) — only while CHATWOOT_WEBHOOK_SECRET is unset.",
    )
    freescout_url: str | None = Field(
        default=None, description="FreeScout's base URL (the API & Webhooks module).")
    freescout_api_key: str | None = None
    freescout_mailbox_id: str | None = Field(
        default=None, description="The FreeScout mailbox Fleetcore opens conversations in.")
    freescout_user_id: str | None = Field(
        default=None, description="The FreeScout user Fleetcore's staff replies are sent as.")
    freescout_webhook_secret: str | None = Field(
        default=None, description="The key FreeScout signs webhooks with "
        "(X-FreeScout-Signature).")
    storage_backend: str = Field(
        default="local",
        description="Where document files live: 'local' (under FLEETCORE_DATA_DIR/documents) "
        "or 'supabase' (Supabase Storage; needs SUPABASE_URL and SUPABASE_SERVICE_KEY).",
    )
    supabase_url: str | None = None
    supabase_service_key: str | None = None
    supabase_storage_bucket: str = Field(
        default="documents", description="Supabase Storage bucket of the document files."
    )
    document_max_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1, description="Largest document upload accepted (bytes)."
    )
    document_link_ttl_seconds: int = Field(
        default=600, ge=10, le=86_400,
        description="How long a document download link stays valid.",
    )
    document_link_secret: str | None = Field(
        default=None,
        description="HMAC key of the /files/<token> download links (share it between API "
        "instances). Unset: a random key kept under FLEETCORE_DATA_DIR/keys.",
    )

    @field_validator("clerk_authorized_parties", mode="before")
    @classmethod
    def _split_parties(cls, value: object) -> object:
        """``http://a``, ``http://a,http://b`` or ``["http://a", "http://b"]``."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"CLERK_AUTHORIZED_PARTIES is not a valid JSON list: {exc}") \
                    from exc
            if not isinstance(parsed, list) or not all(isinstance(p, str) for p in parsed):
                raise ValueError("CLERK_AUTHORIZED_PARTIES as JSON must be a list of strings.")
            parties = parsed
        elif text.startswith("{"):
            raise ValueError("CLERK_AUTHORIZED_PARTIES is one URL, a comma-separated list of "
                             "URLs or a JSON list of them.")
        else:
            parties = text.split(",")
        # An azp is an origin: no trailing slash (Clerk writes none).
        return [p.strip().rstrip("/") for p in parties if p.strip()]

    @property
    def provider_org_id(self) -> str | None:
        """The Clerk organisation whose members are Fleetcore staff: the configured one; in
        development without one, the demo staff's (:data:`DEMO_PROVIDER_ORG`), so the demo
        sign-in can offer the staff pages too."""
        if self.fleetcore_provider_org_id:
            return self.fleetcore_provider_org_id
        return DEMO_PROVIDER_ORG if self.fleetcore_env is Environment.DEVELOPMENT else None

    @property
    def uses_embedded_database(self) -> bool:
        """True when no DATABASE_URL is configured and Fleetcore runs its own PostgreSQL."""
        return not self.database_url

    @property
    def embedded_pgdata(self) -> Path:
        """Data directory of the embedded PostgreSQL cluster."""
        return self.fleetcore_data_dir / "postgres"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
