"""The documents API: upload limits judged on content, sha256, entity checks under RLS,
metadata with ETag/If-Match, verify/reject, soft delete, expiry filters, signed download links."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from documents_support import DOC_LIMIT
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api_support import TenantWorld, if_match
from fleetcore.documents.api import link_signer

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 32
TODAY = date.today()

Auth = Callable[..., dict[str, str]]


def upload(client: TestClient, headers: dict[str, str], *, entity_type: str = "member",
           entity_id: uuid.UUID | str, content: bytes = PDF, file_name: str = "licence.pdf",
           content_type: str = "application/pdf", **fields: Any) -> Any:
    data = {"entity_type": entity_type, "entity_id": str(entity_id),
            "document_type": fields.pop("document_type", "driver_licence"),
            **{k: str(v) for k, v in fields.items()}}
    return client.post("/v1/documents", headers=headers, data=data,
                       files={"file": (file_name, content, content_type)})


def uploaded(client: TestClient, headers: dict[str, str], world: TenantWorld,
             **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("entity_id", world.person("driver").member_id)
    response = upload(client, headers, **kwargs)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# --- upload ----------------------------------------------------------------------------------


def test_upload_stores_the_file_where_expected_with_its_sha256(
    doc_client: TestClient, tenant_a: TenantWorld, auth: Auth, doc_data_dir: Path,
) -> None:
    headers = auth(tenant_a, "fleet_manager")
    response = upload(doc_client, headers, entity_id=tenant_a.person("driver").member_id,
                      file_name="C:\\fakepath\\..\\licence.pdf", expires_on="2030-01-31",
                      issued_on="2020-02-01", document_number="12AB34")
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["Location"] == f"/v1/documents/{body['id']}"
    assert response.headers["ETag"] == f'"{body["version"]}"'
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert body["size_bytes"] == len(PDF)
    assert body["mime_type"] == "application/pdf"
    assert body["file_name"] == "licence.pdf"  # the name only, never a path
    assert body["status"] == "pending"
    assert body["verified"] is False
    assert body["expires_on"] == "2030-01-31"
    stored = doc_data_dir / "documents" / str(tenant_a.id) / body["id"]
    assert stored.read_bytes() == PDF
    assert not [p for p in stored.parent.iterdir() if p.name.startswith(".upload-")]


def test_upload_judges_the_type_on_content_not_on_the_declared_type(
    doc_client: TestClient, tenant_a: TenantWorld, auth: Auth,
) -> None:
    headers = auth(tenant_a)
    member = tenant_a.person("driver").member_id
    fake = upload(doc_client, headers, entity_id=member, content=b"#!/bin/sh\nrm -rf /\n" * 4)
    assert fake.status_code == 422
    assert fake.headers["content-type"] == "application/problem+json"
    assert fake.json()["errors"][0]["field"] == "file"
    mismatch = upload(doc_client, headers, entity_id=member, content=PNG)
    assert mismatch.status_code == 422
    assert "image/png" in mismatch.json()["errors"][0]["message"]
    generic = upload(doc_client, headers, entity_id=member, content=PNG, file_name="scan",
                     content_type="application/octet-stream")
    assert generic.status_code == 201, generic.text
    assert generic.json()["mime_type"] == "image/png"
    jpeg = upload(doc_client, headers, entity_id=member, content=JPEG, content_type="image/jpg")
    assert jpeg.status_code == 201
    assert jpeg.json()["mime_type"] == "image/jpeg"
    empty = upload(doc_client, headers, entity_id=member, content=b"")
    assert empty.status_code == 422


def test_upload_refuses_files_over_the_limit(
    doc_client: TestClient, tenant_a: TenantWorld, auth: Auth,
) -> None:
    headers = auth(tenant_a)
    member = tenant_a.person("driver").member_id
    just = upload(doc_client, headers, entity_id=member, content=PDF.ljust(DOC_LIMIT, b" "))
    assert just.status_code == 201, just.text
    over = upload(doc_client, headers, entity_id=member, content=PDF.ljust(DOC_LIMIT + 1, b" "))
    assert over.status_code == 413
    assert over.json()["errors"] == [{"field": "file", "message": f"larger than {DOC_LIMIT} bytes"}]
    # Far over the limit: refused from Content-Length, before the body is read.
    huge = upload(doc_client, headers, entity_id=member, content=PDF.ljust(4 * DOC_LIMIT, b" "))
    assert huge.status_code == 413


def test_upload_needs_an_entity_of_the_same_tenant(
    doc_client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Auth,
    read_system: Callable[..., list[Any]],
) -> None:
    headers = auth(tenant_b)
    foreign = upload(doc_client, headers, entity_id=tenant_a.person("driver").member_id)
    assert foreign.status_code == 404
    assert foreign.json()["errors"][0]["field"] == "entity_id"
    unknown = upload(doc_client, headers, entity_type="vehicle", entity_id=uuid.uuid4())
    assert unknown.status_code == 404
    other_tenant = upload(doc_client, headers, entity_type="tenant", entity_id=tenant_a.id)
    assert other_tenant.status_code == 404
    own_tenant = upload(doc_client, headers, entity_type="tenant", entity_id=tenant_b.id,
                        document_type="contract")
    assert own_tenant.status_code == 201
    assert read_system("SELECT count(*) FROM doc_documents WHERE tenant_id = :t",
                       t=tenant_a.id)[0][0] == 0


def test_upload_validates_its_fields(
    doc_client: TestClient, tenant_a: TenantWorld, auth: Auth,
) -> None:
    headers = auth(tenant_a)
    member = tenant_a.person("driver").member_id
    order = upload(doc_client, headers, entity_id=member, issued_on="2025-01-02",
                   expires_on="2025-01-01")
    assert order.status_code == 422
    assert order.json()["errors"][0]["field"] == "expires_on"
    bad_type = upload(doc_client, headers, entity_id=member, document_type="passport_photo")
    assert bad_type.status_code == 422
    assert bad_type.json()["errors"][0]["field"] == "document_type"
    viewer = upload(doc_client, auth(tenant_a, "viewer"), entity_id=member)
    assert viewer.status_code == 403


# --- metadata ----------------------------------------------------------------------------


def test_get_update_with_if_match_and_verification_withdrawn_on_change(
    doc_client: TestClient, tenant_a: TenantWorld, tenant_b: TenantWorld, auth: Auth,
) -> None:
    headers = auth(tenant_a)
    doc = uploaded(doc_client, headers, tenant_a, expires_on="2030-01-01")
    url = f"/v1/documents/{doc['id']}"
    got = doc_client.get(url, headers=headers)
    assert got.status_code == 200
    assert got.headers["ETag"] == f'"{doc["version"]}"'
    assert doc_client.get(url, headers=auth(tenant_b)).status_code == 404

    verified = doc_client.post(f"{url}/verify", headers=if_match(
        doc_client, f"{url}/verify", headers))
    assert verified.status_code == 200
    assert verified.json()["status"] == "verified"
    stale = doc_client.patch(url, headers={**headers, "If-Match": got.headers["ETag"]},
                             json={"notes": "x"})
    assert stale.status_code == 412
    notes = doc_client.patch(url, headers={**headers, "If-Match": verified.headers["ETag"]},
                             json={"notes": "Scanned at the office"})
    assert notes.status_code == 200
    assert notes.json()["verified"] is True
    moved = doc_client.patch(url, headers=if_match(
        doc_client, url, headers), json={"expires_on": "2031-01-01"})
    assert moved.status_code == 200
    assert moved.json()["verified"] is False
    assert moved.json()["status"] == "pending"
    backwards = doc_client.patch(url, headers=if_match(
        doc_client, url, headers), json={"issued_on": "2032-01-01"})
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["field"] == "expires_on"
    unknown = doc_client.patch(url, headers=if_match(
        doc_client, url, headers), json={"sha256": "0" * 64})
    assert unknown.status_code == 422


def test_verify_and_reject_with_a_reason(
    doc_client: TestClient, tenant_a: TenantWorld, auth: Auth,
) -> None:
    headers = auth(tenant_a, "fleet_manager")
    doc = uploaded(doc_client, headers, tenant_a)
    url = f"/v1/documents/{doc['id']}"
    assert doc_client.post(f"{url}/reject", headers=if_match(
        doc_client, f"{url}/reject", headers), json={}).status_code == 422
    blank = doc_client.post(f"{url}/reject", headers=if_match(
        doc_client, f"{url}/reject", headers), json={"reason": "  "})
    assert blank.status_code == 422
    rejected = doc_client.post(f"{url}/reject", headers=if_match(
        doc_client, f"{url}/reject", headers),
                               json={"reason": "The scan is unreadable."})
    assert rejected.status_code == 200
    body = rejected.json()
    assert body["status"] == "rejected"
    assert body["rejection_reason"] == "The scan is unreadable."
    assert body["rejected_by"] == str(tenant_a.person("fleet_manager").member_id)
    verified = doc_client.post(f"{url}/verify", headers=if_match(
        doc_client, f"{url}/verify", headers)).json()
    assert verified["status"] == "verified"
    assert verified["rejection_reason"] is None
    assert verified["verified_by"] == str(tenant_a.person("fleet_manager").member_id)
    again = doc_client.post(f"{url}/reject", headers=if_match(
        doc_client, f"{url}/reject", headers), json={"reason": "Forged."}).json()
    assert again["verified"] is False
    assert again["verified_at"] is None
    dispatcher = doc_client.post(f"{url}/verify", headers=if_match(
        doc_client, f"{url}/verify", auth(tenant_a, "dispatcher")))
    assert dispatcher.status_code == 403


def test_soft_delete_and_restore(
    doc_client: TestClient, tenant_a: TenantWorld, auth: Auth,
) -> None:
    headers = auth(tenant_a)
    doc = uploaded(doc_client, headers, tenant_a)
    url = f"/v1/documents/{doc['id']}"
    stale = doc_client.delete(url, headers={**headers, "If-Match": '"999"'})
    assert stale.status_code == 412
    assert doc_client.delete(url, headers=if_match(
        doc_client, url, headers), params={"reason": "duplicate"}).status_code \
        == 204
    assert doc_client.get(url, headers=headers).status_code == 404
    assert doc_client.post(f"{url}/verify", headers=if_match(
        doc_client, f"{url}/verify", headers)).status_code == 404
    listed = doc_client.get("/v1/documents", headers=headers).json()["items"]
    assert doc["id"] not in [d["id"] for d in listed]
    deleted = doc_client.get(url, headers=headers, params={"include_deleted": True}).json()
    assert deleted["deletion_reason"] == "duplicate"
    restored = doc_client.post(f"{url}/restore", headers=headers)
    assert restored.status_code == 200
    assert restored.json()["deleted_at"] is None
    assert doc_client.get(url, headers=headers).status_code == 200
    # Restoring a live document answers it unchanged (same version), not an error.
    again = doc_client.post(f"{url}/restore", headers=headers)
    assert again.status_code == 200
    assert again.json()["version"] == restored.json()["version"]


def test_list_filters_expiry_and_pagination(
    doc_client: TestClient, tenant_a: TenantWorld, auth: Auth,
) -> None:
    headers = auth(tenant_a)
    member = tenant_a.person("driver").member_id
    expired = uploaded(doc_client, headers, tenant_a, entity_id=member,
                       expires_on=TODAY - timedelta(days=1))
    soon = uploaded(doc_client, headers, tenant_a, entity_id=member,
                    expires_on=TODAY + timedelta(days=10), document_type="professional_card")
    later = uploaded(doc_client, headers, tenant_a, entity_id=member,
                     expires_on=TODAY + timedelta(days=90))
    undated = uploaded(doc_client, headers, tenant_a, entity_type="tenant",
                       entity_id=tenant_a.id, document_type="contract")
    doc_client.post(f"/v1/documents/{later['id']}/verify", headers=if_match(
        doc_client, f"/v1/documents/{later['id']}/verify", headers))

    def ids(**params: Any) -> list[str]:
        response = doc_client.get("/v1/documents", headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()["items"]]

    assert ids(expiring_within_days=30) == [soon["id"]]
    assert ids(expired=True) == [expired["id"]]
    assert set(ids(expired=False)) == {soon["id"], later["id"], undated["id"]}
    assert ids(expiring_before=(TODAY + timedelta(days=30)).isoformat()) == [
        expired["id"], soon["id"]]
    assert ids(verified=True) == [later["id"]]
    assert ids(entity_type="tenant") == [undated["id"]]
    assert ids(document_type="professional_card") == [soon["id"]]
    assert ids(entity_id=str(member), sort="-created") == [later["id"], soon["id"],
                                                            expired["id"]]
    first = doc_client.get("/v1/documents", headers=headers, params={"limit": 2}).json()
    second = doc_client.get("/v1/documents", headers=headers,
                            params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [d["id"] for d in first["items"] + second["items"]] == [
        expired["id"], soon["id"], later["id"], undated["id"]]
    assert second["next_cursor"] is None
    export = doc_client.get("/v1/documents/export.csv", headers=headers,
                            params={"expired": True})
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    lines = export.text.strip().splitlines()
    assert lines[0].startswith("id,entity_type")
    assert len(lines) == 2
    assert expired["id"] in lines[1]


# --- download links ------------------------------------------------------------------------


def test_download_link_serves_the_file_and_refuses_tampered_or_expired_tokens(
    doc_client: TestClient, doc_app: FastAPI, tenant_a: TenantWorld, tenant_b: TenantWorld,
    auth: Auth,
) -> None:
    headers = auth(tenant_a, "viewer")
    doc = uploaded(doc_client, auth(tenant_a), tenant_a, file_name="Carte grise é.pdf")
    link = doc_client.get(f"/v1/documents/{doc['id']}/download-link", headers=headers)
    assert link.status_code == 200, link.text
    url = link.json()["url"]
    assert url.startswith("/files/")
    expires_at = datetime.fromisoformat(link.json()["expires_at"])
    assert timedelta(seconds=100) < expires_at - datetime.now(UTC) <= timedelta(seconds=121)
    assert doc_client.get(f"/v1/documents/{doc['id']}/download-link",
                          headers=auth(tenant_b)).status_code == 404

    file = doc_client.get(url)  # no credentials: the token is the authorisation
    assert file.status_code == 200
    assert file.content == PDF
    assert file.headers["content-type"] == "application/pdf"
    assert file.headers["content-disposition"] == (
        "attachment; filename=\"Carte grise _.pdf\"; filename*=UTF-8''Carte%20grise%20%C3%A9.pdf")

    token = url.removeprefix("/files/")
    head, payload, signature = token.split(".")
    tampered = f"{head}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    refused = doc_client.get(f"/files/{tampered}")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert doc_client.get("/files/not-a-token").status_code == 403

    signer = link_signer_of(doc_app)
    old, _ = signer.sign(tenant_a.id, uuid.UUID(doc["id"]), ttl_seconds=60,
                         now=datetime.now(UTC) - timedelta(minutes=5))
    expired = doc_client.get(f"/files/{old}")
    assert expired.status_code == 403
    assert "expired" in expired.json()["detail"]

    # Another tenant's id in a validly signed token finds nothing under that tenant's RLS.
    crossed, _ = signer.sign(tenant_b.id, uuid.UUID(doc["id"]), ttl_seconds=60)
    assert doc_client.get(f"/files/{crossed}").status_code == 404
    doc_client.delete(f"/v1/documents/{doc['id']}", headers=if_match(
        doc_client, f"/v1/documents/{doc['id']}", auth(tenant_a)))
    assert doc_client.get(url).status_code == 404


def link_signer_of(app: FastAPI) -> Any:
    class _Request:
        def __init__(self) -> None:
            self.app = app

    return link_signer(_Request())  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["a" * 300 + ".pdf", "", "...", "dossier/../x.pdf", "a\x00b"])
def test_file_names_are_cleaned(name: str) -> None:
    from fleetcore.documents.service import clean_file_name

    cleaned = clean_file_name(name)
    assert 1 <= len(cleaned) <= 255
    assert "/" not in cleaned
    assert not cleaned.startswith(".")


def test_a_new_document_asks_staff_to_verify_it_until_it_is_checked(
    doc_client: TestClient, tenant_a: TenantWorld, auth: Auth,
    read_system: Callable[..., list[Any]],
) -> None:
    headers = auth(tenant_a, "fleet_manager")
    doc = uploaded(doc_client, headers, tenant_a)
    key = f"document_verification:{doc['id']}"

    def task() -> list[Any]:
        return read_system(
            "SELECT status, task_type, related_entity_id, source FROM sch_tasks"
            " WHERE tenant_id = :t AND dedup_key = :k", t=tenant_a.id, k=key)

    [(status, task_type, related, source)] = task()
    assert (status, task_type, str(related), source) == (
        "open", "document_verification", doc["id"], "system")
    verified = doc_client.post(f"/v1/documents/{doc['id']}/verify", headers=if_match(
        doc_client, f"/v1/documents/{doc['id']}/verify", headers))
    assert verified.status_code == 200
    assert [row[0] for row in task()] == ["done"]
