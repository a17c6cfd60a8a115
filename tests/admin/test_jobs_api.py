"""The fleet's background jobs over HTTP: its own failed jobs only, retried on request."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from api_support import TenantWorld

Auth = Callable[..., dict[str, str]]


def test_a_fleet_sees_and_retries_only_its_own_failed_jobs(
    client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Auth,
    make_failed_job: Callable[[uuid.UUID], int], read_system: Callable[..., list[Any]],
) -> None:
    mine, theirs = make_failed_job(tenant_a.id), make_failed_job(tenant_b.id)
    listed = client.get("/v1/jobs", params={"failed": True}, headers=auth(tenant_a))
    assert listed.status_code == 200
    ids = {job["id"] for job in listed.json()}
    assert mine in ids
    assert theirs not in ids
    assert all(job["status"] == "failed" for job in listed.json())

    assert client.post(f"/v1/jobs/{theirs}/retry", headers=auth(tenant_a)).status_code == 404
    retried = client.post(f"/v1/jobs/{mine}/retry", headers=auth(tenant_a))
    assert retried.status_code == 202
    status = read_system("SELECT status::text FROM procrastinate_jobs WHERE id = :j", j=mine)
    assert status[0][0] == "todo"
    again = client.post(f"/v1/jobs/{mine}/retry", headers=auth(tenant_a))
    assert again.status_code == 409


def test_viewers_cannot_see_jobs_and_dispatchers_cannot_retry(
    client: TestClient, tenant_a: TenantWorld, auth: Auth,
    make_failed_job: Callable[[uuid.UUID], int],
) -> None:
    job = make_failed_job(tenant_a.id)
    assert client.get("/v1/jobs", headers=auth(tenant_a, "viewer")).status_code == 403
    assert client.post(f"/v1/jobs/{job}/retry",
                       headers=auth(tenant_a, "dispatcher")).status_code == 403
