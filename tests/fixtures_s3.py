"""A real S3 API on loopback for tests: moto's ThreadedMotoServer on 127.0.0.1.

Use from a conftest.py:

    from tests.fixtures_s3 import s3_server, s3_bucket, s3_env  # noqa: F401

- `s3_server` (session): the running server; `.endpoint` is its URL.
- `s3_bucket` (function): a fresh bucket name on that server.
- `s3_env` (function): the AWS_* variables pointing at the server, applied to
  `os.environ` for the test (monkeypatch) and returned as a dict for subprocesses.

Also `FailingHTTPServer`: a tiny real HTTP server on 127.0.0.1 answering every
request with one status (default 500), to test transient-failure handling.
"""

from __future__ import annotations

import http.server
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest

from tests.loopback import LoopbackHTTPServer

_BUCKETS = itertools.count()


@dataclass
class S3Server:
    endpoint: str

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        out: list[str] = []
        paginator = self.client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            out.extend(o["Key"] for o in page.get("Contents", []))
        return out


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(endpoint=f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    name = f"test-bucket-{os.getpid()}-{next(_BUCKETS)}"
    s3_server.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = s3_server.env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


class _StatusHandler(http.server.BaseHTTPRequestHandler):
    status = 500

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
            b"<Message>We encountered an internal error. Please try again.</Message></Error>"
        )
        self.send_response(self.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


class FailingHTTPServer(LoopbackHTTPServer):
    """A real HTTP server on 127.0.0.1 answering `status` to every request."""

    def __init__(self, status: int = 500) -> None:
        super().__init__(type("Handler", (_StatusHandler,), {"status": status}))

    @property
    def endpoint(self) -> str:
        return self.url
