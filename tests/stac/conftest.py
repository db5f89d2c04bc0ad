from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_s3 import s3_bucket, s3_env, s3_server  # noqa: F401
from tests.geozarr.stores import pipeline_store
from tests.stac.env_links import STAGING_LINKS
from tooling.repo import SHARED


@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline's own output (runner convert: real conversion + repair + run manifest)."""
    return pipeline_store(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def schema_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The extension schema cache, seeded from ../shared/schemas/stac (index.json + files)."""
    dest = tmp_path_factory.mktemp("stac-schemas")
    shutil.copytree(SHARED / "schemas" / "stac", dest, dirs_exist_ok=True)
    return dest


@pytest.fixture(scope="session")
def item(converted: Path) -> dict[str, Any]:
    """The pipeline's own item for the converted store (runner's `build_item`, with an env's
    links: it is one of our collections, so the explorer profile applies), plus the
    `collection` link STAC 1.1 requires beside the `collection` field."""
    from runner.stac_item import build_item

    d = build_item(str(converted), collection="sentinel-2-l2a", item_id="sample", links=STAGING_LINKS).to_dict(
        include_self_link=False, transform_hrefs=False)
    if d.get("collection") and not any(link.get("rel") == "collection" for link in d.get("links", [])):
        d["links"].append({"rel": "collection", "href": "../collection.json", "type": "application/json"})
    return json.loads(json.dumps(d))
