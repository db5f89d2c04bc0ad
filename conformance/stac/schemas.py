"""JSON Schemas for STAC items, fully offline by default.

Core schemas come from pystac's bundled copies; extension schemas (and anything
else referenced) from a local cache directory laid out like
`../shared/schemas/stac/`: an `index.json` mapping each schema URI to a file
path relative to the directory. When allowed (not offline), a schema missing
from the cache is fetched once and added to it.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from conformance.stac import vendored

CACHE_ENV = "GEOZARR_STAC_SCHEMA_CACHE"
# Seconds one schema download may take in all (name resolution, connection, body).
FETCH_TIMEOUT = 5.0


class SchemaUnavailable(Exception):
    """A schema URI is neither bundled nor cached, and may not be fetched."""


class SchemaUnreachable(SchemaUnavailable):
    """Fetching gave no HTTP answer (timeout, refused, name resolution): the network is out of reach."""


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "geozarr-conformance" / "stac-schemas"


def _pystac_bundled() -> dict[str, Path]:
    import pystac

    root = Path(pystac.__file__).parent / "validation" / "jsonschemas"
    out: dict[str, Path] = {}
    for f in (root / "geojson").glob("*.json"):
        out[f"https://geojson.org/schema/{f.name}"] = f
    for vdir in (root / "stac-spec").glob("v*"):
        for f in vdir.glob("*.json"):
            spec = {"catalog.json": "catalog-spec", "collection.json": "collection-spec"}.get(f.name, "item-spec")
            out[f"https://schemas.stacspec.org/{vdir.name}/{spec}/json-schema/{f.name}"] = f
    return out


def normalise(uri: str) -> str:
    return uri.split("#", 1)[0]


@dataclass
class SchemaStore:
    cache_dir: Path
    offline: bool = True
    fetch_timeout: float = FETCH_TIMEOUT
    fetched: list[str] = field(default_factory=list)
    # Why fetching stopped for this run (the first failure): later misses fail at once.
    unreachable: str = ""
    _bundled: dict[str, Path] = field(default_factory=dict)
    _index: dict[str, str] | None = None
    _loaded: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._bundled = _pystac_bundled()

    def index(self) -> dict[str, str]:
        if self._index is None:
            try:
                self._index = json.loads((self.cache_dir / "index.json").read_text())
            except (OSError, ValueError):
                self._index = {}
        return self._index

    def source(self, uri: str) -> str:
        uri = normalise(uri)
        if uri in self._bundled:
            return "bundled"
        if uri in self.index():
            return "cache"
        return "missing"

    def get(self, uri: str) -> Any:
        """The schema at URI; raises SchemaUnavailable."""
        uri = normalise(uri)
        if uri in self._loaded:
            return self._loaded[uri]
        path: Path | None = self._bundled.get(uri) or vendored.path_for(uri)
        if path is None and uri in self.index():
            path = self.cache_dir / self.index()[uri]
        if path is not None and path.is_file():
            schema = json.loads(path.read_text())
        elif self.offline:
            raise SchemaUnavailable(f"{uri} is not cached in {self.cache_dir} (offline)")
        else:
            schema = self._fetch(uri)
        self._loaded[uri] = schema
        return schema

    def _fetch(self, uri: str) -> Any:
        if self.unreachable:
            raise SchemaUnavailable(f"{uri} is not cached, and not fetched: {self.unreachable}")
        try:
            schema = json.loads(download(uri, self.fetch_timeout))
        except SchemaUnreachable as exc:
            self.unreachable = f"an earlier fetch failed ({exc})"
            raise
        except ValueError as exc:
            raise SchemaUnavailable(f"{uri} is not cached, and what it serves is not JSON: {exc}") from exc
        self.fetched.append(uri)
        try:
            self._store(uri, schema)
        except OSError:
            pass  # an unwritable cache: the schema is still used for this run
        return schema

    def _store(self, uri: str, schema: Any) -> None:
        u = urlparse(uri)
        rel = f"{u.netloc}{u.path}"
        target = self.cache_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(schema))
        index = dict(self.index())
        index[uri] = rel
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(index, fh, indent=1, sort_keys=True)
        os.replace(tmp, self.cache_dir / "index.json")
        self._index = index

    def registry(self) -> Any:
        from referencing import Registry, Resource
        from referencing.exceptions import NoSuchResource
        from referencing.jsonschema import DRAFT7

        def retrieve(uri: str) -> Resource:
            try:
                return Resource.from_contents(self.get(uri), default_specification=DRAFT7)
            except SchemaUnavailable as exc:
                raise NoSuchResource(ref=uri) from exc

        return Registry(retrieve=retrieve)  # type: ignore[call-arg]

    def validator(self, uri: str) -> Any:
        """A jsonschema validator for the schema at URI (references resolved from this store)."""
        from jsonschema.validators import validator_for

        schema = self.get(uri)
        cls = validator_for(schema, default=_draft7())
        return cls(schema, registry=self.registry())


def download(uri: str, timeout: float) -> bytes:
    """The body at URI, within TIMEOUT seconds in all; raises SchemaUnavailable.

    requests' own timeout bounds each socket operation but not name resolution nor a
    slowly dripping body, so the request runs in a daemon thread given TIMEOUT to finish
    (an abandoned thread does not keep the process alive)."""
    import requests

    result: dict[str, Any] = {}

    def get() -> None:
        try:
            resp = requests.get(uri, timeout=timeout)
            resp.raise_for_status()
            result["body"] = resp.content
        except Exception as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    worker = threading.Thread(target=get, name="stac-schema-fetch", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise SchemaUnreachable(f"{uri} is not cached and gave no answer within {timeout:g} s")
    if "error" in result:
        exc = result["error"]
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        kind = SchemaUnavailable if isinstance(exc, requests.HTTPError) else SchemaUnreachable
        raise kind(f"{uri} is not cached and cannot be fetched: {why[:200]}") from exc
    return result["body"]


def _draft7() -> Any:
    from jsonschema import Draft7Validator

    return Draft7Validator
