"""`geozarr-conformance geozarr STORE`: every GeoZarr rule on one store."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from conformance.geozarr import (
    arrays,
    conventions,
    gdal_interop,
    multiscales,
    products,
    provenance,
    readers,
    s1,
    sampling,
    spatial,
    zarr_format,
)
from conformance.geozarr.context import GeoZarrContext
from conformance.geozarr.model import load_model
from conformance.geozarr.store import StoreUnavailable, open_store
from conformance.report import Check, Report, run_checks, skip_rules

METADATA_CHECKS: tuple[Check[GeoZarrContext], ...] = (
    *zarr_format.CHECKS,
    *conventions.CHECKS,
    *spatial.CHECKS,
    *multiscales.CHECKS,
    *arrays.CHECKS,
    *provenance.CHECKS,
    *readers.CHECKS,
    *s1.CHECKS,
)
ALL_CHECKS = METADATA_CHECKS + sampling.CHECKS + gdal_interop.CHECKS


def check_store(url: str, *, sample: bool = True, gdal: bool = True, bands_per_level: int = 2,
                progress: Callable[[str], None] | None = None) -> Report:
    """Check the store at URL; the report's error is set when it cannot run."""
    report = Report(kind="geozarr", target=url)
    t0 = time.perf_counter()
    try:
        t = time.perf_counter()
        access = open_store(url)
        model = load_model(access)
        report.add_phase("open", time.perf_counter() - t)
    except StoreUnavailable as exc:
        report.error = str(exc)
        report.total_seconds = time.perf_counter() - t0
        return report
    ctx = GeoZarrContext(access=access, model=model, bands_per_level=bands_per_level, gdal=gdal)
    product = products.store_product(ctx)
    report.extra["product"] = product
    _run_for_product(METADATA_CHECKS, product, ctx, report, progress)
    if sample:
        _run_for_product(sampling.CHECKS, product, ctx, report, progress)
    else:
        skip_rules(sampling.CHECKS, report, "--no-sample")
    if gdal:
        _run_for_product(gdal_interop.CHECKS, product, ctx, report, progress)
    else:
        skip_rules(gdal_interop.CHECKS, report, "--no-gdal")
    report.io = access.stats.to_dict()
    report.io["nodes"] = len(model.nodes)
    report.io["objects_listed"] = len(model.keys)
    _add_gdal_io(report, access.remote, gdal, ctx.cache.get("gdal_io"))
    report.total_seconds = time.perf_counter() - t0
    return report


def _run_for_product(checks: tuple[Check[GeoZarrContext], ...], product: str, ctx: GeoZarrContext,
                     report: Report, progress: Callable[[str], None] | None) -> None:
    """Run the checks whose rules apply to PRODUCT; the others are skipped, saying why."""
    run_checks([c for c in checks if products.applies(c.rule.id, product)], ctx, report, progress)
    skip_rules([c for c in checks if not products.applies(c.rule.id, product)], report,
               f"not a rule for {product} stores")


def _add_gdal_io(report: Report, remote: bool, gdal_ran: bool, gdal_io: dict[str, Any] | None) -> None:
    """GDAL's own reads (geozarr.gdal-interop) in the report's io, or a note saying they are not."""
    if not gdal_ran:
        return
    if not remote:
        report.io["note"] = ("local store: requests are the checker's file reads and directory listings; "
                             "GDAL's own file reads (geozarr.gdal-interop) are not counted")
    elif gdal_io is None:
        report.io["note"] = ("GDAL's own S3 requests (geozarr.gdal-interop) are not included: its network "
                             "statistics are not available from this GDAL")
    else:
        report.io["requests"] += gdal_io["requests"]
        report.io["bytes"] += gdal_io["bytes"]
        report.io["by_kind"] = dict(sorted({**report.io["by_kind"], "gdal": gdal_io["requests"]}.items()))
        report.io["gdal"] = gdal_io
        report.io["note"] = ("requests and bytes include GDAL's own S3 requests (by_kind.gdal, from its network "
                             "statistics), except the directory listings GDAL makes after a missing file (its "
                             "statistics leave them out: 12 more requests at the server for a 6-level store)")
