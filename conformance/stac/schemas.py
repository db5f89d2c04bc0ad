"""JSON Schemas for STAC items, fully offline by default.

Core schemas come from pystac's bundled copies; extension schemas (and anything
else referenced) from a local cache directory laid out like
`../shared/schemas/stac/`: an `index.json` mapping each schema URI to a file
path relative to the directory (an entry that would resolve outside the
directory, `..` or absolute, is ignored). Only when asked (`online`, e.g.
`geozarr-conformance stac --online`, `conformance.stac.prefetch`) is a schema
missing from the cache fetched once and added to it, under a name that is the
SHA-256 of its URI (a URI cannot choose where its file goes), and only within
the `FetchPolicy`: https only, hosts on an allowlist (`GEOZARR_STAC_SCHEMA_HOSTS`,
comma-separated `host` or `host:port`; default the STAC schema hosts), each
redirect re-checked against the same policy (at most 3), at most 4 MiB and
FETCH_TIMEOUT seconds in all. Plain http is accepted only for a loopback host
that the allowlist names (a local mirror).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from conformance.stac import vendored

CACHE_ENV = "GEOZARR_STAC_SCHEMA_CACHE"
HOSTS_ENV = "GEOZARR_STAC_SCHEMA_HOSTS"
DEFAULT_HOSTS = ("schemas.stacspec.org", "stac-extensions.github.io", "geojson.org",
                 "json-schema.org", "proj.org", "cs-si.github.io")
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# Seconds one schema download may take in all (name resolution, connection, body).
FETCH_TIMEOUT = 5.0


class SchemaUnavailable(Exception):
    """A schema URI is neither bundled nor cached, and may not be fetched."""


class SchemaUnreachable(SchemaUnavailable):
    """Fetching gave no HTTP answer (timeout, refused, name resolution): the network is out of reach."""


@dataclass(frozen=True)
class FetchPolicy:
    """What an online SchemaStore may fetch (see the module's docstring)."""

    hosts: frozenset[str] = frozenset(DEFAULT_HOSTS)
    max_bytes: int = 4 * 1024 * 1024
    max_redirects: int = 3

    @classmethod
    def from_env(cls) -> FetchPolicy:
        raw = os.environ.get(HOSTS_ENV, "")
        hosts = [h.strip().lower() for h in raw.split(",") if h.strip()]
        return cls(hosts=frozenset(hosts)) if hosts else cls()

    def refusal(self, uri: str) -> str:
        """Why URI may not be fetched ('' when it may)."""
        try:
            u = urlsplit(uri)
            host, port = (u.hostname or "").lower(), u.port
        except ValueError as exc:
            return f"not a URL: {exc}"
        named = host in self.hosts or (port is not None and f"{host}:{port}" in self.hosts)
        if u.scheme not in {"http", "https"}:
            return f"only https is fetched, not {u.scheme or 'a relative URL'}"
        if not named:
            return f"host {host or '(none)'} is not on the schema host allowlist ({HOSTS_ENV})"
        if u.scheme == "http" and host not in LOOPBACK:
            return "only https is fetched, not http"
        return ""


def cache_name(uri: str) -> str:
    """The cache file of a fetched URI: its SHA-256 (the URI never names a path)."""
    return "fetched/" + hashlib.sha256(uri.encode()).hexdigest() + ".json"


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "geozarr-conformance" / "stac-schemas"


def _pystac_bundled() -> dict[str, Path]:
    import importlib.util

    # pystac's schema files, found without importing pystac (~0.3 s of imports for a path)
    spec = importlib.util.find_spec("pystac")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("pystac is not installed", name="pystac")
    root = Path(next(iter(spec.submodule_search_locations))) / "validation" / "jsonschemas"
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
    policy: FetchPolicy = field(default_factory=FetchPolicy.from_env)
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

    def cached_path(self, uri: str) -> Path | None:
        """The cache file of URI, when the index has one inside the cache directory."""
        rel = self.index().get(uri)
        if not isinstance(rel, str) or not rel or os.path.isabs(rel) or "\0" in rel:
            return None
        root = self.cache_dir.resolve()
        path = (root / rel).resolve()
        return path if path.is_relative_to(root) and path != root else None

    def source(self, uri: str) -> str:
        uri = normalise(uri)
        if uri in self._bundled:
            return "bundled"
        if self.cached_path(uri) is not None:
            return "cache"
        return "missing"

    def get(self, uri: str) -> Any:
        """The schema at URI; raises SchemaUnavailable."""
        uri = normalise(uri)
        if uri in self._loaded:
            return self._loaded[uri]
        path: Path | None = self._bundled.get(uri) or vendored.path_for(uri) or self.cached_path(uri)
        if path is not None and path.is_file():
            schema = _load_json(path, uri)
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
            schema = json.loads(download(uri, self.fetch_timeout, self.policy))
        except SchemaUnreachable as exc:
            self.unreachable = f"an earlier fetch failed ({exc})"
            raise
        except (ValueError, RecursionError) as exc:
            raise SchemaUnavailable(f"{uri} is not cached, and what it serves is not JSON: "
                                    f"{str(exc)[:200]}") from exc
        self.fetched.append(uri)
        try:
            self._store(uri, schema)
        except OSError:
            pass  # an unwritable cache: the schema is still used for this run
        return schema

    def _store(self, uri: str, schema: Any) -> None:
        rel = cache_name(uri)
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


def _get_within_policy(uri: str, timeout: float, policy: FetchPolicy) -> bytes:
    """GET URI following at most `policy.max_redirects` redirects, each re-checked; the body,
    read up to `policy.max_bytes`."""
    import requests

    for _ in range(policy.max_redirects + 1):
        why = policy.refusal(uri)
        if why:
            raise SchemaUnavailable(f"{uri}: not fetched: {why}")
        with requests.get(uri, timeout=timeout, allow_redirects=False, stream=True) as resp:
            if resp.is_redirect and resp.headers.get("Location"):
                uri = urljoin(uri, resp.headers["Location"])
                continue
            resp.raise_for_status()
            body = b""
            for chunk in resp.iter_content(64 * 1024):
                body += chunk
                if len(body) > policy.max_bytes:
                    raise SchemaUnavailable(f"{uri}: not fetched: larger than {policy.max_bytes} bytes")
            return body
    raise SchemaUnavailable(f"{uri}: not fetched: more than {policy.max_redirects} redirects")


def download(uri: str, timeout: float, policy: FetchPolicy | None = None) -> bytes:
    """The body at URI, within TIMEOUT seconds in all, within POLICY; raises SchemaUnavailable.

    requests' own timeout bounds each socket operation but not name resolution nor a
    slowly dripping body, so the request runs in a daemon thread given TIMEOUT to finish
    (an abandoned thread does not keep the process alive)."""
    import requests

    policy = policy or FetchPolicy.from_env()
    why = policy.refusal(uri)
    if why:
        raise SchemaUnavailable(f"{uri}: not fetched: {why}")
    result: dict[str, Any] = {}

    def get() -> None:
        try:
            result["body"] = _get_within_policy(uri, timeout, policy)
        except Exception as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    worker = threading.Thread(target=get, name="stac-schema-fetch", daemon=True)
    worker.start()
    worker.join(timeout)
    silent = f"{uri} is not cached and gave no answer within {timeout:g} s"
    if worker.is_alive():
        raise SchemaUnreachable(silent)
    if "error" in result:
        exc = result["error"]
        if isinstance(exc, SchemaUnavailable):
            raise exc
        if isinstance(exc, requests.Timeout):  # requests' own timeout ended it first: the same silence
            raise SchemaUnreachable(silent) from exc
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        kind = SchemaUnavailable if isinstance(exc, requests.HTTPError) else SchemaUnreachable
        raise kind(f"{uri} is not cached and cannot be fetched: {why[:200]}") from exc
    return result["body"]


def _load_json(path: Path, uri: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as exc:
        raise SchemaUnavailable(f"{uri}: cached copy {path} is unreadable: {str(exc)[:200]}") from exc


def _draft7() -> Any:
    from jsonschema import Draft7Validator

    return Draft7Validator
