"""Bounded data sampling: no level is all fill, and each derived level equals
the declared resampling of its parent within tolerance.

Deterministic and bounded: per derived level, `bands_per_level` bands (spread
over the sorted band names) and one `window`×`window` window at the centre of
the level; only the chunks those windows touch are read.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np

from conformance.findings import Finding, Rule, Severity
from conformance.geozarr.context import GeoZarrContext, Level, layout_levels, spatial_arrays
from conformance.geozarr.model import join
from conformance.geozarr.reader import read_window
from conformance.report import Check

NOT_ALL_FILL = Rule("geozarr.data-not-all-fill", Severity.ERROR,
                    "every band of every multiscale level stores data (no band without chunks, no sampled level "
                    "that is fill only)")
RESAMPLED = Rule("geozarr.data-resampling", Severity.ERROR,
                 "a derived level equals its declared resampling of the parent within tolerance (sampled window)")

# Relative tolerance on the median absolute difference (against the median magnitude).
# Levels the converter builds (r120m, r360m, r720m) match their parent to float precision;
# native Sentinel-2 levels (r20m, r60m: made by the ground segment, declared by the converter as
# derived from r10m) match the average of r10m only approximately (3-5 % on the synthetic
# sample, per-resolution noise). 10 % separates both from a corrupted level (wrong band,
# rescaled, shifted or garbage data).
RELATIVE_TOLERANCE = 0.10


def _fill_mask(values: np.ndarray, fill: object) -> np.ndarray:
    if values.dtype.kind == "f":
        mask = np.isnan(values)
        if isinstance(fill, (int, float)) and not np.isnan(fill):
            mask |= values == fill
        return mask
    return values == (fill if isinstance(fill, (int, float)) else 0)


def check_not_all_fill(ctx: GeoZarrContext) -> Iterator[Finding]:
    """Uses the one store listing (chunk objects per array): an array with no stored
    chunk is entirely fill. Also reports levels whose every sampled window (read by
    geozarr.data-resampling, which runs first) was fill only."""
    m = ctx.model
    for path, all_fill in sorted(ctx.cache.get("sampled_all_fill", {}).items()):
        if all_fill:
            yield NOT_ALL_FILL.finding("every sampled window of the level is fill value only", path)
    for g in m.multiscale_groups():
        for lv in layout_levels(m, g):
            for band in spatial_arrays(m, lv.path):
                if band in m.real_nodes and m.chunk_counts.get(band, 0) == 0:
                    yield NOT_ALL_FILL.finding("no chunk is stored: the band is fill value only", band)


def pick_bands(bands: list[str], n: int) -> list[str]:
    """N names spread over the sorted list: deterministic, independent of the data."""
    bands = sorted(bands)
    if len(bands) <= n:
        return bands
    idx = sorted({round(i * (len(bands) - 1) / max(1, n - 1)) for i in range(n)})
    return [bands[i] for i in idx]


def _reduce(parent: np.ndarray, sy: int, sx: int, method: str) -> np.ndarray:
    h, w = parent.shape[0] // sy, parent.shape[1] // sx
    blocks = parent[: h * sy, : w * sx].reshape(h, sy, w, sx).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if method in ("average", "mean"):
            return np.nanmean(blocks, axis=(1, 3))
        if method == "median":
            return np.nanmedian(blocks, axis=(1, 3))
        if method == "min":
            return np.nanmin(blocks, axis=(1, 3))
        if method == "max":
            return np.nanmax(blocks, axis=(1, 3))
        if method == "sum":
            return np.nansum(blocks, axis=(1, 3))
        if method == "nearest":
            return blocks[:, sy // 2, :, sx // 2]
    raise ValueError(method)


def _windows(lv: Level, child_shape: list[int], parent_shape: list[int], size: int) -> tuple[slice, slice] | None:
    sy, sx = int(lv.scale[0]), int(lv.scale[1])  # type: ignore[index]
    ny = min(child_shape[0], parent_shape[0] // sy)
    nx = min(child_shape[1], parent_shape[1] // sx)
    if ny <= 0 or nx <= 0:
        return None
    hy, hx = min(size, ny), min(size, nx)
    y0, x0 = (ny - hy) // 2, (nx - hx) // 2
    return slice(y0, y0 + hy), slice(x0, x0 + hx)


def check_resampled(ctx: GeoZarrContext) -> Iterator[Finding]:
    m = ctx.model
    levels_done: dict[str, bool] = {}
    for g in m.multiscale_groups():
        levels = {lv.asset: lv for lv in layout_levels(m, g)}
        for lv in levels.values():
            parent = levels.get(lv.derived_from or "")
            if parent is None or lv.scale is None or lv.path not in m.real_nodes or parent.path not in m.real_nodes:
                continue
            method = lv.resampling or "average"
            sy, sx = lv.scale
            if sy != int(sy) or sx != int(sx) or any(lv.translation):
                continue  # only integer, aligned pyramids are compared
            child_bands = {b.rsplit("/", 1)[1] for b in spatial_arrays(m, lv.path) if b in m.real_nodes}
            parent_bands = {b.rsplit("/", 1)[1] for b in spatial_arrays(m, parent.path) if b in m.real_nodes}
            all_fill: bool | None = None
            for name in pick_bands(sorted(child_bands & parent_bands), ctx.bands_per_level):
                cpath, ppath = join(lv.path, name), join(parent.path, name)
                cmeta, pmeta = m.nodes[cpath], m.nodes[ppath]
                win = _windows(lv, cmeta["shape"][-2:], pmeta["shape"][-2:], ctx.window)
                if win is None:
                    continue
                pwin = (slice(win[0].start * int(sy), win[0].stop * int(sy)),
                        slice(win[1].start * int(sx), win[1].stop * int(sx)))
                try:
                    child = read_window(ctx, cpath, cmeta, win)
                    par = read_window(ctx, ppath, pmeta, pwin)
                except Exception as exc:  # noqa: BLE001 - unreadable data is a finding of this rule
                    yield RESAMPLED.finding(f"cannot read sampled window: {type(exc).__name__}: {exc}", cpath)
                    continue
                cmask = _fill_mask(child, cmeta.get("fill_value"))
                child_f = np.where(cmask, np.nan, child.astype(np.float64))
                par_f = np.where(_fill_mask(par, pmeta.get("fill_value")), np.nan, par.astype(np.float64))
                all_fill = bool(cmask.all()) and all_fill is not False
                try:
                    expect = _reduce(par_f, int(sy), int(sx), method)
                except ValueError:
                    continue
                # Blocks of the parent that are partly no-data are ambiguous (skip-NaN or
                # propagate-NaN averages are both legitimate): compare only whole blocks.
                h, w = expect.shape
                valid = np.isfinite(par_f[: h * int(sy), : w * int(sx)]).reshape(h, int(sy), w, int(sx))
                full, empty = valid.all(axis=(1, 3)), ~valid.any(axis=(1, 3))
                child_f = child_f[:h, :w]
                both = full & np.isfinite(child_f)
                only_one = (full & ~np.isfinite(child_f)) | (empty & np.isfinite(child_f))
                if only_one.mean() > 0.01:
                    invented = empty & np.isfinite(child_f)
                    lost = full & ~np.isfinite(child_f)
                    example = (f" (e.g. {float(child_f[invented][0])!r})" if invented.any() else "")
                    yield RESAMPLED.finding(
                        f"rows {win[0].start}:{win[0].stop}, cols {win[1].start}:{win[1].stop}: no-data differs "
                        f"from the {method} of {parent.asset}: {int(invented.sum())} pixels have values where "
                        f"{parent.asset} is all no-data{example}, {int(lost.sum())} are no-data where it is all "
                        f"valid ({only_one.mean():.0%} of the window)", cpath)
                    continue
                if not both.any():
                    continue
                diff = np.abs(child_f[both] - expect[both])
                scale = float(np.median(np.abs(expect[both]))) or 1.0
                rel = float(np.median(diff)) / scale
                if rel > RELATIVE_TOLERANCE:
                    yield RESAMPLED.finding(
                        f"rows {win[0].start}:{win[0].stop}, cols {win[1].start}:{win[1].stop} differ from the "
                        f"{method} of {parent.asset} by {rel:.1%} (median relative, tolerance "
                        f"{RELATIVE_TOLERANCE:.0%})", cpath)
            if all_fill is not None:
                levels_done[lv.path] = all_fill
    ctx.cache["sampled_all_fill"] = levels_done


CHECKS = (
    Check(RESAMPLED, check_resampled, phase="sampling"),
    Check(NOT_ALL_FILL, check_not_all_fill, phase="sampling"),
)
