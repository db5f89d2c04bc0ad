"""Bounded, counted data reads: decode just the chunks a window touches.

Chunk objects are fetched through `StoreAccess` (counted, concurrent on S3) and
decoded by zarr itself from an in-memory copy of the array's metadata and those
chunks, so every codec zarr knows is supported and nothing else is read.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.geozarr.context import GeoZarrContext


@dataclass
class _InMemory:
    """An array opened by zarr from an in-memory copy of its metadata, and the chunks added so
    far (a chunk not added reads as the fill value, as a missing object does)."""

    meta: dict[str, Any]
    store_dict: dict[str, Any]
    array: Any

    def add(self, chunks: dict[str, bytes]) -> Any:
        from zarr.core.buffer import default_buffer_prototype

        proto = default_buffer_prototype()
        self.store_dict.update({k: proto.buffer.from_bytes(v) for k, v in chunks.items()
                                if k not in self.store_dict})
        return self.array


def _is_v3_array(meta: dict[str, Any]) -> bool:
    return meta.get("zarr_format") == 3 and meta.get("node_type") == "array"


def _metadata_key(meta: dict[str, Any]) -> str | None:
    """META apart from `attributes`, as canonical JSON: what zarr's parse and decoding of an
    array depend on. None when the attributes are neither a JSON object nor null (zarr's parse
    then depends on them: `dict(attributes)` may fail)."""
    attrs = meta.get("attributes")
    if attrs is not None and not isinstance(attrs, dict):
        return None
    return json.dumps({k: v for k, v in meta.items() if k != "attributes"}, sort_keys=True)


def zarr_metadata(ctx: GeoZarrContext, meta: dict[str, Any]) -> Any:
    """zarr's parse of a Zarr v3 array's metadata, `ArrayV3Metadata.from_dict(meta)`: what it
    returns (with empty `attributes`), or what it raises.

    Parsed once per run for each distinct metadata apart from `attributes` (a converted S2 store
    has 187 arrays and 32 distinct ones). Exact: zarr's parse never reads the attributes beyond
    `dict(attributes)` (zarr 3.3 metadata/common.py parse_attributes: nothing else in
    ArrayV3Metadata's from_dict, __init__ or codec evolution sees them), which succeeds for a
    JSON object or null; any other attributes value is parsed whole, uncached, as before."""
    from zarr.core.metadata.v3 import ArrayV3Metadata

    key = _metadata_key(meta)
    if key is None:
        return ArrayV3Metadata.from_dict(dict(meta))
    parsed: dict[str, Any] = ctx.cache.setdefault("zarr_metadata", {})
    if key not in parsed:
        try:
            parsed[key] = ArrayV3Metadata.from_dict({k: v for k, v in meta.items() if k != "attributes"})
        except Exception as exc:  # noqa: BLE001 - raised again to every caller, as zarr would
            parsed[key] = exc
    got = parsed[key]
    if isinstance(got, Exception):
        raise got
    return got


def _open_in_memory(ctx: GeoZarrContext, path: str, meta: dict[str, Any]) -> _InMemory:
    """The array at PATH opened once per run, whatever number of windows are read from it.

    A Zarr v3 array (no storage transformers) is built from `zarr_metadata` (zarr's parse,
    shared by arrays with the same metadata) on a read-only in-memory store, as
    `zarr.open_array(store, mode="r")` builds it after reading that metadata back from the
    store; anything else is opened by `zarr.open_array` from an in-memory zarr.json."""
    import zarr
    from zarr.core.buffer import default_buffer_prototype
    from zarr.storage import MemoryStore

    opened: dict[str, _InMemory] = ctx.cache.setdefault("in_memory_arrays", {})
    known = opened.get(path)
    if known is not None and known.meta is meta:
        return known
    proto = default_buffer_prototype()
    v3 = zarr_metadata(ctx, meta) if _is_v3_array(meta) else None
    if v3 is not None and not v3.storage_transformers:
        from zarr.core.array import AsyncArray
        from zarr.storage import StorePath

        store_dict: dict[str, Any] = {}
        store = StorePath(MemoryStore(store_dict=store_dict, read_only=True))
        array = zarr.Array(AsyncArray(metadata=v3, store_path=store))
    else:
        store_dict = {"zarr.json": proto.buffer.from_bytes(json.dumps(meta).encode())}
        array = zarr.open_array(store=MemoryStore(store_dict=store_dict), mode="r", zarr_format=3)
    opened[path] = _InMemory(meta, store_dict, array)
    return opened[path]


def chunk_key(meta: dict[str, Any], coords: tuple[int, ...]) -> str:
    """The key of the stored object at grid COORDS (Zarr v3 default or v2 chunk key encoding)."""
    enc = meta.get("chunk_key_encoding") or {"name": "default"}
    name = enc.get("name", "default")
    sep = (enc.get("configuration") or {}).get("separator", "/" if name == "default" else ".")
    if name == "default":
        return sep.join(["c", *map(str, coords)])
    return sep.join(map(str, coords)) or "0"


def storage_grid(meta: dict[str, Any]) -> list[int]:
    """The shape of the stored objects' grid unit (the shard shape when sharded)."""
    return list(meta["chunk_grid"]["configuration"]["chunk_shape"])


def _window_chunks(path: str, meta: dict[str, Any],
                   window: tuple[slice, ...] | None) -> tuple[tuple[slice, ...], dict[str, str]]:
    """The window (whole array when None) and the store keys of the chunks it touches, by
    their key inside the array."""
    shape = list(meta.get("shape", []))
    if window is None:
        window = tuple(slice(0, n) for n in shape)
    if not shape:  # 0-D
        window = ()
    grid = storage_grid(meta) if shape else []
    ranges = [range(w.start // g, (max(w.stop, w.start + 1) - 1) // g + 1) for w, g in zip(window, grid)]
    coords = list(itertools.product(*ranges)) if shape else [()]
    node = path.strip("/")
    return window, {chunk_key(meta, c): f"{node}/{chunk_key(meta, c)}" for c in coords}


def fetch_chunks(ctx: GeoZarrContext, reads: list[tuple[str, dict[str, Any]]]) -> None:
    """Fetch the chunks of several whole arrays (PATH, META) at once, concurrently on S3 (one
    batch instead of a round trip per array), into the run's chunk cache: `read_window` then
    fetches none of them again. Only for arrays that are all read anyway: the same objects are
    fetched, once. An array whose chunks cannot be named, or a batch that fails, is left to
    `read_window` (which reports it as before)."""
    keys: list[str] = []
    for path, meta in reads:
        try:
            keys.extend(_window_chunks(path, meta, None)[1].values())
        except Exception:  # noqa: BLE001, S112 - read_window raises it where it is reported
            continue
    try:
        _cached_chunks(ctx, keys)
    except Exception:  # noqa: BLE001, S110 - read_window reads them again and reports the failure
        pass


def _cached_chunks(ctx: GeoZarrContext, keys: Iterable[str]) -> dict[str, bytes | None]:
    """The run's chunk cache, KEYS fetched into it: only those not there yet (a chunk already
    fetched for another window or array of this run is not fetched again)."""
    cache: dict[str, bytes | None] = ctx.cache.setdefault("chunks", {})
    ctx.access.set_phase("sample")
    cache.update(ctx.access.read_many([k for k in dict.fromkeys(keys) if k not in cache]))
    return cache


def read_window(ctx: GeoZarrContext, path: str, meta: dict[str, Any],
                window: tuple[slice, ...] | None = None) -> np.ndarray:
    """Decoded values of the array at PATH within WINDOW (whole array when None).

    Raises ValueError when the metadata cannot be decoded by zarr.
    """
    whole = window is None
    window, keys = _window_chunks(path, meta, window)
    node = path.strip("/")
    cache = _cached_chunks(ctx, keys.values())
    chunks = {rel: cache[k] for rel, k in keys.items() if cache.get(k) is not None}
    # zarr decodes a window from the metadata (apart from attributes) and the chunks alone: the
    # same metadata and chunk bytes decode to the same values. A store repeats its coordinate
    # arrays in every group of a resolution (38 read, 12 distinct in a converted S2 store).
    # Whole (small: coordinates, GCPs) arrays only: a sampled window's chunks are large and never
    # repeat, and comparing them would cost more than it saves.
    same = _decoded_key(meta, window, chunks) if whole else None
    decoded: dict[Any, np.ndarray] = ctx.cache.setdefault("decoded_windows", {})
    if same is None or same not in decoded:
        values = np.asarray(_open_in_memory(ctx, node, meta).add(chunks)[window])
        if same is None:
            return values
        decoded[same] = values
    return decoded[same].copy()


def _decoded_key(meta: dict[str, Any], window: tuple[slice, ...],
                 chunks: dict[str, bytes]) -> tuple[Any, ...] | None:
    """What a Zarr v3 array's decoded WINDOW depends on; None for other arrays (not shared)."""
    key = _metadata_key(meta) if _is_v3_array(meta) else None
    if key is None:
        return None
    return key, tuple((w.start, w.stop, w.step) for w in window), tuple(sorted(chunks.items()))
