"""STAC item rules on the pipeline's own item for a real converted store: the
clean item passes offline, and each planted defect fails with its rule and JSON path."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.findings import Severity
from conformance.stac.check import check_item

pytestmark = pytest.mark.slow  # the session fixture runs a real conversion

Item = dict[str, Any]


def _run(tmp_path: Path, item: Item, store: Path | None, cache: Path, offline: bool = True) -> Any:
    path = tmp_path / "item.json"
    path.write_text(json.dumps(item))
    return check_item(str(path), store=str(store) if store else None, offline=offline, schema_cache=str(cache))


def _errors(report: Any) -> list[Any]:
    return [f for f in report.findings if f.severity is Severity.ERROR]


def _shift(item: Item) -> None:
    item["bbox"] = [item["bbox"][0] + 1, item["bbox"][1], item["bbox"][2] + 1, item["bbox"][3]]
    for ring in item["geometry"]["coordinates"]:
        for pt in ring:
            pt[0] += 1


def _zarr_asset(item: Item) -> str:
    return next(k for k, a in item["assets"].items() if "reflectance" in k)


def _dangling(item: Item) -> None:
    a = item["assets"][_zarr_asset(item)]
    a["href"] = a["href"].rstrip("/") + "/r999m"


def _proj(item: Item) -> None:
    item["properties"]["proj:code"] = "EPSG:32633"


def _proj_shape(item: Item) -> None:
    item["properties"]["proj:shape"] = [72, 72]


def _media(item: Item) -> None:
    item["assets"][_zarr_asset(item)]["type"] = "image/tiff; application=geotiff"


def _datetime(item: Item) -> None:
    # matches the core schema's pattern, but there is no 13th month
    item["properties"]["datetime"] = "2025-13-08T10:00:00Z"


def _no_links(item: Item) -> None:
    del item["links"]


def _bbox_vs_geometry(item: Item) -> None:
    item["bbox"][3] -= 0.002  # still inside the store: only the geometry disagrees


def _bad_extension_value(item: Item) -> None:
    ext = "https://stac-extensions.github.io/eo/v2.0.0/schema.json"
    if ext not in item["stac_extensions"]:
        item["stac_extensions"].append(ext)
    item["properties"]["eo:cloud_cover"] = "cloudy"


def _traversal_id(item: Item) -> None:
    item["id"] = "../../etc"


def _markup_collection(item: Item) -> None:
    item["collection"] = "<script>"
    for link in item["links"]:
        if link.get("rel") == "collection":
            link["href"] = "collection.json"


DEFECTS: list[tuple[str, Callable[[Item], None], set[str], str]] = [
    ("bbox and geometry off by a degree", _shift, {"stac.bbox-store"}, "bbox"),
    # dangling in the store's model, and unresolvable by a stat: both rules say so
    ("dangling asset href", _dangling, {"stac.asset-href", "stac.href-resolves"}, "assets.{zarr}.href"),
    ("proj:code not the store's", _proj, {"stac.proj-store"}, "properties.proj:code"),
    ("proj:shape not the store's", _proj_shape, {"stac.proj-store"}, "properties.proj:shape"),
    # ... and the explorer no longer finds its multiscales asset
    ("zarr asset typed as GeoTIFF", _media, {"stac.media-type", "stac.explorer-assets"}, "assets.{zarr}.type"),
    ("datetime not a date", _datetime, {"stac.datetime"}, "properties.datetime"),
    # the timestamps extension's schema requires links too (stac-validator says the same)
    ("no links", _no_links, {"stac.schema-core", "stac.schema-extension", "stac.explorer-links"}, "$"),
    ("bbox not the geometry's bounds", _bbox_vs_geometry, {"stac.bbox-geometry"}, "bbox"),
    ("item id with ../", _traversal_id, {"stac.identifiers"}, "id"),
    ("collection with markup", _markup_collection, {"stac.identifiers"}, "collection"),
    ("eo:cloud_cover not a number", _bad_extension_value, {"stac.schema-extension"}, "properties.eo:cloud_cover"),
]


def test_pipeline_item_passes_offline(tmp_path: Path, item: Item, converted: Path, schema_cache: Path) -> None:
    report = _run(tmp_path, item, converted, schema_cache)
    assert report.error == ""
    assert _errors(report) == [], [f.to_dict() for f in _errors(report)]
    assert [f for f in report.findings if f.rule == "stac.schema-unavailable"] == []
    assert report.io["schemas_fetched"] == 0
    ran = {r["id"] for r in report.rules if "skipped" not in r}
    assert {"stac.schema-core", "stac.schema-extension", "stac.bbox-store", "stac.proj-store",
            "stac.asset-href", "stac.media-type", "stac.datetime"} <= ran


@pytest.mark.parametrize(("name", "plant", "rules", "path"), DEFECTS, ids=[d[0] for d in DEFECTS])
def test_planted_defect(tmp_path: Path, item: Item, converted: Path, schema_cache: Path, name: str,
                        plant: Callable[[Item], None], rules: set[str], path: str) -> None:
    bad = copy.deepcopy(item)
    plant(bad)
    report = _run(tmp_path, bad, converted, schema_cache)
    errors = _errors(report)
    assert {f.rule for f in errors} == rules, [f.to_dict() for f in errors]
    want = path.format(zarr=_zarr_asset(item))
    assert any(f.path == want for f in errors), [f.path for f in errors]
    assert report.exit_code == 1


def test_unknown_extension_is_an_error_unless_allowed(tmp_path: Path, item: Item, converted: Path,
                                                      schema_cache: Path) -> None:
    bad = copy.deepcopy(item)
    uri = "https://stac-extensions.github.io/not-cached/v9.9.9/schema.json"
    bad["stac_extensions"].append(uri)
    report = _run(tmp_path, bad, converted, schema_cache, offline=True)
    unavailable = [f for f in report.findings if f.rule == "stac.schema-unavailable"]
    assert [(f.path, f.severity) for f in unavailable] == [(uri, Severity.ERROR)]
    assert report.exit_code == 1
    path = tmp_path / "item.json"
    allowed = check_item(str(path), store=str(converted), offline=True, schema_cache=str(schema_cache),
                         allow_unknown_extensions=True)
    unavailable = [f for f in allowed.findings if f.rule == "stac.schema-unavailable"]
    assert [(f.path, f.severity) for f in unavailable] == [(uri, Severity.WARNING)]
    assert "--allow-unknown-extensions" in unavailable[0].message
    assert allowed.exit_code == 0


def test_empty_cache_offline_validates_everything_from_the_vendored_schemas(tmp_path: Path, item: Item) -> None:
    """No cache, no network: core and every extension we emit come from conformance/stac/vendored."""
    report = _run(tmp_path, item, None, tmp_path / "empty-cache", offline=True)
    assert report.exit_code == 0, [f.to_dict() for f in report.findings]
    assert [f for f in report.findings if f.rule == "stac.schema-unavailable"] == []
    assert report.io["schemas_fetched"] == 0
    assert any(r.get("skipped") == "no --store given" for r in report.rules)


def test_unreadable_item_cannot_run(tmp_path: Path, schema_cache: Path) -> None:
    (tmp_path / "item.json").write_text("{not json")
    report = check_item(str(tmp_path / "item.json"), offline=True, schema_cache=str(schema_cache))
    assert report.exit_code == 2 and "not JSON" in report.error
