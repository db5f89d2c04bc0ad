"""The run manifest, `run.json`, written last inside the output store's root.

A store is complete only when `OUTPUT/run.json` exists: `convert` deletes it
first when it (re)writes a store and writes it after everything else, so any
store without it is incomplete (removed by the next `convert`). Its schema is
`schemas/run-manifest.schema.json`.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import time
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from runner import __version__, bounded_json, metadata_docs, storage
from runner.errors import BadInput
from runner.ownership import MARKER_NAME

MANIFEST_NAME = "run.json"
MANIFEST_VERSION = "1.0"


def manifest_location(output_uri: str) -> storage.Location:
    return storage.locate(output_uri).child(MANIFEST_NAME)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@functools.cache
def _version(dist: str) -> str:
    """The installed version of DIST, looked up once per process (each lookup scans sys.path:
    ~0.6 ms, three per run.json written)."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def versions() -> dict[str, str]:
    return {
        "runner": __version__,
        "eopf_geozarr": _version("eopf-geozarr"),
        "zarr": _version("zarr"),
        "xarray": _version("xarray"),
        "python": platform.python_version(),
    }


def store_inventory(output_uri: str) -> tuple[int, int, dict[str, str]]:
    """(bytes, objects, sha256 of every metadata document) of the store, run.json and the
    ownership marker excluded."""
    loc = storage.locate(output_uri)
    files = {rel: size for rel, size in storage.list_files(loc).items()
             if rel not in (MANIFEST_NAME, MARKER_NAME)}
    meta = sorted(rel for rel in files if metadata_docs.is_metadata(rel))
    raw = metadata_docs.read_all(loc, meta)
    return sum(files.values()), len(files), {rel: metadata_docs.sha256(raw[rel]) for rel in meta}


def build(
    *,
    source: dict[str, Any],
    output_uri: str,
    item_id: str,
    collection: str,
    product_type: str,
    conversion_path: str,
    groups: list[str],
    parameters: dict[str, Any],
    started_at: str,
    timings: dict[str, float],
    repairs: list[dict[str, Any]],
    run_started: float,
    exit_status: int = 0,
    inventory_uri: str | None = None,
) -> dict[str, Any]:
    """The manifest; `timings` gains `manifest` (this inventory) and `total` (since
    `run_started`, a time.monotonic() value). `inventory_uri`: where to read the store's
    objects from when not `output_uri` (the local copy an S3 output was uploaded from)."""
    t = time.monotonic()
    nbytes, objects, docs = store_inventory(inventory_uri or output_uri)
    timings = {**timings, "manifest": time.monotonic() - t, "total": time.monotonic() - run_started}
    return {
        "manifest_version": MANIFEST_VERSION,
        "input": source,
        "output": {
            "uri": output_uri,
            "manifest_uri": manifest_location(output_uri).uri,
            "bytes": nbytes,
            "objects": objects,
        },
        "item_id": item_id,
        "collection": collection,
        "product_type": product_type,
        "conversion_path": conversion_path,
        "groups": groups,
        "parameters": parameters,
        "versions": versions(),
        "image": os.environ.get("GEOZARR_IMAGE") or None,
        "started_at": started_at,
        "finished_at": now_iso(),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "metadata_documents": docs,
        "repairs": repairs,
        "exit_status": exit_status,
    }


def write(output_uri: str, manifest: dict[str, Any]) -> str:
    loc = manifest_location(output_uri)
    storage.write_text(loc, json.dumps(manifest, indent=2) + "\n")
    return loc.uri


def read(output_uri: str) -> dict[str, Any] | None:
    """The store's run.json, or None when the store is incomplete (no run.json)."""
    loc = manifest_location(output_uri)
    text = storage.read_text_if_exists(loc)
    if text is None:
        return None
    try:
        doc = bounded_json.loads(text)
    except ValueError as exc:
        raise BadInput(f"{loc.uri}: not valid JSON: {getattr(exc, 'msg', exc)}") from exc
    return doc if isinstance(doc, dict) else None


def verify(output_uri: str, manifest: dict[str, Any]) -> list[str]:
    """Differences between the store and its manifest (empty list: they agree)."""
    nbytes, objects, docs = store_inventory(output_uri)
    problems: list[str] = []
    recorded = manifest.get("metadata_documents") or {}
    for rel in sorted(set(recorded) | set(docs)):
        if rel not in docs:
            problems.append(f"{rel}: in the manifest, missing from the store")
        elif rel not in recorded:
            problems.append(f"{rel}: in the store, not in the manifest")
        elif recorded[rel] != docs[rel]:
            problems.append(f"{rel}: SHA-256 differs from the manifest")
    out = manifest.get("output") or {}
    if out.get("objects") != objects:
        problems.append(f"objects: manifest says {out.get('objects')}, store has {objects}")
    if out.get("bytes") != nbytes:
        problems.append(f"bytes: manifest says {out.get('bytes')}, store has {nbytes}")
    return problems
