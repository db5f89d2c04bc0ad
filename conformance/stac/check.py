"""`geozarr-conformance stac ITEM [--store STORE]`: schema and consistency checks of one item."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance.errors import ConformanceError
from conformance.geozarr.model import load_model
from conformance.geozarr.store import IOStats, StoreUnavailable, open_store, s3_storage_options
from conformance.report import Report, run_checks, skip_rules
from conformance.stac import profile
from conformance.stac import schemas as schema_module
from conformance.stac.hrefs import HrefResolver
from conformance.stac.rules import (
    ITEM_CHECKS,
    PROFILE_CHECKS,
    SCHEMA_CHECKS,
    STORE_CHECKS,
    StacContext,
)
from conformance.stac.schemas import SchemaStore, default_cache_dir
from runner import bounded_json


class ItemUnavailable(ConformanceError):
    pass


def load_item(ref: str, stats: IOStats) -> dict[str, Any]:
    """The item JSON from a file, an http(s) URL or an s3:// URI."""
    try:
        if ref.startswith(("http://", "https://")):
            import requests

            resp = requests.get(ref, timeout=30)
            resp.raise_for_status()
            data = resp.content
        elif ref.startswith("s3://"):
            import s3fs

            data = s3fs.S3FileSystem(**s3_storage_options()).cat_file(ref[5:])
        else:
            data = Path(ref.removeprefix("file://")).read_bytes()
    except Exception as exc:
        raise ItemUnavailable(f"cannot read {ref}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
            from exc
    stats.add("item", 1, len(data))
    try:
        item = bounded_json.loads(data)
    except ValueError as exc:
        raise ItemUnavailable(f"{ref} is not JSON: {exc}") from exc
    if not isinstance(item, dict) or item.get("type") != "Feature":
        raise ItemUnavailable(f"{ref} is not a STAC item (type is not Feature)")
    return item


def check_item(ref: str, *, store: str | None = None, offline: bool = True, schema_cache: str | None = None,
               allow_unknown_extensions: bool = False, href_hosts: tuple[str, ...] = (),
               explorer_profile: bool | None = None,
               progress: Callable[[str], None] | None = None) -> Report:
    """Check the item at REF; EXPLORER_PROFILE None: on for our collections (conformance.stac.profile)."""
    report = Report(kind="stac", target=ref)
    t0 = time.perf_counter()
    item_stats = IOStats()
    try:
        item = load_item(ref, item_stats)
    except ItemUnavailable as exc:
        report.error = str(exc)
        report.total_seconds = time.perf_counter() - t0
        return report
    schemas = SchemaStore(cache_dir=Path(schema_cache) if schema_cache else default_cache_dir(), offline=offline,
                          fetch_timeout=schema_module.FETCH_TIMEOUT)
    local = not ref.startswith(("http://", "https://", "s3://"))
    item_dir = Path(ref.removeprefix("file://")).resolve().parent if local else Path.cwd()
    ctx = StacContext(item=item, schemas=schemas, store_url=store,
                      allow_unknown_extensions=allow_unknown_extensions,
                      hrefs=HrefResolver(item_dir=item_dir, hosts=frozenset(href_hosts)))
    access = None
    if store:
        try:
            t = time.perf_counter()
            access = open_store(store)
            ctx.model = load_model(access)
            report.add_phase("open", time.perf_counter() - t)
        except StoreUnavailable as exc:
            report.error = f"store {store}: {exc}"
            report.total_seconds = time.perf_counter() - t0
            return report
    run_checks(SCHEMA_CHECKS, ctx, report, progress)
    run_checks(ITEM_CHECKS, ctx, report, progress)
    if profile.applies(item, explorer_profile):
        run_checks(PROFILE_CHECKS, ctx, report, progress)
    else:
        skip_rules(PROFILE_CHECKS, report, "not one of our collections (--explorer-profile to check it)"
                   if explorer_profile is None else "--no-explorer-profile")
    if ctx.model is not None:
        run_checks(STORE_CHECKS, ctx, report, progress)
    else:
        skip_rules(STORE_CHECKS, report, "no --store given")
    io = item_stats.to_dict()
    if access is not None:
        s = access.stats.to_dict()
        io = {"requests": io["requests"] + s["requests"], "bytes": io["bytes"] + s["bytes"],
              "by_kind": {**s["by_kind"], **io["by_kind"]}}
    io["schemas_fetched"] = len(schemas.fetched)
    report.io = io
    report.extra["schema_cache"] = str(schemas.cache_dir)
    report.total_seconds = time.perf_counter() - t0
    return report
