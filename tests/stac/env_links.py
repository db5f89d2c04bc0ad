"""The links an env configures for its items (templates as overlays/staging sets them, and
its collection document), for building items the way the pipeline does."""

from __future__ import annotations

import json
from pathlib import Path

from runner.stac_links import ItemLinks

REPO = Path(__file__).resolve().parents[2]
HOST = "https://tiles.example"
STAGING_LINKS = ItemLinks(
    source_item_url="https://stac.core.eopf.eodc.eu/collections/sentinel-2-l2a/items/{source_id}",
    templates={"xyz": f"{HOST}/collections/{{collection}}/items/{{item_id}}/tiles/{{z}}/{{x}}/{{y}}.png",
               "tilejson": f"{HOST}/collections/{{collection}}/items/{{item_id}}/tilejson.json",
               "viewer": f"{HOST}/collections/{{collection}}/items/{{item_id}}/viewer"},
    collection_doc=json.loads((REPO / "overlays" / "staging" / "collection.json").read_text()),
)
