"""stac.href-resolves: asset hrefs resolved by stat or HEAD, inside or outside any store,
with a local store, the loopback S3 server and a loopback HTTP host (fast: no conversion)."""

from __future__ import annotations

import http.server
import json
from pathlib import Path
from typing import Any

from conformance.findings import Severity
from conformance.stac.check import check_item
from tests.loopback import LoopbackHTTPServer

ZARR = "application/vnd.zarr; version=3"


def _item(assets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"type": "Feature", "stac_version": "1.1.0", "id": "i", "geometry": None, "links": [],
            "properties": {"datetime": "2025-10-08T10:00:41Z"}, "assets": assets}


def _href_findings(tmp_path: Path, item: dict[str, Any], **kwargs: Any) -> list[tuple[str, Severity]]:
    path = tmp_path / "item.json"
    path.write_text(json.dumps(item))
    report = check_item(str(path), offline=True, **kwargs)
    return [(f.path, f.severity) for f in report.findings if f.rule == "stac.href-resolves"]


def _store(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')
    return root


def test_local_hrefs_absolute_and_relative(tmp_path: Path) -> None:
    _store(tmp_path / "out.zarr")
    (tmp_path / "run.json").write_text("{}")
    good = _item({"store": {"href": str(tmp_path / "out.zarr"), "type": ZARR},
                  "manifest": {"href": "./run.json", "type": "application/json"}})
    assert _href_findings(tmp_path, good) == []
    bad = _item({"store": {"href": str(tmp_path / "missing.zarr"), "type": ZARR},
                 "plain-dir": {"href": str(tmp_path), "type": ZARR},  # a directory without zarr.json
                 "manifest": {"href": "./nope.json", "type": "application/json"}})
    assert _href_findings(tmp_path, bad) == [("assets.manifest.href", Severity.ERROR),
                                             ("assets.plain-dir.href", Severity.ERROR),
                                             ("assets.store.href", Severity.ERROR)]


def test_s3_and_endpoint_https_hrefs_are_headed(tmp_path: Path, s3_server: Any, s3_bucket: str,
                                                s3_env: dict[str, str]) -> None:
    s3_server.client().put_object(Bucket=s3_bucket, Key="p/out.zarr/zarr.json", Body=b"{}")
    endpoint = s3_env["AWS_ENDPOINT_URL"]
    good = _item({"store": {"href": f"{endpoint}/{s3_bucket}/p/out.zarr", "type": ZARR,
                            "alternate": {"s3": {"href": f"s3://{s3_bucket}/p/out.zarr"}}}})
    assert _href_findings(tmp_path, good) == []
    # the root asset at a store that does not exist, outside any --store
    bad = _item({"store": {"href": f"{endpoint}/{s3_bucket}/p/gone.zarr", "type": ZARR,
                           "alternate": {"s3": {"href": f"s3://{s3_bucket}/p/gone.zarr"}}}})
    assert _href_findings(tmp_path, bad) == [("assets.store.href", Severity.ERROR),
                                             ("assets.store.alternate.s3.href", Severity.ERROR)]


class _Files(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        self.send_response(200 if self.path == "/thumb.png" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_https_hrefs_only_on_allowlisted_hosts(tmp_path: Path) -> None:
    with LoopbackHTTPServer(_Files) as server:
        host = server.url.split("://", 1)[1].rstrip("/")
        item = _item({"thumbnail": {"href": f"{server.url.rstrip('/')}/thumb.png", "type": "image/png"},
                      "gone": {"href": f"{server.url.rstrip('/')}/gone.png", "type": "image/png"}})
        assert _href_findings(tmp_path, item, href_hosts=(host,)) == [("assets.gone.href", Severity.ERROR)]
        # not allowlisted: never requested, one info finding each
        assert _href_findings(tmp_path, item) == [("assets.gone.href", Severity.INFO),
                                                  ("assets.thumbnail.href", Severity.INFO)]
