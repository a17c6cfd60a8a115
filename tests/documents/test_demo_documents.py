"""The demo's documents download like uploaded ones: the demo stores a real (placeholder) file
for each under a key the storage layer accepts, through the API's signed ``/files/<token>``
link and the console's download button alike."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api_support import TenantWorld
from fleetcore.core.db import DbContext, context_session
from fleetcore.demo.dataset import DemoDataset, generate_demo
from fleetcore.demo.documents import demo_document_file, store_demo_documents
from fleetcore.documents.storage import (
    LocalStorage,
    NotAStorageKey,
    StoredObjectMissing,
    check_key,
)
from web_support import Browser, member_token

Auth = Callable[..., dict[str, str]]


@pytest.fixture(scope="module")
def demo() -> DemoDataset:
    return generate_demo(7, date(2026, 11, 25))


def _rows(demo: DemoDataset) -> Iterator[dict[str, Any]]:
    for tenant in demo.tenants:
        documents = tenant.table("doc_documents")
        for row in documents.rows:
            yield dict(zip(documents.columns, row, strict=True))


def test_every_demo_document_has_a_storage_key_and_its_file_matches_the_row(
    demo: DemoDataset,
) -> None:
    rows = list(_rows(demo))
    assert len(rows) > 200
    kinds = set()
    for row in rows:
        assert check_key(row["storage_key"]) == f"{row['tenant_id']}/{row['id']}"
        data = demo_document_file(row["id"], row["document_type"], row["file_name"])
        assert (len(data), hashlib.sha256(data).hexdigest()) == (row["size_bytes"], row["sha256"])
        kinds.add((row["mime_type"], data[:4]))
    assert kinds == {("application/pdf", b"%PDF"), ("image/jpeg", b"\xff\xd8\xff\xe0")}


def _insert_demo_document(row: dict[str, Any], world: TenantWorld, sessions: Any) -> None:
    """The demo row as the demo writes it, in a committed test tenant (reviewer cleared: the
    demo's members are not there)."""
    values = {**row, "tenant_id": world.id, "verified": False, "verified_by": None,
              "verified_at": None, "rejected_by": None, "rejected_at": None,
              "rejection_reason": None}
    columns = ", ".join(values)
    with context_session(sessions, DbContext.for_tenant(world.id)) as session:
        session.execute(text(f"INSERT INTO doc_documents ({columns}) VALUES "
                             f"({', '.join(':' + c for c in values)})"), values)


@pytest.mark.parametrize("kind", ["application/pdf", "image/jpeg"])
def test_a_demo_document_downloads_through_the_api_link_and_the_console(
    doc_client: TestClient, doc_data_dir: Path, demo: DemoDataset, tenant_a: TenantWorld,
    auth: Auth, sessions: Any, token: Any, kind: str,
) -> None:
    row = next(r for r in _rows(demo) if r["mime_type"] == kind)
    row["id"] = uuid.uuid4()  # a fresh document for each run of the test
    _insert_demo_document(row, tenant_a, sessions)
    # What ``load_demo`` does with the server's storage.
    assert store_demo_documents(LocalStorage(doc_data_dir / "documents"), [row]) == 1
    expected = demo_document_file(row["id"], row["document_type"], row["file_name"])

    link = doc_client.get(f"/v1/documents/{row['id']}/download-link",
                          headers=auth(tenant_a, "viewer"))
    assert link.status_code == 200, link.text
    file = doc_client.get(link.json()["url"])
    assert file.status_code == 200, file.text
    assert file.headers["content-type"] == kind
    assert hashlib.sha256(file.content).hexdigest() == hashlib.sha256(expected).hexdigest()

    browser = Browser(doc_client)
    browser.sign_in(member_token(token, tenant_a))
    redirect = browser.get(f"/app/documents/{row['id']}/download")
    assert redirect.status_code == 303, redirect.text[:300]
    assert redirect.headers["location"].startswith("/files/")
    downloaded = browser.get(redirect.headers["location"])
    assert downloaded.status_code == 200
    assert downloaded.content == expected


def test_a_key_of_another_shape_is_a_missing_file_not_a_crash(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    with pytest.raises(StoredObjectMissing):
        storage.open("demo/lumiere-vtc/0196a9fa/permis.pdf")
    with pytest.raises(ValueError, match="not a document storage key"):
        check_key("../../etc/passwd")
    assert issubclass(NotAStorageKey, ValueError)


def test_a_document_recorded_by_an_older_demo_is_a_404_not_a_500(
    doc_client: TestClient, demo: DemoDataset, tenant_a: TenantWorld, auth: Auth,
    sessions: Any,
) -> None:
    row = next(_rows(demo))
    row["id"] = uuid.uuid4()
    row["storage_key"] = f"demo/lumiere-vtc/{row['id']}/{row['file_name']}"
    _insert_demo_document(row, tenant_a, sessions)
    link = doc_client.get(f"/v1/documents/{row['id']}/download-link", headers=auth(tenant_a))
    assert link.status_code == 200, link.text
    missing = doc_client.get(link.json()["url"])
    assert missing.status_code == 404
    assert missing.json()["detail"] == "The document's file is missing from storage."


def test_the_demo_records_its_documents_in_the_servers_storage_backend(
    demo: DemoDataset,
) -> None:
    from fleetcore.demo.loader import with_storage_backend

    assert {r["storage_backend"] for r in _rows(demo)} == {"local"}
    moved = with_storage_backend(demo, "supabase")
    assert {r["storage_backend"] for r in _rows(moved)} == {"supabase"}
    assert [{**r, "storage_backend": "local"} for r in _rows(moved)] == list(_rows(demo))
    assert moved.tenants[0].table("trp_trips") == demo.tenants[0].table("trp_trips")
