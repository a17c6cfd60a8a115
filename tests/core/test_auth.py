"""Session-token verification (offline, PyJWT) and the development key, without a database."""

from __future__ import annotations

import base64
import json
import stat
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fleetcore.core.auth import (
    AuthNotConfigured,
    InvalidToken,
    TokenExpired,
    TokenVerifier,
    bearer_token,
    check_auth_configuration,
    dev_key_path,
    ensure_dev_private_key,
    mint_session_token,
    public_key_pem,
    uses_dev_key,
    verifier_for,
)
from fleetcore.core.errors import Unauthorized
from fleetcore.settings import Settings

AZP = "https://app.example.com"


def _key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def key() -> str:
    return _key()


@pytest.fixture(scope="module")
def verifier(key: str) -> TokenVerifier:
    return TokenVerifier(public_key=public_key_pem(key), authorized_parties=[AZP])


def _mint(key: str, **options: Any) -> str:
    options.setdefault("authorized_party", AZP)
    return mint_session_token(key, user_id="user_1", org_id="org_1", org_slug="acme",
                              org_role="admin", **options)


def _raw(key: str, payload: dict[str, Any]) -> str:
    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": "user_1", "iat": now, "nbf": now, "exp": now + 600, "azp": AZP, **payload}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm="RS256")


def test_minted_token_carries_what_a_clerk_v2_token_carries(key: str) -> None:
    payload = jwt.decode(_mint(key), options={"verify_signature": False})
    assert {"iss", "sub", "sid", "azp", "iat", "nbf", "exp", "v", "o"} <= set(payload)
    assert payload["v"] == 2
    assert payload["o"] == {"id": "org_1", "rol": "admin", "slg": "acme"}


def test_v2_claims(verifier: TokenVerifier, key: str) -> None:
    token = _raw(key, {"v": 2, "sid": "sess_1",
                       "o": {"id": "org_9", "rol": "admin", "slg": "nine", "per": "read,manage"}})
    claims = verifier.verify(token)
    assert (claims.user_id, claims.org_id, claims.org_role, claims.org_slug) == (
        "user_1", "org_9", "admin", "nine")
    assert claims.org_permissions == ("read", "manage")
    assert claims.version == 2
    assert claims.session_id == "sess_1"


def test_v1_claims(verifier: TokenVerifier, key: str) -> None:
    token = _raw(key, {"org_id": "org_7", "org_role": "org:admin", "org_slug": "seven",
                       "org_permissions": ["org:fleet:read"]})
    claims = verifier.verify(token)
    assert (claims.org_id, claims.org_role, claims.org_slug) == ("org_7", "admin", "seven")
    assert claims.org_permissions == ("org:fleet:read",)
    assert claims.version == 1


def test_expired_token(verifier: TokenVerifier, key: str) -> None:
    old = datetime.now(UTC) - timedelta(hours=2)
    with pytest.raises(TokenExpired):
        verifier.verify(_mint(key, now=old))


def test_small_clock_skew_is_tolerated(verifier: TokenVerifier, key: str) -> None:
    now = int(datetime.now(UTC).timestamp())
    assert verifier.verify(_raw(key, {"exp": now - 2, "nbf": now + 2})).user_id == "user_1"


def test_not_yet_valid_token(verifier: TokenVerifier, key: str) -> None:
    now = int(datetime.now(UTC).timestamp())
    with pytest.raises(InvalidToken, match="not valid yet"):
        verifier.verify(_raw(key, {"nbf": now + 120, "iat": now + 120, "exp": now + 900}))


def test_wrong_key(verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken, match="signature"):
        verifier.verify(_mint(_key()))


def test_wrong_or_missing_authorized_party(verifier: TokenVerifier, key: str) -> None:
    with pytest.raises(InvalidToken, match="azp"):
        verifier.verify(_mint(key, authorized_party="https://evil.example"))
    with pytest.raises(InvalidToken, match="azp"):
        verifier.verify(_raw(key, {"azp": None}))


def test_no_authorized_parties_configured_accepts_any_azp(key: str) -> None:
    open_verifier = TokenVerifier(public_key=public_key_pem(key))
    assert open_verifier.verify(_mint(key, authorized_party="https://x")).org_id == "org_1"


def test_tampered_token(verifier: TokenVerifier, key: str) -> None:
    header, payload, signature = _mint(key).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "user_admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(InvalidToken):
        verifier.verify(f"{header}.{forged}.{signature}")


def test_malformed_and_symmetric_tokens(verifier: TokenVerifier, key: str) -> None:
    with pytest.raises(InvalidToken, match="malformed"):
        verifier.verify("not-a-jwt")
    # Algorithm confusion: an HS256 token "signed" with the public key is refused.
    hs = jwt.encode({"sub": "user_1", "exp": 9999999999}, "secret-secret-secret-secret-32b!",
                    algorithm="HS256")
    with pytest.raises(InvalidToken, match="RS256"):
        verifier.verify(hs)


def test_missing_subject_or_expiry(verifier: TokenVerifier, key: str) -> None:
    with pytest.raises(InvalidToken):
        verifier.verify(_raw(key, {"exp": None}))
    with pytest.raises(InvalidToken):
        verifier.verify(_raw(key, {"sub": None}))


ABSURD_CLAIMS = [
    {"exp": 10**20}, {"exp": 2**64}, {"exp": 1e300}, {"exp": float("inf")},
    {"exp": float("nan")}, {"exp": float("-inf")}, {"exp": "tomorrow"}, {"exp": [1]},
    {"exp": {"at": 1}}, {"nbf": 10**20}, {"nbf": float("inf")}, {"nbf": "now"},
    {"nbf": float("nan")}, {"iat": 10**20}, {"iat": float("inf")}, {"iat": "now"},
    {"iat": float("-inf")}, {"exp": 253402300800},  # the first second of year 10000
]


def test_absurd_time_claims_are_invalid_tokens(verifier: TokenVerifier, key: str) -> None:
    # Infinity and NaN are what a JSON parser makes of 1e400 and NaN: PyJWT writes them so.
    outcomes = {}
    for claims in ABSURD_CLAIMS:
        try:
            verifier.verify(_raw(key, claims))
        except Unauthorized:
            outcomes[repr(claims)] = "401"
        except Exception as exc:  # anything else would be a 500
            outcomes[repr(claims)] = type(exc).__name__
        else:
            outcomes[repr(claims)] = "accepted"
    assert outcomes == dict.fromkeys(outcomes, "401")


def _raw_json(key: str, payload: str) -> str:
    """A token of ``payload`` exactly as written (PyJWT will not encode a lone surrogate)."""
    private = serialization.load_pem_private_key(key.encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{b64(payload.encode())}"
    signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def test_claims_that_are_not_text_are_invalid_tokens(verifier: TokenVerifier, key: str) -> None:
    now = int(datetime.now(UTC).timestamp())
    base = {"sub": "user_1", "azp": AZP, "iat": now, "nbf": now, "exp": now + 600, "v": 2,
            "sid": "sess_1", "o": {"id": "org_1", "rol": "admin", "slg": "acme", "per": "a"}}
    outcomes = {}
    for path in ("sub", "sid", "o.id", "o.rol", "o.slg", "o.per"):
        for bad in ("\\u0000", "\\ud800"):
            claims = json.loads(json.dumps(base))
            target = claims["o"] if path.startswith("o.") else claims
            target[path.removeprefix("o.")] = "BAD"
            token = _raw_json(key, json.dumps(claims).replace('"BAD"', f'"x{bad}"'))
            try:
                verifier.verify(token)
            except Unauthorized:
                outcomes[(path, bad)] = "401"
            else:
                outcomes[(path, bad)] = "accepted"
    assert outcomes == dict.fromkeys(outcomes, "401")


def test_pending_session_is_refused(verifier: TokenVerifier, key: str) -> None:
    with pytest.raises(InvalidToken, match="pending"):
        verifier.verify(_mint(key, extra={"sts": "pending"}))


def test_jwks_url(key: str) -> None:
    public = serialization.load_pem_public_key(public_key_pem(key).encode())
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))  # type: ignore[arg-type]
    jwk.update(kid="ins_dev", use="sig", alg="RS256")
    body = json.dumps({"keys": [jwk]}).encode()
    fetches: list[str] = []

    class JwksHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetches.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), JwksHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
        jwks_verifier = TokenVerifier(jwks_url=url, authorized_parties=[AZP])
        assert jwks_verifier.verify(_mint(key)).org_id == "org_1"
        assert jwks_verifier.verify(_mint(key)).org_id == "org_1"
        assert len(fetches) == 1  # the key set is cached
        with pytest.raises(InvalidToken):
            jwks_verifier.verify(jwt.encode({"sub": "u", "exp": 9999999999}, _key(),
                                            algorithm="RS256", headers={"kid": "unknown"}))
    finally:
        server.shutdown()
        server.server_close()


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer abc", None) == "abc"
    assert bearer_token(None, "cookie-token") == "cookie-token"
    with pytest.raises(Unauthorized):
        bearer_token(None, None)
    with pytest.raises(InvalidToken):
        bearer_token("Basic dXNlcjpwYXNz", None)


def test_development_key_is_made_once_private_and_verifies(tmp_path: Path) -> None:
    settings = Settings(fleetcore_env="development", fleetcore_data_dir=tmp_path,
                        clerk_jwt_key=None, clerk_jwks_url=None)
    assert uses_dev_key(settings)
    verifier = verifier_for(settings)
    assert verifier is not None
    path = dev_key_path(settings)
    assert path == tmp_path / "keys" / "dev-session-key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    private = ensure_dev_private_key(path)
    assert ensure_dev_private_key(path) == private  # reused, not regenerated
    token = mint_session_token(private, user_id="user_dev", org_id="org_dev")
    assert verifier.verify(token).user_id == "user_dev"


def test_production_needs_a_clerk_key(tmp_path: Path) -> None:
    with pytest.raises(AuthNotConfigured):
        check_auth_configuration(Settings(fleetcore_env="production", fleetcore_data_dir=tmp_path))
    check_auth_configuration(Settings(fleetcore_env="production", clerk_jwks_url="https://x/jwks"))
    # Without a key outside development nothing is trusted: every request is 401.
    assert verifier_for(Settings(fleetcore_env="test", fleetcore_data_dir=tmp_path)) is None
    assert not (tmp_path / "keys").exists()
