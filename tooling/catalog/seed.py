"""Synthetic catalog content for the local drill and the restore benchmark: collections and
items registered through the STAC API's transactions (`/bulk_items`), like the pipeline's."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from tooling.catalog.errors import CatalogError

BATCH = 500


def synthetic_collection(cid: str) -> dict[str, Any]:
    return {
        "type": "Collection",
        "id": cid,
        "stac_version": "1.1.0",
        "license": "proprietary",
        "description": f"restore drill collection {cid}",
        "links": [],
        "extent": {
            "spatial": {"bbox": [[-180, -90, 180, 90]]},
            "temporal": {"interval": [["2025-01-01T00:00:00Z", None]]},
        },
    }


def synthetic_item(
    cid: str, n: int, bucket: str = "geozarr", prefix: str = "geozarr"
) -> dict[str, Any]:
    """Item N of collection CID: a distinct footprint, a GeoZarr asset where the pipeline puts it."""
    w, s = -170 + (n * 0.37) % 340, -80 + (n * 0.11) % 160
    e, north = round(w + 0.9, 6), round(s + 0.9, 6)
    w, s = round(w, 6), round(s, 6)
    item_id = f"drill-{n:06d}"
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": item_id,
        "collection": cid,
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[w, s], [e, s], [e, north], [w, north], [w, s]]],
        },
        "bbox": [w, s, e, north],
        "properties": {"datetime": f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}T10:00:00Z"},
        "links": [],
        "assets": {
            "geozarr": {
                "href": f"s3://{bucket}/{prefix}/{cid}/{item_id}.zarr",
                "type": "application/vnd.zarr; version=3",
                "roles": ["data"],
            }
        },
    }


def _ok(r: requests.Response, what: str) -> None:
    if r.status_code >= 300:
        raise CatalogError(f"{what}: HTTP {r.status_code}: {r.text[:300]}")


def seed(
    api_url: str, items: int, collections: tuple[str, ...] = ("drill-a", "drill-b")
) -> dict[str, int]:
    """Register ITEMS items spread over COLLECTIONS; items per collection."""
    counts = {c: 0 for c in collections}
    with requests.Session() as http:
        for cid in collections:
            _ok(
                http.post(f"{api_url}/collections", json=synthetic_collection(cid), timeout=30),
                f"create collection {cid}",
            )
        todo = [(collections[n % len(collections)], n) for n in range(items)]
        for start in range(0, len(todo), BATCH):
            by_collection: dict[str, dict[str, Any]] = {}
            for cid, n in todo[start : start + BATCH]:
                item = synthetic_item(cid, n)
                by_collection.setdefault(cid, {})[item["id"]] = item
                counts[cid] += 1
            for cid, batch in by_collection.items():
                _ok(
                    http.post(
                        f"{api_url}/collections/{quote(cid)}/bulk_items",
                        json={"items": batch, "method": "insert"},
                        timeout=300,
                    ),
                    f"register {len(batch)} items in {cid}",
                )
    return counts
