"""Sentinel-1 GRD output: one group per polarisation, each with a measurements grid the
converter reprojected through the product's GCPs (EPSG:4326) and a multiscales pyramid.

A store is a Sentinel-1 one when its top groups end in a polarisation (`..._VV`, `..._VH`,
`..._HH`, `..._HV`); on any other store these rules find nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from conformance.findings import Finding, Rule, Severity
from conformance.geozarr.context import (
    GeoZarrContext,
    bbox_of,
    entry_geometry,
    layout_levels,
    parse_crs,
)
from conformance.report import Check

POLARISATIONS = Rule(
    "geozarr.s1-polarisations", Severity.ERROR,
    "every polarisation group holds a measurements group with its backscatter, and the store has the "
    "polarisations its product name declares (1SDV: VV+VH, 1SDH: HH+HV, 1SSV: VV, 1SSH: HH)")
GCP_GEOLOCATION = Rule(
    "geozarr.s1-gcp-geolocation", Severity.ERROR,
    "each polarisation's measurements grid (base level spatial:shape/spatial:transform in its proj:code CRS) "
    "spans the bounding box of its GCPs (conditions/gcp latitude/longitude, EPSG:4326) within 2 pixels")
MULTISCALES = Rule(
    "geozarr.s1-multiscales", Severity.ERROR,
    "each polarisation's measurements group declares multiscales whose base level ('.') has the "
    "backscatter array, and every polarisation has the same grid (base shape and transform)")

_POL_GROUP = re.compile(r"^/[^/]+_(VV|VH|HH|HV)$")
_DECLARED = {"DV": {"VV", "VH"}, "DH": {"HH", "HV"}, "SV": {"VV"}, "SH": {"HH"}}
_NAME_MODE = re.compile(r"_1S(DV|DH|SV|SH)_")
GCP_TOLERANCE_PIXELS = 2.0
MEASUREMENTS = "measurements"
BACKSCATTER = "grd"


def polarisation_groups(ctx: GeoZarrContext) -> dict[str, str]:
    """{polarisation: top group path} of a Sentinel-1 store (empty for other stores)."""
    out = {}
    for g in ctx.model.children("/") if "/" in ctx.model.nodes else []:
        m = _POL_GROUP.match(g)
        if m and ctx.model.is_group(g):
            out[m.group(1)] = g
    return out


def check_polarisations(ctx: GeoZarrContext) -> Iterator[Finding]:
    pols = polarisation_groups(ctx)
    if not pols:
        return
    for pol, g in sorted(pols.items()):
        grd = f"{g}/{MEASUREMENTS}/{BACKSCATTER}"
        if not ctx.model.is_array(grd):
            yield POLARISATIONS.finding(f"polarisation {pol} has no {MEASUREMENTS}/{BACKSCATTER} array", g)
    mode = _NAME_MODE.search(ctx.access.url.rstrip("/").rsplit("/", 1)[-1])
    if mode:
        expected = _DECLARED[mode.group(1)]
        missing, extra = sorted(expected - set(pols)), sorted(set(pols) - expected)
        if missing or extra:
            yield POLARISATIONS.finding(
                f"the store name declares 1S{mode.group(1)} ({'+'.join(sorted(expected))}); "
                f"missing {missing or 'none'}, unexpected {extra or 'none'}", "/")
    elif set(pols) not in _DECLARED.values():
        yield POLARISATIONS.finding(f"polarisations {sorted(pols)} are not a Sentinel-1 combination", "/")


def _base_geometry(ctx: GeoZarrContext, group: str) -> tuple[list[int] | None, tuple[float, ...] | None]:
    base = next((lv for lv in layout_levels(ctx.model, group) if lv.derived_from is None), None)
    return entry_geometry(base.entry) if base else (None, None)


def check_multiscales(ctx: GeoZarrContext) -> Iterator[Finding]:
    grids: dict[str, tuple[Any, Any]] = {}
    for pol, g in sorted(polarisation_groups(ctx).items()):
        m = f"{g}/{MEASUREMENTS}"
        if not ctx.model.is_group(m):
            continue  # geozarr.s1-polarisations
        levels = layout_levels(ctx.model, m)
        if not levels:
            yield MULTISCALES.finding(f"polarisation {pol}: {MEASUREMENTS} declares no multiscales layout", m)
            continue
        base = [lv for lv in levels if lv.derived_from is None]
        if [lv.asset for lv in base] != ["."]:
            yield MULTISCALES.finding(f"polarisation {pol}: base level is {[lv.asset for lv in base]}, "
                                      "expected the measurements group itself ('.')", m)
            continue
        if not ctx.model.is_array(f"{m}/{BACKSCATTER}"):
            yield MULTISCALES.finding(f"polarisation {pol}: base level has no {BACKSCATTER} array", m)
        grids[pol] = _base_geometry(ctx, m)
    if len({repr(v) for v in grids.values()}) > 1:
        described = "; ".join(f"{pol}: shape {shape}, transform {transform}"
                              for pol, (shape, transform) in sorted(grids.items()))
        yield MULTISCALES.finding(f"the polarisations' base grids differ (all come from the same "
                                  f"GCPs): {described}", "/")


def _gcp_lonlat(ctx: GeoZarrContext, group: str) -> tuple[Any, Any] | None:
    from conformance.geozarr.reader import read_window

    paths = [f"{group}/conditions/gcp/{name}" for name in ("longitude", "latitude")]
    if not all(ctx.model.is_array(p) for p in paths):
        return None
    lon, lat = (read_window(ctx, p, ctx.model.nodes[p]) for p in paths)
    return lon, lat


def _grid_box(ctx: GeoZarrContext, group: str) -> tuple[list[float], float] | None:
    """(bbox, pixel size) of a measurements grid: from the multiscales base level, else from
    the group's spatial:bbox and its backscatter array's shape."""
    shape, transform = _base_geometry(ctx, group)
    if shape is not None and transform is not None:
        return bbox_of(shape, transform), max(abs(transform[0]), abs(transform[4]))
    box = ctx.model.attrs(group).get("spatial:bbox")
    grd_shape = (ctx.model.nodes.get(f"{group}/{BACKSCATTER}") or {}).get("shape")
    if not (isinstance(box, list) and len(box) == 4 and isinstance(grd_shape, list) and len(grd_shape) >= 2):
        return None
    pixel = max((box[2] - box[0]) / grd_shape[-1], (box[3] - box[1]) / grd_shape[-2])
    return [float(v) for v in box], abs(pixel)


def _gcp_finding(ctx: GeoZarrContext, pol: str, group: str) -> Finding | None:
    import numpy as np
    from pyproj import Transformer

    m = f"{group}/{MEASUREMENTS}"
    grid = _grid_box(ctx, m)
    code = ctx.model.attrs(m).get("proj:code")
    if grid is None or not code:
        return GCP_GEOLOCATION.finding(f"polarisation {pol}: no base spatial:shape/spatial:transform "
                                       "(or spatial:bbox) or no proj:code to compare with the GCPs", m)
    lonlat = _gcp_lonlat(ctx, group)
    if lonlat is None:
        return GCP_GEOLOCATION.finding(f"polarisation {pol}: no conditions/gcp latitude/longitude", group)
    try:
        crs = parse_crs(code, "proj:code")
    except ValueError as exc:
        return GCP_GEOLOCATION.finding(f"polarisation {pol}: proj:code {code!r}: {exc}", m)
    to_grid = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_grid.transform(np.ravel(lonlat[0]), np.ravel(lonlat[1]))
    gcp_box = [float(np.min(x)), float(np.min(y)), float(np.max(x)), float(np.max(y))]
    grid_box, pixel = grid
    tol = GCP_TOLERANCE_PIXELS * pixel
    off = max(abs(a - b) for a, b in zip(grid_box, gcp_box))
    if not np.isfinite(off) or off > tol:
        return GCP_GEOLOCATION.finding(
            f"polarisation {pol}: grid bbox {[round(v, 6) for v in grid_box]} in {code} is "
            f"{off:.6g} from the GCPs' {[round(v, 6) for v in gcp_box]} (tolerance {tol:.3g})", m)
    return None


def check_gcp_geolocation(ctx: GeoZarrContext) -> Iterator[Finding]:
    for pol, g in sorted(polarisation_groups(ctx).items()):
        if not ctx.model.is_group(f"{g}/{MEASUREMENTS}"):
            continue  # geozarr.s1-polarisations
        finding = _gcp_finding(ctx, pol, g)
        if finding is not None:
            yield finding


CHECKS: tuple[Check[GeoZarrContext], ...] = (
    Check(POLARISATIONS, check_polarisations),
    Check(MULTISCALES, check_multiscales),
    Check(GCP_GEOLOCATION, check_gcp_geolocation),
)
