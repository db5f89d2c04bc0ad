"""Extension schemas that are not cached: fetched once and cached when online, never a
hang when the network does not answer (a warning finding within the fetch timeout).
Real HTTP on loopback only; a small item, no conversion (fast)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from conformance.findings import Severity
from conformance.stac import schemas
from conformance.stac.check import check_item
from conformance.stac.schemas import FETCH_TIMEOUT, SchemaStore, SchemaUnavailable

EXT_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["properties"],
    "properties": {"properties": {"type": "object", "properties": {"test:level": {"type": "number"}}}},
}


def _item(*extensions: str, level: Any = 3) -> dict[str, Any]:
    return {"type": "Feature", "stac_version": "1.1.0", "id": "x", "stac_extensions": list(extensions),
            "geometry": {"type": "Point", "coordinates": [10.0, 45.0]}, "bbox": [10.0, 45.0, 10.0, 45.0],
            "properties": {"datetime": "2025-06-01T10:00:00Z", "test:level": level}, "links": [], "assets": {}}


class _Schemas(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        if self.path != "/test/v1.0.0/schema.json":
            self.send_error(404)
            return
        body = json.dumps(EXT_SCHEMA).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(autouse=True)
def loopback_on_the_allowlist(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loopback test servers play the schema hosts: a loopback host on the allowlist is the
    one place plain http is accepted (a local mirror)."""
    monkeypatch.setenv(schemas.HOSTS_ENV, "127.0.0.1")


@pytest.fixture
def schema_server() -> Iterator[str]:
    _Schemas.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Schemas)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def _check(tmp_path: Path, item: dict[str, Any], cache: Path, offline: bool) -> Any:
    path = tmp_path / "item.json"
    path.write_text(json.dumps(item))
    # these extensions are made up for the fetch tests: allowed, so a miss is a warning
    return check_item(str(path), offline=offline, schema_cache=str(cache), allow_unknown_extensions=True)


def test_fetch_timeout_is_short() -> None:
    assert 0 < FETCH_TIMEOUT <= 5


def test_uncached_schema_is_fetched_once_cached_and_used(tmp_path: Path, schema_server: str) -> None:
    uri = f"{schema_server}/test/v1.0.0/schema.json"
    cache = tmp_path / "cache"
    report = _check(tmp_path, _item(uri), cache, offline=False)
    assert report.exit_code == 0, [f.to_dict() for f in report.findings]
    assert report.io["schemas_fetched"] == 1 and _Schemas.hits == ["/test/v1.0.0/schema.json"]
    index = json.loads((cache / "index.json").read_text())
    assert json.loads((cache / index[uri]).read_text()) == EXT_SCHEMA
    # offline afterwards: validated from the cache (a wrong value is caught), no request
    bad = _check(tmp_path, _item(uri, level="high"), cache, offline=True)
    assert [(f.rule, f.path) for f in bad.findings] == [("stac.schema-extension", "properties.test:level")]
    assert bad.io["schemas_fetched"] == 0 and len(_Schemas.hits) == 1


def test_offline_never_fetches(tmp_path: Path, schema_server: str) -> None:
    uri = f"{schema_server}/test/v1.0.0/schema.json"
    report = _check(tmp_path, _item(uri), tmp_path / "cache", offline=True)
    assert [(f.rule, f.severity, f.path) for f in report.findings] == [
        ("stac.schema-unavailable", Severity.WARNING, uri)]
    assert _Schemas.hits == [] and report.exit_code == 0


def test_http_error_is_a_warning_and_other_schemas_are_still_fetched(tmp_path: Path, schema_server: str) -> None:
    missing, good = f"{schema_server}/gone/v1.0.0/schema.json", f"{schema_server}/test/v1.0.0/schema.json"
    report = _check(tmp_path, _item(missing, good), tmp_path / "cache", offline=False)
    assert [(f.rule, f.path) for f in report.findings] == [("stac.schema-unavailable", missing)]
    assert "404" in report.findings[0].message
    assert report.io["schemas_fetched"] == 1 and report.exit_code == 0


def test_silent_server_gives_up_within_the_timeout(silent_port: int) -> None:
    store = SchemaStore(cache_dir=Path("/nonexistent-cache"), offline=False, fetch_timeout=0.5)
    t0 = time.perf_counter()
    with pytest.raises(SchemaUnavailable, match="no answer within 0.5 s"):
        store.get(f"http://127.0.0.1:{silent_port}/a/v1.0.0/schema.json")
    # the network is out of reach: the next miss fails at once instead of waiting again
    with pytest.raises(SchemaUnavailable, match="an earlier fetch failed"):
        store.get(f"http://127.0.0.1:{silent_port}/b/v1.0.0/schema.json")
    # a hang guard, not a speed goal: the messages above prove the second miss did not wait
    assert time.perf_counter() - t0 < 10


def test_check_with_a_silent_network_is_a_warning_not_a_hang(tmp_path: Path, silent_port: int,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schemas, "FETCH_TIMEOUT", 0.5)
    uris = [f"http://127.0.0.1:{silent_port}/{name}/v1.0.0/schema.json" for name in ("a", "b", "c")]
    t0 = time.perf_counter()
    report = _check(tmp_path, _item(*uris), tmp_path / "cache", offline=False)
    assert time.perf_counter() - t0 < 10  # a hang guard; the messages show only one fetch waited
    assert {(f.rule, f.severity, f.path) for f in report.findings} == {
        ("stac.schema-unavailable", Severity.WARNING, u) for u in uris}
    not_retried = [f for f in report.findings if "an earlier fetch failed" in f.message]
    assert len(not_retried) == len(uris) - 1
    assert report.exit_code == 0


def test_refused_connection_is_a_warning(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    uri = f"http://127.0.0.1:{port}/a/v1.0.0/schema.json"
    report = _check(tmp_path, _item(uri), tmp_path / "cache", offline=False)
    assert [(f.rule, f.path) for f in report.findings] == [("stac.schema-unavailable", uri)]
    assert "cannot be fetched" in report.findings[0].message


def test_invoke_check_is_offline_unless_online(tmp_path: Path, schema_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from invoke import MockContext
    from invoke.exceptions import Exit

    import tasks

    monkeypatch.setenv("GEOZARR_STAC_SCHEMA_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "item.json"
    path.write_text(json.dumps(_item(f"{schema_server}/test/v1.0.0/schema.json")))
    tasks.check(MockContext(), kind="stac", target=str(path), allow_unknown_extensions=True)
    with pytest.raises(Exit):  # not allowed: an extension we cannot validate is an error
        tasks.check(MockContext(), kind="stac", target=str(path))
    assert _Schemas.hits == []  # offline by default
    tasks.check(MockContext(), kind="stac", target=str(path), online=True, allow_unknown_extensions=True)
    assert _Schemas.hits == ["/test/v1.0.0/schema.json"]


def test_prefetch_fills_a_cache_that_then_works_offline(schema_server: str, tmp_path: Path) -> None:
    """The image build's prefetch: downloaded once, then an offline store has the schema."""
    from conformance.stac.prefetch import main as prefetch_main

    uri = f"{schema_server}/test/v1.0.0/schema.json"
    assert prefetch_main([str(tmp_path), uri]) == 0
    offline = SchemaStore(cache_dir=tmp_path, offline=True)
    assert offline.source(uri) == "cache" and offline.get(uri) == EXT_SCHEMA
    assert prefetch_main([str(tmp_path / "other"), f"{schema_server}/missing/schema.json"]) == 2


def test_prefetch_follows_references() -> None:
    from conformance.stac.prefetch import _refs

    schema = {"allOf": [{"$ref": "../common/v1/schema.json#/definitions/x"}, {"$ref": "#/definitions/y"}],
              "properties": {"p": {"$ref": "https://example.invalid/other.json"}}}
    assert sorted(_refs(schema, "https://host/ext/v2/schema.json")) == [
        "https://example.invalid/other.json", "https://host/ext/common/v1/schema.json"]


def test_pipeline_extensions_are_the_runners() -> None:
    from conformance.stac.prefetch import pipeline_extensions

    exts = pipeline_extensions()
    assert "https://stac-extensions.github.io/projection/v2.0.0/schema.json" in exts
    assert all(u.startswith("https://stac-extensions.github.io/") for u in exts)


# --- issue 9, case 2: nothing written outside the cache, nothing fetched off the policy ---------


@pytest.mark.parametrize("uri", [
    "https://stac-extensions.github.io/../../../../escaped/schema.json",
    "https://stac-extensions.github.io/a/%2e%2e/%2e%2e/%2e%2e/escaped/schema.json",
    "https://stac-extensions.github.io//tmp/escaped/schema.json",
    "https://stac-extensions.github.io/a/..%2f..%2f..%2fescaped/schema.json",
])
def test_cache_keys_cannot_escape_the_cache_dir(tmp_path: Path, uri: str) -> None:
    cache = tmp_path / "deep" / "er" / "cache"
    store = SchemaStore(cache_dir=cache, offline=False)
    store._store(uri, EXT_SCHEMA)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(p.is_relative_to(cache) for p in written), written
    assert SchemaStore(cache_dir=cache, offline=True).get(uri) == EXT_SCHEMA


@pytest.mark.parametrize("entry", ["../outside.json", "/etc/hostname", "a/../../outside.json", ""])
def test_index_entries_outside_the_cache_are_not_read(tmp_path: Path, entry: str) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (tmp_path / "outside.json").write_text(json.dumps(EXT_SCHEMA))
    uri = "https://stac-extensions.github.io/x/v1.0.0/schema.json"
    (cache / "index.json").write_text(json.dumps({uri: entry}))
    store = SchemaStore(cache_dir=cache, offline=True)
    assert store.source(uri) == "missing"
    with pytest.raises(SchemaUnavailable, match="not cached"):
        store.get(uri)


@pytest.mark.parametrize(("uri", "why"), [
    ("http://stac-extensions.github.io/x/schema.json", "only https"),
    ("file:///etc/passwd", "only https"),
    ("https://evil.example/x/schema.json", "not on the schema host allowlist"),
    ("http://10.0.0.1/x/schema.json", "not on the schema host allowlist"),
])
def test_fetch_policy_refuses_before_any_request(uri: str, why: str) -> None:
    store = SchemaStore(cache_dir=Path("/nonexistent-cache"), offline=False,
                        policy=schemas.FetchPolicy())
    with pytest.raises(SchemaUnavailable, match=why):
        store.get(uri)


class _Redirects(BaseHTTPRequestHandler):
    target = ""
    big = b""

    def do_GET(self) -> None:
        if self.path == "/big/schema.json":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.big)))
            self.end_headers()
            self.wfile.write(self.big)
            return
        self.send_response(302)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_redirects_off_the_allowlist_and_oversized_bodies_are_refused(schema_server: str,
                                                                      tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirects)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    here = f"127.0.0.1:{server.server_port}"
    try:
        policy = schemas.FetchPolicy(hosts=frozenset({here}), max_bytes=1000)
        _Redirects.target = f"{schema_server}/test/v1.0.0/schema.json"  # another port: not listed
        store = SchemaStore(cache_dir=tmp_path / "c", offline=False, policy=policy)
        with pytest.raises(SchemaUnavailable, match="not on the schema host allowlist"):
            store.get(f"http://{here}/redirect/schema.json")
        assert _Schemas.hits == []  # the redirect target was never asked
        _Redirects.big = b" " * 5000 + b"{}"
        with pytest.raises(SchemaUnavailable, match="larger than 1000 bytes"):
            store.get(f"http://{here}/big/schema.json")
        _Redirects.target = f"http://{here}/loop/schema.json"
        with pytest.raises(SchemaUnavailable, match="more than 3 redirects"):
            store.get(f"http://{here}/loop/schema.json")
        assert not (tmp_path / "c").exists()
    finally:
        server.shutdown()
        server.server_close()


def test_check_stac_cli_is_offline_by_default(tmp_path: Path, schema_server: str) -> None:
    from conformance.__main__ import main

    path = tmp_path / "item.json"
    path.write_text(json.dumps(_item(f"{schema_server}/test/v1.0.0/schema.json")))
    cache = ["--schema-cache", str(tmp_path / "cache"), "--json"]
    assert main(["stac", str(path), *cache]) == 1 and _Schemas.hits == []  # unknown: an error
    assert main(["stac", str(path), *cache, "--allow-unknown-extensions"]) == 0 and _Schemas.hits == []
    assert main(["stac", str(path), *cache, "--online"]) == 0
    assert _Schemas.hits == ["/test/v1.0.0/schema.json"]


def test_default_policy_allows_every_schema_the_image_prefetches() -> None:
    """The image's build prefetches online within the default policy: every extension the
    pipeline declares, and every schema of the shared reference cache, must be allowed."""
    from conformance.stac.prefetch import pipeline_extensions
    from tooling.repo import SHARED

    policy = schemas.FetchPolicy()
    index = json.loads((SHARED / "schemas" / "stac" / "index.json").read_text())
    assert {u: policy.refusal(u) for u in [*pipeline_extensions(), *index] if policy.refusal(u)} == {}


def test_requests_own_timeout_is_the_same_silence(monkeypatch: pytest.MonkeyPatch) -> None:
    """When requests' read timeout ends the fetch just before the wait for it does (the two are
    the same length), the verdict is still "no answer", not a fetch error."""
    import requests

    from conformance.stac import schemas as mod

    def times_out(uri: str, timeout: float, policy: object) -> bytes:
        raise requests.ReadTimeout(f"HTTPConnectionPool: Read timed out. (read timeout={timeout})")

    monkeypatch.setattr(mod, "_get_within_policy", times_out)
    with pytest.raises(mod.SchemaUnreachable, match="gave no answer within 0.5 s"):
        mod.download("http://127.0.0.1:9/a/v1.0.0/schema.json", 0.5)
