"""Interop: GDAL (rasterio's bundled GDAL, Zarr driver) opens one band of each
multiscale level, and sees the CRS and geotransform the attributes declare."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

from conformance.findings import Finding, Rule, Severity
from conformance.geozarr import gdal_network_stats
from conformance.geozarr.context import (
    GeoZarrContext,
    close,
    declared_crs,
    entry_geometry,
    layout_levels,
    parse_crs,
    same_crs,
    spatial_arrays,
)
from conformance.geozarr.model import join
from conformance.geozarr.sampling import pick_bands
from conformance.report import Check

GDAL = Rule("geozarr.gdal-interop", Severity.ERROR,
            "GDAL's Zarr driver opens a band of every level with the declared CRS and geotransform")


def _level_crs(ctx: GeoZarrContext, band: str, level_path: str, group: str):  # type: ignore[no-untyped-def]
    """The CRS GDAL should see: the band's grid-mapping variable (what GDAL reads; a
    proj:code that disagrees with it is geozarr.proj-crs's finding), else proj:*."""
    gm = ctx.model.attrs(band).get("grid_mapping")
    if isinstance(gm, str):
        wkt = ctx.model.attrs(join(level_path, gm)).get("crs_wkt")
        if isinstance(wkt, str):
            try:
                return parse_crs(wkt, "crs_wkt")
            except ValueError:
                return None
    return declared_crs(ctx.model, level_path, group)


def check_gdal(ctx: GeoZarrContext) -> Iterator[Finding]:
    """Also records what GDAL itself read from a remote store (its network statistics) in
    ctx.cache["gdal_io"], or why it could not, for the report's `io`."""
    import rasterio

    store, config = ctx.access.gdal_path("/")
    # No directory listings, no HEAD before GET, no .aux/.aux.xml sidecar probes (PAM): each
    # costs a request per band on S3 (125 -> 89 GDAL requests for the 6 levels of a sample; 80 with USE_ZMETADATA=NO below).
    config = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "CPL_VSIL_CURL_USE_HEAD": "NO", "GDAL_PAM_ENABLED": "NO",
              **config}
    stats = gdal_network_stats.load() if ctx.access.remote else None
    if stats is not None:
        config["CPL_VSIL_NETWORK_STATS_ENABLED"] = "YES"
    with rasterio.Env(**config):
        if stats is not None:
            stats.reset()
        try:
            yield from _open_levels(ctx, store)
        finally:
            if ctx.access.remote:
                ctx.cache["gdal_io"] = stats.read() if stats is not None else None


def _open_levels(ctx: GeoZarrContext, store: str) -> Iterator[Finding]:
    import rasterio
    from rasterio.errors import RasterioError

    m = ctx.model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        for g in m.multiscale_groups():
            for lv in layout_levels(m, g):
                if lv.path not in m.real_nodes:
                    continue
                bands = [b for b in spatial_arrays(m, lv.path) if b in m.real_nodes]
                if not bands:
                    continue
                band = pick_bands(bands, 1)[0]
                name = f'ZARR:"{store}":{band}'
                try:
                    # USE_ZMETADATA=NO: no probe for Zarr v2's .zmetadata (and the listing GDAL
                    # makes after it is missing) per level opened; a v3 store has none.
                    with rasterio.open(name, USE_ZMETADATA="NO") as ds:
                        crs, transform, shape = ds.crs, ds.transform, (ds.height, ds.width)
                except (RasterioError, OSError) as exc:
                    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    yield GDAL.finding(f"GDAL cannot open the band: {msg}", band)
                    continue
                want_crs = _level_crs(ctx, band, lv.path, g)
                if want_crs is not None:
                    if crs is None:
                        yield GDAL.finding(f"GDAL sees no CRS, attributes say {want_crs.to_string()}", band)
                    else:
                        got = parse_crs(crs.to_wkt(), "crs_wkt")
                        if not same_crs(got, want_crs):
                            yield GDAL.finding(f"GDAL sees CRS {crs.to_string()}, attributes say "
                                               f"{want_crs.to_string()}", band)
                gshape, gt = entry_geometry({k: v for k, v in m.attrs(lv.path).items() if k.startswith("spatial:")})
                if gt is not None:
                    got_t = (transform.a, transform.b, transform.c, transform.d, transform.e, transform.f)
                    tol = 1e-6 * max(abs(gt[0]), abs(gt[4]), 1.0)
                    if not all(close(x, y, max(tol, 1e-9 * abs(y))) for x, y in zip(got_t, gt)):
                        yield GDAL.finding(f"GDAL sees geotransform {list(got_t)}, spatial:transform is "
                                           f"{list(gt)}", band)
                if gshape is not None and list(shape) != list(gshape):
                    yield GDAL.finding(f"GDAL sees {list(shape)} pixels, spatial:shape is {gshape}", band)


CHECKS = (Check(GDAL, check_gdal, phase="gdal"),)
