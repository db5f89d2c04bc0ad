"""The source product's own description, carried into a converted store's root.

eopf-geozarr 0.12's Sentinel-1 path writes a new store root holding only its footprint
(`spatial:bbox`, `proj:code`, `zarr_conventions`): the product's `stac_discovery` (sar:*,
sat:*, datetimes, ...) and `other_metadata`, which the Sentinel-2 path keeps and the STAC item
is made from, are lost. `carry_root_attributes` adds them back to the root's zarr.json,
never replacing a key the converter wrote.
"""

from __future__ import annotations

import json
from typing import Any

from runner import metadata_docs, storage

CARRIED = ("stac_discovery", "other_metadata")


def carry_root_attributes(store: str, source_attrs: dict[str, Any]) -> list[str]:
    """Add the source's CARRIED root attributes the store's root lacks; the keys added."""
    loc = storage.locate(store)
    raw = metadata_docs.read_all(loc, ["zarr.json"])["zarr.json"]
    doc = json.loads(raw)
    attrs = doc.setdefault("attributes", {})
    added = [k for k in CARRIED if k in source_attrs and k not in attrs]
    if added:
        attrs.update({k: source_attrs[k] for k in added})
        metadata_docs.write(loc, "zarr.json", metadata_docs.dumps(doc))
    return added
