"""The grid of the derived levels eopf-geozarr 0.12's generic path writes (the Sentinel-1 GRD
path and `--no-s2-optimized`): multiscales groups whose base level is the group itself ('.')
and whose levels `r2`, `r4`, ... are subgroups.

Each derived level is the block average of the top-left `h*by` x `w*bx` pixels of the level it
is derived from (`by = parent_h // h`, `bx = parent_w // w`: `create_overview_dataset_all_vars`
and `utils.downsample_2d_array`), so its grid is that level's origin with `by` x `bx` of its
pixels. The converter writes instead:

- as the level's `spatial:transform` (group, layout entry) and `spatial_ref` `GeoTransform`,
  rasterio's `from_bounds(native bbox, w, h)`: the whole native extent stretched over the
  trimmed level (161 x 275 px -> r2 80 x 137: pixels 0.6 % and 0.4 % too large, the last
  column 0.9 px off), which also makes the layout's `transform.scale` 2 disagree with it;
- as the `x`/`y` coordinates, `linspace(left, right, w, endpoint=False)`: pixel corners where
  CF coordinates are centres, half a pixel off. GDAL and rioxarray georeference the level
  from them (geozarr.gdal-interop, geozarr.reader-georef, geozarr.spatial-coords).

Its block averages also take the parent's no-data as a value (`downsample_2d_array` is called
without a no-data value): on Sentinel-1, whose reprojected backscatter is uint16 with 65535
outside the swath, r2 holds 65535.0 where the swath is absent and averages with 65535 along its
edges (geozarr.data-resampling).

`plan` gives the metadata repairs (spatial:transform, spatial:bbox, layout entry,
GeoTransform) level by level in layout order, each from its already-corrected parent;
`fix_coordinates` rewrites x/y as the corrected grid's pixel centres; `resample_jobs` the
NaN-aware block averages (`runner.derived_bands`) of every level's data arrays, in layout
order. All are idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from runner.derived_bands import Job
from runner.repair import Repair

NOT_DATA = frozenset({"x", "y", "spatial_ref"})


@dataclass(frozen=True)
class LevelGrid:
    """The true grid of one derived level (node path without leading slash), derived from
    `parent` by `factor` (y, x) of its pixels."""

    node: str
    shape: tuple[int, int]
    transform: tuple[float, ...]  # a, b, c, d, e, f
    parent: str = ""
    factor: tuple[int, int] = (1, 1)

    def bbox(self) -> list[float]:
        a, _, c, _, e, f = self.transform
        h, w = self.shape
        xs, ys = (c, c + a * w), (f, f + e * h)
        return [min(xs), min(ys), max(xs), max(ys)]

    def centres(self, axis: str) -> np.ndarray:
        a, _, c, _, e, f = self.transform
        n = self.shape[1] if axis == "x" else self.shape[0]
        origin, step = (c, a) if axis == "x" else (f, e)
        return origin + step * (np.arange(n) + 0.5)


def _level_grids(node: str, layout: list[Any]) -> list[tuple[int, LevelGrid]]:
    """(layout index, true grid) of every derived level of a generic-path multiscales group."""
    entries = {e.get("asset"): e for e in layout if isinstance(e, dict)}
    base = entries.get(".")
    if not base or base.get("derived_from") or not _grid_entry(base):
        return []
    grids = {".": (tuple(base["spatial:shape"]), tuple(float(v) for v in base["spatial:transform"]))}
    out: list[tuple[int, LevelGrid]] = []
    for i, entry in enumerate(layout):
        parent = grids.get(entry.get("derived_from")) if isinstance(entry, dict) else None
        if parent is None or not _grid_entry(entry):
            continue
        (ph, pw), pt = parent
        h, w = (int(v) for v in entry["spatial:shape"])
        if pt[1] or pt[3] or not (0 < h <= ph and 0 < w <= pw):
            continue  # a rotated grid or not a coarser level: not what the converter writes
        t = (pt[0] * (pw // w), 0.0, pt[2], 0.0, pt[4] * (ph // h), pt[5])
        grids[entry["asset"]] = ((h, w), t)
        level, parent_node = (_join(node, entry["asset"]), _join(node, entry["derived_from"]))
        out.append((i, LevelGrid(level, (h, w), t, parent_node, (ph // h, pw // w))))
    return out


def _join(node: str, asset: str) -> str:
    return node if asset == "." else (f"{node}/{asset}" if node else asset)


def _grid_entry(entry: dict[str, Any]) -> bool:
    shape, t = entry.get("spatial:shape"), entry.get("spatial:transform")
    return (isinstance(shape, list) and len(shape) == 2 and isinstance(t, list) and len(t) == 6
            and all(isinstance(v, (int, float)) for v in [*shape, *t]))


def levels(docs: dict[str, dict[str, Any]]) -> list[tuple[str, int, LevelGrid]]:
    """(multiscales group node, layout index, true grid) of every generic-path derived level."""
    out = []
    for rel, doc in sorted(docs.items()):
        ms = (doc.get("attributes") or {}).get("multiscales") if doc.get("node_type") == "group" else None
        if isinstance(ms, dict) and isinstance(ms.get("layout"), list):
            node = rel[: -len("zarr.json")].rstrip("/")
            out += [(node, i, grid) for i, grid in _level_grids(node, ms["layout"])]
    return out


def plan(docs: dict[str, dict[str, Any]]) -> list[Repair]:
    """The metadata repairs that give every generic-path derived level its true grid."""
    repairs: list[Repair] = []
    for node, i, grid in levels(docs):
        t, bbox = list(grid.transform), grid.bbox()
        entry = docs[f"{node}/zarr.json" if node else "zarr.json"]["attributes"]["multiscales"]["layout"][i]
        if entry.get("spatial:transform") != t:
            repairs.append(Repair("/" + node, f"multiscales.layout[{i}].spatial:transform",
                                  entry.get("spatial:transform"), t))
        attrs = (docs.get(f"{grid.node}/zarr.json") or {}).get("attributes")
        if attrs is None:
            continue  # the level group is missing: geozarr.multiscales-layout reports it
        for key, new in (("spatial:transform", t), ("spatial:bbox", bbox)):
            if key in attrs and attrs[key] != new:
                repairs.append(Repair("/" + grid.node, key, attrs[key], new))
        ref = (docs.get(f"{grid.node}/spatial_ref/zarr.json") or {}).get("attributes") or {}
        geo = " ".join(repr(v) for v in (t[2], t[0], t[1], t[5], t[3], t[4]))
        if "GeoTransform" in ref and ref["GeoTransform"] != geo:
            repairs.append(Repair(f"/{grid.node}/spatial_ref", "GeoTransform", ref["GeoTransform"], geo))
    return repairs


def fix_coordinates(store: Any, grids: list[LevelGrid]) -> list[Repair]:
    """Rewrite each level's x/y as its grid's pixel centres where they are not."""
    import zarr

    repairs = []
    for grid in grids:
        for axis in ("x", "y"):
            try:
                arr = zarr.open_array(store, path=f"{grid.node}/{axis}", mode="r+")
            except (FileNotFoundError, KeyError, ValueError):
                continue
            old, new = arr[:], grid.centres(axis).astype(arr.dtype)
            if old.shape == new.shape and not np.allclose(old, new, rtol=0, atol=abs(grid.transform[0]) * 1e-6):
                arr[:] = new
                repairs.append(Repair(f"/{grid.node}/{axis}", "data", {"first": float(old[0])},
                                      {"first": float(new[0])}))
    return repairs


def resample_jobs(docs: dict[str, dict[str, Any]]) -> list[Job]:
    """Every derived level's data arrays as NaN-aware block averages of its parent's, parents
    first (a level is recomputed from its already-recomputed parent)."""
    jobs = []
    for _, _, grid in levels(docs):
        prefix = grid.node + "/"
        for rel, doc in sorted(docs.items()):
            name = rel[len(prefix):-len("/zarr.json")] if rel.startswith(prefix) else ""
            if (doc.get("node_type") == "array" and name and "/" not in name and name not in NOT_DATA
                    and f"{grid.parent}/{name}/zarr.json" in docs):
                jobs.append(Job(f"{grid.node}/{name}", f"{grid.parent}/{name}", grid.factor, (0, 0),
                                "derived"))
    return jobs
