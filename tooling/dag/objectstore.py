"""Where a local run's data goes: an S3 API on loopback started for the run (moto's WSGI app
on werkzeug's threaded server, in this process: it ends with the run, whatever ends the run), or a
local directory standing in for the output bucket (`--output`).
The small S3 reads and writes of JSON documents live in conformance.objectstore.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from conformance.objectstore import S3Location, read_json, write_json
from runner.s3 import s3_client
from tooling.errors import ToolingError

__all__ = ["LocalOutput", "LoopbackS3", "S3Location", "read_json", "s3_client", "write_json"]


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


class LoopbackS3Unavailable(ToolingError, RuntimeError):
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
                                        "`uv sync`, or run with --output DIR") from e

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


class StorageMapError(ToolingError, ValueError):
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
