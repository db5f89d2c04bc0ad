"""Bounded data sampling: no level is all fill, and each derived level equals
the declared resampling of its parent within tolerance.

Deterministic and bounded: per derived level, `bands_per_level` bands (spread
over the sorted band names) and up to three `window`×`window` windows (centre,
top-left and bottom-right corners); only the chunks those windows touch are
read, each once.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.findings import Finding, Rule, Severity
from conformance.geozarr.context import (
    GeoZarrContext,
    Level,
    close,
    entry_geometry,
    layout_levels,
    spatial_arrays,
)
from conformance.geozarr.model import StoreModel, join
from conformance.geozarr.reader import read_window
from conformance.report import Check

NOT_ALL_FILL = Rule("geozarr.data-not-all-fill", Severity.ERROR,
                    "every band of every multiscale level stores data (no band without chunks, no sampled level "
                    "that is fill only)")
RESAMPLED = Rule("geozarr.data-resampling", Severity.ERROR,
                 "a derived level equals its declared resampling of the parent (NaN-aware: all-no-data blocks stay "
                 "no-data, values match the mean of the valid pixels) on sampled windows")

# Relative tolerance on the median absolute difference (against the median magnitude).
# Levels the converter builds (r120m, r360m, r720m) match their parent to float precision;
# native Sentinel-2 levels (r20m, r60m: made by the ground segment, declared by the converter as
# derived from r10m) match the average of r10m only approximately (3-5 % on the synthetic
# sample, per-resolution noise). 10 % separates both from a corrupted level (wrong band,
# rescaled, shifted or garbage data).
RELATIVE_TOLERANCE = 0.10
# A level whose median relative difference is within this was computed from its parent
# (float32 rounding: ~1e-7 measured): then every sampled pixel must match within it.
EXACT_TOLERANCE = 1e-4


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


def block_reduce(parent: np.ndarray, sy: int, sx: int, method: str) -> np.ndarray:
    """The declared resampling of PARENT over whole SY x SX blocks, NaN-aware: each block
    is reduced over its valid (non-NaN) pixels only ("skipna"), and a block without any
    valid pixel gives NaN. Rows/columns past the last whole block are ignored.

    `average`/`mean` is the mean of the valid pixels (a partly no-data block averages
    what it has). Raises ValueError for a method it cannot reproduce."""
    h, w = parent.shape[0] // sy, parent.shape[1] // sx
    blocks = parent[: h * sy, : w * sx].reshape(h, sy, w, sx).astype(np.float64)
    empty = ~np.isfinite(blocks).any(axis=(1, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if method in ("average", "mean"):
            out = np.nanmean(blocks, axis=(1, 3))
        elif method in ("median", "med"):
            out = np.nanmedian(blocks, axis=(1, 3))
        elif method == "min":
            out = np.nanmin(blocks, axis=(1, 3))
        elif method == "max":
            out = np.nanmax(blocks, axis=(1, 3))
        elif method == "sum":
            out = np.nansum(blocks, axis=(1, 3))
        elif method == "nearest":
            out = blocks[:, sy // 2, :, sx // 2].copy()
            empty = ~np.isfinite(out)
        else:
            raise ValueError(method)
    out[empty] = np.nan
    return out


def integer_factor(m: StoreModel, lv: Level, parent: Level) -> tuple[int, int] | None:
    """The whole-pixel (y, x) factor between a level and its parent, or None when the
    levels are not an integer, aligned pyramid (those are not compared).

    The declared transform.scale when it is integer; else the pixel-size ratio of the two
    levels' spatial:transform when that is integer and the origins coincide (eopf-geozarr
    0.12 declares the shape ratio, e.g. 183/91, for a level that is really 2x: its data are
    still compared; the wrong scale is geozarr.multiscales-geometry's finding)."""
    if lv.scale is None or any(lv.translation):
        return None
    sy, sx = lv.scale
    if sy == int(sy) and sx == int(sx) and sy >= 1 and sx >= 1:
        return int(sy), int(sx)
    _, t = entry_geometry({k: v for k, v in m.attrs(lv.path).items() if k.startswith("spatial:")})
    _, pt = entry_geometry({k: v for k, v in m.attrs(parent.path).items() if k.startswith("spatial:")})
    if t is None or pt is None or t[1] or t[3] or pt[1] or pt[3] or not pt[0] or not pt[4]:
        return None
    ry, rx = t[4] / pt[4], t[0] / pt[0]
    if (abs(ry - round(ry)) > 1e-9 * ry or abs(rx - round(rx)) > 1e-9 * rx or round(ry) < 1 or round(rx) < 1
            or not close(t[2], pt[2], 1e-6 * abs(t[0])) or not close(t[5], pt[5], 1e-6 * abs(t[4]))):
        return None
    return round(ry), round(rx)


def sample_windows(child_shape: list[int], parent_shape: list[int], sy: int, sx: int,
                   size: int) -> list[tuple[slice, slice]]:
    """Deterministic windows of the child level, at most SIZE x SIZE each, within the part
    covered by whole parent blocks: the centre, the top-left and the bottom-right corner
    (no-data sits at swath edges, which the centre alone misses). Duplicates are dropped."""
    ny = min(child_shape[0], parent_shape[0] // sy)
    nx = min(child_shape[1], parent_shape[1] // sx)
    if ny <= 0 or nx <= 0:
        return []
    hy, hx = min(size, ny), min(size, nx)
    starts = [((ny - hy) // 2, (nx - hx) // 2), (0, 0), (ny - hy, nx - hx)]
    out: list[tuple[slice, slice]] = []
    for y0, x0 in starts:
        win = (slice(y0, y0 + hy), slice(x0, x0 + hx))
        if win not in out:
            out.append(win)
    return out


def _label(wins: list[tuple[slice, slice]]) -> str:
    return "; ".join(f"rows {w[0].start}:{w[0].stop}, cols {w[1].start}:{w[1].stop}" for w in wins)


def check_resampled(ctx: GeoZarrContext) -> Iterator[Finding]:
    """A derived level equals the declared resampling of its derived_from level, on the
    sampled windows (see `sample_windows`; `bands_per_level` bands common to both).

    Expected value of a child pixel: `block_reduce` of the parent block it covers, i.e. for
    `average` the NaN-aware block mean (skipna; a block that is all no-data gives NaN).
    No-data (NaN or the fill value) must follow it:
    - parent block all no-data -> the child pixel must be no-data (a value there, e.g.
      eopf-geozarr 0.12's 0.0 in the b08 it derives for r20m/r60m, invents data): none allowed;
    - parent block all valid -> the child pixel must hold a value: none lost allowed;
    - parent block partly no-data -> the child value is compared with the mean of the block's
      valid pixels only.
    Values (child valid, parent block not all no-data) are compared over all windows:
    - median relative difference (median |child - expected| / median |expected|) within
      EXACT_TOLERANCE: the level was computed from this parent, so every sampled pixel must
      match within EXACT_TOLERANCE (of the median magnitude), and a partly no-data block must
      hold the mean of its valid pixels, not no-data;
    - else within RELATIVE_TOLERANCE: an independently produced level that approximates the
      declared resampling (native Sentinel-2 r20m/r60m, which the converter declares derived
      from r10m: 3-5 % apart, and with their own edge masks: on a 1098 px sample 198 of 297
      partly no-data r20m blocks are no-data there, none of the full ones); partial-block
      no-data is accepted for those;
    - else an error (wrong band, rescaled, shifted or garbage data).
    """
    m = ctx.model
    levels_done: dict[str, bool] = {}
    for g in m.multiscale_groups():
        levels = {lv.asset: lv for lv in layout_levels(m, g)}
        for lv in levels.values():
            parent = levels.get(lv.derived_from or "")
            if parent is None or lv.path not in m.real_nodes or parent.path not in m.real_nodes:
                continue
            factor = integer_factor(m, lv, parent)
            if factor is None:
                continue  # only integer, aligned pyramids are compared
            sy, sx = factor
            method = lv.resampling or "average"
            child_bands = {b.rsplit("/", 1)[1] for b in spatial_arrays(m, lv.path) if b in m.real_nodes}
            parent_bands = {b.rsplit("/", 1)[1] for b in spatial_arrays(m, parent.path) if b in m.real_nodes}
            all_fill: bool | None = None
            for name in pick_bands(sorted(child_bands & parent_bands), ctx.bands_per_level):
                cpath, ppath = join(lv.path, name), join(parent.path, name)
                finding, band_all_fill = _compare_band(ctx, cpath, ppath, parent.asset, sy, sx, method)
                if finding is not None:
                    yield finding
                if band_all_fill is not None:
                    all_fill = band_all_fill and all_fill is not False
            if all_fill is not None:
                levels_done[lv.path] = all_fill
    ctx.cache["sampled_all_fill"] = levels_done


@dataclass
class _Samples:
    """What the sampled windows of a band show against the block values of its parent."""

    child: list[np.ndarray] = field(default_factory=list)
    expect: list[np.ndarray] = field(default_factory=list)
    partial: list[np.ndarray] = field(default_factory=list)
    invented: int = 0
    lost: int = 0
    nodata_wins: list[tuple[slice, slice]] = field(default_factory=list)
    example: float | None = None
    all_fill: bool = True


def _compare_band(ctx: GeoZarrContext, cpath: str, ppath: str, parent: str, sy: int, sx: int,
                  method: str) -> tuple[Finding | None, bool | None]:
    m = ctx.model
    cmeta, pmeta = m.nodes[cpath], m.nodes[ppath]
    wins = sample_windows(cmeta["shape"][-2:], pmeta["shape"][-2:], sy, sx, ctx.window)
    s = _Samples()
    for win in wins:
        pwin = (slice(win[0].start * sy, win[0].stop * sy), slice(win[1].start * sx, win[1].stop * sx))
        try:
            child = read_window(ctx, cpath, cmeta, win)
            par = read_window(ctx, ppath, pmeta, pwin)
        except Exception as exc:  # noqa: BLE001 - unreadable data is a finding of this rule
            return RESAMPLED.finding(f"cannot read sampled window: {type(exc).__name__}: {exc}", cpath), None
        if not _add_window(s, win, child, par, cmeta, pmeta, sy, sx, method):
            return None, s.all_fill
    if s.invented or s.lost:
        return RESAMPLED.finding(
            f"{_label(s.nodata_wins)}: no-data differs from the {method} of {parent}: {s.invented} pixels have "
            f"values where {parent} is all no-data" + (f" (e.g. {s.example!r})" if s.example is not None else "")
            + f", {s.lost} are no-data where every {parent} pixel is valid", cpath), s.all_fill
    return _value_finding(s, wins, parent, method, cpath), s.all_fill


def _add_window(s: _Samples, win: tuple[slice, slice], child: np.ndarray, par: np.ndarray,
                cmeta: dict[str, Any], pmeta: dict[str, Any], sy: int, sx: int, method: str) -> bool:
    """Compare one window of the child with the block values of its parent (False: the parent
    cannot be reduced by this method)."""
    cmask = _fill_mask(child, cmeta.get("fill_value"))
    s.all_fill = s.all_fill and bool(cmask.all())
    child_f = np.where(cmask, np.nan, child.astype(np.float64))
    par_f = np.where(_fill_mask(par, pmeta.get("fill_value")), np.nan, par.astype(np.float64))
    try:
        expect = block_reduce(par_f, sy, sx, method)
    except ValueError:
        return False
    h, w = expect.shape
    child_f = child_f[:h, :w]
    n_valid = np.isfinite(par_f[: h * sy, : w * sx]).reshape(h, sy, w, sx).sum(axis=(1, 3))
    has_value = np.isfinite(child_f)
    inv = (n_valid == 0) & has_value
    lst = (n_valid == sy * sx) & ~has_value
    if inv.any() or lst.any():
        s.nodata_wins.append(win)
        s.invented += int(inv.sum())
        s.lost += int(lst.sum())
        if s.example is None and inv.any():
            s.example = float(child_f[inv][0])
    covered = n_valid > 0
    s.child.append(child_f[covered])
    s.expect.append(expect[covered])
    s.partial.append(n_valid[covered] < sy * sx)
    return True


def _value_finding(s: _Samples, wins: list[tuple[slice, slice]], parent: str, method: str,
                   cpath: str) -> Finding | None:
    """The child's values against the parent's block values (no-data already agreed)."""
    if not s.child:
        return None
    c, e, partial = np.concatenate(s.child), np.concatenate(s.expect), np.concatenate(s.partial)
    valued = np.isfinite(c)
    if not valued.any():
        return None
    scale = float(np.median(np.abs(e[valued]))) or 1.0
    diff = np.abs(c - e)
    rel = float(np.median(diff[valued])) / scale
    if rel <= EXACT_TOLERANCE:
        # Computed from this parent: every sampled pixel must be its NaN-aware block value,
        # partly no-data blocks included (the mean of their valid pixels, never no-data).
        wrong = valued & (diff > EXACT_TOLERANCE * scale)
        masked = ~valued & partial
        if wrong.any() or masked.any():
            return RESAMPLED.finding(
                f"{_label(wins)}: computed from {parent} ({method} within {EXACT_TOLERANCE:g} for most pixels) but "
                f"{int(wrong.sum())} pixels differ from the NaN-aware {method} of their block "
                f"({int((wrong & partial).sum())} of them in partly no-data blocks) and {int(masked.sum())} are "
                f"no-data where the block has valid pixels", cpath)
    elif rel > RELATIVE_TOLERANCE:
        return RESAMPLED.finding(
            f"{_label(wins)} differ from the {method} of {parent} by {rel:.1%} (median relative, "
            f"tolerance {RELATIVE_TOLERANCE:.0%})", cpath)
    return None


CHECKS = (
    Check(RESAMPLED, check_resampled, phase="sampling"),
    Check(NOT_ALL_FILL, check_not_all_fill, phase="sampling"),
)
