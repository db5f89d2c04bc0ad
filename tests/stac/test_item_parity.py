"""Our item against the EOPF Explorer's items (../shared/reference/eopf-explorer-stac/), key by
key, and against stac-validator's verdict.

Coverage is printed (`pytest -s`): the reference's property keys we carry, and for each one we
lack, why. The done-when: every reference property the sample's `stac_discovery` (or its
`other_metadata`, or the product's name) provides is in our item."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import zarr

from conformance.stac import vendored
from conformance.stac.check import check_item
from runner.stac_item import build_item
from tests.stac.env_links import STAGING_LINKS
from tooling.repo import SHARED

pytestmark = pytest.mark.slow  # the session fixture runs a real conversion

REFERENCE = SHARED / "reference" / "eopf-explorer-stac"
REFERENCE_ITEMS = sorted(p for p in REFERENCE.glob("S2*.json"))
# reference key -> where our item takes it from, when not the same key of stac_discovery
DERIVED = {
    "instruments": "stac_discovery instrument",
    "eopf:datatake_id": "stac_discovery eopf:data_take_id",
    "published": "stac_discovery created (the product's creation time)",
    "grid:code": "the MGRS tile in the product id",
    "mgrs:utm_zone": "the MGRS tile in the product id",
    "mgrs:latitude_band": "the MGRS tile in the product id",
    "mgrs:grid_square": "the MGRS tile in the product id",
    "view:sun_azimuth": "other_metadata mean sun azimuth",
    "view:sun_elevation": "other_metadata mean sun zenith",
    "gsd": "the store's finest grid",
    "proj:code": "the store's finest grid",
    "proj:centroid": "the store's finest grid",
    "datetime": "stac_discovery start_datetime (datetime is null in the source)",
}
# reference keys whose *value* we set differently on purpose, and why
OURS_BY_DESIGN = {
    "created": "our item's own creation (the run), not the product's: that is `published`",
    "updated": "our item's own update (the run)",
    "proj:bbox": "in proj:code's CRS (projection v2.0.0); the reference puts lon/lat there",
    "processing:lineage": "the source's lineage, then our conversion",
    "processing:software": "the source's software plus eopf-geozarr and geozarr-runner",
    "providers": "the source product's providers (the explorer substitutes its own list)",
}
@pytest.fixture(scope="module")
def full_item(converted: Path) -> dict[str, Any]:
    item = build_item(str(converted), collection="sentinel-2-l2a-staging", item_id="S2_sample_144",
                      stac_api_url="https://stac.example/stac", links=STAGING_LINKS)
    return json.loads(json.dumps(item.to_dict(include_self_link=False, transform_hrefs=False)))


def _provided(key: str, sd_props: dict[str, Any]) -> bool:
    return key in DERIVED or (sd_props.get(key) not in (None, "", []))


def test_item_carries_every_reference_property_the_source_provides(full_item: dict[str, Any],
                                                                    converted: Path) -> None:
    sd_props = zarr.open_group(converted, mode="r").attrs["stac_discovery"]["properties"]
    ours = full_item["properties"]
    for path in REFERENCE_ITEMS:
        ref = json.loads(path.read_text())["properties"]
        carried = sorted(k for k in ref if k in ours)
        lacking = {k: ("the source provides it" if _provided(k, sd_props) else "not in the sample's "
                       "stac_discovery/other_metadata") for k in ref if k not in ours}
        print(f"\n{path.name}: {len(carried)}/{len(ref)} reference properties carried "
              f"({100 * len(carried) / len(ref):.0f}%)")
        for key, why in sorted(lacking.items()):
            print(f"  lacking {key}: {why}")
        for key in sorted(set(ref) & set(OURS_BY_DESIGN)):
            print(f"  differs by design {key}: {OURS_BY_DESIGN[key]}")
        assert [k for k, why in lacking.items() if why == "the source provides it"] == []
    # what every explorer item declares for what it carries, we declare too
    ref_exts = {u.rsplit("/", 3)[-3] for p in REFERENCE_ITEMS for u in json.loads(p.read_text())["stac_extensions"]}
    our_exts = {u.rsplit("/", 3)[-3] for u in full_item["stac_extensions"]}
    print(f"extensions the reference declares that we do not: {sorted(ref_exts - our_exts)}")
    assert {"sat", "mgrs", "grid", "view", "processing", "product", "scientific", "projection",
            "timestamps"} <= our_exts


def test_item_links_match_the_explorers(full_item: dict[str, Any]) -> None:
    rels = {link["rel"] for link in full_item["links"]}
    ref_rels = {link["rel"] for p in REFERENCE_ITEMS for link in json.loads(p.read_text())["links"]}
    print(f"\nreference link rels we lack: {sorted(ref_rels - rels)} (self/root/parent/via are the "
          "STAC API's and the explorer's; `store` is the explorer's own)")
    assert {"collection", "derived_from", "xyz", "tilejson", "viewer", "license", "cite-as"} <= rels
    derived = [link["href"] for link in full_item["links"] if link["rel"] == "derived_from"]
    assert ("https://stac.core.eopf.eodc.eu/collections/sentinel-2-l2a/items/"
            "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613") in derived
    xyz = next(link for link in full_item["links"] if link["rel"] == "xyz")
    assert xyz["href"].endswith("/sentinel-2-l2a-staging/items/S2_sample_144/tiles/{z}/{x}/{y}.png")
    assert {"license", "cite-as"} <= {link["rel"] for link in full_item["links"]}


def test_links_are_absent_when_the_templates_are_unset(converted: Path) -> None:
    item = build_item(str(converted), collection="c", item_id="i").to_dict(include_self_link=False)
    assert not {"xyz", "tilejson", "viewer", "license", "cite-as"} & {link["rel"] for link in item["links"]} - {
        "cite-as"}  # cite-as still comes from the item's own sci:doi
    assert "https://stac-extensions.github.io/web-map-links/v1.2.0/schema.json" not in item["stac_extensions"]


# ------------------------------------------------------------ stac-validator agrees with us


def _stac_validator(path: Path) -> bool:
    from stac_validator.validate import StacValidate

    schema_map = {uri: str(vendored.VENDORED_DIR / rel) for uri, rel in vendored.index().items()}
    validator = StacValidate(str(path), schema_map=schema_map)
    return bool(validator.run())


def _break_cloud_cover(item: dict[str, Any]) -> None:
    item["properties"]["eo:cloud_cover"] = "cloudy"


def _break_mgrs(item: dict[str, Any]) -> None:
    del item["properties"]["mgrs:grid_square"]


def _break_sun(item: dict[str, Any]) -> None:
    item["properties"]["view:sun_elevation"] = 123.0


def _no_links(item: dict[str, Any]) -> None:
    del item["links"]


VARIANTS = [("as built", lambda item: None, True), ("eo:cloud_cover a string", _break_cloud_cover, False),
            ("mgrs without grid square", _break_mgrs, False), ("sun elevation > 90", _break_sun, False),
            ("no links", _no_links, False)]


@pytest.mark.parametrize(("name", "edit", "valid"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_stac_validator_and_our_checker_agree(full_item: dict[str, Any], item: dict[str, Any], tmp_path: Path,
                                              name: str, edit: Any, valid: bool) -> None:
    for base in (full_item, item):  # with every env link, and with none
        doc = copy.deepcopy(base)
        edit(doc)
        path = tmp_path / "item.json"
        path.write_text(json.dumps(doc))
        ours = check_item(str(path), offline=True, schema_cache=str(tmp_path / "no-cache"))
        schema_errors = [f for f in ours.findings if f.rule.startswith("stac.schema") and f.severity == "error"]
        assert (not schema_errors) is _stac_validator(path) is valid, [f.to_dict() for f in schema_errors]
