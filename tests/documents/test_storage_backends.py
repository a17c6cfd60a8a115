"""The storage backends: local disk (atomic writes, keys made of ids only) and Supabase Storage
through the real ``storage3`` client against an in-process fake of its wire format."""

from __future__ import annotations

import io
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api_support import TenantWorld
from fleetcore.app import create_app
from fleetcore.documents.storage import (
    DocumentStorage,
    LocalStorage,
    StorageError,
    StoredObjectMissing,
    document_key,
)
from fleetcore.integrations.supabase.storage import SupabaseStorage
from fleetcore.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integrations"))
from supabase_fake import (
    SERVICE_KEY,
    SupabaseStorageFake,
    running_supabase_fake,
)

PDF = b"%PDF-1.4\n% a small pdf\n%%EOF\n"


def _key() -> str:
    return document_key(uuid.uuid4(), uuid.uuid4())


# --- local --------------------------------------------------------------------------------


def test_local_storage_writes_atomically_under_the_tenant_folder(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "documents")
    assert isinstance(storage, DocumentStorage)
    key = _key()
    assert storage.put(key, io.BytesIO(PDF), "application/pdf") == key
    path = tmp_path / "documents" / key
    assert path.read_bytes() == PDF
    assert storage.read(key) == PDF
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    assert storage.signed_url(key, 60, file_name="a.pdf", content_type="application/pdf") is None
    storage.delete(key)
    storage.delete(key)  # already gone: no error
    with pytest.raises(StoredObjectMissing):
        storage.open(key)


def test_local_storage_refuses_keys_it_did_not_make(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    for bad in ("../../etc/passwd", f"{uuid.uuid4()}/../x", "licence.pdf", ""):
        with pytest.raises(ValueError, match="not a document storage key"):
            storage.put(bad, io.BytesIO(b"x"), "text/plain")


def test_local_storage_leaves_nothing_when_a_write_fails(tmp_path: Path) -> None:
    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise OSError("disk gone")

    storage = LocalStorage(tmp_path)
    key = _key()
    with pytest.raises(OSError, match="disk gone"):
        storage.put(key, Broken(), "application/pdf")
    assert not list((tmp_path / key).parent.iterdir())


# --- supabase -----------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[SupabaseStorageFake]:
    with running_supabase_fake() as running:
        yield running


@pytest.fixture
def supabase(fake: SupabaseStorageFake) -> Iterator[SupabaseStorage]:
    storage = SupabaseStorage(fake.url, SERVICE_KEY, bucket="docs")
    yield storage
    storage.close()


def test_supabase_upload_download_sign_delete(
    supabase: SupabaseStorage, fake: SupabaseStorageFake
) -> None:
    assert isinstance(supabase, DocumentStorage)
    key = _key()
    assert supabase.put(key, io.BytesIO(PDF), "application/pdf") == key
    stored = fake.objects[("docs", key)]
    assert stored.data == PDF
    assert stored.content_type == "application/pdf"
    assert supabase.read(key) == PDF
    assert b"".join(supabase.open(key)) == PDF

    url = supabase.signed_url(key, 600, file_name="licence.pdf", content_type="application/pdf")
    assert url is not None
    assert url.startswith(f"{fake.url}/storage/v1/object/sign/docs/{key}?token=")
    assert "download=licence.pdf" in url
    downloaded = httpx.get(url)  # no credentials: the signed URL is enough
    assert downloaded.status_code == 200
    assert downloaded.content == PDF

    supabase.delete(key)
    assert ("docs", key) not in fake.objects
    supabase.delete(key)  # already gone: no error
    assert ("DELETE", "/storage/v1/object/docs") in fake.requests


def test_supabase_errors_are_mapped(
    supabase: SupabaseStorage, fake: SupabaseStorageFake
) -> None:
    key = _key()
    with pytest.raises(StoredObjectMissing):
        supabase.read(key)
    with pytest.raises(StoredObjectMissing):
        supabase.signed_url(key, 60, file_name="x.pdf", content_type="application/pdf")
    supabase.put(key, io.BytesIO(PDF), "application/pdf")
    with pytest.raises(StorageError, match="refused the upload"):
        supabase.put(key, io.BytesIO(PDF), "application/pdf")  # keys are never overwritten
    fake.script.append((500, {"statusCode": "500", "error": "internal", "message": "boom"}))
    with pytest.raises(StorageError) as raised:
        supabase.read(key)
    assert not isinstance(raised.value, StoredObjectMissing)


def test_supabase_refuses_a_wrong_key(fake: SupabaseStorageFake) -> None:
    storage = SupabaseStorage(fake.url, "not-the-service-key", bucket="docs")
    with pytest.raises(StorageError, match="Invalid JWT"):
        storage.put(_key(), io.BytesIO(PDF), "application/pdf")
    storage.close()


def test_supabase_unreachable_is_a_storage_error() -> None:
    storage = SupabaseStorage("http://127.0.0.1:9", SERVICE_KEY, timeout=2)
    with pytest.raises(StorageError, match="unreachable"):
        storage.read(_key())
    storage.close()


def test_the_api_uses_supabase_when_configured(
    fake: SupabaseStorageFake, api_settings: Settings, app_engine: Engine, tmp_path: Path,
    tenant_a: TenantWorld, auth: Callable[..., dict[str, str]],
) -> None:
    settings = api_settings.model_copy(update={
        "storage_backend": "supabase", "supabase_url": fake.url,
        "supabase_service_key": SERVICE_KEY, "fleetcore_data_dir": tmp_path,
    })
    with TestClient(create_app(settings, app_engine)) as client:
        headers = auth(tenant_a)
        created = client.post(
            "/v1/documents", headers=headers,
            data={"entity_type": "tenant", "entity_id": str(tenant_a.id),
                  "document_type": "contract"},
            files={"file": ("contract.pdf", PDF, "application/pdf")},
        )
        assert created.status_code == 201, created.text
        key = f"{tenant_a.id}/{created.json()['id']}"
        assert fake.objects[("documents", key)].data == PDF
        assert not (tmp_path / "documents").exists()
        link = client.get(f"/v1/documents/{created.json()['id']}/download-link",
                          headers=headers).json()
        assert link["url"].startswith(f"{fake.url}/storage/v1/object/sign/documents/{key}")
        assert httpx.get(link["url"]).content == PDF


def test_supabase_backend_needs_its_settings(api_settings: Settings, app_engine: Engine) -> None:
    with pytest.raises(RuntimeError, match="SUPABASE_URL"):
        create_app(api_settings.model_copy(update={"storage_backend": "supabase"}), app_engine)
    with pytest.raises(RuntimeError, match="STORAGE_BACKEND"):
        create_app(api_settings.model_copy(update={"storage_backend": "s3"}), app_engine)
