"""STAC item rules: schemas (core + every declared extension), datetime,
bbox/geometry, and consistency with the GeoZarr store the item describes."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlparse

from conformance.findings import Finding, Rule, Severity
from conformance.geozarr.context import (
    affine6,
    bbox_of,
    close,
    entry_geometry,
    layout_levels,
    parse_crs,
    same_crs,
)
from conformance.geozarr.model import StoreModel
from conformance.report import Check
from conformance.stac import profile
from conformance.stac.hrefs import HREF, HrefResolver, check_hrefs
from conformance.stac.schemas import SchemaStore, SchemaUnavailable

SCHEMA_CORE = Rule("stac.schema-core", Severity.ERROR, "the item validates against the STAC core item schema")
SCHEMA_EXT = Rule("stac.schema-extension", Severity.ERROR, "the item validates against every declared extension")
SCHEMA_UNAVAILABLE = Rule("stac.schema-unavailable", Severity.ERROR,
                          "every schema the item declares is vendored (or cached): an extension we cannot "
                          "validate is an error, a warning only with --allow-unknown-extensions")
DATETIME = Rule("stac.datetime", Severity.ERROR,
                "datetime is an RFC 3339 date-time, or null with start_datetime <= end_datetime")
BBOX_GEOMETRY = Rule("stac.bbox-geometry", Severity.ERROR,
                     "bbox is [w, s, e, n] in lon/lat range and equals the bounds of geometry")
BBOX_STORE = Rule("stac.bbox-store", Severity.ERROR,
                  "bbox and geometry lie within the store's extent reprojected to EPSG:4326")
PROJ_STORE = Rule("stac.proj-store", Severity.ERROR,
                  "proj:code/epsg, proj:shape, proj:transform and proj:bbox equal the store's")
ASSET_HREF = Rule("stac.asset-href", Severity.ERROR, "asset hrefs into the store resolve to nodes that exist")
MEDIA_TYPE = Rule("stac.media-type", Severity.ERROR,
                  "assets into a Zarr store have a Zarr media type (application/vnd+zarr or vnd.zarr, "
                  "version matching the store); every type is a valid media type")

IDENTIFIERS = Rule("stac.identifiers", Severity.ERROR,
                   "the item id and collection id follow the pipeline's identifier policy "
                   "(runner.identifiers.ID_PATTERN)")

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
MEDIA = re.compile(r"^[\w.+-]+/[\w.+-]+(\s*;\s*[\w.+-]+=(\"[^\"]*\"|[^;]*))*$")
ZARR_TYPES = ("application/vnd+zarr", "application/vnd.zarr")


@dataclass
class StacContext:
    item: dict[str, Any]
    schemas: SchemaStore
    store_url: str | None = None
    model: StoreModel | None = None
    allow_unknown_extensions: bool = False
    hrefs: HrefResolver | None = None
    cache: dict[str, Any] = field(default_factory=dict)


def _leaf(error: Any) -> Any:
    """The most relevant innermost error under a oneOf/anyOf/allOf failure: it names the
    field that failed instead of the whole item."""
    from jsonschema.exceptions import best_match

    while error.context:
        deeper = best_match(error.context)
        if deeper is None or len(deeper.absolute_path) < len(error.absolute_path):
            break
        error = deeper
    return error


def _message(e: Any) -> str:
    """The error's message with a large instance (an object or list) not quoted in full."""
    msg = str(e.message)
    shown = repr(e.instance)
    if isinstance(e.instance, (dict, list)) and len(shown) > 80 and shown in msg:
        msg = msg.replace(shown, f"the {type(e.instance).__name__.replace('dict', 'object')}")
    return msg


def _errors(validator: Any, item: Any) -> Iterator[tuple[str, str]]:
    leaves = [_leaf(e) for e in validator.iter_errors(item)]
    for e in sorted(leaves, key=lambda e: [str(p) for p in e.absolute_path]):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path).lstrip(".")
        msg = _message(e)
        if e.validator == "not" and e.validator_value == {}:
            msg = f"{path or 'this field'} is not allowed here"
            if path == "collection":
                msg += " (an item with a collection id needs a link with rel 'collection')"
        yield path or "$", msg[:300]


def _validate(ctx: StacContext, uri: str, rule: Rule, label: str) -> Iterator[Finding]:
    from jsonschema.exceptions import SchemaError
    from referencing.exceptions import Unresolvable

    try:
        validator = ctx.schemas.validator(uri)
        errors = list(_errors(validator, ctx.item))
    except SchemaUnavailable as exc:
        ctx.cache.setdefault("unavailable", []).append((uri, str(exc)))
        return
    except Unresolvable as exc:
        ctx.cache.setdefault("unavailable", []).append((uri, f"{label} references {exc}, which is not cached"))
        return
    except SchemaError as exc:
        yield rule.finding(f"{label} schema is invalid: {exc.message}", "stac_extensions")
        return
    for path, msg in errors:
        yield rule.finding(f"{label}: {msg}", path)


def core_uri(item: dict[str, Any]) -> str:
    version = item.get("stac_version") or "1.1.0"
    return f"https://schemas.stacspec.org/v{version}/item-spec/json-schema/item.json"


def check_schema_core(ctx: StacContext) -> Iterator[Finding]:
    yield from _validate(ctx, core_uri(ctx.item), SCHEMA_CORE, f"STAC {ctx.item.get('stac_version')} item")


def check_schema_extensions(ctx: StacContext) -> Iterator[Finding]:
    exts = ctx.item.get("stac_extensions") or []
    if not isinstance(exts, list):
        return
    for uri in exts:
        if isinstance(uri, str):
            yield from _validate(ctx, uri, SCHEMA_EXT, uri.rsplit("/", 3)[-3] if uri.count("/") > 3 else uri)


def check_schema_unavailable(ctx: StacContext) -> Iterator[Finding]:
    for uri, why in ctx.cache.get("unavailable", []):
        finding = SCHEMA_UNAVAILABLE.finding(f"not validated: {why}", uri)
        if ctx.allow_unknown_extensions:
            finding = replace(finding, severity=Severity.WARNING,
                              message=finding.message + " (allowed: --allow-unknown-extensions)")
        yield finding


def check_identifiers(ctx: StacContext) -> Iterator[Finding]:
    from runner import identifiers

    for key in ("id", "collection"):
        if key == "collection" and key not in ctx.item:
            continue
        why = identifiers.problem(ctx.item.get(key))
        if why:
            yield IDENTIFIERS.finding(f"{key} {ctx.item.get(key)!r}: {why}", key)


def _parse_dt(v: Any) -> dt.datetime | None:
    if not isinstance(v, str) or not RFC3339.match(v):
        return None
    try:
        return dt.datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def check_datetime(ctx: StacContext) -> Iterator[Finding]:
    props = ctx.item.get("properties") or {}
    if "datetime" not in props:
        yield DATETIME.finding("properties.datetime is missing", "properties.datetime")
        return
    value = props["datetime"]
    if value is not None and _parse_dt(value) is None:
        yield DATETIME.finding(f"{value!r} is not an RFC 3339 date-time", "properties.datetime")
    start, end = props.get("start_datetime"), props.get("end_datetime")
    for key, v in (("start_datetime", start), ("end_datetime", end)):
        if v is not None and _parse_dt(v) is None:
            yield DATETIME.finding(f"{v!r} is not an RFC 3339 date-time", f"properties.{key}")
    if value is None and (start is None or end is None):
        yield DATETIME.finding("datetime is null but start_datetime/end_datetime are not both set",
                               "properties.datetime")
    s, e = _parse_dt(start), _parse_dt(end)
    if s and e and s > e:
        yield DATETIME.finding(f"start_datetime {start} is after end_datetime {end}", "properties.start_datetime")


def _coords(geom: Any) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []

    def walk(c: Any) -> None:
        if isinstance(c, list) and c and isinstance(c[0], (int, float)):
            out.append((float(c[0]), float(c[1])))
        elif isinstance(c, list):
            for x in c:
                walk(x)

    if isinstance(geom, dict):
        if geom.get("type") == "GeometryCollection":
            for g in geom.get("geometries") or []:
                out.extend(_coords(g))
        else:
            walk(geom.get("coordinates"))
    return out


def _bbox(item: dict[str, Any]) -> list[float] | None:
    b = item.get("bbox")
    if isinstance(b, list) and len(b) in (4, 6) and all(isinstance(x, (int, float)) for x in b):
        return [b[0], b[1], b[3], b[4]] if len(b) == 6 else list(b)
    return None


def check_bbox_geometry(ctx: StacContext) -> Iterator[Finding]:
    b = _bbox(ctx.item)
    if b is None:
        if ctx.item.get("geometry") is not None:
            yield BBOX_GEOMETRY.finding(f"bbox {ctx.item.get('bbox')!r} is not 4 (or 6) numbers", "bbox")
        return
    w, s, e, n = b
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= n <= 90):
        yield BBOX_GEOMETRY.finding(f"bbox {b} is out of lon/lat range or south > north", "bbox")
    pts = _coords(ctx.item.get("geometry"))
    if pts:
        gb = [min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts), max(p[1] for p in pts)]
        if not all(close(x, y, 1e-6) for x, y in zip(b, gb)):
            yield BBOX_GEOMETRY.finding(f"bbox {b} is not the bounds of geometry {gb}", "bbox")


# ---------------------------------------------------------------- store consistency


def _store_frame(ctx: StacContext) -> tuple[Any, list[int], tuple[float, ...], str] | None:
    """(crs, shape, transform, node) of the store's base level (the finest multiscale level)."""
    m = ctx.model
    if m is None:
        return None
    for g in m.multiscale_groups():
        for lv in layout_levels(m, g):
            if lv.derived_from is not None:
                continue
            shape, t = entry_geometry({k: v for k, v in m.attrs(lv.path).items() if k.startswith("spatial:")})
            if shape is None or t is None:
                shape, t = entry_geometry(lv.entry)
            crs = _crs_of(m, lv.path) or _crs_of(m, g)
            if shape is not None and t is not None and crs is not None:
                return crs, shape, t, lv.path
    return None


def _crs_of(m: StoreModel, node: str) -> Any:
    a = m.attrs(node)
    for key in ("proj:code", "proj:wkt2", "proj:projjson"):
        if a.get(key) is not None:
            try:
                return parse_crs(a[key], key)
            except ValueError:
                return None
    return None


def check_bbox_store(ctx: StacContext) -> Iterator[Finding]:
    from pyproj import Transformer

    frame = _store_frame(ctx)
    b = _bbox(ctx.item)
    if frame is None or b is None:
        return
    crs, shape, t, node = frame
    ext = bbox_of(shape, t)
    tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    w, s, e, n = tr.transform_bounds(*ext, densify_pts=21)
    # tolerance: two base pixels, in degrees
    tol = 2 * max(abs(t[0]), abs(t[4])) / 111_000.0 + 1e-6
    if not (b[0] >= w - tol and b[1] >= s - tol and b[2] <= e + tol and b[3] <= n + tol):
        yield BBOX_STORE.finding(f"bbox {b} is not within the store's extent {[w, s, e, n]} "
                                 f"({node} reprojected from {crs.to_string()})", "bbox")
    pts = _coords(ctx.item.get("geometry"))
    outside = [p for p in pts if not (w - tol <= p[0] <= e + tol and s - tol <= p[1] <= n + tol)]
    if outside:
        yield BBOX_STORE.finding(f"{len(outside)} geometry vertices lie outside the store's extent, e.g. "
                                 f"{list(outside[0])}", "geometry")


def _node_for_href(ctx: StacContext, href: str) -> str | None:
    """The store node an href points at ('/' for the store itself); None when outside the store."""
    if not ctx.store_url or not isinstance(href, str):
        return None
    store = ctx.store_url.rstrip("/")
    su = urlparse(store)
    tail = (f"{su.netloc}{su.path}" if su.scheme == "s3" else str(_abspath(store))).strip("/")
    hu = urlparse(href)
    hpath = f"{hu.netloc}{hu.path}" if hu.scheme == "s3" else (hu.path if hu.scheme else str(_abspath(href)))
    hpath = hpath.strip("/")
    if hu.scheme in ("http", "https"):
        idx = hpath.find(tail)
        if idx < 0:
            return None
        hpath = hpath[idx:]
    if hpath == tail:
        return "/"
    if hpath.startswith(tail + "/"):
        return "/" + hpath[len(tail) + 1:].strip("/")
    return None


def _abspath(p: str) -> str:
    import os

    return os.path.abspath(p.removeprefix("file://"))


def _asset_nodes(ctx: StacContext) -> Iterator[tuple[str, dict[str, Any], str]]:
    for key, asset in sorted((ctx.item.get("assets") or {}).items()):
        if isinstance(asset, dict):
            node = _node_for_href(ctx, asset.get("href", ""))
            if node is not None:
                yield key, asset, node


def check_asset_href(ctx: StacContext) -> Iterator[Finding]:
    m = ctx.model
    for key, asset in sorted((ctx.item.get("assets") or {}).items()):
        if not isinstance(asset, dict) or not isinstance(asset.get("href"), str) or not asset["href"]:
            yield ASSET_HREF.finding("asset has no href", f"assets.{key}.href")
    if m is None:
        return
    keys = set(m.keys)
    for key, asset, node in _asset_nodes(ctx):
        if node.strip("/") in keys:
            continue  # a file inside the store (e.g. the run manifest)
        if node not in m.real_nodes:
            why = "listed in consolidated metadata but absent" if node in m.nodes else "no such node"
            yield ASSET_HREF.finding(f"{asset['href']} does not resolve in the store ({why}: {node})",
                                     f"assets.{key}.href")


def check_media_type(ctx: StacContext) -> Iterator[Finding]:
    files = set(ctx.model.keys) if ctx.model is not None else set()
    store_nodes = {k: n for k, _a, n in _asset_nodes(ctx) if n.strip("/") not in files}
    for key, asset in sorted((ctx.item.get("assets") or {}).items()):
        if not isinstance(asset, dict):
            continue
        mt = asset.get("type")
        path = f"assets.{key}.type"
        if mt is not None and (not isinstance(mt, str) or not MEDIA.match(mt)):
            yield MEDIA_TYPE.finding(f"{mt!r} is not a media type", path)
            continue
        if key not in store_nodes:
            continue
        if mt is None:
            yield MEDIA_TYPE.finding("asset into the Zarr store has no type", path)
            continue
        base = mt.split(";")[0].strip().lower()
        if base not in ZARR_TYPES:
            yield MEDIA_TYPE.finding(f"asset into the Zarr store has type {mt!r}, expected "
                                     f"{ZARR_TYPES[0]} (or {ZARR_TYPES[1]})", path)
            continue
        ver = re.search(r"version\s*=\s*\"?(\d+)", mt)
        if ver and ctx.model is not None:
            node = store_nodes[key]
            fmt = (ctx.model.nodes.get(node) or {}).get("zarr_format")
            if fmt is not None and int(ver.group(1)) != fmt:
                yield MEDIA_TYPE.finding(f"type says Zarr version {ver.group(1)}, the store is Zarr v{fmt}", path)


def _proj_fields(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k in ("proj:code", "proj:epsg", "proj:wkt2", "proj:projjson",
                                                  "proj:shape", "proj:transform", "proj:bbox")}


def _compare_proj(fields: dict[str, Any], crs: Any, shape: list[int] | None, t: tuple[float, ...] | None,
                  where: str) -> Iterator[Finding]:
    for key in ("proj:code", "proj:epsg", "proj:wkt2", "proj:projjson"):
        if fields.get(key) is None or crs is None:
            continue
        v = fields[key]
        try:
            got = parse_crs(f"EPSG:{v}" if key == "proj:epsg" else v, key)
        except ValueError as exc:
            yield PROJ_STORE.finding(f"{key} {v!r} does not parse: {exc}", f"{where}.{key}")
            continue
        if not same_crs(got, crs):
            yield PROJ_STORE.finding(f"{key} {v!r} but the store's CRS is {crs.to_string()}", f"{where}.{key}")
    if shape is not None and fields.get("proj:shape") is not None and list(fields["proj:shape"]) != list(shape):
        yield PROJ_STORE.finding(f"proj:shape {fields['proj:shape']} but the store's is {shape}", f"{where}.proj:shape")
    if t is not None and fields.get("proj:transform") is not None:
        got_t = affine6(fields["proj:transform"])
        if got_t is None or not all(close(x, y, 1e-6 * max(1.0, abs(y))) for x, y in zip(got_t, t)):
            yield PROJ_STORE.finding(f"proj:transform {fields['proj:transform']} but the store's is {list(t)}",
                                     f"{where}.proj:transform")
    if shape is not None and t is not None and fields.get("proj:bbox") is not None:
        expect = bbox_of(shape, t)
        pb = fields["proj:bbox"]
        tol = max(abs(t[0]), abs(t[4]))
        if not (isinstance(pb, list) and len(pb) == 4 and all(close(x, y, tol) for x, y in zip(pb, expect))):
            yield PROJ_STORE.finding(f"proj:bbox {pb} but the store covers {expect}", f"{where}.proj:bbox")


def check_proj_store(ctx: StacContext) -> Iterator[Finding]:
    """Item-level proj:* describe the base (finest) level; asset-level proj:* the node
    the asset points at (a level group or band: its group's spatial:*)."""
    m = ctx.model
    frame = _store_frame(ctx)
    if m is None or frame is None:
        return
    crs, shape, t, _node = frame
    yield from _compare_proj(_proj_fields(ctx.item.get("properties") or {}), crs, shape, t, "properties")
    for key, asset, node in _asset_nodes(ctx):
        fields = _proj_fields(asset)
        if not fields:
            continue
        group = node if m.is_group(node) else node.rsplit("/", 1)[0] or "/"
        gshape, gt = entry_geometry({k: v for k, v in m.attrs(group).items() if k.startswith("spatial:")})
        if gshape is None and gt is None and "multiscales" in m.attrs(group):
            gshape, gt = shape, t  # an asset on the multiscales group: its base level
        gcrs = _crs_of(m, group) or crs
        yield from _compare_proj(fields, gcrs, gshape, gt, f"assets.{key}")


def check_href_resolves(ctx: StacContext) -> Iterator[Finding]:
    if ctx.hrefs is not None:
        yield from check_hrefs(ctx.item, ctx.hrefs)


PROFILE_CHECKS: tuple[Check[StacContext], ...] = (
    Check(profile.PROPERTIES, lambda ctx: profile.check_properties(ctx.item), phase="explorer-profile"),
    Check(profile.LINKS, lambda ctx: profile.check_links(ctx.item), phase="explorer-profile"),
    Check(profile.ASSETS, lambda ctx: profile.check_assets(ctx.item), phase="explorer-profile"),
)
SCHEMA_CHECKS: tuple[Check[StacContext], ...] = (
    Check(SCHEMA_CORE, check_schema_core, phase="schema"),
    Check(SCHEMA_EXT, check_schema_extensions, phase="schema"),
    Check(SCHEMA_UNAVAILABLE, check_schema_unavailable, phase="schema"),
)
ITEM_CHECKS: tuple[Check[StacContext], ...] = (
    Check(IDENTIFIERS, check_identifiers, phase="item"),
    Check(DATETIME, check_datetime, phase="item"),
    Check(BBOX_GEOMETRY, check_bbox_geometry, phase="item"),
    Check(HREF, check_href_resolves, phase="hrefs"),
)
STORE_CHECKS: tuple[Check[StacContext], ...] = (
    Check(BBOX_STORE, check_bbox_store, phase="consistency"),
    Check(PROJ_STORE, check_proj_store, phase="consistency"),
    Check(ASSET_HREF, check_asset_href, phase="consistency"),
    Check(MEDIA_TYPE, check_media_type, phase="consistency"),
)
