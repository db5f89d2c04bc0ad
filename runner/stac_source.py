"""The source product's own metadata, mapped into our item's properties.

An EOPF product keeps its STAC description in the root attributes (`stac_discovery`)
and its processing metadata in `other_metadata`; the converter carries both into the
store. The EOPF Explorer's items (`../shared/reference/eopf-explorer-stac/`) carry
these as STAC properties; so do ours, each with the extension that defines it:

- copied as they are: `mission`, `platform`, `constellation`, `providers` (core),
  `sci:doi`, `sat:*`, `eo:cloud_cover`/`eo:snow_cover`, `processing:level`/`facility`,
  `product:type`/`timeliness`/`timeliness_category`, `eopf:instrument_mode`;
- Sentinel-1: `sar:instrument_mode`/`frequency_band`/`polarizations`/`product_type` (sar
  v1.0.0, as the explorer's Sentinel-1 collections) and `sar:center_frequency` 5.405 GHz for
  C-band Sentinel-1 (the source does not say it), once the sar schema is vendored (see
  `SAR_SCHEMA_URI`); `sat:anx_datetime` (UTC, with its `Z`);
  `provider` -> `providers`, `instruments` given as a string -> a list;
- renamed: `instrument` -> `instruments` (a list), `eopf:data_take_id` ->
  `eopf:datatake_id` (the eopf extension's name); the source's `created` (when the
  product was made) -> `published` (timestamps);
- derived: `grid:code` and `mgrs:*` from the MGRS tile in the product name (`_T32TQM_`),
  `view:sun_azimuth`/`view:sun_elevation` (90 - zenith) from `other_metadata`'s mean sun
  angles.

A value of the wrong type, empty or null is left out (never guessed). `SKIPPED` says
why source properties the explorer does not carry are not mapped.
"""

from __future__ import annotations

import re
from typing import Any

EXT_EO = "https://stac-extensions.github.io/eo/v2.0.0/schema.json"
EXT_SAT = "https://stac-extensions.github.io/sat/v1.0.0/schema.json"
EXT_SCI = "https://stac-extensions.github.io/scientific/v1.0.0/schema.json"
EXT_VIEW = "https://stac-extensions.github.io/view/v1.0.0/schema.json"
EXT_PROCESSING = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
EXT_PRODUCT = "https://stac-extensions.github.io/product/v0.1.0/schema.json"
EXT_TIMESTAMPS = "https://stac-extensions.github.io/timestamps/v1.1.0/schema.json"
EXT_GRID = "https://stac-extensions.github.io/grid/v1.1.0/schema.json"
EXT_MGRS = "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json"
EXT_EOPF = "https://cs-si.github.io/eopf-stac-extension/v1.2.0/schema.json"
# The sar extension (v1.0.0, as the explorer's Sentinel-1 collections). Not an EXT_ constant:
# its schema is not vendored (conformance/stac/vendored/: not in the shared schema copies, and
# no registry package ships it), and an item may only declare what validates offline, so the
# sar:* properties are mapped only once that schema is there (`sar_schema_vendored`).
SAR_SCHEMA_URI = "https://stac-extensions.github.io/sar/v1.0.0/schema.json"
SENTINEL1_CENTER_FREQUENCY_GHZ = 5.405  # C-SAR (the explorer's Sentinel-1 collections)

# source key -> (item key, extension or None for core common metadata, accepted types)
_NUMBER = (int, float)
COPIED: dict[str, tuple[str, str | None, tuple[type, ...]]] = {
    "mission": ("mission", None, (str,)),
    "platform": ("platform", None, (str,)),
    "constellation": ("constellation", None, (str,)),
    "providers": ("providers", None, (list,)),
    "sci:doi": ("sci:doi", EXT_SCI, (str,)),
    "sat:orbit_state": ("sat:orbit_state", EXT_SAT, (str,)),
    "sat:absolute_orbit": ("sat:absolute_orbit", EXT_SAT, (int,)),
    "sat:relative_orbit": ("sat:relative_orbit", EXT_SAT, (int,)),
    "sat:platform_international_designator": ("sat:platform_international_designator", EXT_SAT, (str,)),
    "eo:cloud_cover": ("eo:cloud_cover", EXT_EO, _NUMBER),
    "eo:snow_cover": ("eo:snow_cover", EXT_EO, _NUMBER),
    "processing:level": ("processing:level", EXT_PROCESSING, (str,)),
    "processing:facility": ("processing:facility", EXT_PROCESSING, (str,)),
    "product:type": ("product:type", EXT_PRODUCT, (str,)),
    "product:timeliness": ("product:timeliness", EXT_PRODUCT, (str,)),
    "product:timeliness_category": ("product:timeliness_category", EXT_PRODUCT, (str,)),
    "eopf:instrument_mode": ("eopf:instrument_mode", EXT_EOPF, (str,)),
    "sar:instrument_mode": ("sar:instrument_mode", SAR_SCHEMA_URI, (str,)),
    "sar:frequency_band": ("sar:frequency_band", SAR_SCHEMA_URI, (str,)),
    "sar:center_frequency": ("sar:center_frequency", SAR_SCHEMA_URI, _NUMBER),
    "sar:polarizations": ("sar:polarizations", SAR_SCHEMA_URI, (list,)),
    "sar:product_type": ("sar:product_type", SAR_SCHEMA_URI, (str,)),
    "eopf:data_take_id": ("eopf:datatake_id", EXT_EOPF, (str,)),
    "created": ("published", EXT_TIMESTAMPS, (str,)),
}

# Source properties not mapped, and why (the parity test prints these).
SKIPPED: dict[str, str] = {
    "processing:expression": "a string in the source; processing v1.2.0 wants an object {format, expression}",
    "processing:version": "empty in the source",
    "product:timeline": "not a product extension field (a legacy alias of product:timeliness_category)",
    "eopf:baseline": "not a field of the eopf extension v1.2.0 (kept in the source's processing:software)",
    "eopf:resolutions": "not a field of the eopf extension v1.2.0; the bands' gsd is in the store",
    "proj:epsg": "projection v2.0.0 uses proj:code, taken from the store's grid",
    "proj:bbox": "taken from the store's finest grid, not the source's",
    "bands": "rebuilt per asset from the bands the store holds",
}

MGRS_TILE = re.compile(r"_T(\d{2})([C-HJ-NP-X])([A-HJ-NP-Z]{2})(?:_|\.|$)")
SUN_AZIMUTH = "mean_sun_azimuth_angle_in_deg_for_all_bands_all_detectors"
SUN_ZENITH = "mean_sun_zenith_angle_in_deg_for_all_bands_all_detectors"


def _typed(value: Any, types: tuple[type, ...]) -> bool:
    if value is None or value == "" or value == []:
        return False
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def copied(sd_props: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The properties copied or renamed from stac_discovery, and their extensions."""
    props: dict[str, Any] = {}
    exts: set[str] = set()
    for src, (key, ext, types) in COPIED.items():
        value = sd_props.get(src)
        if _typed(value, types):
            props[key] = float(value) if types is _NUMBER else value
            if ext:
                exts.add(ext)
    for key in ("instrument", "instruments"):  # S2 products say instrument, S1 instruments
        if _typed(sd_props.get(key), (str,)):
            props["instruments"] = [sd_props[key]]
    if "providers" not in props and _typed(sd_props.get("provider"), (list,)):
        props["providers"] = sd_props["provider"]  # S1 products say provider
    anx = sd_props.get("sat:anx_datetime")
    if _typed(anx, (str,)):
        props["sat:anx_datetime"] = anx if anx.endswith("Z") or "+" in anx[10:] else anx + "Z"
        exts.add(EXT_SAT)
    if props.get("sar:frequency_band") == "C" and props.get("constellation") == "sentinel-1":
        props.setdefault("sar:center_frequency", SENTINEL1_CENTER_FREQUENCY_GHZ)
    if not sar_schema_vendored():
        props = {k: v for k, v in props.items() if not k.startswith("sar:")}
        exts.discard(SAR_SCHEMA_URI)
    return props, exts


def sar_schema_vendored() -> bool:
    """Whether the sar extension's schema is among the vendored ones (items validate offline)."""
    from conformance.stac import vendored

    return vendored.path_for(SAR_SCHEMA_URI) is not None


def mgrs(product_id: str, other_metadata: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """grid:code and mgrs:* from the MGRS tile named in the product (or its tile) id."""
    for text in (product_id, str(other_metadata.get("UTM_zone_identification") or "")):
        m = MGRS_TILE.search(text)
        if m:
            zone, band, square = m.groups()
            return ({"grid:code": f"MGRS-{zone}{band}{square}", "mgrs:utm_zone": int(zone),
                     "mgrs:latitude_band": band, "mgrs:grid_square": square}, {EXT_GRID, EXT_MGRS})
    return {}, set()


def sun_angles(other_metadata: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """view:sun_azimuth and view:sun_elevation (90 - the mean zenith angle)."""
    props: dict[str, Any] = {}
    azimuth, zenith = other_metadata.get(SUN_AZIMUTH), other_metadata.get(SUN_ZENITH)
    if _typed(azimuth, _NUMBER) and 0 <= float(azimuth) <= 360:
        props["view:sun_azimuth"] = float(azimuth)
    if _typed(zenith, _NUMBER) and 0 <= float(zenith) <= 180:
        props["view:sun_elevation"] = 90.0 - float(zenith)
    return props, ({EXT_VIEW} if props else set())


def source_properties(root_attrs: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """Every property mapped from the product's stac_discovery and other_metadata."""
    sd = root_attrs.get("stac_discovery") or {}
    om = root_attrs.get("other_metadata") or {}
    props: dict[str, Any] = {}
    exts: set[str] = set()
    for part, part_exts in (copied(sd.get("properties") or {}), mgrs(str(sd.get("id") or ""), om),
                            sun_angles(om)):
        props.update(part)
        exts |= part_exts
    return props, exts


def source_id(root_attrs: dict[str, Any]) -> str:
    """The source product's id without the `.SAFE` suffix (its STAC item id)."""
    raw = str((root_attrs.get("stac_discovery") or {}).get("id") or "")
    return raw.removesuffix(".SAFE")
