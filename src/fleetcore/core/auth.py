"""Who is calling: Clerk session tokens verified offline, resolved to a member or a staff member.

A token is verified with PyJWT against the configured key (``CLERK_JWT_KEY``, a PEM) or the
key set at ``CLERK_JWKS_URL``: RS256 only, ``exp``/``nbf`` with a small leeway, ``azp`` against
``CLERK_AUTHORIZED_PARTIES`` when configured, and pending sessions (``sts: "pending"``) refused.
Both claim shapes are read: v2 (``o: {id, rol, slg, per}``) and the deprecated v1
(``org_id``, ``org_role``, ``org_slug``, ``org_permissions``).

In development with no Clerk key, a local RSA key under ``<data dir>/keys`` signs and verifies
tokens minted by ``fleetcore token``: the same verification path as production, never a bypass.

The organisation in the token routes to a tenant through the ``SECURITY DEFINER`` function
``tenant_for_clerk_org``; the member is then read under that tenant's row-level security.
Fleetcore's own staff sign in through the organisation ``FLEETCORE_PROVIDER_ORG_ID`` and open a
tenant with the ``X-Fleetcore-Tenant`` header; each such request is audited (``impersonate``).

All of that — routing, member and permissions (or staff member, opened tenant and its audit
row), and the transaction's context — is one statement, ``fc_resolve_member`` /
``fc_resolve_employee`` (migration 0005, invoker's rights): round trips are what a request
costs (``docs/decisions/0003-request-round-trips.md``). Nothing of that is cached between
requests, so a suspension, a role change or a cancelled subscription applies to the very next
request in every process; only a token's signature check is remembered until the token expires
(:class:`TokenVerifier`, decision 0022).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import text
from sqlalchemy.orm import Session

from fleetcore.core.db import ActorType, DbContext, bind_context
from fleetcore.core.errors import Forbidden, NotFound, ServiceUnavailable, Unauthorized
from fleetcore.settings import Environment, Settings

ALGORITHM = "RS256"
LEEWAY = timedelta(seconds=5)
"""Clock skew tolerated on ``exp``/``nbf`` (Clerk's SDK default)."""
DEV_KEY_FILE = "dev-session-key.pem"
DEV_ISSUER = "https://clerk.fleetcore.localhost"
DEV_AUTHORIZED_PARTY = "http://127.0.0.1:8000"
TENANT_HEADER = "X-Fleetcore-Tenant"
ALL_PERMISSIONS = "*"
"""A provider employee permission granting every permission."""
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# --- problems ----------------------------------------------------------------------------------


class InvalidToken(Unauthorized):
    slug, title = "invalid-token", "The session token is not valid"


class TokenExpired(Unauthorized):
    slug, title = "token-expired", "The session token has expired"


class NotAMember(Forbidden):
    slug, title = "not-a-member", "Not a member of this organisation"


class MemberSuspended(Forbidden):
    slug, title = "member-suspended", "This membership is suspended"


class TenantCancelled(Forbidden):
    slug, title = "tenant-cancelled", "This fleet's subscription is cancelled"


class TenantSuspended(Forbidden):
    slug, title = "tenant-suspended", "This fleet is suspended: read-only"


class TenantRequired(Forbidden):
    slug, title = "tenant-required", "Open a tenant first"


class PermissionDenied(Forbidden):
    slug, title = "permission-denied", "Missing permission"


# --- tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """What Fleetcore reads from a verified session token (v1 and v2 alike)."""

    user_id: str
    session_id: str | None
    org_id: str | None
    org_role: str | None
    org_slug: str | None
    org_permissions: tuple[str, ...]
    version: int
    expires_at: datetime


def _claims_from_payload(payload: dict[str, Any]) -> SessionClaims:
    sub = payload.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidToken("The token has no subject (user id).")
    version = payload.get("v", 1)
    org = payload.get("o")
    if isinstance(org, dict):
        per = org.get("per")
        permissions = tuple(p for p in str(per).split(",") if p) if per else ()
        org_id, role, slug = org.get("id"), org.get("rol"), org.get("slg")
    else:
        raw_perms = payload.get("org_permissions") or []
        permissions = tuple(str(p) for p in raw_perms) if isinstance(raw_perms, list) else ()
        org_id, role, slug = payload.get("org_id"), payload.get("org_role"), payload.get("org_slug")
    if isinstance(role, str) and role.startswith("org:"):
        role = role[len("org:") :]
    claims = SessionClaims(
        user_id=sub,
        session_id=payload.get("sid") if isinstance(payload.get("sid"), str) else None,
        org_id=org_id if isinstance(org_id, str) and org_id else None,
        org_role=role if isinstance(role, str) else None,
        org_slug=slug if isinstance(slug, str) else None,
        org_permissions=permissions,
        version=version if isinstance(version, int) else 1,
        expires_at=_expiry(payload["exp"]),
    )
    texts = (claims.user_id, claims.session_id, claims.org_id, claims.org_role, claims.org_slug,
             *claims.org_permissions)
    if not all(_is_text(t) for t in texts if t is not None):
        raise InvalidToken("The token has a claim that is not text (a NUL or a lone surrogate).")
    return claims


def _is_text(value: str) -> bool:
    """Whether ``value`` is text PostgreSQL can hold: JSON may carry NUL and lone surrogates
    (``\\u0000``, ``\\ud800``), which a query parameter cannot (a 500, not a refusal)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _expiry(exp: Any) -> datetime:
    """``exp`` as a time; one past what a calendar holds (``10**20``) is a bad token, not a 500."""
    try:
        return datetime.fromtimestamp(int(exp), UTC)
    except (OverflowError, ValueError, OSError, TypeError) as exc:
        raise InvalidToken("The token's expiry (exp) is out of range.") from exc


VERIFIED_TOKENS_KEPT = 10_000
"""How many verified tokens a verifier remembers (one per signed-in session and minute, as
Clerk session tokens live 60 s): beyond it, the expired ones go, then all of them."""


class TokenVerifier:
    """Verifies Clerk session tokens offline, with a PEM public key or a (cached) JWKS.

    A token that verified is remembered by its SHA-256 until it expires (``exp`` + leeway):
    the same token verifies the same way until then — its signature, ``azp`` and ``sts`` do
    not change. Only the *verification* is kept: who the caller is in Fleetcore (member,
    roles, suspension) is still resolved on every request (decisions 0003, 0022). A key
    removed from the JWKS meanwhile still accepts the tokens it signed until they expire.
    """

    def __init__(
        self,
        *,
        public_key: str | None = None,
        jwks_url: str | None = None,
        authorized_parties: list[str] | tuple[str, ...] = (),
        leeway: timedelta = LEEWAY,
    ) -> None:
        if not public_key and not jwks_url:
            raise ValueError("A public key or a JWKS URL is required")
        self._public_key = public_key
        self._jwks = (
            jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600, timeout=10)
            if jwks_url and not public_key
            else None
        )
        self.authorized_parties = tuple(authorized_parties)
        self.leeway = leeway
        self._verified: dict[bytes, tuple[float, SessionClaims]] = {}

    @property
    def offline(self) -> bool:
        """Whether verifying needs no I/O (a PEM key; a JWKS may have to be fetched)."""
        return self._jwks is None

    def cached(self, token: str) -> SessionClaims | None:
        """The claims of ``token`` if it verified before and has not expired since."""
        found = self._verified.get(hashlib.sha256(token.encode()).digest())
        if found is None or found[0] < time.time():
            return None
        return found[1]

    def _remember(self, token: str, claims: SessionClaims) -> None:
        kept = self._verified
        if len(kept) >= VERIFIED_TOKENS_KEPT:
            now = time.time()
            for key in [k for k, (until, _) in list(kept.items()) if until < now]:
                kept.pop(key, None)
            if len(kept) >= VERIFIED_TOKENS_KEPT:
                kept.clear()
        until = claims.expires_at.timestamp() + self.leeway.total_seconds()
        kept[hashlib.sha256(token.encode()).digest()] = (until, claims)

    def _key(self, token: str) -> Any:
        if self._jwks is None:
            return self._public_key
        try:
            return self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError as exc:
            raise ServiceUnavailable("The session key set could not be fetched.") from exc
        except (jwt.PyJWKClientError, jwt.DecodeError) as exc:
            raise InvalidToken("The token is not signed by a known key.") from exc

    def verify(self, token: str) -> SessionClaims:
        """The claims of ``token``, or :class:`InvalidToken` / :class:`TokenExpired`."""
        claims = self.cached(token)
        if claims is None:
            claims = self._verify(token)
            self._remember(token, claims)
        return claims

    def _verify(self, token: str) -> SessionClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise InvalidToken("The token is malformed.") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("The token must be signed with RS256.")
        key = self._key(token)
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                leeway=self.leeway,
                options={"require": ["exp", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired("The session token has expired; sign in again.") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken("The token is not valid yet (nbf/iat in the future).") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("The token signature does not verify.") from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"The token is not valid: {exc}.") from exc
        except (OverflowError, ValueError, TypeError) as exc:
            # A claim PyJWT compares without checking its range first: the token's fault.
            raise InvalidToken("The token has a claim out of range.") from exc
        if self.authorized_parties and payload.get("azp") not in self.authorized_parties:
            raise InvalidToken("The token was issued for another origin (azp).")
        if payload.get("sts") == "pending":
            raise InvalidToken("The session is pending (an organisation task is unfinished).")
        return _claims_from_payload(payload)


# --- development key ---------------------------------------------------------------------------


def dev_key_path(settings: Settings) -> Path:
    """Where the development signing key lives."""
    return settings.fleetcore_data_dir / "keys" / DEV_KEY_FILE


def ensure_dev_private_key(path: Path) -> str:
    """The PEM private key at ``path``, created (mode 0600) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    return path.read_text()


def public_key_pem(private_key_pem: str) -> str:
    """The PEM public key of a PEM private key."""
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def uses_dev_key(settings: Settings) -> bool:
    """Development without a Clerk key: tokens are signed by the local development key."""
    return settings.fleetcore_env is Environment.DEVELOPMENT and not (
        settings.clerk_jwt_key or settings.clerk_jwks_url
    )


class AuthNotConfigured(RuntimeError):  # noqa: N818 - reads as the condition
    """Production without CLERK_JWT_KEY or CLERK_JWKS_URL."""


def check_auth_configuration(settings: Settings) -> None:
    """Refuse to serve production without a real Clerk key."""
    if settings.fleetcore_env is Environment.PRODUCTION and not (
        settings.clerk_jwt_key or settings.clerk_jwks_url
    ):
        raise AuthNotConfigured(
            "FLEETCORE_ENV=production needs CLERK_JWT_KEY (the PEM public key from the Clerk "
            "dashboard) or CLERK_JWKS_URL to verify session tokens."
        )


def verifier_for(settings: Settings) -> TokenVerifier | None:
    """The verifier of ``settings``; None when no key is configured (every request is 401)."""
    parties = settings.clerk_authorized_parties
    if settings.clerk_jwt_key:
        return TokenVerifier(public_key=settings.clerk_jwt_key, authorized_parties=parties)
    if settings.clerk_jwks_url:
        return TokenVerifier(jwks_url=settings.clerk_jwks_url, authorized_parties=parties)
    if uses_dev_key(settings):
        private = ensure_dev_private_key(dev_key_path(settings))
        return TokenVerifier(public_key=public_key_pem(private), authorized_parties=parties)
    return None


def mint_session_token(
    private_key_pem: str,
    *,
    user_id: str,
    org_id: str | None,
    org_slug: str | None = None,
    org_role: str = "admin",
    ttl: timedelta = timedelta(hours=1),
    authorized_party: str = DEV_AUTHORIZED_PARTY,
    issuer: str = DEV_ISSUER,
    now: datetime | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """A Clerk-v2-shaped session token signed with ``private_key_pem`` (development, tests)."""
    issued = now or datetime.now(UTC)
    payload: dict[str, Any] = {
        "iss": issuer,
        "sub": user_id,
        "sid": f"sess_{uuid.uuid4().hex[:24]}",
        "azp": authorized_party,
        "iat": int(issued.timestamp()),
        "nbf": int(issued.timestamp()) - 1,
        "exp": int((issued + ttl).timestamp()),
        "jti": uuid.uuid4().hex[:20],
        "v": 2,
        "sts": "active",
        "fva": [0, -1],
    }
    if org_id:
        payload["o"] = {"id": org_id, "rol": org_role, "slg": org_slug or ""}
    payload.update(extra or {})
    return jwt.encode(payload, private_key_pem, algorithm=ALGORITHM, headers={"kid": "ins_dev"})


# --- actors ------------------------------------------------------------------------------------


NO_DRIVER = uuid.UUID(int=0)
"""``portal_driver_id`` of a driver member no driver is linked to: its sessions see no driver."""

@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated caller of a request: a member of a tenant, or a provider employee."""

    type: ActorType
    id: uuid.UUID
    clerk_user_id: str
    tenant_id: uuid.UUID | None
    tenant_status: str | None
    permissions: frozenset[str]
    session_id: str | None = None
    email: str | None = None
    portal_driver_id: uuid.UUID | None = None
    """The driver a member acting as a driver is (only the built-in driver role): its
    transactions see only that driver's rows (the nil uuid when no driver is linked)."""

    @property
    def is_portal_driver(self) -> bool:
        """A member acting as a driver (the database narrows it to its own rows)."""
        return self.portal_driver_id is not None

    @property
    def has_linked_driver(self) -> bool:
        """A member acting as a driver that is linked to a driver (the portal is theirs)."""
        return self.portal_driver_id not in (None, NO_DRIVER)

    @property
    def is_provider(self) -> bool:
        """Fleetcore staff (audited in the provider context)."""
        return self.type is ActorType.PROVIDER_EMPLOYEE

    def can(self, permission: str) -> bool:
        """Whether this actor holds ``permission``."""
        return ALL_PERMISSIONS in self.permissions or permission in self.permissions

    def db_context(self, *, request_id: str | None, ip: str | None,
                   user_agent: str | None) -> DbContext:
        """The database context this actor's transactions run under."""
        return DbContext(
            tenant_id=self.tenant_id,
            actor_type=self.type,
            actor_id=self.id,
            request_id=request_id,
            provider=self.is_provider,
            ip=ip,
            user_agent=user_agent,
            driver_id=self.portal_driver_id,
        )


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What the audit trail records about the HTTP request."""

    method: str
    path: str
    request_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    tenant_header: str | None = None

    @property
    def is_write(self) -> bool:
        """Whether the request may change data (anything but GET, HEAD, OPTIONS)."""
        return self.method.upper() not in READ_METHODS

    def base_context(self) -> DbContext:
        """The context before anyone is known: no tenant, nothing visible."""
        return DbContext(request_id=self.request_id, ip=self.ip, user_agent=self.user_agent)


_RESOLVE_MEMBER_SQL = text(
    "SELECT tenant_id, tenant_status, member_id, member_status, member_email, role_permissions,"
    " portal_driver_id"
    " FROM fc_resolve_member(:org_id, :user_id, :write, :request_id, :ip, :user_agent)"
)
"""Route the organisation, read the member and its roles, set the context: one round trip
(migration 0005; ``docs/decisions/0003-request-round-trips.md``)."""

_RESOLVE_EMPLOYEE_SQL = text(
    "SELECT employee_id, employee_status, employee_email, permissions, tenant_id, tenant_status"
    " FROM fc_resolve_employee(:user_id, :tenant_ref, :method, :path, :request_id, :ip,"
    " :user_agent)"
)
"""Read the staff member, open (and audit opening) the requested tenant, set the context."""

_ACCEPT_INVITATION_SQL = text(
    "UPDATE adm_members SET status = 'active', last_login_at = now()"
    " WHERE tenant_id = :t AND id = :id"
)

ADMITTED_MEMBER_STATUSES = frozenset({"active", "invited"})
"""Member statuses that may sign in (``fc_resolve_member`` admits the same ones)."""


def _permissions(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        value = json.loads(value)
    return frozenset(str(p) for p in value or ())


def _role_permissions(value: Any) -> frozenset[str]:
    """The union of the member's roles' permission lists (``[[...], [...]]``)."""
    if isinstance(value, str):
        value = json.loads(value)
    return frozenset().union(*(_permissions(role) for role in value or ()))


def _request_parameters(request: RequestInfo) -> dict[str, str | None]:
    return {
        "request_id": request.request_id,
        "ip": request.ip,
        "user_agent": (request.user_agent or "")[:512] or None,
    }


def resolve_actor(
    session: Session, claims: SessionClaims, request: RequestInfo, settings: Settings
) -> Actor:
    """Resolve ``claims`` to an actor and bind the request's database context on ``session``.

    One statement does both (``fc_resolve_member`` / ``fc_resolve_employee``): it sets the
    transaction-local context before anything else reads tenant data, and the same context is
    remembered on the session for any later transaction of the request. A refused caller
    leaves no tenant open; the problem (401/403/404) is raised here from the statuses.
    """
    if claims.org_id is None:
        bind_context(session, request.base_context())
        raise NotAMember("The session has no active organisation; select one and sign in again.")
    provider_org = settings.provider_org_id
    if provider_org and claims.org_id == provider_org:
        return _resolve_employee(session, claims, request)
    return _resolve_member(session, claims, request)


def _refuse(session: Session, request: RequestInfo, problem: Exception) -> Exception:
    """``problem``, with the session left in the base context the function already set."""
    bind_context(session, request.base_context(), applied=True)
    return problem


def _resolve_member(session: Session, claims: SessionClaims, request: RequestInfo) -> Actor:
    row = session.execute(_RESOLVE_MEMBER_SQL, {
        "org_id": claims.org_id, "user_id": claims.user_id, "write": request.is_write,
        **_request_parameters(request),
    }).mappings().one()
    if row["tenant_id"] is None:
        raise _refuse(session, request, NotAMember("This organisation is not a Fleetcore tenant."))
    if row["member_id"] is None:
        raise _refuse(session, request, NotAMember("You are not a member of this fleet."))
    if row["tenant_status"] == "cancelled":
        raise _refuse(session, request, TenantCancelled(
            "This fleet's subscription is cancelled; its data is kept."))
    if row["member_status"] not in ADMITTED_MEMBER_STATUSES:
        raise _refuse(session, request, MemberSuspended(
            "Your membership of this fleet is suspended."))
    if row["tenant_status"] == "suspended" and request.is_write:
        raise _refuse(session, request, TenantSuspended(
            "This fleet is suspended: it can read and export, not change data."))
    actor = Actor(
        type=ActorType.MEMBER,
        id=row["member_id"],
        clerk_user_id=claims.user_id,
        tenant_id=row["tenant_id"],
        tenant_status=row["tenant_status"],
        permissions=_role_permissions(row["role_permissions"]),
        session_id=claims.session_id,
        email=row["member_email"],
        portal_driver_id=row["portal_driver_id"],
    )
    bind_context(session, actor.db_context(
        request_id=request.request_id, ip=request.ip, user_agent=request.user_agent
    ), applied=True)
    if row["member_status"] == "invited":
        # The first sign-in accepts the invitation (audited by the trigger as the member).
        session.execute(_ACCEPT_INVITATION_SQL, {"t": actor.tenant_id, "id": actor.id})
    return actor


def _resolve_employee(session: Session, claims: SessionClaims, request: RequestInfo) -> Actor:
    tenant_ref = request.tenant_header.strip() if request.tenant_header else None
    row = session.execute(_RESOLVE_EMPLOYEE_SQL, {
        "user_id": claims.user_id, "tenant_ref": tenant_ref, "method": request.method,
        "path": request.path, **_request_parameters(request),
    }).mappings().one()
    if row["employee_id"] is None:
        raise _refuse(session, request, NotAMember("You are not a Fleetcore staff member."))
    if row["employee_status"] != "active":
        raise _refuse(session, request, MemberSuspended("Your staff account is not active."))
    if tenant_ref is not None and row["tenant_id"] is None:
        raise _refuse(session, request, NotFound(f"No tenant {request.tenant_header!r}."))
    actor = Actor(
        type=ActorType.PROVIDER_EMPLOYEE,
        id=row["employee_id"],
        clerk_user_id=claims.user_id,
        tenant_id=row["tenant_id"],
        tenant_status=row["tenant_status"],
        permissions=_permissions(row["permissions"]),
        session_id=claims.session_id,
        email=row["employee_email"],
    )
    bind_context(session, actor.db_context(
        request_id=request.request_id, ip=request.ip, user_agent=request.user_agent
    ), applied=True)
    return actor


def bearer_token(authorization: str | None, session_cookie: str | None) -> str:
    """The token of ``Authorization: Bearer``, else ``session_cookie`` (which only the console,
    having checked its CSRF token, passes: ``fleetcore.core.deps.accept_session_cookie``)."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise InvalidToken("Use 'Authorization: Bearer <session token>'.")
        return value.strip()
    if session_cookie:
        return session_cookie
    raise Unauthorized("A session token is required (Authorization: Bearer <token>).")


def tenant_of(actor: Actor) -> uuid.UUID:
    """The tenant the actor works in; NotFound when none is open (``require()`` guarantees
    one on tenant routes, so this keeps mypy and the reader sure)."""
    if actor.tenant_id is None:
        raise NotFound("No tenant is open.")
    return actor.tenant_id
