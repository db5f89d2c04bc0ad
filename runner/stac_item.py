"""`stac`: the STAC 1.1 Item of a converted store, built with pystac.

- Refuses an incomplete store (no OUTPUT/run.json): exit 2.
- geometry/bbox: the finest grid's `spatial:bbox` in its `proj:code`, densified
  and transformed to EPSG:4326.
- datetime from the source's `stac_discovery` (kept in the store's root
  attributes): its `datetime`, or `start_datetime` when that is null (real
  EOPF products); `start_datetime`/`end_datetime` are carried over.
- projection v2.0.0 `proj:code`, `proj:shape`, `proj:transform` (6 elements,
  the store's `spatial:transform`) and `proj:bbox` of the finest grid.
- assets: `geozarr` (the store, `application/vnd.zarr; version=3`), one per
  multiscales group (`...; profile=multiscales`, with the bands), and
  `run-manifest`; for `s3://` outputs the href is the HTTPS URL of the object
  and `alternate.s3` the `s3://` URI with the storage extension v2.0.0.
- properties mapped from the source product (`runner.stac_source`: sat, mgrs, grid,
  view, product, processing, sci, eopf, providers, ...) with their extensions; `gsd`
  (the finest pixel) and `proj:centroid`.
- links: `derived_from` the source product, and its STAC item when the env's
  `source_item_url` template is set; `xyz`, `tilejson`, `viewer` from the env's URL
  templates (absent when unset); `license` and `cite-as` from the env's collection
  document (`collection.json` in GEOZARR_PARAMS_DIR, from overlays/<env>/).
"""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import pystac
import zarr
from pyproj import CRS, Transformer
from pystac.utils import str_to_datetime

from runner import __version__, manifest, stac_source, storage
from runner.errors import BadInput, RunnerError, classify
from runner.products import polarisation
from runner.stac_links import ItemLinks, add_links

MEDIA_ZARR3 = "application/vnd.zarr; version=3"
MEDIA_ZARR3_MULTISCALES = "application/vnd.zarr; version=3; profile=multiscales"
EXT_PROJ = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
EXT_EO = stac_source.EXT_EO
EXT_ALTERNATE = "https://stac-extensions.github.io/alternate-assets/v1.2.0/schema.json"
EXT_STORAGE = "https://stac-extensions.github.io/storage/v2.0.0/schema.json"
EXT_PROCESSING = stac_source.EXT_PROCESSING
STORAGE_SCHEME = "output-s3"


def _open_root(uri: str) -> zarr.Group:
    """The store's root, through its consolidated metadata when it has some. Zarr v3 is tried
    first: zarr takes it whenever zarr.json is there, and saying so spares its probes for the
    v2 documents (.zgroup, .zattrs, .zmetadata: requests on S3); without zarr.json, as before."""
    store = storage.zarr_store(uri, read_only=True)
    try:
        return _open_group(store, 3)
    except FileNotFoundError:  # no zarr.json: Zarr v2, or nothing (zarr says which)
        return _open_group(store, None)


def _open_group(store: Any, zarr_format: Literal[3] | None) -> zarr.Group:
    try:
        return zarr.open_consolidated(store, mode="r", zarr_format=zarr_format)
    except (ValueError, KeyError, TypeError):
        return zarr.open_group(store, mode="r", zarr_format=zarr_format)


@dataclass(frozen=True)
class Hierarchy:
    """The store's groups (node path -> attributes) and each group's array names, from one
    walk of the hierarchy (consolidated metadata when the store has it)."""

    groups: dict[str, dict[str, Any]]
    arrays: dict[str, list[str]]

    def with_grid(self) -> dict[str, dict[str, Any]]:
        """Every group declaring a grid (spatial:transform + spatial:shape)."""
        return {p: a for p, a in self.groups.items() if "spatial:transform" in a and "spatial:shape" in a}

    def multiscales(self) -> dict[str, dict[str, Any]]:
        return {p: a for p, a in self.groups.items() if "multiscales" in a}


def _add_member(tree: Hierarchy, path: str, attrs: dict[str, Any] | None) -> None:
    """Add the node at PATH (relative to the root): a group with ATTRS, or an array (None)."""
    parent, _, name = ("/" + path).rpartition("/")
    if attrs is not None:
        tree.groups["/" + path] = attrs
    else:
        tree.arrays.setdefault(parent or "/", []).append(name)


def read_hierarchy(root: zarr.Group) -> Hierarchy:
    tree = Hierarchy({}, {})
    for path, node in root.members(max_depth=None):
        _add_member(tree, path, dict(node.attrs) if isinstance(node, zarr.Group) else None)
    return tree


def _consolidated_root(uri: str) -> dict[str, Any] | None:
    """The root zarr.json when it is a Zarr v3 group with inline consolidated metadata (as the
    convert step writes it), else None."""
    text = storage.read_text_if_exists(storage.locate(uri).child("zarr.json"))
    try:
        doc = json.loads(text) if text is not None else None
    except json.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or doc.get("zarr_format") != 3 or doc.get("node_type") != "group":
        return None
    cm = doc.get("consolidated_metadata")
    ok = isinstance(cm, dict) and isinstance(cm.get("metadata"), dict)
    return doc if ok and all(isinstance(v, dict) for v in cm["metadata"].values()) else None


def read_tree(uri: str) -> tuple[dict[str, Any], Hierarchy]:
    """The root's attributes and the store's hierarchy. A consolidated Zarr v3 root is read as
    the JSON it is: the item needs only the groups' attributes and the arrays' names, where
    zarr would parse every array's metadata and build its codecs to list them (0.05 s for a
    Sentinel-2 store); any other store is opened through zarr."""
    doc = _consolidated_root(uri)
    if doc is None:
        root = _open_root(uri)
        return dict(root.attrs), read_hierarchy(root)
    tree = Hierarchy({}, {})
    for path, meta in doc["consolidated_metadata"]["metadata"].items():
        group = meta.get("node_type") == "group"
        _add_member(tree, path, dict(meta.get("attributes") or {}) if group else None)
    return dict(doc.get("attributes") or {}), tree


def _finest(grids: dict[str, dict[str, Any]], multiscales: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The finest grid: the base level of a multiscales group (its group's grid, or the layout
    entry's spatial:shape/spatial:transform on the multiscales group's CRS when the base level
    is the multiscales group itself, asset '.', as on the Sentinel-1 path), else the smallest
    pixel."""
    for path, attrs in sorted(multiscales.items()):
        layout = (attrs.get("multiscales") or {}).get("layout") or []
        for entry in layout:
            if entry.get("derived_from"):
                continue
            child = posixpath.normpath(f"{path}/{entry['asset']}")
            if child in grids:
                return child, grids[child]
            if "spatial:shape" in entry and "spatial:transform" in entry:
                return child, {**attrs, "spatial:shape": entry["spatial:shape"],
                               "spatial:transform": entry["spatial:transform"]}
    if not grids:
        raise BadInput("the store declares no grid (no group with spatial:transform and spatial:shape)")
    return min(grids.items(), key=lambda kv: abs(float(kv[1]["spatial:transform"][0])))


def _crs_code(attrs: dict[str, Any], root_attrs: dict[str, Any]) -> str:
    code = attrs.get("proj:code") or root_attrs.get("proj:code")
    if not code:
        om = root_attrs.get("other_metadata") or {}
        code = om.get("horizontal_CRS_code")
    if not code:
        raise BadInput("the store's finest grid has no proj:code")
    return str(code)


def footprint(bbox: list[float], crs_code: str, densify: int = 4) -> tuple[dict[str, Any], list[float]]:
    """The bbox (in `crs_code`) as a GeoJSON polygon and bbox in EPSG:4326."""
    x1, y1, x2, y2 = (float(v) for v in bbox)
    t = Transformer.from_crs(CRS.from_user_input(crs_code), CRS.from_epsg(4326), always_xy=True)
    pts: list[tuple[float, float]] = []
    n = densify
    pts += [(x1 + (x2 - x1) * i / n, y1) for i in range(n)]
    pts += [(x2, y1 + (y2 - y1) * i / n) for i in range(n)]
    pts += [(x2 - (x2 - x1) * i / n, y2) for i in range(n)]
    pts += [(x1, y2 - (y2 - y1) * i / n) for i in range(n)]
    ring = [[round(c, 9) for c in t.transform(x, y)] for x, y in pts]
    ring.append(ring[0])
    lons = [p[0] for p in ring]
    lats = [p[1] for p in ring]
    return {"type": "Polygon", "coordinates": [ring]}, [min(lons), min(lats), max(lons), max(lats)]


def _datetimes(sd_props: dict[str, Any]) -> tuple[datetime, dict[str, Any]]:
    extra: dict[str, Any] = {}
    for key in ("start_datetime", "end_datetime"):
        if sd_props.get(key):
            extra[key] = sd_props[key]
    raw = sd_props.get("datetime") or sd_props.get("start_datetime") or sd_props.get("end_datetime")
    if not raw:
        raise BadInput("the source's stac_discovery has no datetime, start_datetime or end_datetime")
    try:
        return str_to_datetime(str(raw)), extra
    except ValueError as exc:
        raise BadInput(f"the source's stac_discovery datetime {raw!r} does not parse: {exc}") from exc


def _bands(sd_props: dict[str, Any], present: set[str]) -> list[dict[str, Any]]:
    """STAC 1.1 bands (eo v2.0.0) of the bands present in the multiscales levels."""
    out: list[dict[str, Any]] = []
    for b in sd_props.get("bands") or []:
        name = b.get("name")
        if name not in present:
            continue
        band: dict[str, Any] = {"name": name}
        if b.get("common_name"):
            band["eo:common_name"] = b["common_name"]
        if b.get("center_wavelength") is not None:
            cw = float(b["center_wavelength"])
            band["eo:center_wavelength"] = round(cw / 1000.0, 6) if cw > 100 else cw  # nm -> µm
        if b.get("full_width_half_max") is not None:
            band["eo:full_width_half_max"] = float(b["full_width_half_max"])
        if b.get("solar_illumination") is not None:
            band["eo:solar_illumination"] = float(b["solar_illumination"])
        out.append(band)
    return out


def _polarisation_bands(group: str, present: set[str]) -> list[dict[str, Any]]:
    """Bands of a Sentinel-1 multiscales group (inside a polarisation group, `..._VV`): its
    backscatter arrays, described with their polarisation (and `sar:polarizations` once the sar
    schema is vendored: `stac_source.SAR_SCHEMA_URI`)."""
    pol = polarisation(group.strip("/").split("/", 1)[0])
    if pol is None:
        return []
    sar = {"sar:polarizations": [pol]} if stac_source.sar_schema_vendored() else {}
    return [{"name": name, **sar,
             "description": f"{pol} backscatter, digital numbers on the GCP-reprojected grid "
                            "(sigma0 = DN^2 / A^2 with A from quality/calibration)"}
            for name in sorted(present)]


def https_href(s3_uri: str) -> str:
    """The HTTPS URL of an s3:// object: path-style on AWS_ENDPOINT_URL, else AWS virtual-host."""
    bucket, _, key = s3_uri[len("s3://"):].partition("/")
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "").rstrip("/")
    if endpoint:
        return f"{endpoint}/{bucket}/{key}"
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


def storage_scheme(s3_uri: str) -> dict[str, Any]:
    bucket = s3_uri[len("s3://"):].split("/", 1)[0]
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "").rstrip("/")
    if endpoint:
        return {"type": "custom-s3", "platform": endpoint, "region": region, "requester_pays": False}
    return {"type": "aws-s3", "platform": "https://{bucket}.s3.{region}.amazonaws.com",
            "bucket": bucket, "region": region, "requester_pays": False}


def _asset(uri: str, media_type: str, roles: list[str], title: str, extra: dict[str, Any] | None = None) -> pystac.Asset:
    fields: dict[str, Any] = dict(extra or {})
    if storage.is_s3(uri):
        href = https_href(uri)
        fields["alternate"] = {"s3": {"href": uri, "storage:refs": [STORAGE_SCHEME]}}
    else:
        href = uri
    return pystac.Asset(href=href, media_type=media_type, roles=roles, title=title, extra_fields=fields)


@dataclass(frozen=True)
class Grid:
    """The store's finest grid: CRS code, shape, 6-element transform and native bbox."""

    code: str
    shape: list[int]
    transform: list[float]
    bbox: list[float]


def finest_grid(tree: Hierarchy, root_attrs: dict[str, Any]) -> Grid:
    _, finest = _finest(tree.with_grid(), tree.multiscales())
    shape = [int(v) for v in finest["spatial:shape"]]
    transform = [float(v) for v in finest["spatial:transform"]][:6]
    bbox_native = finest.get("spatial:bbox")
    if not bbox_native:
        x0, y0 = transform[2], transform[5]
        x1, y1 = x0 + transform[0] * shape[1], y0 + transform[4] * shape[0]
        bbox_native = [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]
    return Grid(_crs_code(finest, root_attrs), shape, transform, [float(v) for v in bbox_native])


def gsd(grid: Grid) -> float:
    """The grid's pixel size in metres: the transform's own unit in a projected CRS; in a
    geographic one (the Sentinel-1 path's EPSG:4326) the mean of the pixel's ground extents
    east and north at the grid's centre."""
    crs = CRS.from_user_input(grid.code)
    if not crs.is_geographic:
        return abs(grid.transform[0])
    from pyproj import Geod

    c = centroid(grid)
    geod = Geod(ellps="WGS84")
    east = geod.inv(c["lon"], c["lat"], c["lon"] + abs(grid.transform[0]), c["lat"])[2]
    north = geod.inv(c["lon"], c["lat"], c["lon"], c["lat"] + abs(grid.transform[4]))[2]
    return round((east + north) / 2, 2)


def centroid(grid: Grid) -> dict[str, float]:
    """proj:centroid: the grid's centre in lat/lon (5 decimals, as the explorer's items)."""
    t = Transformer.from_crs(CRS.from_user_input(grid.code), CRS.from_epsg(4326), always_xy=True)
    lon, lat = t.transform((grid.bbox[0] + grid.bbox[2]) / 2, (grid.bbox[1] + grid.bbox[3]) / 2)
    return {"lat": round(lat, 5), "lon": round(lon, 5)}


def item_properties(run: dict[str, Any], root_attrs: dict[str, Any], grid: Grid) -> tuple[dict[str, Any], list[str]]:
    """The item's properties (besides datetime) and the extensions they need."""
    sd_props = (root_attrs.get("stac_discovery") or {}).get("properties") or {}
    _, dt_extra = _datetimes(sd_props)
    props, exts = stac_source.source_properties(root_attrs)
    software = sd_props.get("processing:software") if isinstance(sd_props.get("processing:software"), dict) else {}
    ours = f"eopf-geozarr convert ({run['conversion_path']}) of {run['input']['uri']}"
    lineage = props.get("processing:lineage") or sd_props.get("processing:lineage")
    props.update({
        **dt_extra,
        "gsd": gsd(grid),
        "proj:code": grid.code,
        "proj:shape": grid.shape,
        "proj:transform": grid.transform,
        "proj:bbox": grid.bbox,
        "proj:centroid": centroid(grid),
        "processing:software": {**software, "eopf-geozarr": run["versions"]["eopf_geozarr"],
                                "geozarr-runner": __version__},
        "processing:lineage": f"{lineage}; then {ours}" if isinstance(lineage, str) and lineage else ours,
        "created": run["finished_at"],
        "updated": run["finished_at"],
    })
    # eo only where something uses it (its schema requires eo fields: S1 items have none)
    uses_eo = sd_props.get("bands") or any(k.startswith("eo:") for k in props)
    return props, sorted(exts | {EXT_PROJ, EXT_PROCESSING} | ({EXT_EO} if uses_eo else set()))


def build_item(output: str, *, collection: str, item_id: str, stac_api_url: str = "",
               links: ItemLinks | None = None, run: dict[str, Any] | None = None) -> pystac.Item:
    """The item of the store at OUTPUT; RUN: its run.json when the caller has read it already."""
    output = storage.normalise_uri(output)
    run = run if run is not None else manifest.read(output)
    if run is None:
        raise BadInput(f"{output}: no {manifest.MANIFEST_NAME}: the store is incomplete; run convert first")
    root_attrs, tree = read_tree(output)
    grid = finest_grid(tree, root_attrs)
    geometry, bbox = footprint(grid.bbox, grid.code)
    sd = root_attrs.get("stac_discovery") or {}
    dt, _ = _datetimes(sd.get("properties") or {})
    props, extensions = item_properties(run, root_attrs, grid)
    item = pystac.Item(id=item_id, geometry=geometry, bbox=bbox, datetime=dt, properties=props,
                       collection=collection or None, stac_extensions=extensions)
    _add_assets(item, output, tree, sd.get("properties") or {})
    if collection:
        # STAC 1.1: an item naming a collection links to it (the API's, else the static layout's)
        href = (f"{stac_api_url.rstrip('/')}/collections/{collection}" if stac_api_url
                else "../collection.json")
        item.add_link(pystac.Link(rel="collection", target=href, media_type="application/json"))
    source_uri = run["input"]["uri"]
    source_href = https_href(source_uri) if storage.is_s3(source_uri) else source_uri
    item.add_link(pystac.Link(rel="derived_from", target=source_href, media_type="application/vnd.zarr",
                              title=str(sd.get("id") or source_uri)))
    add_links(item, links or ItemLinks(), source_id=stac_source.source_id(root_attrs))
    return item


def _add_assets(item: pystac.Item, output: str, tree: Hierarchy, sd_props: dict[str, Any]) -> None:
    item.add_asset("geozarr", _asset(output, MEDIA_ZARR3, ["data"], "GeoZarr store"))
    for path, attrs in sorted(tree.multiscales().items()):
        layout = (attrs.get("multiscales") or {}).get("layout") or []
        present: set[str] = set()
        for entry in layout:
            level = posixpath.normpath(f"{path}/{entry['asset']}")
            if level in tree.groups:
                present |= {name for name in tree.arrays.get(level, []) if name not in {"x", "y", "spatial_ref"}}
        key = path.strip("/").replace("/", "-") or "multiscales"
        extra: dict[str, Any] = {}
        bands = _bands(sd_props, present) or _polarisation_bands(path, present)
        if bands:
            extra["bands"] = bands
        item.add_asset(key, _asset(f"{output}/{path.strip('/')}", MEDIA_ZARR3_MULTISCALES,
                                   ["data"], f"{path} (multiscales: {', '.join(e['asset'] for e in layout)})",
                                   extra))
    item.add_asset("run-manifest", _asset(manifest.manifest_location(output).uri, "application/json",
                                          ["metadata"], "Run manifest"))
    if storage.is_s3(output):
        item.stac_extensions += [EXT_ALTERNATE, EXT_STORAGE]
        item.properties["storage:schemes"] = {STORAGE_SCHEME: storage_scheme(output)}


def write_item(item: pystac.Item, dest: str) -> str:
    loc = storage.locate(dest)
    storage.write_text(loc, json.dumps(item.to_dict(include_self_link=False, transform_hrefs=False), indent=2) + "\n")
    return loc.uri


def run_stac(output: str, *, collection: str, item_id: str, dest: str, stac_api_url: str = "",
             links: ItemLinks | None = None, run: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        item = build_item(output, collection=collection, item_id=item_id, stac_api_url=stac_api_url,
                          links=links, run=run)
        uri = write_item(item, dest)
    except RunnerError:
        raise
    except Exception as exc:
        raise classify(exc, what=f"build the STAC item of {output}") from exc
    return {"item": uri, "item_id": item.id, "collection": collection, "bbox": item.bbox,
            "datetime": item.datetime.isoformat() if item.datetime else None}
