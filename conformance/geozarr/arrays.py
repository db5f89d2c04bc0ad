"""Arrays: dimension names, fill values, scale/offset, chunking, codecs."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterator
from typing import Any

from conformance.findings import Finding, Rule, Severity
from conformance.geozarr.context import GeoZarrContext, layout_levels, spatial_arrays
from conformance.geozarr.reader import zarr_metadata
from conformance.report import Check

DIMENSIONS = Rule("geozarr.array-dimensions", Severity.ERROR,
                  "every array names its dimensions (one per axis); spatial arrays end with spatial:dimensions")
FILL = Rule("geozarr.array-fill", Severity.ERROR,
            "fill_value is valid for the dtype and agrees with the CF _FillValue attribute")
SCALE_OFFSET = Rule("geozarr.array-scale-offset", Severity.ERROR,
                    "scale_factor/add_offset are numbers and only on integer-encoded data (a float array "
                    "carrying them is decoded twice by CF readers)")
CHUNKS = Rule("geozarr.array-chunks", Severity.ERROR,
              "chunk shapes have one positive edge per dimension and a sane size (≤ 256 MiB uncompressed)")
ALIGNMENT = Rule("geozarr.chunk-alignment", Severity.WARNING,
                 "the bands of a level share one chunk shape, and each level's chunk edge is the spatial chunk "
                 "(or the level's extent when smaller) or divides it")
CODECS = Rule("geozarr.array-codecs", Severity.ERROR,
              "array metadata (data type, chunk grid, codecs) is readable by zarr")

MAX_CHUNK_BYTES = 256 * 2**20


def _itemsize(dtype: Any) -> int:
    sizes = {"bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "float16": 2, "int32": 4, "uint32": 4,
             "float32": 4, "int64": 8, "uint64": 8, "float64": 8, "complex64": 8, "complex128": 16}
    return sizes.get(dtype if isinstance(dtype, str) else "", 8)


def _is_float(dtype: Any) -> bool:
    return isinstance(dtype, str) and dtype.startswith(("float", "complex"))


def _is_int(dtype: Any) -> bool:
    return isinstance(dtype, str) and dtype.startswith(("int", "uint"))


def check_dimensions(ctx: GeoZarrContext) -> Iterator[Finding]:
    m = ctx.model
    for path in m.arrays():
        meta = m.nodes[path]
        ndim = len(meta.get("shape", []))
        names = meta.get("dimension_names")
        if ndim == 0:
            continue
        if not isinstance(names, list) or len(names) != ndim or not all(isinstance(n, str) and n for n in names):
            yield DIMENSIONS.finding(f"dimension_names {names!r} do not name each of the {ndim} axes", path)
    for g in m.groups():
        dims = m.attrs(g).get("spatial:dimensions")
        if not isinstance(dims, list):
            continue
        for child in m.children(g):
            meta = m.nodes[child]
            names = meta.get("dimension_names") or []
            if meta.get("node_type") == "array" and len(meta.get("shape", [])) >= 2 and \
                    "grid_mapping" in (meta.get("attributes") or {}) and list(names[-2:]) != list(dims):
                yield DIMENSIONS.finding(f"georeferenced array's last dimensions {names[-2:]} are not "
                                         f"spatial:dimensions {dims}", child)


def _decode_cf_fill(value: Any, dtype: str) -> Any:
    """xarray writes float _FillValue as base64 of the little-endian bytes in Zarr v3."""
    if isinstance(value, str) and _is_float(dtype):
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError:
            return value
        if len(raw) == 8:
            return struct.unpack("<d", raw)[0]
        if len(raw) == 4:
            return struct.unpack("<f", raw)[0]
    return value


def _as_number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and v in ("NaN", "Infinity", "-Infinity"):
        return float(v.replace("Infinity", "inf"))
    return None


def check_fill(ctx: GeoZarrContext) -> Iterator[Finding]:
    """A mismatch means xarray (which masks with _FillValue) and zarr/GDAL (fill_value)
    disagree about which pixels are no-data."""
    m = ctx.model
    for path in m.arrays():
        meta = m.nodes[path]
        dtype = meta.get("data_type")
        fv = meta.get("fill_value")
        if not isinstance(dtype, str):
            continue
        fvn = _as_number(fv)
        if _is_int(dtype) and (fvn is None or fvn != int(fvn)):
            yield FILL.finding(f"fill_value {fv!r} is not an integer for {dtype}", path)
            continue
        if _is_float(dtype) and fvn is None:
            yield FILL.finding(f"fill_value {fv!r} is not a number for {dtype}", path)
            continue
        attrs = meta.get("attributes") or {}
        if "_FillValue" in attrs and fvn is not None:
            cf = _as_number(_decode_cf_fill(attrs["_FillValue"], dtype))
            if attrs.get("scale_factor") is not None or attrs.get("add_offset") is not None:
                continue  # _FillValue is then in encoded units: compared below by zarr's fill_value only
            if cf is None or not (cf == fvn or (math.isnan(cf) and math.isnan(fvn))):
                yield FILL.finding(f"_FillValue {attrs['_FillValue']!r} ({cf}) differs from fill_value {fv!r}", path)


def check_scale_offset(ctx: GeoZarrContext) -> Iterator[Finding]:
    m = ctx.model
    for path in m.arrays():
        meta = m.nodes[path]
        attrs = meta.get("attributes") or {}
        dtype = meta.get("data_type")
        for key in ("scale_factor", "add_offset"):
            if key in attrs and _as_number(attrs[key]) is None:
                yield SCALE_OFFSET.finding(f"{key} {attrs[key]!r} is not a number", path)
        has = any(k in attrs for k in ("scale_factor", "add_offset"))
        if has and _is_float(dtype) and attrs.get("_encoded_dtype") is None:
            yield SCALE_OFFSET.finding(
                f"{dtype} data carries scale_factor/add_offset: CF readers apply them to already-decoded "
                "values", path)


def check_chunks(ctx: GeoZarrContext) -> Iterator[Finding]:
    m = ctx.model
    for path in m.arrays():
        meta = m.nodes[path]
        grid = (meta.get("chunk_grid") or {}).get("configuration", {}).get("chunk_shape")
        shape = meta.get("shape", [])
        if not isinstance(grid, list) or len(grid) != len(shape):
            yield CHUNKS.finding(f"chunk shape {grid!r} does not match the array's {len(shape)} dimensions", path)
            continue
        if any(not isinstance(c, int) or c <= 0 for c in grid):
            yield CHUNKS.finding(f"chunk shape {grid} has a non-positive edge", path)
            continue
        nbytes = math.prod(grid) * _itemsize(meta.get("data_type"))
        if nbytes > MAX_CHUNK_BYTES:
            yield CHUNKS.finding(f"chunk {grid} is {nbytes / 2**20:.0f} MiB uncompressed "
                                 f"(> {MAX_CHUNK_BYTES // 2**20} MiB)", path)



def check_alignment(ctx: GeoZarrContext) -> Iterator[Finding]:
    """A warning, not an error: misaligned chunks are readable and correct, but a tile
    server reading several bands or levels of one area then fetches more objects
    (eopf-geozarr 0.12 chunks the 10980 px tile's r360m at 170 and r720m at 85 px
    with a 1024 px spatial chunk)."""
    m = ctx.model
    for g in m.multiscale_groups():
        spatial_chunk: int | None = None
        for lv in layout_levels(m, g):
            bands = [b for b in spatial_arrays(m, lv.path) if b in m.real_nodes]
            shapes = {tuple(m.nodes[b]["chunk_grid"]["configuration"]["chunk_shape"][-2:]) for b in bands
                      if isinstance((m.nodes[b].get("chunk_grid") or {}).get("configuration", {})
                                    .get("chunk_shape"), list)}
            if len(shapes) > 1:
                yield ALIGNMENT.finding(f"bands of the level are chunked differently: {sorted(shapes)}", lv.path)
                continue
            if not shapes or not bands:
                continue
            (cy, cx), = shapes
            ny, nx = m.nodes[bands[0]]["shape"][-2:]
            if spatial_chunk is None:
                spatial_chunk = max(cy, cx)
                continue
            want = (min(spatial_chunk, ny), min(spatial_chunk, nx))
            if (cy, cx) != want and not (spatial_chunk % cy == 0 and spatial_chunk % cx == 0):
                yield ALIGNMENT.finding(f"chunks {[cy, cx]} are not aligned with the spatial chunk "
                                     f"{spatial_chunk} (expected {list(want)})", lv.path)


def check_codecs(ctx: GeoZarrContext) -> Iterator[Finding]:
    """zarr's own parse of each array's metadata (`reader.zarr_metadata`: once per distinct one)."""
    m = ctx.model
    for path in m.arrays():
        meta = m.nodes[path]
        if meta.get("zarr_format") != 3:
            continue
        try:
            zarr_metadata(ctx, meta)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the finding
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            yield CODECS.finding(f"zarr cannot read this array's metadata: {msg}", path)


CHECKS = (
    Check(DIMENSIONS, check_dimensions),
    Check(FILL, check_fill),
    Check(SCALE_OFFSET, check_scale_offset),
    Check(CHUNKS, check_chunks),
    Check(ALIGNMENT, check_alignment),
    Check(CODECS, check_codecs),
)
