"""Where a local run's data goes: an S3 API on loopback started for the run (moto's WSGI app
on werkzeug's threaded server, in this process: it ends with the run, whatever ends the run), or a
local directory standing in for the output bucket (`--output`).
Also the small S3 reads and writes of JSON documents the report needs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        if not uri.startswith("s3://"):
            raise ValueError(f"not an s3:// URI: {uri!r}")
        bucket, _, key = uri[5:].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {uri!r}")
        return cls(bucket, key)


def s3_client(endpoint: str | None = None, env: Mapping[str, str] | None = None) -> Any:
    """A boto3 S3 client from the standard AWS variables (of ENV, default os.environ)."""
    import boto3
    from botocore.config import Config

    env = os.environ if env is None else env
    return boto3.client(
        "s3",
        endpoint_url=endpoint or env.get("AWS_ENDPOINT_URL") or None,
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        region_name=env.get("AWS_DEFAULT_REGION") or "us-east-1",
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60),
    )


def read_json(uri: str, client: Any | None = None) -> Any:
    """A JSON document from a local path or an s3:// URI."""
    if uri.startswith("s3://"):
        loc = S3Location.parse(uri)
        body = (client or s3_client()).get_object(Bucket=loc.bucket, Key=loc.key)["Body"].read()
        return json.loads(body)
    return json.loads(Path(uri).read_text())


def write_json(uri: str, obj: Any, client: Any | None = None) -> None:
    """Write OBJ as JSON to a local path (atomically) or an s3:// URI."""
    text = json.dumps(obj, indent=2) + "\n"
    if uri.startswith("s3://"):
        loc = S3Location.parse(uri)
        (client or s3_client()).put_object(Bucket=loc.bucket, Key=loc.key, Body=text.encode(),
                                           ContentType="application/json")
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text)
    tmp.replace(path)


def preload_s3_modules() -> None:
    """Import what LoopbackS3 and the S3 client need (~0.5-1 s), e.g. on a thread while the
    overlay renders. Imports only: nothing starts, nothing to clean up; a missing package is
    reported by LoopbackS3 itself."""
    try:
        import boto3  # noqa: F401
        from moto.moto_server import werkzeug_app
        werkzeug_app.create_backend_app("s3")  # loads the S3 backend and its URL map
        from werkzeug import serving  # noqa: F401
    except ImportError:
        return


class LoopbackS3Unavailable(RuntimeError):
    pass


class LoopbackS3:
    """An S3 API on 127.0.0.1 (free port) for one run; a context manager.

    moto's S3 app and request handler on werkzeug's threaded server, like moto's
    ThreadedMotoServer, but: S3 only (moto's all-services dispatcher finds the backend of every
    request under one lock, with ~200 stat calls; S3 alone is ~15% faster per request), and
    polling for shutdown every 50 ms instead of 500 ms (stopping it was ~0.4 s of every run).
    A thread of this process: it cannot outlive the run.
    """

    ACCESS_KEY = "conformance-local"
    SECRET_KEY = "conformance-local-secret"
    POLL_INTERVAL = 0.05

    def __init__(self) -> None:
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.endpoint = ""

    def __enter__(self) -> Self:
        try:
            from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
            from werkzeug.serving import make_server
        except ImportError as e:
            raise LoopbackS3Unavailable(f"the loopback S3 server needs moto[server] ({e}): "
                                        "`uv sync --extra ops`, or run with --output DIR") from e

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log on the terminal
        self._server = make_server("127.0.0.1", 0, create_backend_app("s3"), threaded=True,
                                   request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": self.POLL_INTERVAL},
                                        name="loopback-s3", daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.endpoint = f"http://{host}:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": self.SECRET_KEY,
                "AWS_ENDPOINT_URL": self.endpoint}

    def client(self) -> Any:
        return s3_client(self.endpoint, self.env)

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)


class StorageMapError(ValueError):
    pass


@dataclass(frozen=True)
class LocalOutput:
    """`--output PATH`: the output bucket is the directory PATH; `s3://<bucket>/k` -> `PATH/k`.

    Any other s3:// URI left in a step's command, args or env is an error: the local run would
    otherwise reach for an object store that does not exist here.
    """

    bucket: str
    root: Path

    def rewrite(self, text: str) -> str:
        return re.sub(r"s3://" + re.escape(self.bucket) + r"(?=/|$|\s)", str(self.root), text)

    def check(self, text: str, where: str) -> None:
        m = re.search(r"s3://\S*", text)
        if m:
            raise StorageMapError(
                f"{where}: {m.group()} is outside the output bucket s3://{self.bucket}, "
                f"the only one --output maps to {self.root}"
            )

    def uri(self, s3_uri: str) -> str:
        return self.rewrite(s3_uri)
