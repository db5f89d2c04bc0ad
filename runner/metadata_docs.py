"""The metadata documents (`zarr.json`, and `.zgroup`/`.zarray`/`.zattrs`/`.zmetadata`
for Zarr v2) of a store: reading them all at once, writing back changed ones."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

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
    """Serialise a zarr.json with a 2-space indent, as zarr-python writes them.

    orjson writes it ~40x faster than the json module, whose indenting encoder is pure Python
    (0.05 s for a Sentinel-2 store's ~100 rewritten documents, its root's 300 KB of consolidated
    metadata above all). orjson differs in spelling only (UTF-8 rather than \\u escapes; `1e-7`
    for `1e-07`), except where it would change a value: it writes NaN and infinities as null and
    refuses integers beyond 64 bits. A document holding either (the C encoder, strict, says so
    cheaply) goes through the json module, as zarr-python writes it.
    """
    try:
        json.dumps(doc, allow_nan=False)
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    except (ValueError, TypeError, orjson.JSONEncodeError):
        return json.dumps(doc, indent=2, allow_nan=True).encode()


def write(loc: storage.Location, rel: str, data: bytes) -> None:
    path = f"{loc.path.rstrip('/')}/{rel}"
    loc.fs.pipe_file(path, data)
