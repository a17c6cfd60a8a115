"""Where document bytes live: a small storage interface and its local-disk backend.

The documents service talks to :class:`DocumentStorage` only. The backend is chosen once at
start-up from ``STORAGE_BACKEND`` (``local`` by default, ``supabase`` in production; the
Supabase backend lives in ``fleetcore.integrations.supabase``) and handed to the routes through
a dependency, so the service never imports an integration and tests need no network.

Keys are made by the service from ids (``<tenant_id>/<document_id>``), never from a user's file
name, so a key cannot climb out of its tenant's folder or collide with another upload.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

CHUNK_SIZE = 64 * 1024

_KEY = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                  r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

logger = logging.getLogger(__name__)


class StorageError(Exception):
    """The backend failed (unreachable, refused, misconfigured)."""


class StoredObjectMissing(StorageError):  # noqa: N818 - reads as the condition
    """The backend has no object under the key."""


class NotAStorageKey(StoredObjectMissing, ValueError):  # noqa: N818 - reads as the condition
    """A key of another shape than the service makes: no object can be stored under it (a row
    written by an older version, by hand, or by a bug), so reading it is "missing" — a 404 —,
    not a crash."""


def document_key(tenant_id: object, document_id: object) -> str:
    """The storage key of one document: ``<tenant_id>/<document_id>``."""
    key = f"{tenant_id}/{document_id}"
    check_key(key)
    return key


def check_key(key: str) -> str:
    """``key`` if it has the shape the service makes; :class:`NotAStorageKey` (a
    ``ValueError`` and a :class:`StoredObjectMissing`) otherwise."""
    if not _KEY.fullmatch(key):
        raise NotAStorageKey(f"not a document storage key: {key[:100]!r}")
    return key


@runtime_checkable
class DocumentStorage(Protocol):
    """A place to keep document files by key."""

    @property
    def backend(self) -> str:
        """The ``doc_documents.storage_backend`` value of this backend (``local``, ``supabase``)."""
        ...

    def put(self, key: str, data: BinaryIO, content_type: str) -> str:
        """Store ``data`` (read to its end) under ``key``; returns the stored key."""
        ...

    def open(self, key: str) -> Iterator[bytes]:
        """The object's bytes, in chunks; :class:`StoredObjectMissing` if there is none."""
        ...

    def read(self, key: str) -> bytes:
        """The whole object."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object (no error when it is already gone)."""
        ...

    def signed_url(
        self, key: str, expires_in: int, *, file_name: str, content_type: str
    ) -> str | None:
        """A URL that serves the object for ``expires_in`` seconds without any other credential,
        or None when the backend has none (Fleetcore then signs its own ``/files/…`` link)."""
        ...


class LocalStorage:
    """Files under ``<root>/<tenant_id>/<document_id>`` (root: ``<FLEETCORE_DATA_DIR>/documents``).

    A file is written to a temporary name in its final folder, flushed to disk and renamed into
    place, so a reader never sees a half-written file and a crash leaves only a temporary file.
    """

    backend = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, key: str) -> Path:
        """The file of ``key``."""
        return self.root / check_key(key)

    def put(self, key: str, data: BinaryIO, content_type: str) -> str:
        """Write ``data`` to ``key`` atomically (temporary file, fsync, rename)."""
        target = self.path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                while chunk := data.read(CHUNK_SIZE):
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return key

    def open(self, key: str) -> Iterator[bytes]:
        """The file's chunks."""
        try:
            handle = self.path_of(key).open("rb")
        except FileNotFoundError as exc:
            raise StoredObjectMissing(f"no stored file {key}") from exc
        return _chunks(handle)

    def read(self, key: str) -> bytes:
        """The whole file."""
        return b"".join(self.open(key))

    def delete(self, key: str) -> None:
        """Remove the file if it is there."""
        self.path_of(key).unlink(missing_ok=True)

    def signed_url(
        self, key: str, expires_in: int, *, file_name: str, content_type: str
    ) -> str | None:
        """None: local files are served by Fleetcore's own signed ``/files/…`` link."""
        return None


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk


__all__ = [
    "CHUNK_SIZE",
    "DocumentStorage",
    "LocalStorage",
    "NotAStorageKey",
    "StorageError",
    "StoredObjectMissing",
    "check_key",
    "document_key",
]


_PENDING = "fleetcore.storage.delete_after_commit"


def delete_after_commit(session: Session, storage: DocumentStorage, keys: list[str]) -> None:
    """Delete the stored files under ``keys`` once ``session``'s transaction commits.

    Rows that point at a file are deleted in the transaction, the file only after it: a
    rolled-back transaction (or savepoint, around the call) keeps both; a storage failure
    after the commit leaves an unreferenced file (logged), never a row pointing at a missing
    one.
    """
    if not keys:
        return
    if not event.contains(session, "after_commit", _delete_pending):
        event.listen(session, "after_commit", _delete_pending)
        event.listen(session, "after_soft_rollback", _forget_pending)
    current = session.get_nested_transaction() or session.get_transaction()
    pending: list[tuple[SessionTransaction | None, DocumentStorage, str]] = (
        session.info.setdefault(_PENDING, []))
    pending.extend((current, storage, key) for key in keys)


def delete_stored(storage: DocumentStorage, keys: list[str]) -> list[str]:
    """Delete the files under ``keys``; the keys that could not be deleted (logged with the
    keys, for a retry by hand: no row points at them any more)."""
    failed: list[str] = []
    for key in keys:
        try:
            storage.delete(key)
        except (StorageError, ValueError):
            failed.append(key)
    if failed:
        logger.error("%d stored file(s) could not be deleted: %s", len(failed), ", ".join(failed))
    return failed


def _delete_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    by_storage: dict[int, tuple[DocumentStorage, list[str]]] = {}
    for _, storage, key in pending:
        by_storage.setdefault(id(storage), (storage, []))[1].append(key)
    for storage, keys in by_storage.values():
        delete_stored(storage, keys)


def _forget_pending(session: Session, previous: SessionTransaction) -> None:
    """A rolled-back transaction or savepoint keeps the files it was to delete."""

    def inside(transaction: SessionTransaction | None) -> bool:
        while transaction is not None:
            if transaction is previous:
                return True
            transaction = transaction.parent
        return False

    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [p for p in pending if not inside(p[0])]
