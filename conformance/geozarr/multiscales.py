"""Multiscales (zarr-conventions multiscales): the layout names real levels whose
derivation chain, shapes and transforms follow the declared scale factors."""

from __future__ import annotations

import math
from collections.abc import Iterator

from conformance.findings import Finding, Rule, Severity
from conformance.geozarr.context import GeoZarrContext, Level, close, entry_geometry, layout_levels
from conformance.geozarr.model import StoreModel
from conformance.report import Check

LAYOUT = Rule("geozarr.multiscales-layout", Severity.ERROR,
              "multiscales.layout is a non-empty list and every asset is a group that exists in the store")
DERIVATION = Rule("geozarr.multiscales-derivation", Severity.ERROR,
                  "derived_from chains name earlier layout assets, end at one base level, and carry a scale")
GEOMETRY = Rule("geozarr.multiscales-geometry", Severity.ERROR,
                "transform.scale equals the pixel-size ratio to derived_from (spatial:transform), the shape is "
                "floor or ceil of parent shape / scale, the origin follows the translation, and layout entries "
                "equal the level groups' spatial:shape/spatial:transform")
RESAMPLING = Rule("geozarr.multiscales-resampling", Severity.ERROR,
                  "derived levels declare a resampling_method (on the entry or the multiscales object)")

KNOWN_METHODS = {"average", "mean", "nearest", "mode", "min", "max", "median", "sum", "bilinear", "cubic",
                 "cubic_spline", "lanczos", "rms", "gauss", "q1", "q3"}


def check_layout(ctx: GeoZarrContext) -> Iterator[Finding]:
    m = ctx.model
    for g in m.multiscale_groups():
        ms = m.attrs(g)["multiscales"]
        layout = ms.get("layout") if isinstance(ms, dict) else None
        if not isinstance(layout, list) or not layout:
            yield LAYOUT.finding("multiscales has no layout list", g)
            continue
        seen: set[str] = set()
        for i, entry in enumerate(layout):
            if not isinstance(entry, dict) or not isinstance(entry.get("asset"), str):
                yield LAYOUT.finding(f"layout[{i}] has no asset name", g)
                continue
            asset = entry["asset"]
            if asset in seen:
                yield LAYOUT.finding(f"layout[{i}] repeats asset {asset!r}", g)
            seen.add(asset)
        for level in layout_levels(m, g):
            if level.path not in m.real_nodes:
                yield LAYOUT.finding(f"layout asset {level.asset!r} does not exist in the store", level.path)
            elif not m.is_group(level.path):
                yield LAYOUT.finding(f"layout asset {level.asset!r} is not a group", level.path)


def check_derivation(ctx: GeoZarrContext) -> Iterator[Finding]:
    m = ctx.model
    for g in m.multiscale_groups():
        levels = layout_levels(m, g)
        order = {lv.asset: i for i, lv in enumerate(levels)}
        bases = [lv for lv in levels if lv.derived_from is None]
        if levels and len(bases) != 1:
            yield DERIVATION.finding(f"{len(bases)} base levels (without derived_from): "
                                     f"{[b.asset for b in bases]}; expected exactly one", g)
        for i, lv in enumerate(levels):
            if lv.derived_from is None:
                continue
            if lv.derived_from not in order:
                yield DERIVATION.finding(f"derived_from {lv.derived_from!r} is not a layout asset", lv.path)
            elif order[lv.derived_from] >= i:
                yield DERIVATION.finding(f"derived_from {lv.derived_from!r} is not an earlier (finer) level",
                                         lv.path)
            if lv.scale is None:
                yield DERIVATION.finding("derived level has no transform.scale", lv.path)
            elif min(lv.scale) <= 0:
                yield DERIVATION.finding(f"transform.scale {list(lv.scale)} is not positive", lv.path)


# Tolerances of geozarr.multiscales-geometry (explicit, see check_geometry).
SCALE_RTOL = 1e-5          # transform.scale vs the pixel-size ratio of spatial:transform, relative
ORIGIN_TOL_PIXELS = 0.01   # origin vs derived_from's origin + translation, in the level's pixels
ENTRY_RTOL = 1e-6          # layout entry vs the level group's own spatial:transform, relative (min 1e-6 abs)
SHAPE_EPS = 1e-9           # floor/ceil of parent_shape / scale computed on parent_shape / scale ± this


def _fmt(v: float) -> str:
    return repr(float(v)) if float(v) != int(v) or abs(v) >= 1e15 else f"{float(v):.1f}"


def _vec(vs: tuple[float, ...] | list[float]) -> str:
    return "[" + ", ".join(_fmt(v) for v in vs) + "]"


def _geometry(m: StoreModel, lv: Level) -> tuple[list[int] | None, tuple[float, ...] | None, str]:
    """(shape, transform, where the transform came from) of a level: the layout entry's
    spatial:*/proj:* first, else the level group's spatial:*."""
    shape, t = entry_geometry(lv.entry)
    where = "layout " + ("spatial:transform" if "spatial:transform" in lv.entry else "proj:transform")
    gshape, gt = entry_geometry({k: v for k, v in m.attrs(lv.path).items() if k.startswith("spatial:")})
    if t is None:
        t, where = gt, "spatial:transform"
    return (shape if shape is not None else gshape), t, where


def pixel_size(t: tuple[float, ...]) -> tuple[float, float]:
    """(y, x) pixel size of affine T = (a, b, c, d, e, f): lengths of its row and column steps."""
    a, b, _, d, e, _ = t
    return math.hypot(b, e), math.hypot(a, d)


def check_geometry(ctx: GeoZarrContext) -> Iterator[Finding]:
    """Each derived level against its derived_from level (zarr-conventions multiscales:
    `transform` is relative, from the derived_from level to this one; absolute position
    is the entry's spatial:*/proj:* or the level group's spatial:*). Axes are (y, x): the
    last two entries of scale/translation, as in the arrays' dimension order.

    1. Entry and group agree: the layout entry's spatial:shape equals the level group's
       exactly, and its spatial:transform the group's within ENTRY_RTOL (relative).
    2. Scale = pixel-size ratio: transform.scale[i] equals pixel_size(level)[i] /
       pixel_size(derived_from)[i] from spatial:transform within SCALE_RTOL (relative).
       The message names both numbers. eopf-geozarr 0.12 writes the shape ratio instead
       (305/152 = 2.0066 for r720m of a 10980 px tile, 183/91 for r120m at 1098 px) while
       spatial:transform says exactly 2: a reader mapping pixels between levels with the
       declared scale drifts by half a pixel across the level, so this is an error
       (the runner repairs it).
    3. Shape: each axis of spatial:shape is floor or ceil of parent_shape / scale
       (computed ± SHAPE_EPS): odd sizes give a floor (183 / 2 -> 91) or ceil (305 / 2 -> 153) level.
    4. Origin: translation is in derived_from pixels (source index = scale * index +
       translation), so the origin is derived_from's origin + translation x its pixel
       vectors, within ORIGIN_TOL_PIXELS of the level's pixel. The spec ("offset in the
       current level's coordinate space") can also be read as level pixels; a non-zero
       translation matching that reading is accepted too (the two agree for translation 0,
       which is what every known writer and example uses with corner-based transforms).
    """
    m = ctx.model
    for g in m.multiscale_groups():
        levels = {lv.asset: lv for lv in layout_levels(m, g)}
        for lv in levels.values():
            yield from _entry_vs_group(m, lv)
            parent = levels.get(lv.derived_from or "")
            if parent is None or lv.scale is None or min(lv.scale) <= 0:
                continue  # geozarr.multiscales-derivation reports these
            shape, t, t_where = _geometry(m, lv)
            pshape, pt, pt_where = _geometry(m, parent)
            if t is not None and pt is not None and min(pixel_size(pt)) > 0:
                ratio = tuple(c / p for c, p in zip(pixel_size(t), pixel_size(pt)))
                bad = [i for i in range(2) if abs(lv.scale[i] - ratio[i]) > SCALE_RTOL * abs(ratio[i])]
                if bad:
                    yield GEOMETRY.finding(
                        f"layout transform.scale {_vec(lv.scale)} disagrees with the pixel-size ratio "
                        f"{_vec(ratio)} of spatial:transform ({lv.asset} {t_where} pixel {_vec(pixel_size(t))} / "
                        f"{parent.asset} {pt_where} pixel {_vec(pixel_size(pt))}); axes (y, x), relative "
                        f"tolerance {SCALE_RTOL:g}", lv.path)
                yield from _origin(lv, parent, t, pt)
            if shape is not None and pshape is not None:
                bounds = [(math.floor(n / s + SHAPE_EPS), math.ceil(n / s - SHAPE_EPS))
                          for n, s in zip(pshape, lv.scale)]
                if not all(lo <= n <= hi for n, (lo, hi) in zip(shape, bounds)):
                    want = " x ".join(str(lo) if lo == hi else f"{lo} or {hi}" for lo, hi in bounds)
                    yield GEOMETRY.finding(
                        f"spatial:shape {shape} is not floor/ceil of {parent.asset}'s {pshape} / transform.scale "
                        f"{_vec(lv.scale)}: expected {want}", lv.path)


def _entry_vs_group(m: StoreModel, lv: Level) -> Iterator[Finding]:
    shape, t = entry_geometry(lv.entry)
    gshape, gt = entry_geometry({k: v for k, v in m.attrs(lv.path).items() if k.startswith("spatial:")})
    if shape is not None and gshape is not None and shape != gshape:
        yield GEOMETRY.finding(f"layout says shape {shape}, the level group's spatial:shape is {gshape}", lv.path)
    if t is not None and gt is not None and not all(
            close(x, y, max(1e-6, ENTRY_RTOL * abs(y))) for x, y in zip(t, gt)):
        yield GEOMETRY.finding(f"layout says transform {_vec(t)}, the level group's spatial:transform is "
                               f"{_vec(gt)}", lv.path)


def _origin(lv: Level, parent: Level, t: tuple[float, ...], pt: tuple[float, ...]) -> Iterator[Finding]:
    ty, tx = lv.translation
    a, b, c, d, e, f = pt
    candidates = [(c + tx * a + ty * b, f + tx * d + ty * e)]            # derived_from pixels
    if tx or ty:
        candidates.append((c + tx * t[0] + ty * t[1], f + tx * t[3] + ty * t[4]))  # level pixels
    tol = ORIGIN_TOL_PIXELS * min(pixel_size(t))
    if not any(close(t[2], ex, tol) and close(t[5], ey, tol) for ex, ey in candidates):
        ex, ey = candidates[0]
        yield GEOMETRY.finding(
            f"origin ({_fmt(t[2])}, {_fmt(t[5])}) is not {parent.asset}'s origin ({_fmt(c)}, {_fmt(f)}) + "
            f"translation {_vec(lv.translation)} (y, x) in its pixels: expected ({_fmt(ex)}, {_fmt(ey)}), "
            f"tolerance {ORIGIN_TOL_PIXELS:g} pixel", lv.path)


def check_resampling(ctx: GeoZarrContext) -> Iterator[Finding]:
    m = ctx.model
    for g in m.multiscale_groups():
        for lv in layout_levels(m, g):
            if lv.derived_from is None:
                continue
            if not lv.resampling:
                yield RESAMPLING.finding("derived level declares no resampling_method", lv.path)
            elif lv.resampling not in KNOWN_METHODS:
                yield RESAMPLING.finding(f"unknown resampling_method {lv.resampling!r}", lv.path)


CHECKS = (
    Check(LAYOUT, check_layout),
    Check(DERIVATION, check_derivation),
    Check(GEOMETRY, check_geometry),
    Check(RESAMPLING, check_resampling),
)
