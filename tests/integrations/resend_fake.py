"""An in-process fake of Resend's ``POST /emails``, speaking its wire format.

Like Resend, it answers a repeated ``Idempotency-Key`` with the first message's id and does
not deliver again. Tests script its answers (e.g. a 429 with ``retry-after``) and hook its
requests (e.g. kill the worker while the request is in flight).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeRequest:
    at: float
    idempotency_key: str | None
    authorization: str | None
    user_agent: str | None
    body: dict[str, Any]


@dataclass
class ResendFake:
    url: str = ""
    requests: list[FakeRequest] = field(default_factory=list)
    delivered: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> body
    ids_by_key: dict[str, str] = field(default_factory=dict)
    # Scripted answers for the next requests: (status, headers, body).
    script: list[tuple[int, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    # Which requests the script answers (all when None).
    script_when: Callable[[FakeRequest], bool] | None = None
    on_request: Callable[[FakeRequest], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, request: FakeRequest) -> int:
        """Record a request as it arrives (before any hook runs); return how many came."""
        with self.lock:
            self.requests.append(request)
            return len(self.requests)

    def answer(self, request: FakeRequest) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self.lock:
            if self.script and (self.script_when is None or self.script_when(request)):
                return self.script.pop(0)
            key = request.idempotency_key
            if key and key in self.ids_by_key:
                return 200, {}, {"id": self.ids_by_key[key]}
            message_id = str(uuid.uuid4())
            if key:
                self.ids_by_key[key] = message_id
            self.delivered[message_id] = request.body
            return 200, {}, {"id": message_id}


@contextmanager
def running_resend_fake() -> Iterator[ResendFake]:
    """Serve a :class:`ResendFake` on a free loopback port for the block."""
    fake = ResendFake()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            request = FakeRequest(
                time.monotonic(), self.headers.get("idempotency-key"),
                self.headers.get("authorization"), self.headers.get("user-agent"), body,
            )
            if self.path != "/emails":
                self._send(404, {}, {"statusCode": 404, "message": "Not found",
                                     "name": "not_found"})
                return
            fake.receive(request)
            if fake.on_request is not None:
                fake.on_request(request)
            status, headers, answer = fake.answer(request)
            self._send(status, headers, answer)

        def _send(self, status: int, headers: dict[str, str], body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
