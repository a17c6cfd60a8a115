"""Development sign-in: pick a demo member, get a locally minted session token as the
``__session`` cookie, verified like any Clerk token; sign-out forgets it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api_support import TenantWorld
from fleetcore.admin.service import DEMO_STAFF_USER
from fleetcore.app import create_app
from fleetcore.core.auth import dev_key_path, ensure_dev_private_key, public_key_pem
from fleetcore.settings import DEMO_PROVIDER_ORG, Settings
from fleetcore.web.security import safe_next
from web_support import Browser, csrf_of


@pytest.fixture(scope="module")
def dev_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(fleetcore_env="development",
                    fleetcore_data_dir=Path(tmp_path_factory.mktemp("dev-data")))


@pytest.fixture(scope="module")
def dev_app(dev_settings: Settings, app_engine: Engine) -> FastAPI:
    return create_app(dev_settings, app_engine)


@pytest.fixture
def dev_browser(dev_app: FastAPI) -> Iterator[Browser]:
    with TestClient(dev_app) as client:
        yield Browser(client)


def test_demo_sign_in_mints_a_verifiable_session_cookie(
    dev_browser: Browser, dev_settings: Settings, make_tenant: Callable[..., TenantWorld],
) -> None:
    world = make_tenant()
    owner = world.person("owner")
    page = dev_browser.get(f"/app/sign-in?tenant={world.slug}&next=/app/drivers")
    assert page.status_code == 200
    assert f'data-email="{owner.email}"' in page.text
    assert f'data-email="{world.person("finance").email}"' in page.text
    response = dev_browser.client.post("/app/sign-in", data={
        "csrf_token": csrf_of(page.text), "tenant": world.slug, "email": owner.email,
        "next": "/app/drivers"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/app/drivers"
    cookie = next(c for c in response.headers.get_list("set-cookie")
                  if c.startswith("__session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    token = dev_browser.client.cookies["__session"]
    # The token is signed by the development key, exactly as `fleetcore token` signs it.
    public = public_key_pem(ensure_dev_private_key(dev_key_path(dev_settings)))
    claims = jwt.decode(token, public, algorithms=["RS256"], options={"verify_aud": False})
    assert (claims["sub"], claims["o"]["id"]) == (owner.user_id, world.org_id)
    drivers = dev_browser.get("/app/drivers")
    assert drivers.status_code == 200
    assert "Signed in as" in drivers.text
    # Signing out forgets the cookie: the console asks to sign in again.
    signed_out = dev_browser.client.post("/app/sign-out",
                                         data={"csrf_token": csrf_of(drivers.text)},
                                         follow_redirects=False)
    assert signed_out.status_code == 303
    assert "__session" not in dev_browser.client.cookies
    assert dev_browser.get("/app/drivers").status_code == 303


def test_demo_sign_in_offers_fleetcore_staff_in_development(
    dev_browser: Browser, dev_settings: Settings, make_tenant: Callable[..., TenantWorld],
) -> None:
    world = make_tenant()
    page = dev_browser.get("/app/sign-in")
    assert "Sign in as Fleetcore staff" in page.text
    response = dev_browser.client.post("/app/sign-in", data={
        "csrf_token": csrf_of(page.text), "staff": "1"}, follow_redirects=False)
    assert response.status_code == 303
    token = dev_browser.client.cookies["__session"]
    public = public_key_pem(ensure_dev_private_key(dev_key_path(dev_settings)))
    claims = jwt.decode(token, public, algorithms=["RS256"], options={"verify_aud": False})
    assert claims["o"]["id"] == DEMO_PROVIDER_ORG
    assert claims["sub"] == DEMO_STAFF_USER
    fleets = dev_browser.get(f"/app/provider?slug={world.slug}")
    assert fleets.status_code == 200
    assert f'id="fleet-{world.slug}"' in fleets.text
    # Twice: the demo staff member is created once.
    again = dev_browser.get("/app/sign-in")
    assert dev_browser.client.post("/app/sign-in", data={
        "csrf_token": csrf_of(again.text), "staff": "1"},
        follow_redirects=False).status_code == 303


def test_production_has_no_demo_staff_organisation() -> None:
    assert Settings(fleetcore_env="production").provider_org_id is None
    assert Settings(fleetcore_env="production",
                    fleetcore_provider_org_id="org_x").provider_org_id == "org_x"


def test_demo_sign_in_refuses_unknown_members_and_forged_forms(
    dev_browser: Browser, make_tenant: Callable[..., TenantWorld],
) -> None:
    world = make_tenant()
    page = dev_browser.get(f"/app/sign-in?tenant={world.slug}")
    token = csrf_of(page.text)
    unknown = dev_browser.client.post("/app/sign-in", data={
        "csrf_token": token, "tenant": world.slug, "email": "nobody@example.com"},
        follow_redirects=False)
    assert unknown.status_code == 404
    assert "No active member" in unknown.text
    forged = dev_browser.client.post("/app/sign-in", data={
        "tenant": world.slug, "email": world.person("owner").email}, follow_redirects=False)
    assert forged.status_code == 403
    assert "__session" not in dev_browser.client.cookies


def test_clerk_servers_have_no_demo_sign_in(browser: Browser,
                                            make_tenant: Callable[..., TenantWorld]) -> None:
    world = make_tenant()
    token = browser.token("/app/sign-in?signed_out=1")
    response = browser.client.post("/app/sign-in", data={
        "csrf_token": token, "tenant": world.slug, "email": world.person("owner").email},
        follow_redirects=False)
    assert response.status_code == 404
    assert "__session" not in browser.client.cookies


@pytest.mark.parametrize(("target", "expected"), [
    ("/app/vehicles?status=active", "/app/vehicles?status=active"),
    ("/app", "/app"),
    (None, "/app"),
    ("https://evil.test/app", "/app"),
    ("//evil.test/app", "/app"),
    ("/v1/me", "/app"),
    ("/app\\..\\evil", "/app"),
])
def test_the_return_path_stays_in_the_console(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected
