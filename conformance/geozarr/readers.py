"""Interop: xarray and rioxarray, opened the default way, georeference every level.

Tilers and notebooks open a resolution group with `xarray.open_dataset(level,
engine="zarr")` (default decoding) and ask rioxarray for `.rio.crs` and
`.rio.transform()`. rioxarray looks the grid mapping up among the dataset's
*coordinates*: a grid-mapping variable that loads as a data variable leaves the
array un-georeferenced although GDAL (geozarr.gdal-interop) reads it fine.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

from conformance.findings import Finding, Rule, Severity
from conformance.geozarr.context import (
    GeoZarrContext,
    close,
    declared_crs,
    entry_geometry,
    layout_levels,
    parse_crs,
    same_crs,
)
from conformance.geozarr.store import s3_storage_options
from conformance.report import Check

READER = Rule("geozarr.reader-georef", Severity.ERROR,
              "xarray (default decoding) opens every multiscale level with its grid mapping as a "
              "coordinate, and rioxarray sees the CRS and transform that proj:*/spatial:* declare")


def _open_level(ctx: GeoZarrContext, node: str) -> Any:
    """The level group as xarray opens it with its default options (and the format the
    store's listing shows). A remote store is read through the check's own (counted)
    filesystem: its requests are in the report's io."""
    import xarray as xr

    url = f"{ctx.access.url.rstrip('/')}/{node.strip('/')}"
    # A level whose zarr.json exists (the store's listing says so) is what zarr opens whatever
    # else is there (it favours Zarr v3): saying so spares its probes for .zgroup, .zattrs and
    # .zmetadata (6 reads per level, i.e. S3 requests), and changes nothing that is opened.
    v3 = {"zarr_format": 3} if node in ctx.model.real_nodes else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a level has no consolidated metadata of its own
        return xr.open_dataset(url, engine="zarr", storage_options=_storage_options(ctx), **v3)


def _storage_options(ctx: GeoZarrContext) -> dict[str, Any] | None:
    """s3fs options for a remote store, with a session that counts every request in the
    report's io (kind `readers`), as the check's own requests are."""
    if not ctx.access.remote:
        return None
    if "readers_storage_options" in ctx.cache:  # one session (one S3 client) for every level
        return ctx.cache["readers_storage_options"]
    from aiobotocore.session import AioSession

    session = AioSession()
    stats = ctx.access.stats

    def count(**_kwargs: Any) -> None:
        stats.add("readers", 1, 0)

    session.register("before-send.s3", count)
    # max_concurrency=1: one GET per object, no HEAD first (as the check's own filesystem)
    options = {**s3_storage_options(), "skip_instance_cache": False, "max_concurrency": 1, "session": session}
    ctx.cache["readers_storage_options"] = options
    return options


def _crs_findings(obj: Any, want: Any, where: str, what: str) -> Iterator[Finding]:
    from rioxarray.exceptions import RioXarrayError

    try:
        got = obj.rio.crs
    except RioXarrayError as exc:
        yield READER.finding(f"rioxarray cannot tell the CRS of the {what}: {exc}", where)
        return
    if got is None:
        yield READER.finding(f"rioxarray finds no CRS on the {what} (attributes say {want.to_string()})", where)
    elif not same_crs(parse_crs(got.to_wkt(), "crs_wkt"), want):
        yield READER.finding(f"rioxarray sees CRS {got.to_string()} on the {what}, attributes say "
                             f"{want.to_string()}", where)


def _check_level(ctx: GeoZarrContext, node: str, group: str) -> Iterator[Finding]:
    m = ctx.model
    try:
        ds = _open_level(ctx, node)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the finding
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        yield READER.finding(f"xarray cannot open the level: {msg}", node)
        return
    with ds:
        # The data variables' Variables (what their DataArrays wrap: the same attrs, encoding and
        # ndim) without building a DataArray per variable per question (~230 per store)
        variables = {name: ds.variables[name] for name in ds.data_vars}
        mappings = {v.attrs.get("grid_mapping") or v.encoding.get("grid_mapping") for v in variables.values()}
        for name in sorted(n for n in mappings if isinstance(n, str) and n in ds.data_vars):
            yield READER.finding(f"the grid mapping {name!r} loads as a data variable, not a coordinate "
                                 "(list it in the bands' `coordinates` attribute)", f"{node}/{name}")
        want = declared_crs(m, node, group)
        if want is not None:
            level = list(_crs_findings(ds, want, node, "level"))
            yield from level
            bands = sorted(str(n) for n, v in variables.items() if v.ndim >= 2)
            for name in bands if not level else []:  # a level without CRS: its bands have none either
                yield from _crs_findings(ds[name], want, f"{node}/{name}", "band")
        _shape, gt = entry_geometry({k: v for k, v in m.attrs(node).items() if k.startswith("spatial:")})
        if gt is not None and any(v.ndim >= 2 for v in variables.values()):
            yield from _transform_findings(ds, gt, node)


def _transform_findings(ds: Any, gt: tuple[float, ...], node: str) -> Iterator[Finding]:
    from rioxarray.exceptions import RioXarrayError

    try:
        t = ds.rio.transform()
    except RioXarrayError as exc:
        yield READER.finding(f"rioxarray cannot tell the transform: {exc}", node)
        return
    got = (t.a, t.b, t.c, t.d, t.e, t.f)
    tol = 1e-6 * max(abs(gt[0]), abs(gt[4]), 1.0)
    if not all(close(x, y, max(tol, 1e-9 * abs(y))) for x, y in zip(got, gt)):
        yield READER.finding(f"rioxarray sees transform {list(got)}, spatial:transform is {list(gt)}", node)


def check_readers(ctx: GeoZarrContext) -> Iterator[Finding]:
    import rioxarray  # noqa: F401 - registers the .rio accessor

    m = ctx.model
    for group in m.multiscale_groups():
        for lv in layout_levels(m, group):
            if lv.path in m.real_nodes:
                yield from _check_level(ctx, lv.path, group)


CHECKS = (Check(READER, check_readers, phase="readers"),)
