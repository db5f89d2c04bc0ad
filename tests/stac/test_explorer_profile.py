"""stac.explorer-profile: the explorer's own items are the valid fixtures; each planted
omission fails with its rule and path. Fast: no conversion."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.stac import profile
from conformance.stac.check import check_item
from conformance.stac.collection import check_collection_doc, check_collection_file
from tooling.repo import SHARED

REPO = Path(__file__).resolve().parents[2]
REFERENCE = sorted((SHARED / "reference" / "eopf-explorer-stac").glob("S2*.json"))
PROFILE_RULES = {r.id for r in profile.RULES}


def _profile_errors(tmp_path: Path, item: dict[str, Any], explicit: bool | None = None) -> list[tuple[str, str]]:
    path = tmp_path / "item.json"
    path.write_text(json.dumps(item))
    report = check_item(str(path), offline=True, explorer_profile=explicit)
    return [(f.rule, f.path) for f in report.findings if f.rule in PROFILE_RULES]


@pytest.mark.parametrize("ref", REFERENCE, ids=[p.stem[-20:] for p in REFERENCE])
def test_the_explorers_items_pass(tmp_path: Path, ref: Path) -> None:
    item = json.loads(ref.read_text())
    item["collection"] = "sentinel-2-l2a-staging"  # theirs is ours: the profile is on by default
    assert _profile_errors(tmp_path, item) == []


def _drop_property(item: dict[str, Any]) -> None:
    del item["properties"]["sat:relative_orbit"]


def _drop_xyz(item: dict[str, Any]) -> None:
    item["links"] = [link for link in item["links"] if link["rel"] != "xyz"]


def _xyz_without_tiles(item: dict[str, Any]) -> None:
    next(link for link in item["links"] if link["rel"] == "xyz")["href"] = "https://tiles.example/a.png"


def _no_multiscales_asset(item: dict[str, Any]) -> None:
    item["assets"]["reflectance"]["roles"] = ["metadata"]


PLANTED: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("no relative orbit", _drop_property, "stac.explorer-properties", "properties.sat:relative_orbit"),
    ("no xyz link", _drop_xyz, "stac.explorer-links", "links"),
    ("xyz without {z}/{x}/{y}", _xyz_without_tiles, "stac.explorer-links", "links[8].href"),
    ("no multiscales data asset", _no_multiscales_asset, "stac.explorer-assets", "assets"),
]


@pytest.mark.parametrize(("name", "plant", "rule", "path"), PLANTED, ids=[p[0] for p in PLANTED])
def test_planted_omission(tmp_path: Path, name: str, plant: Callable[[dict[str, Any]], None],
                          rule: str, path: str) -> None:
    item = json.loads(REFERENCE[0].read_text())
    item["collection"] = "sentinel-2-l2a-staging"
    plant(item)
    assert _profile_errors(tmp_path, item) == [(rule, path)]


def test_on_by_default_only_for_our_collections(tmp_path: Path) -> None:
    item = json.loads(REFERENCE[0].read_text())
    _drop_xyz(item)
    other = {**copy.deepcopy(item), "collection": "someone-elses"}
    assert _profile_errors(tmp_path, other) == []
    assert _profile_errors(tmp_path, other, explicit=True) == [("stac.explorer-links", "links")]
    ours = {**copy.deepcopy(item), "collection": "sentinel-2-l2a"}
    assert _profile_errors(tmp_path, ours, explicit=False) == []


def test_our_collections_are_the_overlays() -> None:
    ids = {json.loads(p.read_text())["id"] for p in (REPO / "overlays").glob("*/collection.json")}
    assert ids == profile.EXPLORER_COLLECTIONS


# --------------------------------------------------------------------- collection documents


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_overlay_collections_are_valid(env: str) -> None:
    path = REPO / "overlays" / env / "collection.json"
    assert check_collection_file(path, expected_id=json.loads(path.read_text())["id"]) == []


def test_the_explorers_collection_is_valid_and_a_broken_one_is_not() -> None:
    doc = json.loads((SHARED / "reference" / "eopf-explorer-stac" / "sentinel-2-l2a-staging.json").read_text())
    assert [f.path for f in check_collection_doc(doc, expected_id="sentinel-2-l2a-staging")] == []
    broken = {**doc, "license": 7}
    del broken["extent"]
    found = {(f.path, f.rule) for f in check_collection_doc(broken, expected_id="other")}
    assert found == {("id", "stac.collection"), ("$", "stac.collection"), ("license", "stac.collection")}


def test_sentinel1_items_need_the_sar_and_sat_properties() -> None:
    """An S1 item is held to what the explorer's Sentinel-1 collections filter on (sar:*, sat:*),
    not to the Sentinel-2 set (cloud cover, MGRS tile, sun angles)."""
    from conformance.stac.profile import REQUIRED_PROPERTIES_S1, check_properties

    props: dict[str, Any] = {key: "x" for key in REQUIRED_PROPERTIES_S1}
    props.update({"constellation": "sentinel-1", "sar:polarizations": ["VV", "VH"]})
    assert list(check_properties({"properties": props})) == []
    del props["sar:polarizations"]
    assert [f.path for f in check_properties({"properties": props})] == ["properties.sar:polarizations"]
