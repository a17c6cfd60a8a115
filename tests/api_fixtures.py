"""API test fixtures for every domain (loaded by tests/conftest.py): a test signing key,
the app wired to it, and committed tenants.

The API opens its own transactions on the app engine, so API tests need *committed* data:
:func:`make_tenant` provisions a tenant with a unique slug through the admin service in a
committed system transaction and deletes nothing afterwards (every test makes its own).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api_support import AZP, PROVIDER_ORG, ROLES, WEBHOOK_SECRET, Person, Staff, TenantWorld
from fleetcore.admin import service
from fleetcore.admin.models import Member, MemberRole
from fleetcore.admin.schemas import OwnerInvitation, TenantProvision
from fleetcore.app import create_app
from fleetcore.core.auth import mint_session_token, public_key_pem
from fleetcore.core.db import DbContext, context_session, session_factory
from fleetcore.core.orm import new_id
from fleetcore.settings import Settings


def _rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="session")
def signing_key() -> str:
    """The private key the test tokens are signed with (its public half configures the app)."""
    return _rsa_pem()


@pytest.fixture(scope="session")
def other_key() -> str:
    """A key the app does not trust."""
    return _rsa_pem()


@pytest.fixture(scope="session")
def api_settings(signing_key: str) -> Settings:
    return Settings(
        fleetcore_env="test",
        clerk_jwt_key=public_key_pem(signing_key),
        clerk_authorized_parties=[AZP],
        clerk_webhook_secret=WEBHOOK_SECRET,
        resend_webhook_secret=WEBHOOK_SECRET,
        stripe_webhook_secret=WEBHOOK_SECRET,
        chatwoot_webhook_secret=WEBHOOK_SECRET,
        freescout_webhook_secret=WEBHOOK_SECRET,
        fleetcore_provider_org_id=PROVIDER_ORG,
    )


@pytest.fixture(scope="session")
def api_app(api_settings: Settings, app_engine: Engine) -> FastAPI:
    """The application wired to the test key and the test database."""
    return create_app(api_settings, app_engine)


@pytest.fixture(scope="session")
def client(api_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(api_app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def sessions(app_engine: Engine) -> Any:
    return session_factory(app_engine)


@pytest.fixture(scope="session")
def make_tenant(sessions: Any) -> Callable[..., TenantWorld]:
    """Provision a tenant (committed) with a member holding each built-in role."""

    def make(*, status: str | None = None, trial_days: int = 14,
             currency: str = "EUR") -> TenantWorld:
        tag = uuid.uuid4().hex[:10]
        with context_session(sessions, DbContext.system()) as session:
            tenant = service.provision_tenant(session, None, data=TenantProvision(
                name=f"Test Fleet {tag}", slug=f"test-{tag}", country="FR",
                default_currency=currency, timezone="Europe/Paris",
                clerk_organization_id=f"org_{tag}", trial_days=trial_days,
                owner=OwnerInvitation(email=f"owner-{tag}@example.com", first_name="Olive"),
            ))
            roles = {r.name: r.id for r in service.seed_system_roles(session, tenant.id).values()}
            world = TenantWorld(tenant.id, tenant.slug, f"org_{tag}", roles)
            owner = session.query(Member).filter_by(tenant_id=tenant.id).one()
            owner.clerk_user_id = f"user_{tag}_owner"
            owner.status = "active"
            world.people["owner"] = Person(owner.id, owner.clerk_user_id, owner.email)
            for role in ROLES[1:]:
                member = Member(tenant_id=tenant.id, email=f"{role}-{tag}@example.com",
                                clerk_user_id=f"user_{tag}_{role}", status="active",
                                first_name=role.title())
                session.add(member)
                session.flush()
                session.add(MemberRole(tenant_id=tenant.id, member_id=member.id,
                                       role_id=roles[role]))
                world.people[role] = Person(member.id, f"user_{tag}_{role}", member.email)
            if status is not None:
                session.execute(text("UPDATE adm_tenants SET status = :s WHERE id = :id"),
                                {"s": status, "id": tenant.id})
        return world

    return make


@pytest.fixture
def tenant_a(make_tenant: Callable[..., TenantWorld]) -> TenantWorld:
    return make_tenant()


@pytest.fixture
def tenant_b(make_tenant: Callable[..., TenantWorld]) -> TenantWorld:
    return make_tenant()


@pytest.fixture(scope="session")
def make_staff(sessions: Any) -> Callable[..., Staff]:
    def make(permissions: list[str] | None = None, status: str = "active") -> Staff:
        tag = uuid.uuid4().hex[:10]
        staff = Staff(new_id(), f"user_staff_{tag}")
        with context_session(sessions, DbContext.system()) as session:
            session.execute(
                text("INSERT INTO adm_provider_employees (id, clerk_user_id, email, first_name,"
                     " last_name, permissions, status) VALUES (:id, :u, :e, 'Sam', 'Staff',"
                     " CAST(:p AS jsonb), :s)"),
                {"id": staff.id, "u": staff.user_id, "e": f"staff-{tag}@fleetcore.test",
                 "p": json.dumps(permissions if permissions is not None else ["*"]),
                 "s": status},
            )
        return staff

    return make


@pytest.fixture(scope="session")
def token(signing_key: str) -> Callable[..., str]:
    """``token(user_id, org_id, **options)``: a v2 session token the app trusts."""

    def mint(user_id: str, org_id: str | None, *, key: str | None = None,
             ttl: timedelta = timedelta(minutes=10), **options: Any) -> str:
        return mint_session_token(key or signing_key, user_id=user_id, org_id=org_id,
                                  authorized_party=options.pop("azp", AZP), ttl=ttl, **options)

    return mint


@pytest.fixture(scope="session")
def auth(token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """``auth(world, role)``: the Authorization header of that member."""

    def headers(world: TenantWorld, role: str = "owner", **extra: str) -> dict[str, str]:
        person = world.person(role)
        return {"Authorization": f"Bearer {token(person.user_id, world.org_id)}", **extra}

    return headers


@pytest.fixture(scope="session")
def staff_auth(token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(staff: Staff, tenant: str | None = None) -> dict[str, str]:
        result = {"Authorization": f"Bearer {token(staff.user_id, PROVIDER_ORG)}"}
        if tenant:
            result["X-Fleetcore-Tenant"] = tenant
        return result

    return headers


@pytest.fixture
def read_system(sessions: Any) -> Callable[..., list[Any]]:
    """Run a read in a fresh committed-data system transaction (what the API committed)."""

    def run(sql: str, **params: Any) -> list[Any]:
        with context_session(sessions, DbContext.system()) as session:
            return list(session.execute(text(sql), params).all())

    return run


@pytest.fixture(scope="session")
def make_failed_job(sessions: Any) -> Callable[[uuid.UUID], int]:
    """Put a failed background job of ``tenant_id`` in the queue (committed); its id."""

    def make(tenant_id: uuid.UUID) -> int:
        with context_session(sessions, DbContext.system()) as session:
            job_id: int = session.execute(
                text(
                    "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, attempts)"
                    " VALUES ('default', 'fleetcore.tests.failing', CAST(:args AS jsonb),"
                    " 'failed', 3) RETURNING id"
                ),
                {"args": json.dumps({"tenant_id": str(tenant_id)})},
            ).scalar_one()
        return job_id

    return make
