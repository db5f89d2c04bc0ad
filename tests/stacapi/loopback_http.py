"""Tiny real HTTP servers on 127.0.0.1 for the failure paths a healthy STAC API
never shows: a fixed status for every request (recording what was asked), and
a socket that accepts connections but never answers (timeouts)."""

from __future__ import annotations

import http.server
import json
import socket
from dataclasses import dataclass, field
from typing import Self

from tests.loopback import LoopbackHTTPServer, ServedOnLoopback


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class StatusServer(ServedOnLoopback):
    """Answers `status` with a JSON error body to every request; keeps what it received.

    `routes` maps "METHOD /path" to a status that overrides `status` for that request.
    """

    status: int = 500
    routes: dict[str, int] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.requests.append(Recorded(self.command, self.path, dict(self.headers), body))
                status = owner.routes.get(f"{self.command} {self.path}", owner.status)
                payload = json.dumps({"code": "Stub", "description": f"stub says {status}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._loopback = LoopbackHTTPServer(Handler)


class SilentServer:
    """Listens on 127.0.0.1 (the kernel completes connections) but never reads or answers."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)

    @property
    def url(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
