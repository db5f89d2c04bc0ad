"""`sample --product s1-grd`: a synthetic EOPF Sentinel-1 IW GRDH product that eopf-geozarr
converts through its real Sentinel-1 path (GCP reprojection of every polarisation group).

The layout (one top group per polarisation, each with `measurements`, `conditions` and
`quality`; groups, arrays, dtypes, dimensions, codecs and attributes) comes from the metadata
of a real product packaged with the runner (`runner/templates/s1_grd.json.gz`, the
pydantic-zarr dump of S1A_IW_GRDH_1SDV_20241124T180254_..._BA27, processor 2.5.8). Only
what depends on the size is rewritten:

- the image: `size` azimuth lines by `size * 26064 / 16677` ground-range pixels of 10 m,
  cropped from the start of the real swath (first line, near range), lines 1.4989 ms apart
  (the real product's 16677 lines in 25 s); `measurements/grd` chunks scale with the shape;
- the geolocation: the 10 x 21 GCP grid (`conditions/gcp`) spans the sample's lines and
  pixels, its latitude/longitude follow the real orbit's heading (-11 deg, ascending) from
  the real footprint's first corner, so a GCP warp gives a consistent EPSG:4326 grid;
- line/pixel/time vectors of every annotation (calibration, noise, antenna pattern, ...)
  span the sample (their array shapes are the real ones);
- `stac_discovery` geometry/bbox/start/end (root and each polarisation group);
- `other_metadata.synthetic_sample` (root) records the generator, size and seed.

Backscatter values come from `runner.sample_scene` cover fractions (water / vegetation / soil)
with per-polarisation sigma0 and gamma speckle (ENL 4.4), as digital numbers through the
sample's own `quality/calibration/sigma_nought` LUT (sigma0 = DN^2 / A^2). Deterministic
for a seed.
"""

from __future__ import annotations

import copy
import gzip
import json
import math
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from pyproj import Geod

from runner import storage
from runner.errors import BadInput, classify
from runner.events import EventLog
from runner.sample_s2 import (
    _compressors,
    _fill_value,
    _is_group,
    _walk,
    _write_documents,
    staged_upload,
)
from runner.sample_scene import Scene

FULL_LINES, FULL_PIXELS = 16677, 26064  # the real product's measurements/grd shape
MIN_SIZE = 32  # at least 32 lines (and 50 pixels): distinct GCP lines and pixels
DEFAULT_SIZE = 144
PIXEL_SPACING = 10.0  # metres, azimuth and range (sar:pixel_spacing_*)
LINE_INTERVAL_NS = 1_498_914  # 25 s / 16677 lines
ORIGIN_LONLAT = (-2.547206, 38.065178)  # the real footprint's first line, near range
HEADING = -10.99  # degrees from north: the real swath's azimuth direction (ascending)
INCIDENCE_NEAR, INCIDENCE_FAR = 30.6, 46.0  # across the full IW swath
ENL = 4.4  # equivalent number of looks of IW GRDH
# sigma0 (dB) of each cover per polarisation
SIGMA0_DB = {"VV": {"water": -21.0, "vegetation": -10.5, "soil": -13.0},
             "VH": {"water": -29.0, "vegetation": -16.5, "soil": -21.0}}
PRODUCT = "s1-grd"
IN_MEMORY_BYTES = 64 << 20  # measurements up to this size are filled before the files are written


def check_size(size: int) -> None:
    if size < MIN_SIZE or size > FULL_LINES:
        raise BadInput(f"--size {size}: the number of azimuth lines of an s1-grd sample must be "
                       f"between {MIN_SIZE} and {FULL_LINES}")


def load_template() -> dict[str, Any]:
    data = resources.files("runner").joinpath("templates/s1_grd.json.gz").read_bytes()
    return json.loads(gzip.decompress(data))


def polarisation_groups(template: dict[str, Any]) -> dict[str, str]:
    """{"VH": group name, "VV": group name} of a product's top groups."""
    return {name.rsplit("_", 1)[-1]: name for name in template["members"]}


@dataclass(frozen=True)
class Swath:
    """The sample's image in radar geometry and on the ground: `lines` x `pixels` of 10 m."""

    lines: int
    pixels: int
    start: np.datetime64

    @classmethod
    def of_size(cls, size: int, start: np.datetime64) -> Swath:
        return cls(size, math.ceil(size * FULL_PIXELS / FULL_LINES), start)

    def line_times(self, lines: np.ndarray) -> np.ndarray:
        return self.start + (np.asarray(lines, np.int64) * LINE_INTERVAL_NS).astype("m8[ns]")

    @property
    def end(self) -> np.datetime64:
        return self.line_times(np.array([self.lines]))[0]

    def lonlat(self, lines: np.ndarray, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Longitude, latitude of (line, pixel) pairs (broadcast): along the heading by the
        line's distance, then to the right (range direction) by the pixel's."""
        geod = Geod(ellps="WGS84")
        lines, pixels = np.broadcast_arrays(np.asarray(lines, float), np.asarray(pixels, float))
        n = lines.size
        lon0, lat0 = np.full(n, ORIGIN_LONLAT[0]), np.full(n, ORIGIN_LONLAT[1])
        lon1, lat1, back = geod.fwd(lon0, lat0, np.full(n, HEADING), lines.ravel() * PIXEL_SPACING)
        lon2, lat2, _ = geod.fwd(lon1, lat1, np.asarray(back) + 180 + 90, pixels.ravel() * PIXEL_SPACING)
        return np.asarray(lon2).reshape(lines.shape), np.asarray(lat2).reshape(lines.shape)

    def incidence(self, pixels: np.ndarray) -> np.ndarray:
        frac = np.asarray(pixels, float) / FULL_PIXELS
        return INCIDENCE_NEAR + (INCIDENCE_FAR - INCIDENCE_NEAR) * frac

    def corners(self) -> list[list[float]]:
        """The footprint as the real products write it: last line near/far range, first line
        far/near range (4 points, unclosed)."""
        last, far = self.lines - 1, self.pixels - 1
        lon, lat = self.lonlat(np.array([last, last, 0, 0]), np.array([0, far, far, 0]))
        return [[round(float(x), 6), round(float(y), 6)] for x, y in zip(lon, lat)]


def _spread(n: int, extent: int, dtype: np.dtype) -> np.ndarray:
    """`n` increasing sample positions over 0..extent-1 (repeats when extent < n)."""
    return np.round(np.linspace(0, extent - 1, n)).astype(dtype)


def _time_values(units: str, times: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Datetimes encoded as CF `<unit>s since <epoch>` integers."""
    unit, _, epoch = units.partition(" since ")
    step = {"nanoseconds": "ns", "microseconds": "us", "milliseconds": "ms", "seconds": "s"}[unit]
    delta = times - np.datetime64(epoch.strip().replace(" ", "T"), "ns")
    return (delta // np.timedelta64(1, step)).astype(dtype)


BETA_NOUGHT = 237.1  # the calibration constant of IW GRDH (beta0 = DN^2 / 237.1^2)
# plausible levels of the other annotation arrays: name -> (mean, amplitude)
_LEVELS: dict[str, tuple[float, float]] = {
    "elevation_angle": (34.5, 6.0), "incidence_angle": (38.3, 7.7), "roll": (29.6, 0.2),
    "slant_range_time_ap": (0.0058, 0.0005), "slant_range_time": (0.0058, 0.0005),
    "terrain_height": (310.0, 60.0), "pitch": (-0.03, 0.01), "yaw": (-3.1, 0.3),
    "wx": (0.0, 0.06), "wy": (0.0, 0.06), "wz": (0.0, 0.06),
    "azimuth_fm_rate_polynomial": (-2300.0, 40.0), "t0": (0.0053, 0.0003),
    "gr0": (0.0, 0.0), "sr0": (800_000.0, 1000.0), "grsr_coefficients": (0.0, 1e-3),
    "srgr_coefficients": (0.0, 1e-3), "data_dc_polynomial": (20.0, 10.0),
    "data_dc_rms_error": (8.0, 2.0), "geometry_dc_polynomial": (15.0, 5.0),
    "position": (3.5e6, 3.0e6), "velocity": (0.0, 6000.0),
    "reference_replica_amplitude_coefficients": (0.5, 0.5),
    "reference_replica_phase_coefficients": (0.0, 1.0),
    "cross_correlation_peak_location": (1.8, 0.1), "cross_correlation_pslr": (-28.0, 1.0),
    "internal_time_delay": (1.2e-9, 1e-10), "model_pg_product_amplitude": (1.0, 0.02),
    "model_pg_product_phase": (0.1, 0.02), "pg_product_amplitude": (1.0, 0.02),
    "pg_product_phase": (0.1, 0.02), "noise_power_correction_factor": (1.05, 0.02),
    "noise_azimuth_lut": (1.0, 0.05), "noise_range_lut": (120.0, 40.0),
}


class S1Values:
    """The values of every array of one polarisation group, by path inside the group."""

    def __init__(self, swath: Swath, seed: int) -> None:
        self.swath, self.seed = swath, seed
        self.gcp_lines = _spread(10, swath.lines, np.dtype("u4"))
        self.gcp_pixels = _spread(21, swath.pixels, np.dtype("u4"))
        self.scene = Scene(seed=seed, x0=0.0, y0=0.0, width=swath.pixels * PIXEL_SPACING,
                           height=swath.lines * PIXEL_SPACING)

    def sigma_lut(self, pixels: np.ndarray) -> np.ndarray:
        """The calibration constant A of sigma0 at `pixels` (sigma0 = DN^2 / A^2)."""
        return BETA_NOUGHT / np.sqrt(np.sin(np.radians(self.swath.incidence(pixels))))

    def small(self, rel: str, attrs: dict[str, Any], shape: list[int], dtype: np.dtype) -> np.ndarray:
        group, name = rel.rsplit("/", 1)
        units = str(attrs.get("units", ""))
        if " since " in units:
            return self._times(group, name, units, shape, dtype)
        if group == "/measurements":
            return self._measurement_axis(name, dtype)
        if group == "/conditions/gcp":
            return self._gcp(name, dtype)
        if group == "/quality/calibration" and name in ("sigma_nought", "beta_nought", "gamma", "dn"):
            return self._calibration(name, shape, dtype)
        return self._annotation(rel, name, shape, dtype)

    def _times(self, group: str, name: str, units: str, shape: list[int], dtype: np.dtype) -> np.ndarray:
        sw = self.swath
        if group == "/measurements":
            lines = np.arange(sw.lines)
        elif group == "/conditions/gcp":
            lines = np.broadcast_to(self.gcp_lines[:, None], shape) if len(shape) == 2 else self.gcp_lines
        else:
            lines = _spread(shape[0], sw.lines, np.dtype("i8"))
        return _time_values(units, sw.line_times(lines), dtype)

    def _measurement_axis(self, name: str, dtype: np.dtype) -> np.ndarray:
        n = self.swath.lines if name == "line" else self.swath.pixels
        values = np.arange(n) * (PIXEL_SPACING if name == "ground_range" else 1)
        return values.astype(dtype)

    def _gcp(self, name: str, dtype: np.dtype) -> np.ndarray:
        lines, pixels = self.gcp_lines[:, None], self.gcp_pixels[None, :]
        if name in ("line", "pixel"):
            return (self.gcp_lines if name == "line" else self.gcp_pixels).astype(dtype)
        if name == "ground_range":
            return (self.gcp_pixels * PIXEL_SPACING).astype(dtype)
        inc = np.broadcast_to(self.swath.incidence(pixels), (len(self.gcp_lines), len(self.gcp_pixels)))
        if name in ("latitude", "longitude"):
            lon, lat = self.swath.lonlat(lines, pixels)
            return (lat if name == "latitude" else lon).astype(dtype)
        if name == "height":
            return (300.0 + 80.0 * self.scene._smooth(5, pixels[0] * PIXEL_SPACING,
                                                      -lines[:, 0] * PIXEL_SPACING)).astype(dtype)
        if name == "incidence_angle":
            return inc.astype(dtype)
        if name == "elevation_angle":
            return (inc - 3.8).astype(dtype)
        if name == "slant_range_time_gcp":
            return (2 * 693_000.0 / np.cos(np.radians(inc)) / 299_792_458.0).astype(dtype)
        raise AssertionError(f"no synthetic values for /conditions/gcp/{name}")

    def _calibration(self, name: str, shape: list[int], dtype: np.dtype) -> np.ndarray:
        pixels = _spread(shape[-1], self.swath.pixels, np.dtype("i8"))
        inc = np.radians(self.swath.incidence(pixels))
        row = {"sigma_nought": self.sigma_lut(pixels),
               "beta_nought": np.full(pixels.shape, BETA_NOUGHT),
               "gamma": BETA_NOUGHT / np.sqrt(np.tan(inc)),
               "dn": np.full(pixels.shape, BETA_NOUGHT)}[name]
        return np.broadcast_to(row, shape).astype(dtype)

    def _annotation(self, rel: str, name: str, shape: list[int], dtype: np.dtype) -> np.ndarray:
        sw = self.swath
        n = shape[-1] if shape else 1
        if name in ("line", "pixel", "ground_range"):
            extent = sw.lines if name == "line" else sw.pixels
            scale = PIXEL_SPACING if name == "ground_range" else 1
            return np.broadcast_to(_spread(n, extent, np.dtype("i8")) * scale, shape).astype(dtype)
        if name == "swath":
            return np.array([f"IW{1 + i % 3}" for i in range(n)], dtype=dtype)
        if name == "axis":
            return np.array(["x", "y", "z"][:n], dtype=dtype)
        if name in ("count", "degree"):
            return np.arange(n).astype(dtype)
        if name in ("first_azimuth_time", "last_azimuth_time"):
            return np.full(shape, 0 if name.startswith("first") else sw.lines - 1, dtype=dtype)
        if name in ("first_range_sample", "last_range_sample"):
            edges = np.linspace(0, sw.pixels, n + 1).astype(int)
            return (edges[:-1] if name.startswith("first") else edges[1:] - 1).astype(dtype)
        if dtype.kind == "b":
            return np.zeros(shape, dtype=dtype)
        if dtype.kind in "iu":
            return np.full(shape, 10, dtype=dtype)  # number_of_noise_lines
        rng = np.random.default_rng([self.seed, zlib.crc32(rel.encode())])
        if name in ("q0", "q1", "q2", "q3"):
            q = np.array([0.62, -0.35, 0.33, 0.62])[int(name[1])]
            return (q + 0.002 * rng.standard_normal(shape)).astype(dtype)
        mean, amp = _LEVELS.get(name, (0.0, 1.0))
        ramp = np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
        return (mean + amp * (0.8 * ramp + 0.2 * rng.uniform(-1, 1, shape))).astype(dtype)

    def grd(self, pol: str, rows: slice, cols: slice) -> np.ndarray:
        """Digital numbers of a window: cover-mix sigma0 with gamma speckle, through the
        sigma0 calibration LUT."""
        lines = np.arange(rows.start, rows.stop)
        pixels = np.arange(cols.start, cols.stop)
        fr = self.scene.fractions(pixels * PIXEL_SPACING, -lines * PIXEL_SPACING)
        sigma0 = sum(fr[k].astype(np.float64) * 10 ** (db / 10) for k, db in SIGMA0_DB[pol].items())
        rng = np.random.default_rng([self.seed, 1 + list(SIGMA0_DB).index(pol), rows.start, cols.start])
        speckle = rng.gamma(ENL, 1 / ENL, sigma0.shape)
        dn = self.sigma_lut(pixels)[None, :] * np.sqrt(sigma0 * speckle)
        return np.clip(np.rint(dn), 1, 65535).astype(np.uint16)


def _iso(t: np.datetime64) -> str:
    return str(np.datetime64(t, "us")) + "Z"


def _with_footprint(attrs: dict[str, Any], swath: Swath) -> dict[str, Any]:
    """`attrs` (a root or polarisation group's) with its stac_discovery footprint and times
    those of the sample."""
    attrs = copy.deepcopy(attrs)
    sd = attrs.get("stac_discovery")
    if not sd:
        return attrs
    ring = swath.corners()
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    sd["geometry"] = {"type": "Polygon", "coordinates": [ring]}
    sd["bbox"] = [min(lons), min(lats), max(lons), max(lats)]
    props = sd["properties"]
    props["start_datetime"] = _iso(swath.start)
    props["end_datetime"] = _iso(swath.end)
    if props.get("datetime") not in (None, "None"):
        props["datetime"] = _iso(swath.start + (swath.end - swath.start) // 2)
    return attrs


def _sample_start(template: dict[str, Any]) -> np.datetime64:
    first = next(iter(template["members"].values()))
    units = first["members"]["measurements"]["members"]["azimuth_time"]["attributes"]["units"]
    return np.datetime64(units.partition(" since ")[2].strip().replace(" ", "T"), "ns")


def _grd_shape_chunks(node: dict[str, Any], swath: Swath) -> tuple[list[int], list[int]]:
    shape = [swath.lines, swath.pixels]
    chunks = [max(1, min(n, math.ceil(c * n / ref)))
              for n, c, ref in zip(shape, node["chunks"], node["shape"])]
    return shape, chunks


def _create(root: zarr.Group, path: str, node: dict[str, Any], shape: list[int],
            chunks: list[int], zarr_format: int) -> zarr.Array:
    dtype = np.dtype(node["dtype"])
    attrs = copy.deepcopy(node["attributes"])
    kwargs: dict[str, Any] = {}
    if zarr_format == 2:
        kwargs["chunk_key_encoding"] = {"name": "v2", "separator": node.get("dimension_separator", ".")}
        kwargs["filters"] = None
        kwargs["order"] = node.get("order", "C")
    else:
        kwargs["dimension_names"] = attrs.pop("_ARRAY_DIMENSIONS", None)
    return root.create_array(path.strip("/"), shape=tuple(shape), chunks=tuple(chunks), dtype=dtype,
                             fill_value=_fill_value(node, dtype, zarr_format),
                             compressors=_compressors(node, zarr_format), attributes=attrs,
                             overwrite=True, **kwargs)


# the 1-D measurement axes, sized to the sample's lines or pixels
_MEASUREMENT_AXES = {"/measurements/azimuth_time": "lines", "/measurements/line": "lines",
                     "/measurements/pixel": "pixels", "/measurements/ground_range": "pixels"}


def _build_hierarchy(template: dict[str, Any], values: S1Values, root: zarr.Group,
                     zarr_format: int) -> list[tuple[str, str]]:
    """Create every group and array under `root`, fill the small arrays; return the
    (polarisation, path) of the grd arrays still to fill."""
    pending: list[tuple[str, str]] = []
    for pol, name in polarisation_groups(template).items():
        for rel, node in _walk(template["members"][name]):
            path = f"/{name}{rel}" if rel != "/" else f"/{name}"
            if _is_group(node):
                attrs = _with_footprint(node.get("attributes") or {}, values.swath)
                root.create_group(path.strip("/"), attributes=attrs)
                continue
            if rel == "/measurements/grd":
                shape, chunks = _grd_shape_chunks(node, values.swath)
                _create(root, path, node, shape, chunks, zarr_format)
                pending.append((pol, path))
                continue
            shape = [getattr(values.swath, _MEASUREMENT_AXES[rel])] if rel in _MEASUREMENT_AXES \
                else list(node["shape"])
            chunks = [min(c, n) for c, n in zip(node["chunks"], shape)]
            arr = _create(root, path, node, shape, chunks, zarr_format)
            arr[...] = values.small(rel, node["attributes"], shape, np.dtype(node["dtype"]))
    return pending


def _fill_grd(store: Any, values: S1Values, pol: str, path: str, zarr_format: int) -> None:
    """Fill one grd array chunk row by chunk row (whole chunks, bounded memory)."""
    with zarr.config.set({"array.write_empty_chunks": True}):
        arr = zarr.open_array(store, path=path.strip("/"), mode="r+", zarr_format=zarr_format)
    ch_y, ch_x = arr.chunks
    h, w = arr.shape
    for r0 in range(0, h, ch_y):
        r1 = min(h, r0 + ch_y)
        for c0 in range(0, w, ch_x):
            c1 = min(w, c0 + ch_x)
            arr[r0:r1, c0:c1] = values.grd(pol, slice(r0, r1), slice(c0, c1))


def write_sample(out: str, *, size: int = DEFAULT_SIZE, seed: int = 0, product: str = PRODUCT,
                 zarr_format: int = 2, log: EventLog | None = None) -> dict[str, Any]:
    """Write the S1 GRD sample to `out` (local path or s3:// URI); return a summary."""
    check_size(size)
    if product != PRODUCT:
        raise BadInput(f"--product {product!r}: this generator writes {PRODUCT}")
    if zarr_format not in (2, 3):
        raise BadInput(f"--zarr-format {zarr_format}: expected 2 or 3")
    log = log or EventLog("sample", quiet=True)
    uri = storage.normalise_uri(out)
    if storage.is_s3(uri):
        return staged_upload(uri, lambda local: write_sample(
            local, size=size, seed=seed, product=product, zarr_format=zarr_format, log=log))
    template = load_template()
    swath = Swath.of_size(size, _sample_start(template))
    values = S1Values(swath, seed)
    try:
        loc = storage.locate(uri)
        storage.remove_tree(loc)  # a sample is rewritten from scratch
        documents: dict[str, Any] = {}
        memory = zarr.storage.MemoryStore(documents)
        root_attrs = _with_footprint(template["attributes"], swath)
        root_attrs["other_metadata"]["synthetic_sample"] = {
            "generator": "geozarr-runner sample", "product": PRODUCT, "size": size, "seed": seed,
            "note": "synthetic values on the layout of a real EOPF Sentinel-1 IW GRDH product"}
        root = zarr.open_group(memory, mode="w", zarr_format=zarr_format, attributes=root_attrs)
        pending = _build_hierarchy(template, values, root, zarr_format)
        # small measurements are filled in memory too (one file write per chunk, no zarr
        # per-chunk file operations); large ones chunk by chunk in place, bounded memory
        in_memory = swath.lines * swath.pixels * 2 * len(pending) <= IN_MEMORY_BYTES
        for pol, path in pending if in_memory else []:
            _fill_grd(memory, values, pol, path, zarr_format)
        zarr.consolidate_metadata(memory)
        _write_documents(documents, Path(loc.path))
        log.progress("metadata and annotation arrays written", done=0, total=len(pending))
        store = storage.zarr_store(uri, read_only=False)
        for done, (pol, path) in enumerate(pending, 1):
            if not in_memory:
                _fill_grd(store, values, pol, path, zarr_format)
            log.progress("measurements written", done=done, total=len(pending))
    except BadInput:
        raise
    except Exception as exc:
        raise classify(exc, what=f"write the sample to {uri}") from exc
    ring = swath.corners()
    return {"output": uri, "product": PRODUCT, "size": size, "seed": seed,
            "zarr_format": zarr_format, "lines": swath.lines, "pixels": swath.pixels,
            "polarisations": sorted(polarisation_groups(template)),
            "bbox": [min(p[0] for p in ring), min(p[1] for p in ring),
                     max(p[0] for p in ring), max(p[1] for p in ring)]}
