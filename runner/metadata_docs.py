"""The metadata documents (`zarr.json`, and `.zgroup`/`.zarray`/`.zattrs`/`.zmetadata`
for Zarr v2) of a store: reading them all at once, writing back changed ones."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from runner import storage

METADATA_NAMES = frozenset({"zarr.json", ".zgroup", ".zarray", ".zattrs", ".zmetadata"})


def is_metadata(rel: str) -> bool:
    return rel.rsplit("/", 1)[-1] in METADATA_NAMES


def read_all(loc: storage.Location, rels: list[str]) -> dict[str, bytes]:
    """Raw bytes of the documents `rels` (paths relative to the store root)."""
    if not rels:
        return {}
    base = loc.path.rstrip("/")
    full = [f"{base}/{rel}" for rel in rels]
    got = loc.fs.cat(full)
    if isinstance(got, bytes):  # a single path
        got = {full[0]: got}
    out: dict[str, bytes] = {}
    for rel, path in zip(rels, full):
        value = got.get(path)
        if value is None:  # key spelled differently by this filesystem
            value = loc.fs.cat_file(path)
        out[rel] = value if isinstance(value, bytes) else bytes(value)
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dumps(doc: dict[str, Any]) -> bytes:
    """Serialise a zarr.json like zarr-python does (2-space indent)."""
    return json.dumps(doc, indent=2, allow_nan=True).encode()


def write(loc: storage.Location, rel: str, data: bytes) -> None:
    path = f"{loc.path.rstrip('/')}/{rel}"
    loc.fs.pipe_file(path, data)
