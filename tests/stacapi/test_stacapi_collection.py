"""The env's collection from git (overlays/<env>/collection.json), created and updated by
`register` in the real STAC API (pgSTAC + stac-fastapi-pgstac), its extent widening to
cover every registered item."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_stacapi import StacApi
from tests.stacapi.items import make_item, unique, write_item
from tests.stacapi.register_cli import REPO, json_lines, register

STAGING = REPO / "overlays" / "staging" / "collection.json"


def _collection_file(tmp_path: Path, collection: str, **changes: Any) -> Path:
    doc = {**json.loads(STAGING.read_text()), "id": collection, **changes}
    path = tmp_path / f"{collection}.json"
    path.write_text(json.dumps(doc))
    return path


def _register(api: StacApi, tmp_path: Path, item: dict[str, Any], coll: Path,
              capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    path = write_item(tmp_path / f"{item['id']}.json", item)
    code = register(str(path), "--stac-api-url", api.url, "--collection-json", str(coll), "--json")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_collection_from_git_is_created_then_its_extent_widens(
    stac_api: StacApi, tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_step_env: None,
) -> None:
    collection = unique("sentinel-2-l2a-staging")
    coll = _collection_file(tmp_path, collection)
    first = make_item(unique("A"), collection, bbox=(11.0, 45.0, 11.5, 45.4), datetime="2025-10-08T10:00:41Z")
    out = _register(stac_api, tmp_path, first, coll, capsys)
    assert (out["collection_created"], out["collection_updated"]) == (True, False)
    doc = stac_api.get(f"/collections/{collection}").json()
    git = json.loads(coll.read_text())
    assert doc["title"] == git["title"] and doc["license"] == git["license"]
    assert {(link["rel"], link["href"]) for link in git["links"]} <= {(lk["rel"], lk["href"]) for lk in doc["links"]}
    assert doc["extent"]["spatial"]["bbox"] == [[11.0, 45.0, 11.5, 45.4]]
    assert doc["extent"]["temporal"]["interval"] == [["2025-10-08T10:00:41Z", "2025-10-08T10:00:41Z"]]

    # an item west and earlier, one east and later: the extent covers all three
    for item_id, bbox, when in (("B", (9.0, 44.0, 9.5, 44.5), "2024-01-02T00:00:00Z"),
                                ("C", (12.0, 46.0, 12.5, 46.5), "2026-03-04T00:00:00Z")):
        out = _register(stac_api, tmp_path, make_item(unique(item_id), collection, bbox=bbox, datetime=when),
                        coll, capsys)
        assert (out["collection_created"], out["collection_updated"]) == (False, True)
    doc = stac_api.get(f"/collections/{collection}").json()
    assert doc["extent"]["spatial"]["bbox"] == [[9.0, 44.0, 12.5, 46.5]]
    assert doc["extent"]["temporal"]["interval"] == [["2024-01-02T00:00:00Z", "2026-03-04T00:00:00Z"]]
    # every registered item lies inside the collection's extent (what the explorer's map relies on)
    w, s, e, n = doc["extent"]["spatial"]["bbox"][0]
    for feature in stac_api.get(f"/collections/{collection}/items").json()["features"]:
        fw, fs, fe, fn = feature["bbox"]
        assert w <= fw and s <= fs and fe <= e and fn <= n

    # re-registering an item inside the extent changes nothing
    out = _register(stac_api, tmp_path, first, coll, capsys)
    assert (out["action"], out["collection_updated"]) == ("updated", False)


def test_changed_metadata_in_git_updates_the_collection(
    stac_api: StacApi, tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_step_env: None,
) -> None:
    collection = unique("sentinel-2-l2a-staging")
    item = make_item(unique("A"), collection)
    _register(stac_api, tmp_path, item, _collection_file(tmp_path, collection), capsys)
    out = _register(stac_api, tmp_path, item, _collection_file(tmp_path, collection, title="Renamed"), capsys)
    assert out["collection_updated"] is True
    doc = stac_api.get(f"/collections/{collection}").json()
    assert doc["title"] == "Renamed"
    assert doc["extent"]["spatial"]["bbox"] == [item["bbox"]]  # the widened extent is kept


def test_a_collection_document_for_another_collection_exits_2(
    stac_api: StacApi, tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_step_env: None,
) -> None:
    collection = unique("sentinel-2-l2a-staging")
    path = write_item(tmp_path / "item.json", make_item(unique("A"), collection))
    code = register(str(path), "--stac-api-url", stac_api.url, "--collection-json",
                    str(_collection_file(tmp_path, "another-collection")))
    assert code == 2
    errors = [e for e in json_lines(capsys.readouterr().err) if e["level"] == "error"]
    assert "is not the item's collection" in errors[0]["message"]
    assert stac_api.get(f"/collections/{collection}").status_code == 404
