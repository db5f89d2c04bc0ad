"""Multiscales (zarr-conventions multiscales): the layout names real levels whose
derivation chain, shapes and transforms follow the declared scale factors."""

from __future__ import annotations

import math
from collections.abc import Iterator

from conformance.findings import Finding, Rule, Severity
from conformance.geozarr.context import GeoZarrContext, close, entry_geometry, layout_levels
from conformance.report import Check

LAYOUT = Rule("geozarr.multiscales-layout", Severity.ERROR,
              "multiscales.layout is a non-empty list and every asset is a group that exists in the store")
DERIVATION = Rule("geozarr.multiscales-derivation", Severity.ERROR,
                  "derived_from chains name earlier layout assets, end at one base level, and carry a scale")
GEOMETRY = Rule("geozarr.multiscales-geometry", Severity.ERROR,
                "each level's shape and transform follow its parent's by the declared scale/translation, "
                "and equal the level group's spatial:shape/spatial:transform")
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


def check_geometry(ctx: GeoZarrContext) -> Iterator[Finding]:
    m = ctx.model
    for g in m.multiscale_groups():
        levels = {lv.asset: lv for lv in layout_levels(m, g)}
        for lv in levels.values():
            shape, t = entry_geometry(lv.entry)
            gshape, gt = entry_geometry({k: v for k, v in m.attrs(lv.path).items() if k.startswith("spatial:")})
            if shape is not None and gshape is not None and shape != gshape:
                yield GEOMETRY.finding(f"layout says shape {shape}, the level group says {gshape}", lv.path)
            if t is not None and gt is not None and not all(
                    close(x, y, 1e-6 * max(1.0, abs(x))) for x, y in zip(t, gt)):
                yield GEOMETRY.finding(f"layout says transform {list(t)}, the level group says {list(gt)}", lv.path)
            parent = levels.get(lv.derived_from or "")
            if parent is None or lv.scale is None:
                continue
            pshape, pt = entry_geometry(parent.entry)
            if pshape is None or pt is None:
                pshape, pt = entry_geometry(
                    {k: v for k, v in m.attrs(parent.path).items() if k.startswith("spatial:")})
            sy, sx = lv.scale
            if shape is not None and pshape is not None:
                ok = [math.floor(pshape[0] / sy) <= shape[0] <= math.ceil(pshape[0] / sy),
                      math.floor(pshape[1] / sx) <= shape[1] <= math.ceil(pshape[1] / sx)]
                if not all(ok):
                    yield GEOMETRY.finding(f"shape {shape} is not parent {lv.derived_from} {pshape} / scale "
                                           f"{list(lv.scale)}", lv.path)
            if t is not None and pt is not None:
                ty, tx = lv.translation
                expect = (pt[0] * sx, pt[1] * sy, pt[2] + tx * pt[0], pt[3] * sx, pt[4] * sy, pt[5] + ty * pt[4])
                tol = 1e-6 * max(abs(expect[0]), abs(expect[4]), 1.0)
                if not all(close(x, y, max(tol, 1e-9 * abs(y))) for x, y in zip(t, expect)):
                    yield GEOMETRY.finding(f"transform {list(t)} is not parent {lv.derived_from}'s scaled by "
                                           f"{list(lv.scale)} (expected {list(expect)})", lv.path)


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
