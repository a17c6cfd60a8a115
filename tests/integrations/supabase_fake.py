"""An in-process fake of Supabase Storage (``/storage/v1``), speaking the wire format of
``integrations.md`` §7 as ``storage3`` uses it.

* ``POST   object/{bucket}/{path}``            multipart field ``file`` → ``{"Key": "bucket/path"}``
  (409 ``Duplicate`` when the object exists and ``x-upsert`` is not ``true``)
* ``GET    object/{bucket}/{path}``            the bytes (authenticated download)
* ``DELETE object/{bucket}`` ``{"prefixes"}``  the list of removed objects
* ``POST   object/sign/{bucket}/{path}``       ``{"expiresIn": "600"}`` →
  ``{"signedURL": "/object/sign/{bucket}/{path}?token=…"}``
* ``GET    object/sign/{bucket}/{path}?token`` the bytes, while the token is valid

Every request but a signed GET needs ``apikey`` and ``Authorization: Bearer <key>``; errors are
``{"statusCode": "404", "error": "not_found", "message": "Object not found"}``.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

SERVICE_KEY = "service-role-key-for-tests"
PREFIX = "/storage/v1/"


@dataclass
class StoredObject:
    data: bytes
    content_type: str


@dataclass
class SupabaseStorageFake:
    url: str = ""
    objects: dict[tuple[str, str], StoredObject] = field(default_factory=dict)
    tokens: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    # Scripted answers for the next requests: (status, body).
    script: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _error(status: int, error: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"statusCode": str(status), "error": error, "message": message}


def _multipart_file(content_type: str, body: bytes) -> tuple[bytes, str]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return (payload if isinstance(payload, bytes) else b""), part.get_content_type()
    raise ValueError("no file part")


def _handler(fake: SupabaseStorageFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, body: dict[str, Any] | list[Any] | bytes,
                   content_type: str = "application/json") -> None:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _authorised(self) -> bool:
            return (self.headers.get("apikey") == SERVICE_KEY
                    and self.headers.get("Authorization") == f"Bearer {SERVICE_KEY}")

        def _handle(self, method: str) -> None:
            parsed = urlparse(self.path)
            body = self._body()
            with fake.lock:
                fake.requests.append((method, parsed.path))
                scripted = fake.script.pop(0) if fake.script else None
            if scripted is not None:
                self._reply(*scripted)
                return
            if not parsed.path.startswith(PREFIX):
                self._reply(*_error(404, "not_found", "Route not found"))
                return
            parts = [unquote(p) for p in parsed.path[len(PREFIX):].split("/")]
            query = parse_qs(parsed.query)
            if method == "GET" and parts[:2] == ["object", "sign"] and len(parts) > 3:
                self._signed_get(parts[2], "/".join(parts[3:]), query.get("token", [""])[0])
                return
            if not self._authorised():
                self._reply(*_error(400, "Unauthorized", "Invalid JWT"))
                return
            if method == "POST" and parts[:2] == ["object", "sign"] and len(parts) > 3:
                self._sign(parts[2], "/".join(parts[3:]), json.loads(body or b"{}"))
            elif method == "POST" and parts[0] == "object" and len(parts) > 2:
                self._upload(parts[1], "/".join(parts[2:]), body)
            elif method == "GET" and parts[0] == "object" and len(parts) > 2:
                self._download(parts[1], "/".join(parts[2:]))
            elif method == "DELETE" and parts[0] == "object" and len(parts) == 2:
                self._remove(parts[1], json.loads(body or b"{}").get("prefixes", []))
            else:
                self._reply(*_error(404, "not_found", "Route not found"))

        def _upload(self, bucket: str, path: str, body: bytes) -> None:
            data, content_type = _multipart_file(self.headers["Content-Type"], body)
            with fake.lock:
                if (bucket, path) in fake.objects and self.headers.get("x-upsert") != "true":
                    self._reply(*_error(409, "Duplicate", "The resource already exists"))
                    return
                fake.objects[(bucket, path)] = StoredObject(data, content_type)
            self._reply(200, {"Key": f"{bucket}/{path}", "Id": secrets.token_hex(8)})

        def _download(self, bucket: str, path: str) -> None:
            stored = fake.objects.get((bucket, path))
            if stored is None:
                self._reply(*_error(404, "not_found", "Object not found"))
                return
            self._reply(200, stored.data, stored.content_type)

        def _remove(self, bucket: str, prefixes: list[str]) -> None:
            removed = []
            with fake.lock:
                for path in prefixes:
                    if fake.objects.pop((bucket, path), None) is not None:
                        removed.append({"name": path, "bucket_id": bucket})
            self._reply(200, removed)

        def _sign(self, bucket: str, path: str, body: dict[str, Any]) -> None:
            if (bucket, path) not in fake.objects:
                self._reply(*_error(404, "not_found", "Object not found"))
                return
            token = secrets.token_urlsafe(24)
            with fake.lock:
                fake.tokens[token] = (bucket, path, time.time() + int(body["expiresIn"]))
            self._reply(200, {"signedURL": f"/object/sign/{bucket}/{path}?token={token}"})

        def _signed_get(self, bucket: str, path: str, token: str) -> None:
            grant = fake.tokens.get(token)
            if grant is None or grant[:2] != (bucket, path):
                self._reply(*_error(400, "InvalidSignature", "Invalid signature"))
                return
            if grant[2] < time.time():
                self._reply(*_error(400, "InvalidJWT", "jwt expired"))
                return
            self._download(bucket, path)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


@contextmanager
def running_supabase_fake() -> Iterator[SupabaseStorageFake]:
    """Serve a :class:`SupabaseStorageFake` on a free loopback port for the block."""
    fake = SupabaseStorageFake()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
