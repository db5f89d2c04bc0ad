"""`convert` to s3://: converted and repaired in a local scratch directory, uploaded with
bounded concurrency, run.json last; the scratch copy is removed whatever happens."""

from __future__ import annotations

import http.client
import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from runner import storage
from tests.runner.runnerkit import Converted, json_lines, run_runner


class _FailingPutsProxy(http.server.BaseHTTPRequestHandler):
    """Forwards every request to the S3 server, except PUTs of r720m chunks: 500 (so part of
    the store is uploaded when the failure comes)."""

    upstream = ""
    protocol_version = "HTTP/1.1"  # answers botocore's `Expect: 100-continue` before reading a body

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.command == "PUT" and "/r720m/" in self.path and "/c/" in self.path:
            payload = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
                       b"<Message>We encountered an internal error.</Message></Error>")
            self.send_response(500)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        target = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in {"connection", "expect"}}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in {"transfer-encoding", "connection", "content-length"}:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def failing_puts_proxy(upstream: str) -> Iterator[str]:
    handler = type("Handler", (_FailingPutsProxy,), {"upstream": upstream})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_s3_output_is_staged_and_scratch_freed(converted_s3_72: tuple[Converted, dict[str, str]],
                                               s3_server) -> None:
    converted, env = converted_s3_72
    events = json_lines(converted.result.stderr)  # --quiet: warnings and errors only
    assert not [e for e in events if e["level"] == "error"]
    key = "tests/sentinel-2-l2a/S2_sample_72.zarr/run.json"
    doc = json.loads(s3_server.client().get_object(Bucket="geozarr-out", Key=key)["Body"].read())
    assert doc["timings"]["upload"] > 0
    assert doc["output"]["uri"] == converted.output
    scratch = Path(env["GEOZARR_SCRATCH_DIR"])
    assert scratch.is_dir() and list(scratch.iterdir()) == []  # the local copy is gone


@pytest.mark.slow
def test_upload_5xx_exits_3_nothing_complete_scratch_freed(sample_72: Path, s3_server, s3_bucket: str,
                                                          tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    with failing_puts_proxy(s3_server.endpoint) as endpoint:
        env = {**s3_server.env(), "AWS_ENDPOINT_URL": endpoint, "GEOZARR_S3_MAX_ATTEMPTS": "1"}
        out = f"s3://{s3_bucket}/c/S2.zarr"
        r = run_runner("convert", str(sample_72), out, "--collection", "c", "--scratch-dir", str(scratch),
                       env=env)
    assert r.returncode == 3, r.stderr[-2000:]
    errors = [e for e in json_lines(r.stderr) if e["level"] == "error"]
    assert len(errors) == 1 and "upload" in str(errors[0]["message"])
    keys = s3_server.keys(s3_bucket, "c/S2.zarr/")
    assert "c/S2.zarr/run.json" not in keys and any(k.endswith("zarr.json") for k in keys)  # incomplete
    assert list(scratch.iterdir()) == []
    # the next run (S3 healthy again) removes the incomplete store and completes it
    r = run_runner("convert", str(sample_72), out, "--collection", "c", "--scratch-dir", str(scratch),
                   "--quiet", env=s3_server.env())
    assert r.returncode == 0, r.stderr[-2000:]
    assert run_runner("manifest", out, "--quiet", env=s3_server.env()).returncode == 0


def test_unwritable_scratch_dir_exits_2(sample_72: Path, s3_server, s3_bucket: str, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    r = run_runner("convert", str(sample_72), f"s3://{s3_bucket}/o.zarr", "--collection", "c",
                   env={**s3_server.env(), "GEOZARR_SCRATCH_DIR": str(blocker / "scratch")})
    assert r.returncode == 2, r.stderr[-2000:]
    assert "scratch directory" in r.stderr
    assert "o.zarr/run.json" not in s3_server.keys(s3_bucket)


def test_upload_tree_puts_every_file_and_checks_them(tmp_path: Path, s3_env: dict[str, str],
                                                    s3_bucket: str, s3_server) -> None:
    local = tmp_path / "store"
    for rel, data in {"zarr.json": b"{}", "a/zarr.json": b"{ }", "a/c/0/0": b"\x01" * 100,
                      "a/c/0/1": b""}.items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(data)
    loc = storage.locate(f"s3://{s3_bucket}/x/store.zarr")
    assert storage.upload_tree(str(local), loc, concurrency=2) == (4, 105)
    assert sorted(s3_server.keys(s3_bucket)) == ["x/store.zarr/a/c/0/0", "x/store.zarr/a/c/0/1",
                                                  "x/store.zarr/a/zarr.json", "x/store.zarr/zarr.json"]
