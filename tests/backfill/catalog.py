"""A source catalog in the real STAC API for the backfill tests: a fresh collection seeded with
EOPF-like items (a `product` asset pointing at the Zarr product)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from tests.stacapi.items import make_item, unique

START = datetime(2025, 6, 1, tzinfo=UTC)


def source_item(collection: str, number: int, product_root: str) -> dict[str, Any]:
    item_id = f"S2A_MSIL2A_{number:05d}"
    when = (START + timedelta(hours=number)).isoformat().replace("+00:00", "Z")
    item = make_item(item_id, collection, datetime=when)
    item["assets"] = {"product": {"href": f"{product_root.rstrip('/')}/{item_id}.zarr",
                                  "type": "application/vnd+zarr", "roles": ["data"]}}
    return item


def new_collection(api_url: str) -> str:
    """A new, empty source collection; its id."""
    collection = unique("source")
    body = {"type": "Collection", "stac_version": "1.1.0", "id": collection, "description": "t",
            "license": "proprietary", "links": [],
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                       "temporal": {"interval": [[None, None]]}}}
    requests.post(f"{api_url}/collections", json=body, timeout=30).raise_for_status()
    return collection


def add_items(api_url: str, collection: str, items: list[dict[str, Any]]) -> None:
    """Upsert ITEMS into COLLECTION, 1000 per bulk request."""
    for start in range(0, len(items), 1000):
        chunk = {item["id"]: item for item in items[start:start + 1000]}
        requests.post(f"{api_url}/collections/{collection}/bulk_items",
                      json={"items": chunk, "method": "upsert"}, timeout=120).raise_for_status()


def seed_source(api_url: str, count: int, product_root: str = "s3://source/products") -> str:
    """A new collection holding COUNT items one hour apart from START; its id."""
    collection = new_collection(api_url)
    add_items(api_url, collection, [source_item(collection, n, product_root) for n in range(count)])
    return collection
