"""A real HTTP server on 127.0.0.1 with a test's own handler, run in a thread for a `with` block."""

from __future__ import annotations

import http.server
import threading
from typing import Self


class LoopbackHTTPServer:
    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler], poll_interval: float = 0.05) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(poll_interval,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class ServedOnLoopback:
    """A test double answering HTTP through `self._loopback` (a LoopbackHTTPServer its __init__
    makes with its own handler): its URL, and a `with` block that runs the server."""

    _loopback: LoopbackHTTPServer

    @property
    def url(self) -> str:
        return self._loopback.url

    def __enter__(self) -> Self:
        self._loopback.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._loopback.__exit__(*exc)
