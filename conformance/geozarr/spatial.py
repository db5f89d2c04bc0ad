"""Georeferencing: spatial:* attributes agree with each other, with the arrays
and with the x/y coordinates; the CRS parses and matches the grid mapping."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.findings import Finding, Rule, Severity
from conformance.geozarr.context import (
    GeoZarrContext,
    affine6,
    bbox_of,
    close,
    entry_geometry,
    parse_crs,
    same_crs,
    spatial_arrays,
)
from conformance.geozarr.model import join
from conformance.geozarr.reader import fetch_chunks, read_window
from conformance.report import Check

SPATIAL = Rule("geozarr.spatial-consistent", Severity.ERROR,
               "spatial:bbox, spatial:shape, spatial:transform and spatial:dimensions agree with each other "
               "and with the arrays of the group")
COORDS = Rule("geozarr.spatial-coords", Severity.ERROR,
              "the x/y coordinate arrays are the pixel positions spatial:transform gives")
CRS = Rule("geozarr.proj-crs", Severity.ERROR,
           "proj:code / proj:wkt2 / proj:projjson parse, agree, and match the grid-mapping variable's crs_wkt")
LEGACY = Rule("geozarr.legacy-proj-attrs", Severity.WARNING,
              "per-array proj:epsg/proj:shape/proj:transform/proj:bbox (legacy, not a declared convention) "
              "agree with the array and its group")

SPATIAL_KEYS = ("spatial:dimensions", "spatial:bbox", "spatial:transform", "spatial:shape")


def _spatial_groups(ctx: GeoZarrContext) -> list[str]:
    m = ctx.model
    return [g for g in m.groups() if any(k in m.attrs(g) for k in SPATIAL_KEYS)]


def check_spatial(ctx: GeoZarrContext) -> Iterator[Finding]:
    m = ctx.model
    for g in _spatial_groups(ctx):
        a = m.attrs(g)
        dims = a.get("spatial:dimensions")
        if dims is not None and not (isinstance(dims, list) and len(dims) == 2
                                     and all(isinstance(d, str) for d in dims)):
            yield SPATIAL.finding(f"spatial:dimensions must be two names, got {dims!r}", g)
            dims = None
        shape, transform = entry_geometry({k: v for k, v in a.items() if k.startswith("spatial:")})
        if "spatial:shape" in a and shape is None:
            yield SPATIAL.finding(f"spatial:shape must be two integers, got {a['spatial:shape']!r}", g)
        if shape is not None and min(shape) <= 0:
            yield SPATIAL.finding(f"spatial:shape {shape} has an empty dimension", g)
            shape = None
        if "spatial:transform" in a and transform is None:
            yield SPATIAL.finding(f"spatial:transform must be 6 numbers, got {a['spatial:transform']!r}", g)
        if transform is not None and transform[0] * transform[4] - transform[1] * transform[3] == 0:
            yield SPATIAL.finding(f"spatial:transform {list(transform)} is degenerate (zero pixel size)", g)
            transform = None
        bbox = a.get("spatial:bbox")
        if bbox is not None:
            if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(x, (int, float)) for x in bbox)):
                yield SPATIAL.finding(f"spatial:bbox must be 4 numbers, got {bbox!r}", g)
                bbox = None
            elif not (bbox[0] < bbox[2] and bbox[1] < bbox[3]):
                yield SPATIAL.finding(f"spatial:bbox {bbox} is empty or inverted (xmin<xmax, ymin<ymax)", g)
                bbox = None
        if bbox is not None and shape is not None and transform is not None:
            expect = bbox_of(shape, transform)
            tol = 0.5 * max(abs(transform[0]), abs(transform[4]))
            if not all(close(x, y, tol) for x, y in zip(bbox, expect)):
                yield SPATIAL.finding(
                    f"spatial:bbox {bbox} does not match spatial:transform × spatial:shape {expect}", g)
        if dims is not None or shape is not None:
            dims_ = dims or ["y", "x"]
            for arr in spatial_arrays(m, g) if dims is not None else []:
                arr_shape = m.nodes[arr]["shape"][-2:]
                if shape is not None and list(arr_shape) != list(shape):
                    yield SPATIAL.finding(f"array is {arr_shape} on {dims_}, spatial:shape says {shape}", arr)
            if dims is not None:
                names: set[str] = set()
                for child in m.children(g):
                    names.update(m.nodes[child].get("dimension_names") or [])
                missing = [d for d in dims if names and d not in names]
                if missing:
                    yield SPATIAL.finding(f"spatial:dimensions {dims}: no array of the group has {missing}", g)


@dataclass(frozen=True)
class _Coordinate:
    """A 1-D coordinate array of a georeferenced group, and the positions it must hold."""

    path: str
    meta: dict[str, Any]
    dim: str
    scale: float
    origin: float
    offset: float
    shape: list[int] | None  # the group's spatial:shape
    axis: int  # this dimension's index in it


def _coordinates(ctx: GeoZarrContext) -> Iterator[_Coordinate]:
    m = ctx.model
    for g in _spatial_groups(ctx):
        a = m.attrs(g)
        shape, t = entry_geometry({k: v for k, v in a.items() if k.startswith("spatial:")})
        dims = a.get("spatial:dimensions")
        if t is None or not (isinstance(dims, list) and len(dims) == 2):
            continue
        if t[1] != 0 or t[3] != 0:
            continue  # rotated grids have no 1-D coordinates
        offset = 0.0 if a.get("spatial:registration") == "node" else 0.5
        for dim, (scale, origin) in zip(dims, ((t[4], t[5]), (t[0], t[2]))):
            path = join(g, dim)
            meta = m.nodes.get(path)
            if meta is None or meta.get("node_type") != "array" or path not in m.real_nodes:
                continue
            if len(meta.get("shape", [])) != 1:
                continue
            yield _Coordinate(path, meta, dim, scale, origin, offset, shape, 0 if dim == dims[0] else 1)


def check_coords(ctx: GeoZarrContext) -> Iterator[Finding]:
    """Reads the 1-D coordinate arrays of each georeferenced group (small), all fetched in
    one batch (`fetch_chunks`: one round trip on S3 instead of one per array)."""
    coordinates = list(_coordinates(ctx))
    fetch_chunks(ctx, [(c.path, c.meta) for c in coordinates])
    for c in coordinates:
        try:
            values = read_window(ctx, c.path, c.meta).astype(np.float64)
        except Exception as exc:  # noqa: BLE001 - undecodable is the codecs rule's finding
            yield COORDS.finding(f"cannot read coordinate values: {exc}", c.path)
            continue
        expect = c.origin + c.scale * (np.arange(values.size) + c.offset)
        if c.shape is not None and values.size != c.shape[c.axis]:
            yield COORDS.finding(f"{values.size} values, spatial:shape says {c.shape}", c.path)
            continue
        err = np.abs(values - expect)
        tol = 1e-3 * abs(c.scale)
        if not np.all(np.isfinite(values)) or err.max(initial=0.0) > tol:
            i = int(np.nanargmax(np.where(np.isfinite(values), err, np.inf)))
            yield COORDS.finding(
                f"{c.dim}[{i}] = {values[i]!r}, spatial:transform gives {expect[i]!r} "
                f"({'pixel centres' if c.offset else 'pixel corners'})", c.path)


def _node_crs(attrs: dict[str, Any]) -> tuple[Any, list[str]]:
    """(the CRS the node declares or None, problems)."""
    found: list[tuple[str, Any]] = []
    problems: list[str] = []
    for key in ("proj:code", "proj:wkt2", "proj:projjson"):
        if key in attrs and attrs[key] is not None:
            try:
                found.append((key, parse_crs(attrs[key], key)))
            except ValueError as exc:
                problems.append(f"{key} {str(attrs[key])[:60]!r} does not parse: {exc}")
    for (k1, c1), (k2, c2) in itertools.pairwise(found):
        if not same_crs(c1, c2):
            problems.append(f"{k1} and {k2} name different CRSs")
    return (found[0][1] if found else None), problems


def check_crs(ctx: GeoZarrContext) -> Iterator[Finding]:
    m = ctx.model
    for path in sorted(m.nodes):
        attrs = m.attrs(path)
        crs, problems = _node_crs(attrs)
        for p in problems:
            yield CRS.finding(p, path)
        gm = attrs.get("grid_mapping")
        if not isinstance(gm, str) or not m.is_group(path) and crs is None:
            continue
        parent = path if m.is_group(path) else path.rsplit("/", 1)[0] or "/"
        gm_path = join(parent, gm)
        gm_meta = m.nodes.get(gm_path)
        if gm_meta is None:
            yield CRS.finding(f"grid_mapping {gm!r} names no variable in {parent}", path)
            continue
        wkt = (gm_meta.get("attributes") or {}).get("crs_wkt") or (gm_meta.get("attributes") or {}).get("spatial_ref")
        if not wkt:
            yield CRS.finding("grid-mapping variable has no crs_wkt", gm_path)
            continue
        try:
            gm_crs = parse_crs(wkt, "crs_wkt")
        except ValueError as exc:
            yield CRS.finding(f"crs_wkt does not parse: {exc}", gm_path)
            continue
        if crs is not None and not same_crs(crs, gm_crs):
            yield CRS.finding(
                f"proj:* says {crs.to_string()}, grid mapping {gm} says {gm_crs.to_string()}", path)
    for g in m.multiscale_groups():
        top, _ = _node_crs(m.attrs(g))
        if top is None:
            continue
        for level in (m.attrs(g).get("multiscales") or {}).get("layout") or []:
            if not isinstance(level, dict) or not isinstance(level.get("asset"), str):
                continue
            lp = join(g, level["asset"])
            lc, _ = _node_crs(m.attrs(lp))
            if lc is not None and not same_crs(top, lc):
                yield CRS.finding(f"level CRS {lc.to_string()} differs from the multiscales group's "
                                  f"{top.to_string()}", lp)


def check_legacy(ctx: GeoZarrContext) -> Iterator[Finding]:
    """eopf-geozarr 0.12 copies the source band's proj:shape/proj:transform onto the
    levels it derives (an r120m band says 12×12 at 60 m). Severity: WARNING,
    deliberately. These per-array keys belong to no declared convention; GeoZarr
    readers (GDAL, xarray/rioxarray, TiTiler) georeference from the group's
    spatial:* / coordinates / grid mapping, which are right, so no conformant
    reader is misled. But any tool that copies them (e.g. into a STAC item)
    publishes a wrong footprint: the STAC rule `stac.proj-store` makes that an
    error, and the runner's convert repairs them so the pipeline's own output
    is clean."""
    m = ctx.model
    for g in _spatial_groups(ctx):
        ga = m.attrs(g)
        gshape, gt = entry_geometry({k: v for k, v in ga.items() if k.startswith("spatial:")})
        gcrs, _ = _node_crs(ga)
        arrays = spatial_arrays(m, g)
        # The group's EPSG code (a CRS identification: ~0.2 ms) and bbox, once per group
        epsg = gcrs.to_epsg() if gcrs is not None and any("proj:epsg" in m.attrs(x) for x in arrays) else None
        expect = bbox_of(gshape, gt) if gshape is not None and gt is not None else None
        for arr in arrays:
            a = m.attrs(arr)
            shape = m.nodes[arr]["shape"][-2:]
            if "proj:shape" in a and list(a["proj:shape"]) != list(shape):
                yield LEGACY.finding(f"proj:shape {a['proj:shape']} but the array is {shape}", arr)
            if "proj:transform" in a and gt is not None:
                t = affine6(a["proj:transform"])
                if t is None or not all(close(x, y, 1e-6 * max(1.0, abs(y))) for x, y in zip(t, gt)):
                    yield LEGACY.finding(f"proj:transform {a['proj:transform'][:6]} but the group's "
                                         f"spatial:transform is {list(gt)}", arr)
            if "proj:epsg" in a and gcrs is not None and a["proj:epsg"] != epsg:
                yield LEGACY.finding(f"proj:epsg {a['proj:epsg']} but the group's CRS is EPSG:{epsg}", arr)
            if "proj:bbox" in a and expect is not None:
                tol = max(abs(gt[0]), abs(gt[4]))
                if not all(close(x, y, tol) for x, y in zip(a["proj:bbox"], expect)):
                    yield LEGACY.finding(f"proj:bbox {a['proj:bbox']} but the array covers {expect}", arr)


CHECKS = (
    Check(SPATIAL, check_spatial),
    Check(COORDS, check_coords, phase="coords"),
    Check(CRS, check_crs),
    Check(LEGACY, check_legacy),
)
