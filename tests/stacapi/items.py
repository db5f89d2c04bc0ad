"""Small valid STAC 1.1 items for the registration tests."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any


def make_item(item_id: str, collection: str | None, *,
              bbox: tuple[float, float, float, float] = (11.0, 45.0, 11.5, 45.4),
              datetime: str = "2025-10-08T10:00:41Z", **properties: Any) -> dict[str, Any]:
    """A STAC 1.1 item for a GeoZarr store (core fields only: it validates offline)."""
    w, s, e, n = bbox
    item: dict[str, Any] = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": item_id,
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "bbox": [w, s, e, n],
        "properties": {"datetime": datetime, **properties},
        "links": [],
        "assets": {
            "geozarr": {
                "href": f"s3://geozarr/geozarr/{collection}/{item_id}.zarr",
                "type": "application/vnd.zarr; version=3; profile=multiscales",
                "roles": ["data"],
            }
        },
    }
    if collection is not None:  # STAC 1.1: an item naming its collection links to it
        item["collection"] = collection
        item["links"] = [{"rel": "collection", "href": "./collection.json", "type": "application/json"}]
    return item


def unique(prefix: str) -> str:
    """An id no other test uses (tests share one API for the session)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def write_item(path: Path, item: Any) -> Path:
    path.write_text(json.dumps(item))
    return path
