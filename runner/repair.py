"""Post-processing of eopf-geozarr 0.12 output: repair the derived levels' `proj:*`.

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
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from runner import metadata_docs, storage


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


def plan(docs: dict[str, dict[str, Any]]) -> list[Repair]:
    """The repairs needed, given every zarr.json of the store keyed by relative path."""
    repairs: list[Repair] = []
    for rel, doc in sorted(docs.items()):
        if doc.get("node_type") != "array":
            continue
        node = _node_of(rel)
        parent = node.rsplit("/", 1)[0] if "/" in node else ""
        parent_doc = docs.get(f"{parent}/zarr.json" if parent else "zarr.json")
        if not parent_doc:
            continue
        for field, new in _fixes(doc, parent_doc.get("attributes") or {}).items():
            repairs.append(Repair(path="/" + node, field=field, old=doc["attributes"].get(field), new=new))
    return repairs


def apply(docs: dict[str, dict[str, Any]], repairs: list[Repair]) -> set[str]:
    """Apply repairs to the documents in place; return the relative paths changed."""
    changed: set[str] = set()
    for r in repairs:
        node = r.path.lstrip("/")
        rel = f"{node}/zarr.json"
        docs[rel]["attributes"][r.field] = r.new
        changed.add(rel)
        # every ancestor group holding consolidated metadata has a copy of the entry
        parts = node.split("/")
        for i in range(len(parts)):
            ancestor = "/".join(parts[:i])
            arel = f"{ancestor}/zarr.json" if ancestor else "zarr.json"
            adoc = docs.get(arel)
            cm = (adoc or {}).get("consolidated_metadata") or {}
            entries = cm.get("metadata") if isinstance(cm, dict) else None
            key = "/".join(parts[i:])
            if isinstance(entries, dict) and key in entries:
                entries[key].setdefault("attributes", {})[r.field] = r.new
                changed.add(arel)
    return changed


def repair_store(uri: str) -> list[Repair]:
    """Plan and apply the repairs on the store at `uri` (local or s3://)."""
    loc = storage.locate(uri)
    files = storage.list_files(loc)
    rels = sorted(rel for rel in files if rel.rsplit("/", 1)[-1] == "zarr.json")
    raw = metadata_docs.read_all(loc, rels)
    docs = {rel: json.loads(data) for rel, data in raw.items()}
    repairs = plan(docs)
    if not repairs:
        return []
    changed = apply(docs, repairs)
    # arrays first, then groups from the deepest up to the root: the root's
    # consolidated metadata is the last document to change
    for rel in sorted(changed, key=lambda r: (docs[r].get("node_type") != "array", -r.count("/"))):
        metadata_docs.write(loc, rel, metadata_docs.dumps(docs[rel]))
    return repairs
