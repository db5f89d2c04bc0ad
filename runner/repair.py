"""Post-processing of eopf-geozarr 0.12 output: five known defects.

1. `proj:*` of derived levels' arrays (below);
2. multiscales layout `transform.scale`/`translation` (below, `_layout_fixes`);
3. the data of bands the converter derives with a wrong no-data handling
   (b08 in r20m/r60m and the levels below them: `runner.derived_bands`);
4. the grid mapping is a data variable, not a coordinate (below, `_coordinate_fixes`);
5. the grid (spatial:transform, x/y) of the generic path's derived levels, e.g. Sentinel-1's
   r2, r4, ... (`runner.overview_grid`).

Every change is a `Repair`, listed in run.json `repairs`.

**proj:***

The converter copies each band's source attributes into the levels it derives
(r120m, r360m, r720m), so their arrays say the source grid: `proj:shape`
24x24 and a 60 m `proj:transform` on a 12x12 level of 120 m. Each level
*group* carries the right grid (`spatial:shape`, `spatial:transform`,
`spatial:bbox`, matching the multiscales layout and the x/y coordinates), so
for every array of a group that declares `spatial:transform` and whose
attributes have `proj:shape`/`proj:transform`/`proj:bbox`, this sets:

- `proj:shape` = the array's last two dimensions (= the group's `spatial:shape`)
- `proj:transform` = the group's `spatial:transform` + `[0, 0, 1]` (the 9-element
  form the source uses)
- `proj:bbox` = the group's `spatial:bbox`

It edits only those attributes, in the array's `zarr.json` and in the
consolidated metadata of every ancestor group that has it, so the store stays
consistent. Arrays already right are left untouched (the repair is idempotent).

**Layout scale.** On sizes that do not divide evenly the converter writes a layout
entry's `transform.scale` as the ratio of the shapes (183/91 = 2.011 for r120m at
1098 px; 305/152 for r720m on a full tile) while the level's `spatial:transform`
says exactly 2x its parent's pixel size (the trailing partial block is trimmed).
Each derived entry's `transform` is set to the ratio of the level's pixel size to
its `derived_from` level's, and `translation` to the offset of its origin in parent
pixels (from the level groups' `spatial:transform`), in the group's zarr.json and
every consolidated copy.

**Grid mapping coordinate.** The converter's bands say `grid_mapping: spatial_ref`, but
nothing makes `spatial_ref` a coordinate: xarray's default decoding (`decode_coords=True`)
loads it as a data variable, and rioxarray, which looks the grid mapping up among the
coordinates, finds no CRS. For every array whose `grid_mapping` names a sibling array,
the name is added to the array's CF `coordinates` attribute (space-separated, kept in
order), which xarray's default decoding turns into a coordinate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner import derived_bands, metadata_docs, storage


@dataclass(frozen=True)
class Repair:
    path: str  # node path of the array, e.g. /measurements/reflectance/r120m/b04
    field: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "field": self.field, "old": self.old, "new": self.new}


def _node_of(rel: str) -> str:
    """'measurements/x/zarr.json' -> 'measurements/x'; root 'zarr.json' -> ''."""
    return rel[: -len("zarr.json")].rstrip("/")


def _fixes(array_doc: dict[str, Any], group_attrs: dict[str, Any]) -> dict[str, Any]:
    attrs = array_doc.get("attributes") or {}
    shape = array_doc.get("shape") or []
    g_transform = group_attrs.get("spatial:transform")
    if not isinstance(g_transform, list) or len(g_transform) != 6 or len(shape) < 2:
        return {}
    wanted: dict[str, Any] = {}
    if "proj:shape" in attrs:
        wanted["proj:shape"] = [int(shape[-2]), int(shape[-1])]
    if "proj:transform" in attrs:
        t = [float(v) for v in g_transform]
        wanted["proj:transform"] = t + [0.0, 0.0, 1.0] if len(attrs["proj:transform"]) == 9 else t
    if "proj:bbox" in attrs and isinstance(group_attrs.get("spatial:bbox"), list):
        wanted["proj:bbox"] = [float(v) for v in group_attrs["spatial:bbox"]]
    return {k: v for k, v in wanted.items() if attrs.get(k) != v}


_FIELD_PART = re.compile(r"^([^\[\]]+)((?:\[\d+\])*)$")


def _set_field(attrs: dict[str, Any], field: str, value: Any) -> None:
    """Set `attrs[field]`; a dotted field with indices (`multiscales.layout[3].transform`)
    walks into the nested attribute. Plain names (`proj:shape`) are one key."""
    if "." not in field and "[" not in field:
        attrs[field] = value
        return
    steps: list[str | int] = []
    for part in field.split("."):
        m = _FIELD_PART.match(part)
        if not m:
            raise ValueError(f"bad repair field {field!r}")
        steps.append(m.group(1))
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    target: Any = attrs
    for step in steps[:-1]:
        target = target[step]
    target[steps[-1]] = value


def _pixel_relation(t: object, pt: object) -> tuple[list[float], list[float]] | None:
    """(scale [y, x], translation [y, x]) of grid `t` against its parent grid `pt`."""
    if not (isinstance(t, list) and isinstance(pt, list) and len(t) >= 6 and len(pt) >= 6):
        return None
    if not pt[0] or not pt[4]:
        return None
    scale = [float(t[4]) / float(pt[4]), float(t[0]) / float(pt[0])]
    translation = [(float(t[5]) - float(pt[5])) / float(pt[4]), (float(t[2]) - float(pt[2])) / float(pt[0])]
    return [_tidy(v) for v in scale], [_tidy(v) + 0.0 for v in translation]


def _tidy(v: float) -> float:
    """Round away float noise from a ratio of decimal pixel sizes (120/60 -> exactly 2.0)."""
    r = round(v)
    return float(r) if abs(v - r) < 1e-9 * max(1.0, abs(v)) else v


def _layout_fixes(node: str, doc: dict[str, Any], docs: dict[str, dict[str, Any]]) -> list[Repair]:
    attrs = doc.get("attributes") or {}
    ms = attrs.get("multiscales")
    layout = ms.get("layout") if isinstance(ms, dict) else None
    if not isinstance(layout, list):
        return []
    entries = {e["asset"]: e for e in layout if isinstance(e, dict) and isinstance(e.get("asset"), str)}

    def grid(asset: str) -> object:
        level = f"{node}/{asset}" if node else asset
        gdoc = docs.get(f"{level}/zarr.json") or {}
        t = (gdoc.get("attributes") or {}).get("spatial:transform")
        return t if t is not None else entries[asset].get("spatial:transform")

    repairs: list[Repair] = []
    for i, entry in enumerate(layout):
        if not isinstance(entry, dict) or entry.get("derived_from") not in entries or entry.get("asset") not in entries:
            continue
        rel = _pixel_relation(grid(entry["asset"]), grid(entry["derived_from"]))
        if rel is None or not all(1.0 <= v < 1e6 for v in rel[0]):
            continue  # not a coarser grid (e.g. a 1-pixel level whose own transform is degenerate)
        old = entry.get("transform")
        new = {**(old if isinstance(old, dict) else {}), "scale": rel[0], "translation": rel[1]}
        if old != new:
            repairs.append(Repair(path="/" + node, field=f"multiscales.layout[{i}].transform", old=old, new=new))
    return repairs


def _coordinate_fixes(node: str, doc: dict[str, Any], docs: dict[str, dict[str, Any]]) -> list[Repair]:
    """`coordinates` of an array whose `grid_mapping` names a sibling array not yet listed."""
    attrs = doc.get("attributes") or {}
    mapping = attrs.get("grid_mapping")
    if not isinstance(mapping, str) or not mapping.strip() or " " in mapping.strip():
        return []  # absent, or the extended `crs: x y` form (not a plain variable name)
    parent = node.rsplit("/", 1)[0] if "/" in node else ""
    sibling = f"{parent}/{mapping}/zarr.json" if parent else f"{mapping}/zarr.json"
    if (docs.get(sibling) or {}).get("node_type") != "array":
        return []
    old = attrs.get("coordinates")
    names = old.split() if isinstance(old, str) else []
    if mapping in names:
        return []
    return [Repair(path="/" + node, field="coordinates", old=old, new=" ".join([*names, mapping]))]


def plan(docs: dict[str, dict[str, Any]]) -> list[Repair]:
    """The metadata repairs needed, given every zarr.json of the store keyed by relative path."""
    repairs: list[Repair] = []
    for rel, doc in sorted(docs.items()):
        if doc.get("node_type") == "group":
            repairs.extend(_layout_fixes(_node_of(rel), doc, docs))
            continue
        if doc.get("node_type") != "array":
            continue
        node = _node_of(rel)
        parent = node.rsplit("/", 1)[0] if "/" in node else ""
        parent_doc = docs.get(f"{parent}/zarr.json" if parent else "zarr.json")
        if not parent_doc:
            continue
        for field, new in _fixes(doc, parent_doc.get("attributes") or {}).items():
            repairs.append(Repair(path="/" + node, field=field, old=doc["attributes"].get(field), new=new))
        repairs.extend(_coordinate_fixes(node, doc, docs))
    return repairs


def apply(docs: dict[str, dict[str, Any]], repairs: list[Repair]) -> set[str]:
    """Apply repairs to the documents in place; return the relative paths changed."""
    changed: set[str] = set()
    for r in repairs:
        node = r.path.lstrip("/")
        rel = f"{node}/zarr.json" if node else "zarr.json"
        _set_field(docs[rel]["attributes"], r.field, r.new)
        changed.add(rel)
        # every ancestor group holding consolidated metadata has a copy of the entry
        parts = node.split("/") if node else []
        for i in range(len(parts)):
            ancestor = "/".join(parts[:i])
            arel = f"{ancestor}/zarr.json" if ancestor else "zarr.json"
            adoc = docs.get(arel)
            cm = (adoc or {}).get("consolidated_metadata") or {}
            entries = cm.get("metadata") if isinstance(cm, dict) else None
            key = "/".join(parts[i:])
            if isinstance(entries, dict) and key in entries:
                _set_field(entries[key].setdefault("attributes", {}), r.field, r.new)
                changed.add(arel)
    return changed


def repair_store(uri: str, progress: Callable[[str, int, int], None] | None = None) -> list[Repair]:
    """Plan and apply the repairs on the store at `uri` (local or s3://): metadata first
    (arrays, then groups from the deepest up to the root), then the recomputed bands'
    chunks. `progress(message, done, total)` is called after each recomputed array."""
    from runner import overview_grid  # it builds on this module's Repair

    loc = storage.locate(uri)
    files = storage.list_files(loc)
    rels = sorted(rel for rel in files if rel.rsplit("/", 1)[-1] == "zarr.json")
    raw = metadata_docs.read_all(loc, rels)
    docs = {rel: json.loads(data) for rel, data in raw.items()}
    # the generic path's level grids first: the layout scales are then computed from them
    repairs = overview_grid.plan(docs)
    changed = apply(docs, repairs)
    later = plan(docs)
    changed |= apply(docs, later)
    repairs += later
    # the root's consolidated metadata is the last document to change
    for rel in sorted(changed, key=lambda r: (docs[r].get("node_type") != "array", -r.count("/"))):
        metadata_docs.write(loc, rel, metadata_docs.dumps(docs[rel]))
    grids = [grid for _, _, grid in overview_grid.levels(docs)]
    if grids:
        repairs += overview_grid.fix_coordinates(storage.zarr_store(uri, read_only=False), grids)
    jobs = overview_grid.resample_jobs(docs) + derived_bands.plan(docs)
    if jobs:
        store = storage.zarr_store(uri, read_only=False)
        for n, job in enumerate(jobs, 1):
            outcome = derived_bands.recompute(store, job)
            if outcome.chunk_rows_written:
                old, new = outcome.to_repair_fields()
                repairs.append(Repair(path="/" + job.target, field="data", old=old, new=new))
            if progress is not None:
                progress("recomputed derived band", n, len(jobs))
    return repairs
