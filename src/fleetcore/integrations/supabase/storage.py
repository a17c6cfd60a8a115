"""Document storage on Supabase Storage through the official ``storage3`` client.

Wire format (``integrations.md`` §7): requests go to ``{SUPABASE_URL}/storage/v1/`` with the
service key as ``apikey`` and ``Authorization: Bearer``; upload is ``POST object/{bucket}/{key}``
(multipart field ``file``), download ``GET object/{bucket}/{key}``, delete
``DELETE object/{bucket}`` with ``{"prefixes": [...]}``, and a signed URL
``POST object/sign/{bucket}/{key}`` with ``{"expiresIn": "600"}`` answering
``{"signedURL": "/object/sign/…?token=…"}``. Errors come back as
``{"statusCode": "404", "error": "not_found", "message": "…"}`` and are mapped to
:class:`~fleetcore.documents.storage.StoredObjectMissing` / ``StorageError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import httpx
from storage3 import SyncStorageClient
from storage3.exceptions import StorageApiError
from storage3.utils import StorageException

from fleetcore.documents.storage import (
    CHUNK_SIZE,
    StorageError,
    StoredObjectMissing,
    check_key,
)

DEFAULT_BUCKET = "documents"
DEFAULT_TIMEOUT_SECONDS = 30.0


def _missing(exc: StorageApiError) -> bool:
    return str(exc.status) == "404" or exc.code in {"not_found", "NoSuchKey"}


class SupabaseStorage:
    """:class:`~fleetcore.documents.storage.DocumentStorage` on one Supabase Storage bucket."""

    backend = "supabase"

    def __init__(
        self,
        url: str,
        service_key: str,
        *,
        bucket: str = DEFAULT_BUCKET,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        headers = {"apikey": service_key, "Authorization": f"Bearer {service_key}"}
        self.endpoint = url.rstrip("/") + "/storage/v1/"
        self.bucket = bucket
        # Our own httpx client: a timeout per request, and no HTTP/2 negotiation to depend on.
        self._http = httpx.Client(headers=headers, timeout=timeout, follow_redirects=True)
        self._client = SyncStorageClient(self.endpoint, headers, http_client=self._http)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def put(self, key: str, data: BinaryIO, content_type: str) -> str:
        """Upload ``data`` under ``key`` (no upsert: keys are new ids)."""
        check_key(key)
        body = data.read()
        try:
            self._client.from_(self.bucket).upload(
                key, body, {"content-type": content_type, "x-upsert": "false"}
            )
        except StorageApiError as exc:
            raise StorageError(f"Supabase Storage refused the upload: {exc.message}") from exc
        except (httpx.HTTPError, StorageException) as exc:
            raise StorageError(f"Supabase Storage is unreachable: {exc}") from exc
        return key

    def read(self, key: str) -> bytes:
        """Download the object."""
        check_key(key)
        try:
            return self._client.from_(self.bucket).download(key)
        except StorageApiError as exc:
            if _missing(exc):
                raise StoredObjectMissing(f"no stored file {key}") from exc
            raise StorageError(f"Supabase Storage refused the download: {exc.message}") from exc
        except (httpx.HTTPError, StorageException) as exc:
            raise StorageError(f"Supabase Storage is unreachable: {exc}") from exc

    def open(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks (downloaded first: storage3 has no streaming read)."""
        data = self.read(key)
        return iter([data[i:i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)] or [b""])

    def delete(self, key: str) -> None:
        """Remove the object (Supabase answers an empty list when it was already gone)."""
        check_key(key)
        try:
            self._client.from_(self.bucket).remove([key])
        except StorageApiError as exc:
            if _missing(exc):
                return
            raise StorageError(f"Supabase Storage refused the delete: {exc.message}") from exc
        except (httpx.HTTPError, StorageException) as exc:
            raise StorageError(f"Supabase Storage is unreachable: {exc}") from exc

    def signed_url(
        self, key: str, expires_in: int, *, file_name: str, content_type: str
    ) -> str | None:
        """Supabase's own signed URL, downloading under ``file_name``."""
        check_key(key)
        try:
            signed = self._client.from_(self.bucket).create_signed_url(
                key, expires_in, {"download": file_name}
            )
        except StorageApiError as exc:
            if _missing(exc):
                raise StoredObjectMissing(f"no stored file {key}") from exc
            raise StorageError(f"Supabase Storage refused to sign: {exc.message}") from exc
        except (httpx.HTTPError, StorageException) as exc:
            raise StorageError(f"Supabase Storage is unreachable: {exc}") from exc
        url = signed["signedURL"]
        if not url:
            raise StorageError("Supabase Storage answered no signed URL")
        return url


__all__ = ["DEFAULT_BUCKET", "SupabaseStorage"]
