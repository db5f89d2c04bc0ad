"""Recompute bands that eopf-geozarr 0.12 derives with a wrong no-data handling.

On the Sentinel-2 L2A path the converter adds b08 to r20m and r60m by
averaging r10m b08 (the array says so: `_derived_from: "r10m"`, `_factor`,
`_resampling_mode: "mean"`), but it writes 0.0 where r10m is no-data and
averages partially no-data blocks with those zeros; r120m/r360m/r720m are then
derived from the wrong r60m b08. No-data reads as zero reflectance.

This module recomputes such arrays as the NaN-aware block average of their
parent (no-data pixels skipped; a block without any valid pixel -> the array's
fill value), then every array of the same name in the levels derived from them
(the multiscales layout's `derived_from` chain), in layout order so each level
is computed from its already-repaired parent. The block size is the ratio of
the levels' `spatial:transform` pixel sizes, the offset the difference of their
origins (both must be whole parent pixels).

Bounded memory: an array is processed one row of chunks (or shards) at a time,
its parent read in strips of at most `STRIP_ELEMENTS` values. Only chunk rows
whose content changes are rewritten (through the zarr API: codecs and chunking
stay as they are); array metadata is not touched.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import zarr

STRIP_ELEMENTS = 1 << 22  # parent values held at once (16 MB of float32)
RTOL = 1e-5  # float32 sums in another order differ by a few ulps: not a change


@dataclass(frozen=True)
class Job:
    """Recompute `target` (node path, no leading slash) from `source`."""

    target: str
    source: str
    factor: tuple[int, int]  # (y, x) parent pixels per target pixel
    offset: tuple[int, int]  # (y, x) parent pixel of the target's first pixel
    reason: str  # "injected" (converter-added band) or "derived" (from a recomputed level)


@dataclass(frozen=True)
class Outcome:
    job: Job
    chunk_rows: int
    chunk_rows_written: int
    pixels_changed: int
    values_where_source_is_nodata: int  # the defect: old had a value, the source block had none
    nodata_where_source_has_data: int

    def to_repair_fields(self) -> tuple[dict[str, Any], dict[str, Any]]:
        old = {
            "pixels_differing": self.pixels_changed,
            "values_where_source_is_nodata": self.values_where_source_is_nodata,
            "nodata_where_source_has_data": self.nodata_where_source_has_data,
        }
        new = {
            "method": "nan-average",
            "source": "/" + self.job.source,
            "factor": list(self.job.factor),
            "offset": list(self.job.offset),
            "chunk_rows_rewritten": self.chunk_rows_written,
            "chunk_rows": self.chunk_rows,
        }
        return old, new


# --- planning (metadata only) --------------------------------------------------------


def _attrs(docs: dict[str, dict[str, Any]], node: str) -> dict[str, Any]:
    doc = docs.get(f"{node}/zarr.json" if node else "zarr.json") or {}
    attrs = doc.get("attributes")
    return attrs if isinstance(attrs, dict) else {}


def _children_arrays(docs: dict[str, dict[str, Any]], node: str) -> dict[str, dict[str, Any]]:
    prefix = f"{node}/" if node else ""
    out: dict[str, dict[str, Any]] = {}
    for rel, doc in docs.items():
        if not rel.startswith(prefix) or doc.get("node_type") != "array":
            continue
        name = rel[len(prefix):].removesuffix("/zarr.json")
        if "/" not in name:
            out[name] = doc
    return out


def grid_relation(child_t: object, parent_t: object) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """(factor, offset) in whole parent pixels between two `spatial:transform`s, or None
    when the child grid is not an integer aggregation of the parent grid."""
    if not (isinstance(child_t, list) and isinstance(parent_t, list) and len(child_t) >= 6 and len(parent_t) >= 6):
        return None
    c = [float(v) for v in child_t[:6]]
    p = [float(v) for v in parent_t[:6]]
    if c[1] or c[3] or p[1] or p[3] or not p[0] or not p[4]:
        return None  # rotated grids
    values = (c[4] / p[4], c[0] / p[0], (c[5] - p[5]) / p[4], (c[2] - p[2]) / p[0])
    rounded = [round(v) for v in values]
    if any(abs(v - r) > 1e-6 for v, r in zip(values, rounded)):
        return None
    fy, fx, oy, ox = rounded
    if fy < 1 or fx < 1 or oy < 0 or ox < 0:
        return None
    return (fy, fx), (oy, ox)


def _layout(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    ms = attrs.get("multiscales")
    layout = ms.get("layout") if isinstance(ms, dict) else None
    return [e for e in layout if isinstance(e, dict) and isinstance(e.get("asset"), str)] if isinstance(
        layout, list) else []


def plan(docs: dict[str, dict[str, Any]]) -> list[Job]:
    """The arrays to recompute, parents before children, given every zarr.json of the store
    keyed by relative path."""
    jobs: list[Job] = []
    groups = sorted(_node_of(rel) for rel, d in docs.items()
                    if d.get("node_type") == "group" and _layout(d.get("attributes") or {}))
    for g in groups:
        recomputed: dict[str, set[str]] = {}
        for entry in _layout(_attrs(docs, g)):
            level = entry["asset"]
            lpath = f"{g}/{level}" if g else level
            arrays = _children_arrays(docs, lpath)
            ltrans = _attrs(docs, lpath).get("spatial:transform")
            names: set[str] = set()
            # the bands of a recomputed level, in the levels derived from it (per the layout):
            # recomputed from that level, so the pyramid stays a chain of block averages
            parent = entry.get("derived_from")
            if isinstance(parent, str) and recomputed.get(parent):
                ppath = f"{g}/{parent}" if g else parent
                rel = grid_relation(ltrans, _attrs(docs, ppath).get("spatial:transform"))
                if rel is not None:
                    for name in sorted(recomputed[parent]):
                        if name in arrays:
                            jobs.append(Job(f"{lpath}/{name}", f"{ppath}/{name}", rel[0], rel[1], "derived"))
                            names.add(name)
            # bands the converter injected from a finer sibling level: `_derived_from` names it
            # and `_factor` is the grid ratio (the levels below copy these attributes unchanged,
            # with a `_factor` that no longer matches their grid)
            for name, doc in sorted(arrays.items()):
                a = doc.get("attributes") or {}
                src_level = a.get("_derived_from")
                if name in names or not isinstance(src_level, str):
                    continue
                if str(a.get("_resampling_mode", "mean")) not in ("mean", "average"):
                    continue
                spath = f"{g}/{src_level}" if g else src_level
                if name not in _children_arrays(docs, spath):
                    continue
                rel = grid_relation(ltrans, _attrs(docs, spath).get("spatial:transform"))
                if rel is None or ("_factor" in a and [a["_factor"]] * 2 != list(rel[0])):
                    continue
                jobs.append(Job(f"{lpath}/{name}", f"{spath}/{name}", rel[0], rel[1], "injected"))
                names.add(name)
            recomputed[level] = names
    return jobs


def _node_of(rel: str) -> str:
    return rel[: -len("zarr.json")].rstrip("/")


# --- computing ----------------------------------------------------------------------


def _numeric_fill(fill: object) -> float | None:
    """The fill value when it is a number other than NaN (which `isnan` covers)."""
    if isinstance(fill, (int, float, np.number)) and not isinstance(fill, bool):
        value = float(fill)
        return None if math.isnan(value) else value
    return None


def _nodata(values: np.ndarray, fill: object) -> np.ndarray:
    mask = np.isnan(values) if values.dtype.kind == "f" else np.zeros(values.shape, bool)
    number = _numeric_fill(fill)
    if number is not None:
        mask |= values == number
    return mask


def block_average(parent: np.ndarray, factor: tuple[int, int], fill: object = np.nan) -> np.ndarray:
    """NaN-aware mean of `factor`-sized blocks of `parent` (whose shape is a multiple
    of factor): no-data pixels (NaN or `fill`) are skipped, an all-no-data block is NaN."""
    fy, fx = factor
    h, w = parent.shape[0] // fy, parent.shape[1] // fx
    valid = ~_nodata(parent, fill)
    total = np.where(valid, parent, 0).reshape(h, fy, w, fx).sum(axis=(1, 3), dtype=np.float64)
    count = valid.reshape(h, fy, w, fx).sum(axis=(1, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _rows_of_parent(src: Any, rows: tuple[int, int], job: Job, width: int) -> Iterator[tuple[int, np.ndarray]]:
    """Strips of the target rows [r0, r1) computed from the parent: (first target row, values)."""
    fy, fx = job.factor
    oy, ox = job.offset
    sh, sw = src.shape[-2:]
    per_strip = max(1, STRIP_ELEMENTS // max(1, fy * fx * width))
    r0, r1 = rows
    for a in range(r0, r1, per_strip):
        b = min(r1, a + per_strip)
        y0, y1 = oy + a * fy, oy + b * fy
        x0, x1 = ox, ox + width * fx
        block = np.full((y1 - y0, x1 - x0), np.nan, dtype=np.float32)
        ry1, rx1 = min(y1, sh), min(x1, sw)  # a target larger than floor(parent / f): NaN-padded edge
        if ry1 > y0 and rx1 > x0:
            part = np.asarray(src[y0:ry1, x0:rx1])
            part = np.where(_nodata(part, src.fill_value), np.nan, part.astype(np.float32))
            block[: ry1 - y0, : rx1 - x0] = part
        yield a, block_average(block, job.factor)


def _same(old: np.ndarray, new: np.ndarray) -> bool:
    if old.shape != new.shape:
        return False
    on, nn = np.isnan(old), np.isnan(new)
    if not np.array_equal(on, nn):
        return False
    return bool(np.allclose(old[~on], new[~nn], rtol=RTOL, atol=0.0))


def recompute(store: Any, job: Job) -> Outcome:
    """Recompute one array in `store` (a zarr store) from its parent; rewrite only the chunk
    rows that change."""
    src = zarr.open_array(store, path=job.source, mode="r")
    dst = zarr.open_array(store, path=job.target, mode="r+")
    if dst.ndim != 2 or src.ndim != 2 or dst.dtype.kind != "f":
        raise ValueError(f"/{job.target}: only 2-D float arrays are recomputed (got {dst.dtype}, {dst.ndim}-D)")
    h, w = dst.shape
    step = (dst.shards or dst.chunks)[0]
    fill = dst.fill_value
    rows = written = changed = invented = lost = 0
    for r0 in range(0, h, step):
        r1 = min(h, r0 + step)
        rows += 1
        new32 = np.empty((r1 - r0, w), dtype=dst.dtype)
        for a, values in _rows_of_parent(src, (r0, r1), job, w):
            new32[a - r0: a - r0 + values.shape[0]] = values
        old = np.asarray(dst[r0:r1, :])
        old = np.where(_nodata(old, fill), np.nan, old)
        if _same(old, new32):
            continue
        on, nn = np.isnan(old), np.isnan(new32)
        differs = (on != nn) | (~on & ~nn & ~np.isclose(old, new32, rtol=RTOL, atol=0.0))
        changed += int(differs.sum())
        invented += int((~on & nn).sum())
        lost += int((on & ~nn).sum())
        if _numeric_fill(fill) is not None:
            new32 = np.where(nn, fill, new32).astype(dst.dtype)
        dst[r0:r1, :] = new32
        written += 1
    return Outcome(job, rows, written, changed, invented, lost)
