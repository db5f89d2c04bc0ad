"""Issue 9, case 7: credentials inside the STAC API URL are never logged nor output (item_url)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runner import urls
from runner.events import EventLog
from tests.runner.runnerkit import run_runner

SECRET = "s3cr3t-pw"


class _Api(BaseHTTPRequestHandler):
    """A STAC API that has every collection and creates every item."""

    def _answer(self, status: int) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(200)

    def do_POST(self) -> None:
        self._answer(201)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_register_never_shows_the_url_credentials(api: str, tmp_path: Path) -> None:
    item = tmp_path / "item.json"
    item.write_text(json.dumps({"type": "Feature", "id": "x", "collection": "c", "bbox": [0, 0, 1, 1],
                                "properties": {"datetime": "2025-01-01T00:00:00Z"}}))
    r = run_runner("register", str(item), "--stac-api-url", f"http://bot:{SECRET}@{api}", "--json",
                   "--outputs-dir", str(tmp_path / "outs"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert SECRET not in r.stderr and SECRET not in r.stdout
    assert json.loads(r.stdout)["item_url"] == f"http://{api}/collections/c/items/x"
    assert SECRET not in (tmp_path / "outs" / "item_url").read_text()
    r = run_runner("register", str(item), "--stac-api-url", f"http://bot:{SECRET}@127.0.0.1:9")
    assert r.returncode == 3 and SECRET not in r.stderr


def test_every_log_line_is_masked() -> None:
    out = io.StringIO()
    EventLog("t", stream=out).error(f"GET https://u:{SECRET}@h/x failed", url=f"s3://k:{SECRET}@b",
                                    nested={"a": [f"https://u:{SECRET}@h"]})
    assert SECRET not in out.getvalue() and "https://***@h/x" in out.getvalue()


def test_without_credentials() -> None:
    assert urls.without_credentials(f"https://u:{SECRET}@h:8080/a?b") == "https://h:8080/a?b"
    assert urls.without_credentials("https://h/a") == "https://h/a"
