"""Reading a Zarr store (local path or s3:// URI) while counting what it costs.

Every read of the checks goes through `StoreAccess`: it counts requests and
bytes so the report can say what a check cost. On S3 the request count is the
real number of HTTP requests (a hook on the botocore client); on a local store
it is the number of file reads and directory listings.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from conformance.errors import ConformanceError
from runner import bounded_json
from runner.s3 import s3_settings


class StoreUnavailable(ConformanceError):
    """The store cannot be opened at all (the check cannot run)."""


@dataclass
class IOStats:
    """Requests and bytes read, by kind (get, list, ...). Thread-safe."""

    requests: int = 0
    bytes: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, kind: str, requests: int = 1, nbytes: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.bytes += nbytes
            if requests:
                self.by_kind[kind] += requests

    def add_bytes(self, nbytes: int) -> None:
        with self._lock:
            self.bytes += nbytes

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "bytes": self.bytes, "by_kind": dict(sorted(self.by_kind.items()))}


def s3_storage_options() -> dict[str, Any]:
    """s3fs options from the environment (runner.s3), a fresh filesystem each time."""
    return {**s3_settings().s3fs_options(), "skip_instance_cache": True}


@dataclass
class StoreAccess:
    """A store root on a filesystem, and counted reads below it.

    Keys are relative to the root (`measurements/reflectance/zarr.json`).
    """

    url: str
    fs: Any
    root: str
    remote: bool
    stats: IOStats = field(default_factory=IOStats)
    _phase: str = "metadata"

    def set_phase(self, phase: str) -> None:
        """Label the requests made from now on (metadata, listing, sample...)."""
        self._phase = phase

    @property
    def phase(self) -> str:
        return self._phase

    def _path(self, key: str) -> str:
        key = key.strip("/")
        return f"{self.root}/{key}" if key else self.root

    def _count(self, kind: str, nbytes: int) -> None:
        # Remote request counts come from the HTTP hook; only bytes are counted here.
        if self.remote:
            self.stats.add_bytes(nbytes)
        else:
            self.stats.add(kind, 1, nbytes)

    def read_bytes(self, key: str) -> bytes | None:
        """The object at KEY, or None when it does not exist."""
        try:
            data = self.fs.cat_file(self._path(key))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            self._count(self._phase, 0)
            return None
        self._count(self._phase, len(data))
        return bytes(data)

    def read_many(self, keys: list[str]) -> dict[str, bytes | None]:
        """Several objects at once (concurrently on S3); missing ones map to None."""
        if not keys:
            return {}
        paths = {self._path(k): k for k in keys}
        if self.remote:
            got = self.fs.cat(list(paths), on_error="return")
        else:
            got = {}
            for p in paths:
                try:
                    got[p] = self.fs.cat_file(p)
                except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
                    got[p] = exc
        out: dict[str, bytes | None] = {}
        for p, k in paths.items():
            v = got.get(p)
            if isinstance(v, (bytes, bytearray)):
                out[k] = bytes(v)
                self._count(self._phase, len(v))
            else:
                out[k] = None
                self._count(self._phase, 0)
        return out

    def read_json(self, key: str) -> Any:
        """Parsed JSON at KEY; None when missing. Raises ValueError when not JSON."""
        data = self.read_bytes(key)
        if data is None:
            return None
        return bounded_json.loads(data)

    def list_keys(self) -> list[str]:
        """Every object key below the root, relative to it (one recursive listing)."""
        if self.remote:
            paths = self.fs.find(self.root)
        else:
            paths = []
            n_dirs = 0
            for dirpath, _dirs, files in os.walk(self.root):
                n_dirs += 1
                paths.extend(os.path.join(dirpath, f) for f in files)
            self.stats.add("list", n_dirs, 0)
        prefix = self.root.rstrip("/") + "/"
        return sorted(p[len(prefix):] for p in paths if p.startswith(prefix))

    def gdal_path(self, node: str) -> tuple[str, dict[str, str]]:
        """The GDAL path of the store and the config options GDAL needs to reach it."""
        if not self.remote:
            return self.root, {}
        u = urlparse(self.url)
        cfg: dict[str, str] = {}
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3")
        if endpoint:
            e = urlparse(endpoint)
            cfg["AWS_S3_ENDPOINT"] = e.netloc
            cfg["AWS_HTTPS"] = "NO" if e.scheme == "http" else "YES"
            cfg["AWS_VIRTUAL_HOSTING"] = "FALSE"
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            cfg["AWS_REGION"] = region
        # Credentials: GDAL (and rasterio's AWS session) read AWS_ACCESS_KEY_ID etc. from the environment.
        return f"/vsis3/{u.netloc}{u.path}".rstrip("/"), cfg


def open_store(url: str) -> StoreAccess:
    """Open STORE (a local path, file:// or s3:// URI) for counted reads.

    Raises StoreUnavailable when the store does not exist or cannot be reached.
    """
    url = url.rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        try:
            import s3fs
        except ImportError as exc:  # pragma: no cover - s3fs is a dependency
            raise StoreUnavailable(f"s3fs is not installed: {exc}") from exc
        # max_concurrency=1: one GET per object (otherwise s3fs HEADs every object first
        # to split large ones into ranges); many objects are still fetched concurrently.
        fs = s3fs.S3FileSystem(**s3_storage_options(), max_concurrency=1)
        access = StoreAccess(url=url, fs=fs, root=f"{parsed.netloc}{parsed.path}", remote=True)
        try:
            fs.connect()
            stats = access.stats

            def _on_send(**kwargs: Any) -> None:
                stats.add(access._phase, 1, 0)

            fs.s3.meta.events.register("before-send.s3", _on_send)
        except Exception as exc:
            raise StoreUnavailable(f"cannot reach {url}: {exc}") from exc
        return access
    if parsed.scheme in ("", "file"):
        import fsspec

        path = os.path.abspath(parsed.path if parsed.scheme == "file" else url)
        if not os.path.isdir(path):
            raise StoreUnavailable(f"{url}: no such store (not a directory)")
        return StoreAccess(url=url, fs=fsspec.filesystem("file"), root=path, remote=False)
    raise StoreUnavailable(f"{url}: unsupported scheme {parsed.scheme!r} (use a local path or s3://)")
