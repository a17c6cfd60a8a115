"""Browser-style requests cannot forge API calls, and every response carries security headers.

The console's ``__session`` cookie travels with any request a browser makes to this host,
including one another site's page starts: ``/v1`` therefore takes ``Authorization: Bearer``
only. The console (``/app``) takes the cookie and checks its own CSRF token.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api_support import TenantWorld
from fleetcore.app import create_app
from fleetcore.core.db import DbContext, context_session
from fleetcore.reference.service import load_reference_data
from fleetcore.settings import Environment, Settings

EVIL = "https://evil.example"
TEMPLATES = Path(__file__).parents[1] / "src" / "fleetcore" / "web" / "templates"
SAMPLE = Path(__file__).parent / "revenue" / "samples" / "uber_payments_order_en.csv"


def _count(sessions: Any, tenant: TenantWorld, table: str) -> int:
    with context_session(sessions, DbContext.for_tenant(tenant.id)) as session:
        return int(session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _cookie_only(token: str) -> dict[str, str]:
    """What a browser sends when another site's page posts to this host."""
    return {"Cookie": f"__session={token}", "Origin": EVIL, "Referer": f"{EVIL}/page"}


def _refused(response: Any) -> None:
    assert response.status_code in (401, 403), response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_the_session_cookie_alone_cannot_create_a_task(
    client: TestClient, sessions: Any, tenant_a: TenantWorld, tenant_b: TenantWorld,
    token: Callable[..., str],
) -> None:
    owner = tenant_a.person()
    session_token = token(owner.user_id, tenant_a.org_id)
    before = _count(sessions, tenant_a, "sch_tasks")
    forged = client.post("/v1/tasks", json={"title": "Forged"},
                         headers=_cookie_only(session_token))
    _refused(forged)
    assert "Authorization: Bearer" in forged.json()["detail"]
    # Not even as a "simple" form post, nor a read.
    _refused(client.post("/v1/tasks", content=b"title=Forged",
                         headers={**_cookie_only(session_token),
                                  "Content-Type": "application/x-www-form-urlencoded"}))
    _refused(client.get("/v1/me", headers=_cookie_only(session_token)))
    assert _count(sessions, tenant_a, "sch_tasks") == before

    bearer = client.post("/v1/tasks", json={"title": "Real"},
                         headers={"Authorization": f"Bearer {session_token}"})
    assert bearer.status_code == 201, bearer.text
    # Beside a bearer token, another member's cookie changes nothing.
    other = token(tenant_b.person().user_id, tenant_b.org_id)
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {session_token}",
                                       "Cookie": f"__session={other}"})
    assert me.status_code == 200, me.text
    assert me.json()["tenant"]["id"] == str(tenant_a.id)


def test_the_session_cookie_alone_cannot_upload_an_import(
    client: TestClient, sessions: Any, tenant_a: TenantWorld, token: Callable[..., str],
) -> None:
    with context_session(sessions, DbContext.system()) as session:
        load_reference_data(session)  # the platforms the report is recognised against
    session_token = token(tenant_a.person().user_id, tenant_a.org_id)
    upload = {"files": {"file": ("payments.csv", SAMPLE.read_bytes(), "text/csv")},
              "data": {"currency": "EUR"}}
    forged = client.post("/v1/revenue-imports", headers=_cookie_only(session_token), **upload)
    _refused(forged)
    assert _count(sessions, tenant_a, "rev_revenue_imports") == 0
    assert _count(sessions, tenant_a, "rev_import_rows") == 0

    # The same upload with the token as a bearer is processed (the refusal is the cookie's).
    real = client.post("/v1/revenue-imports",
                       headers={"Authorization": f"Bearer {session_token}"}, **upload)
    assert real.status_code == 201, real.text


# --- headers ---------------------------------------------------------------------------------


def _csp(response: Any) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] if " " in d else ""
            for d in (p.strip() for p in policy.split(";")) if d}


def _common(response: Any) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert _csp(response)["frame-ancestors"] == "'none'"


def test_security_headers_on_the_api_and_the_console(client: TestClient) -> None:
    api = client.get("/healthz")
    _common(api)
    assert _csp(api)["default-src"] == "'none'"
    problem = client.get("/v1/me")
    assert problem.status_code == 401
    _common(problem)
    assert "strict-transport-security" not in api.headers  # not production

    page = client.get("/app/sign-in", follow_redirects=False)
    _common(page)
    policy = _csp(page)
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert policy["form-action"].startswith("'self'")

    static = client.get("/app/static/console.css")
    assert static.status_code == 200
    assert static.headers["x-content-type-options"] == "nosniff"


def test_docs_work_offline_from_vendored_swagger_ui(client: TestClient) -> None:
    """/docs loads nothing from another origin and runs no inline script: it works offline
    and under a policy as strict as the console's."""
    docs = client.get("/docs")
    assert docs.status_code == 200
    _common(docs)
    policy = _csp(docs)
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert not re.findall(r"<script>", docs.text), "no inline script"
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert assets
    assert all(a.startswith("/app/static/") for a in assets), assets
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 0
    assert 'data-openapi-url="/openapi.json"' in docs.text
    assert client.get("/openapi.json").status_code == 200
    # Only the docs: the console keeps its own policy.
    assert "'self' data:" in client.get("/app/sign-in").headers["content-security-policy"]


def test_hsts_in_production_only(api_settings: Settings, app_engine: Engine) -> None:
    production = api_settings.model_copy(update={"fleetcore_env": Environment.PRODUCTION})
    with TestClient(create_app(production, app_engine)) as client:
        for path in ("/healthz", "/app/sign-in", "/docs"):
            hsts = client.get(path, follow_redirects=False).headers[
                "strict-transport-security"]
            assert hsts.startswith("max-age=")
            assert int(hsts.split("=", 1)[1].split(";")[0]) >= 31_536_000


def test_sign_in_origin_may_receive_forms(api_settings: Settings, app_engine: Engine) -> None:
    settings = api_settings.model_copy(update={
        "clerk_sign_in_url": "https://accounts.fleet.test/sign-in?x=1"})
    with TestClient(create_app(settings, app_engine)) as client:
        page = client.get("/app/sign-in?signed_out=1", follow_redirects=False)
    assert page.status_code == 200
    assert _csp(page)["form-action"] == "'self' https://accounts.fleet.test"


INLINE = {
    "inline <script>": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>"),
    "<style>": re.compile(r"<style"),
    "style attribute": re.compile(r"\sstyle="),
    "inline event handler": re.compile(r"\son[a-z]+="),
    "javascript: URL": re.compile(r"javascript:"),
    "hx-on (needs eval)": re.compile(r"\shx-on"),
}


def test_console_templates_have_nothing_inline_the_policy_would_block() -> None:
    found = [f"{template.relative_to(TEMPLATES)}: {what}"
             for template in sorted(TEMPLATES.rglob("*.html"))
             for what, pattern in INLINE.items() if pattern.search(template.read_text())]
    assert found == []
