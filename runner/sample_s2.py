"""`sample`: a synthetic EOPF Sentinel-2 L2A product that eopf-geozarr treats as a real one.

The layout (groups, arrays, dtypes, dimensions, chunking ratios, codecs and
attributes) comes from the metadata of a real product packaged with the runner
(`runner/templates/s2_l2a.json.gz`, the pydantic-zarr dump of
S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM). Only what depends on the size
is rewritten:

- the grid: the r10m edge is `size` pixels of 10 m (r20m size/2, r60m size/6)
  anchored at the tile's upper-left corner (EPSG:32632, x0=699960,
  y0=4700040); x/y are int64 pixel centres, as in real products;
- `proj:shape`, `proj:transform`, `proj:bbox` of every gridded array;
- chunks, scaled with the shapes (real r10m bands are chunked by half the edge);
- `stac_discovery` geometry/bbox/`proj:bbox` (the footprint in EPSG:4326) and
  the meteorology grids' GRIB corner attributes;
- `other_metadata.synthetic_sample` records the generator, size and seed.

Values come from `runner.sample_scene` (deterministic for a seed).
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
import math
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import zarr
from pyproj import CRS, Transformer

from runner import storage
from runner.errors import BadInput, classify
from runner.events import EventLog
from runner.sample_scene import BANDS, Scene, SurfaceFields

FULL_EDGE = 10980  # r10m edge of a full Sentinel-2 tile
MIN_EDGE = 72  # smallest r10m edge eopf-geozarr 0.12 converts (720 m level > 0 px)
DEFAULT_EDGE = 144
SUB_ROWS = 512  # rows evaluated at once by the synthetic scene
BATCH_BYTES = 320 << 20  # chunk buffers of arrays filled together from the same scene fields
PRODUCTS = ("s2-l2a",)
_RES_RE = re.compile(r"^r(\d+)m$")


def check_size(size: int) -> None:
    if size < MIN_EDGE or size > FULL_EDGE or size % 6:
        raise BadInput(
            f"--size {size}: the r10m edge must be a multiple of 6 between {MIN_EDGE} and "
            f"{FULL_EDGE} (r20m is size/2, r60m size/6, and the converter's 720 m level needs >= 72)"
        )


def load_template(product: str = "s2-l2a") -> dict[str, Any]:
    if product not in PRODUCTS:
        raise BadInput(f"--product {product!r}: expected one of {', '.join(PRODUCTS)}")
    data = resources.files("runner").joinpath("templates/s2_l2a.json.gz").read_bytes()
    return json.loads(gzip.decompress(data))


@dataclass(frozen=True)
class Grid:
    """The r10m grid of the sample: `edge` pixels of 10 m from (x0, y0), upper-left."""

    edge: int
    x0: float
    y0: float
    epsg: int

    @property
    def extent(self) -> float:
        return self.edge * 10.0

    def shape(self, res: int) -> int:
        return self.edge * 10 // res

    def centres_x(self, res: int) -> np.ndarray:
        return (self.x0 + res / 2 + res * np.arange(self.shape(res))).astype(np.int64)

    def centres_y(self, res: int) -> np.ndarray:
        return (self.y0 - res / 2 - res * np.arange(self.shape(res))).astype(np.int64)

    def transform(self, res: int) -> list[float]:
        return [float(res), 0.0, self.x0, 0.0, -float(res), self.y0, 0.0, 0.0, 1.0]

    def bbox(self) -> list[float]:
        return [self.x0, self.y0 - self.extent, self.x0 + self.extent, self.y0]

    def footprint_lonlat(self) -> list[tuple[float, float]]:
        """The tile's outline in EPSG:4326 (densified edges), closed, counter-clockwise."""
        t = Transformer.from_crs(CRS.from_epsg(self.epsg), CRS.from_epsg(4326), always_xy=True)
        x1, y1, x2, y2 = self.bbox()
        n = 8
        pts: list[tuple[float, float]] = []
        for i in range(n):  # south edge west->east, then east edge up, north edge, west edge
            pts.append((x1 + (x2 - x1) * i / n, y1))
        for i in range(n):
            pts.append((x2, y1 + (y2 - y1) * i / n))
        for i in range(n):
            pts.append((x2 - (x2 - x1) * i / n, y2))
        for i in range(n):
            pts.append((x1, y2 - (y2 - y1) * i / n))
        lonlat = [tuple(round(v, 9) for v in t.transform(x, y)) for x, y in pts]
        lonlat.append(lonlat[0])
        return lonlat  # type: ignore[return-value]


def _resolution(path: str) -> int | None:
    for part in reversed(path.strip("/").split("/")):
        m = _RES_RE.match(part)
        if m:
            return int(m.group(1))
    return None


def _walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path or "/", node
    for name, child in (node.get("members") or {}).items():
        yield from _walk(child, f"{path}/{name}")


def _is_group(node: dict[str, Any]) -> bool:
    return node.get("members") is not None


# ---------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------

_METEO: dict[str, tuple[float, float]] = {  # name: (mean, amplitude)
    "aod1240": (0.02, 0.005), "aod469": (0.12, 0.03), "aod550": (0.09, 0.02),
    "aod670": (0.07, 0.015), "aod865": (0.05, 0.01), "bcaod550": (0.004, 0.001),
    "duaod550": (0.01, 0.004), "omaod550": (0.02, 0.005), "ssaod550": (0.015, 0.005),
    "suaod550": (0.02, 0.005), "z": (2500.0, 800.0), "msl": (101500.0, 300.0),
    "r": (65.0, 10.0), "tco3": (0.0061, 0.0002), "tcwv": (15.7, 2.0), "u10": (1.5, 2.5),
    "v10": (-0.8, 2.0),
}


class SampleWriter:
    """Builds the sample's hierarchy from the template and fills every array."""

    def __init__(self, template: dict[str, Any], grid: Grid, seed: int) -> None:
        self.template = template
        self.grid = grid
        self.seed = seed
        self.scene = Scene(seed=seed, x0=grid.x0, y0=grid.y0, width=grid.extent, height=grid.extent)
        lonlat = grid.footprint_lonlat()
        lons = [p[0] for p in lonlat]
        lats = [p[1] for p in lonlat]
        self.lonlat_bbox = [min(lons), min(lats), max(lons), max(lats)]
        self.footprint = lonlat

    # -- metadata -----------------------------------------------------------

    def root_attributes(self, size: int) -> dict[str, Any]:
        attrs = copy.deepcopy(self.template["attributes"])
        om = attrs["other_metadata"]
        om["horizontal_CRS_code"] = f"EPSG:{self.grid.epsg}"
        om["synthetic_sample"] = {
            "generator": "geozarr-runner sample",
            "product": "s2-l2a",
            "size": size,
            "seed": self.seed,
            "note": "synthetic values on the layout of a real EOPF Sentinel-2 L2A product",
        }
        sd = attrs["stac_discovery"]
        sd["geometry"] = {"type": "Polygon", "coordinates": [[list(p) for p in self.footprint]]}
        sd["bbox"] = [round(v, 9) for v in self.lonlat_bbox]
        sd["properties"]["proj:bbox"] = self.grid.bbox()
        sd["properties"]["proj:epsg"] = self.grid.epsg
        return attrs

    def array_shape_chunks(self, path: str, node: dict[str, Any]) -> tuple[list[int], list[int]]:
        dims = node["attributes"].get("_ARRAY_DIMENSIONS") or []
        res = _resolution(path)
        shape = list(node["shape"])
        chunks = list(node["chunks"])
        if res is None:
            return shape, chunks
        for i, dim in enumerate(dims):
            if dim in ("x", "y"):
                ref = shape[i]
                shape[i] = self.grid.shape(res)
                chunks[i] = max(1, min(shape[i], math.ceil(chunks[i] * shape[i] / ref)))
        return shape, chunks

    def array_attributes(self, path: str, node: dict[str, Any]) -> dict[str, Any]:
        attrs = copy.deepcopy(node["attributes"])
        res = _resolution(path)
        if res is not None and "proj:shape" in attrs:
            n = self.grid.shape(res)
            attrs["proj:shape"] = [n, n]
            attrs["proj:transform"] = self.grid.transform(res)
            attrs["proj:bbox"] = self.grid.bbox()
            attrs["proj:epsg"] = self.grid.epsg
        if "GRIB_latitudeOfFirstGridPointInDegrees" in attrs:
            lats, lons = self._meteo_axes()
            attrs["GRIB_latitudeOfFirstGridPointInDegrees"] = round(float(lats[0]), 3)
            attrs["GRIB_latitudeOfLastGridPointInDegrees"] = round(float(lats[-1]), 3)
            attrs["GRIB_longitudeOfFirstGridPointInDegrees"] = round(float(lons[0]), 3)
            attrs["GRIB_longitudeOfLastGridPointInDegrees"] = round(float(lons[-1]), 3)
            attrs["GRIB_iDirectionIncrementInDegrees"] = round(float(abs(lons[1] - lons[0])), 4)
            attrs["GRIB_jDirectionIncrementInDegrees"] = round(float(abs(lats[1] - lats[0])), 4)
        return attrs

    def _meteo_axes(self) -> tuple[np.ndarray, np.ndarray]:
        lon1, lat1, lon2, lat2 = self.lonlat_bbox
        return np.linspace(lat2, lat1, 9), np.linspace(lon1, lon2, 9)

    # -- values -------------------------------------------------------------

    def small_values(self, path: str, shape: list[int], dtype: np.dtype) -> np.ndarray:
        """Values of arrays that are not on the r10m/r20m/r60m grids."""
        name = path.rsplit("/", 1)[-1]
        parent = path.rsplit("/", 1)[0]
        rng = np.random.default_rng([self.seed, 11, sum(map(ord, path))])
        if parent.endswith("/geometry"):
            values = self._geometry_values(name, shape, dtype)
            if values is not None:
                return values
        if "/meteorology/" in path:
            return self._meteorology_values(name, shape, dtype, rng)
        if name == "band" and not shape:
            return np.array(0, dtype=dtype)
        if name == "band":
            return np.arange(1, shape[0] + 1, dtype=dtype)
        if name in ("x", "y"):
            raise AssertionError(f"coordinate {path} has no resolution group")
        return np.zeros(shape, dtype=dtype)

    def _geometry_values(self, name: str, shape: list[int], dtype: np.dtype) -> np.ndarray | None:
        """The sun and viewing angles and their axes (None: not a geometry array)."""
        g = self.grid
        grid_x = (g.x0 + 5000 * np.arange(23)).astype(np.int64)
        grid_y = (g.y0 - 5000 * np.arange(23)).astype(np.int64)
        axes = {"angle": lambda: np.array(["zenith", "azimuth"], dtype=dtype),
                "band": lambda: np.array(BANDS, dtype=dtype),
                "detector": lambda: np.arange(1, shape[0] + 1, dtype=dtype),
                "x": lambda: grid_x.astype(dtype), "y": lambda: grid_y.astype(dtype)}
        if name in axes:
            return axes[name]()
        fx = (grid_x - g.x0)[None, :] / 110_000.0
        fy = (g.y0 - grid_y)[:, None] / 110_000.0
        if name == "sun_angles":
            zen = 49.3 + 0.6 * (fy - 0.5) + 0.1 * (fx - 0.5)
            azi = 163.6 + 1.2 * (fx - 0.5) - 0.3 * (fy - 0.5)
            return np.stack([zen, azi]).astype(dtype)
        if name == "mean_sun_angles":
            return np.array([49.3049375691464, 163.595949089503], dtype=dtype)
        if name == "mean_viewing_incidence_angles":
            zen = 5.5 + 0.1 * np.arange(shape[0])
            azi = 200.0 + 2.0 * np.arange(shape[0])
            return np.stack([zen, azi], axis=1).astype(dtype)
        if name == "viewing_incidence_angles":
            return _viewing_angles(shape, dtype, fx, fy)
        return None

    def _meteorology_values(self, name: str, shape: list[int], dtype: np.dtype,
                            rng: np.random.Generator) -> np.ndarray:
        lats, lons = self._meteo_axes()
        if name == "latitude":
            return lats.astype(dtype)
        if name == "longitude":
            return lons.astype(dtype)
        if name in _METEO:
            mean, amp = _METEO[name]
            la, lo = np.meshgrid(np.linspace(0, 1, shape[0]), np.linspace(0, 1, shape[1]), indexing="ij")
            field = np.sin(2.1 * la + rng.uniform(0, 6)) * np.cos(1.7 * lo + rng.uniform(0, 6))
            return (mean + amp * field + amp * 0.05 * rng.standard_normal(shape)).astype(dtype)
        if name == "isobaricInhPa":
            return np.array(1000.0, dtype=dtype)
        return np.zeros(shape, dtype=dtype)  # number, step, surface, time, valid_time

    def block(self, res: int, rows: slice, cols: slice) -> Block:
        """A window of the grid at resolution `res`, whose scene fields are shared by every
        array filled from it."""
        g = self.grid
        ys = g.centres_y(res)[rows].astype(np.float64)
        xs = g.centres_x(res)[cols].astype(np.float64)
        return Block(self.scene, res, xs, ys, key=(res, rows.start or 0, cols.start or 0))

    def grid_values(self, path: str, blk: Block, dtype: np.dtype) -> np.ndarray:
        """Values of a gridded (…, y, x) array over the window `blk`."""
        name = path.rsplit("/", 1)[-1]
        g = self.grid
        s = self.scene
        if path.startswith("/measurements/reflectance/"):
            return s.digital_counts(name, blk.xs, blk.ys, noise_key=blk.key, fields=blk.fields)
        nodata = blk.nodata
        if path.startswith("/quality/atmosphere/"):
            base = {"aot": (77.0, 20.0), "wvp": (1568.0, 250.0)}[name]
            v = base[0] + base[1] * s._smooth(3 if name == "aot" else 4, blk.xs, blk.ys)
            return np.where(nodata, 0, np.rint(v)).astype(dtype)
        if path.startswith("/quality/probability/"):
            if name == "cld":
                return np.where(nodata, 0, np.rint(100 * blk.fields.cloud)).astype(dtype)
            return np.zeros(nodata.shape, dtype=dtype)  # snw: no snow in this scene
        if path.startswith("/quality/l2a_quicklook/"):
            # true-colour preview: noise-free reflectance x 2.5 in 8 bits, 0 where no data
            out = np.empty((3, *nodata.shape), dtype=dtype)
            for i, band in enumerate(("b04", "b03", "b02")):
                v = s.surface_reflectance(band, blk.fields)
                v *= np.float32(2.5 * 255)
                np.rint(v, out=v)
                np.clip(v, 1, 255, out=v)
                out[i] = v
                out[i][nodata] = 0
            return out
        if path.startswith("/quality/mask/"):
            return np.where(nodata, 32, 0).astype(dtype)  # QT_NODATA_PIXELS
        if path.startswith("/conditions/mask/detector_footprint/"):
            u = (blk.xs[None, :] - g.x0) / g.extent + 0.25 * (g.y0 - blk.ys[:, None]) / g.extent
            det = np.clip(1 + np.floor(u * 4), 1, 12)
            return np.where(nodata, 0, det).astype(dtype)
        if path.startswith("/conditions/mask/l1c_classification/"):
            c = blk.fields.cloud
            return np.where(nodata, 0, np.where(c > 0.65, 1, np.where(c > 0.35, 2, 0))).astype(dtype)
        if path.startswith("/conditions/mask/l2a_classification/"):
            return s.scl(blk.xs, blk.ys, fields=blk.fields).astype(dtype)
        raise AssertionError(f"no synthetic values for gridded array {path}")


class Block:
    """A window of one resolution's grid: its axes, and the scene fields (computed on first
    use, then shared by every band of the window)."""

    def __init__(self, scene: Scene, res: int, xs: np.ndarray, ys: np.ndarray, key: tuple[int, ...]) -> None:
        self.scene, self.res, self.xs, self.ys, self.key = scene, res, xs, ys, key

    @functools.cached_property
    def fields(self) -> SurfaceFields:
        return self.scene.surface(self.xs, self.ys)

    @functools.cached_property
    def nodata(self) -> np.ndarray:
        return self.scene.nodata(self.xs, self.ys)


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------


def _compressors(node: dict[str, Any], zarr_format: int) -> Any:
    comp = node.get("compressor")
    if not comp:
        return None
    if comp.get("id") != "blosc":
        raise AssertionError(f"template compressor {comp} not supported")
    if zarr_format == 2:
        return numcodecs.Blosc(cname=comp["cname"], clevel=comp["clevel"], shuffle=comp["shuffle"],
                               blocksize=comp.get("blocksize", 0))
    from zarr.codecs import BloscCodec

    shuffle = {0: "noshuffle", 1: "shuffle", 2: "bitshuffle"}[comp["shuffle"]]
    return BloscCodec(cname=comp["cname"], clevel=comp["clevel"], shuffle=shuffle)


def _fill_value(node: dict[str, Any], dtype: np.dtype, zarr_format: int) -> Any:
    fv = node.get("fill_value")
    if fv == "NaN":
        return float("nan")
    if fv is None and zarr_format == 3:
        return "" if dtype.kind == "U" else 0
    return fv


def write_sample(
    out: str,
    *,
    size: int = DEFAULT_EDGE,
    seed: int = 0,
    product: str = "s2-l2a",
    zarr_format: int = 2,
    log: EventLog | None = None,
) -> dict[str, Any]:
    """Write the sample product to `out` (local path or s3:// URI); return a summary."""
    check_size(size)
    if zarr_format not in (2, 3):
        raise BadInput(f"--zarr-format {zarr_format}: expected 2 or 3")
    log = log or EventLog("sample", quiet=True)
    template = load_template(product)
    epsg = int(template["attributes"]["other_metadata"]["horizontal_CRS_code"].split(":")[1])
    ref = template["members"]["measurements"]["members"]["reflectance"]["members"]["r10m"]["members"]["b02"]
    t = ref["attributes"]["proj:transform"]
    grid = Grid(edge=size, x0=float(t[2]), y0=float(t[5]), epsg=epsg)
    writer = SampleWriter(template, grid, seed)

    uri = storage.normalise_uri(out)
    if storage.is_s3(uri):
        return staged_upload(uri, lambda local: write_sample(
            local, size=size, seed=seed, product=product, zarr_format=zarr_format, log=log))
    try:
        arrays = _write_store(uri, writer, template, size, zarr_format, log)
    except BadInput:
        raise
    except Exception as exc:
        raise classify(exc, what=f"write the sample to {uri}") from exc
    return {
        "output": uri,
        "product": product,
        "size": size,
        "seed": seed,
        "zarr_format": zarr_format,
        "epsg": epsg,
        "bbox": writer.lonlat_bbox,
        "arrays": arrays,
    }


def staged_upload(uri: str, write_local: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """Write a sample locally with `write_local(path)`, then upload it to the s3:// `uri` in one
    concurrent batch: far fewer S3 requests than zarr's node-by-node writes (existence checks,
    listings, one PUT per chunk)."""
    with tempfile.TemporaryDirectory(prefix="geozarr-sample-") as tmp:
        summary = write_local(f"{tmp}/sample.zarr")
        try:
            loc = storage.locate(uri)
            storage.remove_tree(loc)
            storage.upload_tree(f"{tmp}/sample.zarr", loc)
        except BadInput:
            raise
        except Exception as exc:
            raise classify(exc, what=f"upload the sample to {uri}") from exc
    return {**summary, "output": uri}


def _write_store(uri: str, writer: SampleWriter, template: dict[str, Any], size: int, zarr_format: int,
                 log: EventLog) -> int:
    """Write the sample's hierarchy at URI (a local store, rewritten from scratch); its array count.

    The hierarchy, its metadata and the small arrays are built in memory and written out at once
    (zarr's per-node file operations dominate at small sizes); the gridded arrays are then filled
    in place, chunk by chunk."""
    loc = storage.locate(uri)
    storage.remove_tree(loc)
    documents: dict[str, Any] = {}
    memory = zarr.storage.MemoryStore(documents)
    root = zarr.open_group(memory, mode="w", zarr_format=zarr_format, attributes=writer.root_attributes(size))
    nodes = list(_walk(template))
    arrays = [(p, n) for p, n in nodes if not _is_group(n)]
    for path, node in nodes:
        if path != "/" and _is_group(node):
            root.create_group(path.strip("/"), attributes=copy.deepcopy(node.get("attributes") or {}))
    gridded = [g for path, node in arrays
               if (g := _create_array(root, writer, path, node, zarr_format)) is not None]
    zarr.consolidate_metadata(memory)
    _write_documents(documents, Path(loc.path))
    store = storage.zarr_store(uri, read_only=False)
    done = len(arrays) - len(gridded)
    log.progress("metadata and small arrays written", done=done, total=len(arrays))
    for batch in _batches(gridded):
        _fill_gridded(writer, store, batch, zarr_format)
        done += len(batch)
        log.progress("arrays written", done=done, total=len(arrays))
    return len(arrays)


@dataclass(frozen=True)
class _Gridded:
    """A created (…, y, x) array on one of the r10m/r20m/r60m grids, still to be filled."""

    path: str
    res: int
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype

    @property
    def chunk_bytes(self) -> int:
        return int(np.prod(self.chunks)) * self.dtype.itemsize


def _create_array(root: zarr.Group, writer: SampleWriter, path: str, node: dict[str, Any],
                  zarr_format: int) -> _Gridded | None:
    """Create the array; fill it unless it is gridded (returned, to be filled in batches)."""
    dtype = np.dtype(node["dtype"])
    shape, chunks = writer.array_shape_chunks(path, node)
    attrs = writer.array_attributes(path, node)
    dims = attrs.get("_ARRAY_DIMENSIONS") or []
    kwargs: dict[str, Any] = {}
    if zarr_format == 2:
        kwargs["chunk_key_encoding"] = {"name": "v2", "separator": node.get("dimension_separator", ".")}
        kwargs["filters"] = None
        kwargs["order"] = node.get("order", "C")
    else:
        attrs.pop("_ARRAY_DIMENSIONS", None)
        kwargs["dimension_names"] = dims
    arr = root.create_array(
        path.strip("/"),
        shape=tuple(shape),
        chunks=tuple(chunks),
        dtype=dtype,
        fill_value=_fill_value(node, dtype, zarr_format),
        compressors=_compressors(node, zarr_format),
        attributes=attrs,
        overwrite=True,
        **kwargs,
    )
    res = _resolution(path)
    if res is not None and dims[-2:] == ["y", "x"]:
        return _Gridded(path, res, tuple(shape), tuple(chunks), dtype)
    if res is not None and dims == ["x"]:
        arr[:] = writer.grid.centres_x(res)
    elif res is not None and dims == ["y"]:
        arr[:] = writer.grid.centres_y(res)
    else:
        arr[...] = writer.small_values(path, shape, dtype)
    return None


def _batches(gridded: list[_Gridded]) -> list[list[_Gridded]]:
    """Arrays on the same grid with the same spatial chunks, at most BATCH_BYTES of chunk
    buffers each (an array whose one chunk is larger is a batch of its own)."""
    groups: dict[tuple[int, tuple[int, ...]], list[_Gridded]] = {}
    for g in gridded:
        groups.setdefault((g.res, g.chunks[-2:]), []).append(g)
    out: list[list[_Gridded]] = []
    for members in groups.values():
        batch: list[_Gridded] = []
        for g in members:
            if batch and sum(b.chunk_bytes for b in batch) + g.chunk_bytes > BATCH_BYTES:
                out.append(batch)
                batch = []
            batch.append(g)
        out.append(batch)
    return out


def _write_documents(documents: dict[str, Any], root: Path) -> None:
    """Write the keys of an in-memory zarr store as files under `root`."""
    made: set[Path] = set()
    for key, buf in documents.items():
        path = root / key
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_bytes(buf.to_bytes())


def _fill_gridded(writer: SampleWriter, store: Any, batch: list[_Gridded], zarr_format: int) -> None:
    """Fill the arrays of a batch chunk by chunk (whole chunks: no partial-chunk rewrites);
    each chunk is evaluated in windows of SUB_ROWS rows whose scene fields every array shares
    (bounded float temporaries even for a full 10980 px tile)."""
    with zarr.config.set({"array.write_empty_chunks": True}):  # no all-fill test of every chunk
        targets = [zarr.open_array(store, path=g.path.strip("/"), mode="r+", zarr_format=zarr_format)
                   for g in batch]
    first = batch[0]
    ch_y, ch_x = first.chunks[-2:]
    h, w = first.shape[-2:]
    for r0 in range(0, h, ch_y):
        r1 = min(h, r0 + ch_y)
        for c0 in range(0, w, ch_x):
            c1 = min(w, c0 + ch_x)
            bufs = [np.empty((*g.shape[:-2], r1 - r0, c1 - c0), dtype=g.dtype) for g in batch]
            for a in range(r0, r1, SUB_ROWS):
                b = min(r1, a + SUB_ROWS)
                blk = writer.block(first.res, slice(a, b), slice(c0, c1))
                for g, buf in zip(batch, bufs):
                    buf[..., a - r0: b - r0, :] = writer.grid_values(g.path, blk, g.dtype)
                del blk
            for target, buf in zip(targets, bufs):
                target[..., r0:r1, c0:c1] = buf
            del bufs


def _viewing_angles(shape: list[int], dtype: np.dtype, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """Per band and detector: zenith/azimuth where the detector sees the tile, NaN elsewhere."""
    nb, nd = shape[0], shape[1]
    out = np.full(shape, np.nan, dtype=dtype)
    for d in range(nd):
        # each detector sees a slanted stripe of the tile
        lo, hi = d / nd - 0.05, (d + 1) / nd + 0.05
        u = fx + 0.25 * fy
        seen = (u >= lo) & (u <= hi)
        for b in range(nb):
            zen = 2.0 + 9.0 * fx + 0.05 * b
            azi = np.where(d % 2, 285.0, 105.0) + 3.0 * fy + 0.2 * b
            out[b, d, 0] = np.where(seen, zen, np.nan)
            out[b, d, 1] = np.where(seen, azi, np.nan)
    return out
