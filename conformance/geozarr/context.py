"""What every GeoZarr rule gets: the store model, counted access, options,
and small helpers shared by rules (geometry of a group, CRS parsing)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

from conformance.geozarr.model import StoreModel, join
from conformance.geozarr.store import StoreAccess


@dataclass
class GeoZarrContext:
    access: StoreAccess
    model: StoreModel
    bands_per_level: int = 2
    window: int = 32
    gdal: bool = True
    cache: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Level:
    """One entry of a multiscales layout, resolved against the store."""

    group: str          # the multiscales group
    asset: str          # layout name (relative path)
    path: str           # absolute node path of the level group
    entry: dict[str, Any]
    derived_from: str | None
    scale: tuple[float, float] | None
    translation: tuple[float, float]
    resampling: str | None


def layout_levels(model: StoreModel, group: str) -> list[Level]:
    ms = model.attrs(group).get("multiscales")
    if not isinstance(ms, dict) or not isinstance(ms.get("layout"), list):
        return []
    default_method = ms.get("resampling_method")
    out: list[Level] = []
    for entry in ms["layout"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("asset"), str):
            continue
        tr = entry.get("transform") if isinstance(entry.get("transform"), dict) else {}
        scale = tr.get("scale")
        translation = tr.get("translation") or [0.0, 0.0]
        out.append(Level(
            group=group,
            asset=entry["asset"],
            path=join(group, entry["asset"]),
            entry=entry,
            derived_from=entry.get("derived_from"),
            scale=(float(scale[-2]), float(scale[-1])) if _numbers(scale, 2) else None,
            translation=(float(translation[-2]), float(translation[-1])) if _numbers(translation, 2) else (0.0, 0.0),
            resampling=entry.get("resampling_method") or default_method,
        ))
    return out


def _numbers(v: Any, n: int) -> bool:
    return isinstance(v, list) and len(v) >= n and all(isinstance(x, (int, float)) for x in v)


def affine6(v: Any) -> tuple[float, ...] | None:
    """A 6-number affine (a, b, c, d, e, f); 9-number forms must end with 0, 0, 1."""
    if not isinstance(v, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return None
    if len(v) == 9:
        if [float(x) for x in v[6:]] != [0.0, 0.0, 1.0]:
            return None
        v = v[:6]
    if len(v) != 6:
        return None
    return tuple(float(x) for x in v)


def entry_geometry(entry: dict[str, Any]) -> tuple[list[int] | None, tuple[float, ...] | None]:
    """(shape, transform) of a layout entry or a group: spatial:* first, proj:* as fallback."""
    shape = entry.get("spatial:shape", entry.get("proj:shape"))
    transform = entry.get("spatial:transform", entry.get("proj:transform"))
    ok_shape = isinstance(shape, list) and len(shape) == 2 and all(isinstance(x, int) for x in shape)
    return (list(shape) if ok_shape else None), affine6(transform)


def bbox_of(shape: list[int], t: tuple[float, ...]) -> list[float]:
    """[xmin, ymin, xmax, ymax] covered by SHAPE pixels (rows, cols) under affine T."""
    a, b, c, d, e, f = t
    rows, cols = shape
    xs = [c, c + a * cols, c + b * rows, c + a * cols + b * rows]
    ys = [f, f + d * cols, f + e * rows, f + d * cols + e * rows]
    return [min(xs), min(ys), max(xs), max(ys)]


def close(a: float, b: float, tol: float) -> bool:
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= tol


def parse_crs(value: Any, kind: str) -> Any:
    """A pyproj CRS from a proj:code / proj:wkt2 / proj:projjson value; raises ValueError."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        if kind == "proj:projjson":
            return CRS.from_json_dict(value)
        if not isinstance(value, str):
            raise ValueError(f"{kind} must be a string, got {type(value).__name__}")  # noqa: TRY004 - callers catch ValueError
        return _crs_from_text(value)
    except CRSError as exc:
        raise ValueError(str(exc).splitlines()[0]) from exc


@functools.lru_cache(maxsize=256)
def _crs_from_text(value: str) -> Any:
    """A store repeats one CRS on every level and band (~150 parses of the same WKT per
    check, ~0.3 ms each): parsed once. Failures are not cached (they raise)."""
    from pyproj import CRS

    return CRS.from_user_input(value)


def same_crs(a: Any, b: Any) -> bool:
    if a.equals(b, ignore_axis_order=True):
        return True
    ea, eb = a.to_epsg(min_confidence=90), b.to_epsg(min_confidence=90)
    return ea is not None and ea == eb


def spatial_arrays(model: StoreModel, group: str) -> list[str]:
    """Data arrays of a group laid out on its spatial dimensions (≥ 2-D, not coordinates)."""
    dims = model.attrs(group).get("spatial:dimensions") or ["y", "x"]
    out = []
    for child in model.children(group):
        meta = model.nodes[child]
        if meta.get("node_type") != "array":
            continue
        names = meta.get("dimension_names") or []
        if len(meta.get("shape", [])) >= 2 and list(names[-2:]) == list(dims[-2:]):
            out.append(child)
    return out


def declared_crs(model: StoreModel, *nodes: str) -> Any:
    """The CRS the first of NODES declaring one says (proj:code, proj:wkt2 or proj:projjson);
    None when none does or it does not parse (geozarr.proj-crs reports that)."""
    for node in nodes:
        attrs = model.attrs(node)
        for key in ("proj:code", "proj:wkt2", "proj:projjson"):
            if attrs.get(key) is not None:
                try:
                    return parse_crs(attrs[key], key)
                except ValueError:
                    return None
    return None
