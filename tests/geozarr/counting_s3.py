"""A moto S3 server on loopback that counts the requests it receives: the ground truth
for the request counts the checks report (theirs and GDAL's)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CountingS3:
    endpoint: str
    count: int = 0
    listings: int = 0  # ListObjects requests (GET on the bucket with a prefix)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path?query) of each
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reset(self) -> None:
        with self._lock:
            self.count = self.listings = 0
            self.requests.clear()

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.endpoint}


@contextmanager
def counting_s3() -> Iterator[CountingS3]:
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    state = CountingS3(endpoint="")

    def counted(environ: dict[str, Any], start_response: Any) -> Any:
        listing = environ.get("REQUEST_METHOD") == "GET" and "prefix=" in environ.get("QUERY_STRING", "")
        with state._lock:
            state.count += 1
            state.listings += listing
            query = environ.get("QUERY_STRING", "")
            state.requests.append((environ.get("REQUEST_METHOD", ""),
                                   environ.get("PATH_INFO", "") + (f"?{query}" if query else "")))
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, counted, threaded=True)
    state.endpoint = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
