"""`stac.explorer-profile`: what the EOPF Explorer relies on in an item
(../shared/reference/eopf-explorer-stac/): its filters and item page read the properties
below, its map and tilers follow the links, and it opens the multiscales Zarr asset.

On by default for our collections (EXPLORER_COLLECTIONS, the ids in overlays/*/collection.json:
a test keeps them in step), on or off explicitly with `--explorer-profile` / `--no-explorer-profile`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conformance.findings import Finding, Rule, Severity

EXPLORER_COLLECTIONS = frozenset({"sentinel-2-l2a", "sentinel-2-l2a-staging"})

PROPERTIES = Rule("stac.explorer-properties", Severity.ERROR,
                  "the item has every property the explorer filters and shows (platform, orbit, tile, "
                  "cloud cover, sun angles, product type, processing level, DOI, ...)")
LINKS = Rule("stac.explorer-links", Severity.ERROR,
             "the item links what the viewer and tilers follow: collection, derived_from, xyz, tilejson, "
             "viewer, license, cite-as")
ASSETS = Rule("stac.explorer-assets", Severity.ERROR,
              "a data asset is the multiscales Zarr group the explorer opens (role data, "
              "type application/vnd.zarr; version=3; profile=multiscales, with bands)")
RULES = (PROPERTIES, LINKS, ASSETS)

REQUIRED_PROPERTIES = (
    "platform", "constellation", "instruments", "mission", "gsd", "proj:code", "proj:bbox",
    "eo:cloud_cover", "sat:orbit_state", "sat:relative_orbit", "sat:absolute_orbit", "grid:code",
    "mgrs:utm_zone", "mgrs:latitude_band", "mgrs:grid_square", "view:sun_azimuth", "view:sun_elevation",
    "product:type", "processing:level", "sci:doi", "published", "providers",
)
# a Sentinel-1 item: what the explorer's Sentinel-1 collections summarise and filter on
# (sentinel-1-grd-rtc-staging: sar:*, sat:orbit_state, constellation, instruments, gsd)
REQUIRED_PROPERTIES_S1 = (
    "platform", "constellation", "instruments", "gsd", "proj:code", "proj:bbox",
    "sat:orbit_state", "sat:relative_orbit", "sat:absolute_orbit", "sar:instrument_mode",
    "sar:frequency_band", "sar:center_frequency", "sar:polarizations", "sar:product_type",
    "product:type", "published", "providers",
)


def required_properties(props: dict[str, Any]) -> tuple[str, ...]:
    """The properties the explorer needs of an item: by its product (Sentinel-1: sar/sat)."""
    sentinel1 = props.get("constellation") == "sentinel-1" or str(props.get("product:type", "")).startswith("S01")
    return REQUIRED_PROPERTIES_S1 if sentinel1 else REQUIRED_PROPERTIES
REQUIRED_LINKS = ("collection", "derived_from", "xyz", "tilejson", "viewer", "license", "cite-as")


def applies(item: dict[str, Any], explicit: bool | None) -> bool:
    """Whether the profile runs: as asked, else for an item of one of our collections."""
    if explicit is not None:
        return explicit
    collection = item.get("collection")  # any JSON value: only a string names one of ours
    return isinstance(collection, str) and collection in EXPLORER_COLLECTIONS


def check_properties(item: dict[str, Any]) -> Iterator[Finding]:
    props = item.get("properties") or {}
    for key in required_properties(props if isinstance(props, dict) else {}):
        if props.get(key) in (None, "", [], {}):
            yield PROPERTIES.finding(f"the explorer needs properties.{key}", f"properties.{key}")


def check_links(item: dict[str, Any]) -> Iterator[Finding]:
    links = [link for link in item.get("links") or [] if isinstance(link, dict)]
    rels = {link.get("rel") for link in links if isinstance(link.get("href"), str) and link["href"]}
    for rel in REQUIRED_LINKS:
        if rel not in rels:
            yield LINKS.finding(f"no link with rel {rel!r} (the explorer follows it)", "links")
    for i, link in enumerate(links):
        href = link.get("href")
        if link.get("rel") == "xyz" and isinstance(href, str) and not all(p in href for p in ("{z}", "{x}", "{y}")):
            yield LINKS.finding(f"the xyz link {href!r} has no {{z}}/{{x}}/{{y}} placeholders", f"links[{i}].href")


def check_assets(item: dict[str, Any]) -> Iterator[Finding]:
    for asset in (item.get("assets") or {}).values():
        if not isinstance(asset, dict):
            continue
        mt = str(asset.get("type") or "").replace(" ", "").lower()
        if ("data" in (asset.get("roles") or []) and mt.startswith("application/vnd.zarr")
                and "profile=multiscales" in mt and asset.get("bands")):
            return
    yield ASSETS.finding("no data asset is a multiscales Zarr group with bands "
                         "(application/vnd.zarr; version=3; profile=multiscales)", "assets")
