"""Zarr v3 everywhere, and consolidated metadata that tells the truth."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from conformance.findings import Finding, Rule, Severity
from conformance.geozarr.context import GeoZarrContext
from conformance.geozarr.model import consolidated_entries, key_of
from conformance.report import Check
from runner import bounded_json

ZARR_V3 = Rule("geozarr.zarr-v3", Severity.ERROR, "every node is Zarr v3 (zarr_format 3, no v2 metadata files)")
CONSOLIDATED_PRESENT = Rule("geozarr.consolidated-present", Severity.ERROR,
                            "the root group carries consolidated metadata (O(1) metadata reads)")
CONSOLIDATED_STALE = Rule("geozarr.consolidated-stale", Severity.ERROR,
                          "every consolidated entry names a node that exists in the store")
CONSOLIDATED_MISSING = Rule("geozarr.consolidated-missing", Severity.ERROR,
                            "every node in the store has a consolidated entry")
CONSOLIDATED_MISMATCH = Rule("geozarr.consolidated-mismatch", Severity.ERROR,
                             "consolidated entries equal the nodes' own zarr.json (multiscale groups and "
                             "their levels, nested consolidated blocks)")


def check_zarr_v3(ctx: GeoZarrContext) -> Iterator[Finding]:
    """A v2 node (or v2 files beside v3 ones) is unreadable by v3-only readers and
    invisible to GDAL's v3 path: error."""
    m = ctx.model
    for key in m.v2_keys:
        node = "/" + posixpath.dirname(key) if posixpath.dirname(key) else "/"
        yield ZARR_V3.finding(f"Zarr v2 metadata file {posixpath.basename(key)}", node)
    for path, meta in sorted(m.nodes.items()):
        fmt = meta.get("zarr_format")
        if fmt != 3:
            yield ZARR_V3.finding(f"zarr_format is {fmt!r}, expected 3", path)


def check_consolidated_present(ctx: GeoZarrContext) -> Iterator[Finding]:
    if not ctx.model.has_consolidated:
        yield CONSOLIDATED_PRESENT.finding(
            "root zarr.json has no consolidated_metadata: readers need one request per node", "/")


def check_consolidated_stale(ctx: GeoZarrContext) -> Iterator[Finding]:
    """An entry without a node makes readers open groups/arrays that are gone."""
    m = ctx.model
    for group, entries in sorted(m.consolidated.items()):
        for path in sorted(entries):
            if path not in m.real_nodes:
                yield CONSOLIDATED_STALE.finding(
                    f"consolidated metadata of {group} lists {path}, which has no zarr.json in the store", path)


def check_consolidated_missing(ctx: GeoZarrContext) -> Iterator[Finding]:
    """A node without an entry is invisible to readers that trust consolidated metadata."""
    m = ctx.model
    if not m.has_consolidated:
        return
    listed = set(m.consolidated["/"]) | {"/"}
    for path in sorted(m.real_nodes - listed):
        yield CONSOLIDATED_MISSING.finding(
            "node exists in the store but is missing from the root consolidated metadata", path)


def _comparable(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k != "consolidated_metadata"}


def check_consolidated_mismatch(ctx: GeoZarrContext) -> Iterator[Finding]:
    """Bounded: reads the zarr.json of multiscale groups and their level groups only
    (a few requests), and compares nested consolidated blocks with the root's."""
    m = ctx.model
    if not m.has_consolidated:
        return
    root_entries = m.consolidated["/"]
    targets: list[str] = []
    for g in m.multiscale_groups():
        targets.append(g)
        ms = m.attrs(g).get("multiscales") or {}
        for entry in ms.get("layout") or []:
            if isinstance(entry, dict) and isinstance(entry.get("asset"), str):
                p = g.rstrip("/") + "/" + entry["asset"]
                if p in m.real_nodes:
                    targets.append(p)
    ctx.access.set_phase("metadata")
    got = ctx.access.read_many([key_of(p) for p in targets])
    for p in targets:
        data = got.get(key_of(p))
        if data is None:
            continue
        try:
            doc = bounded_json.loads(data)  # parsed once: a group's zarr.json holds its nested map
        except ValueError as exc:
            yield CONSOLIDATED_MISMATCH.finding(f"zarr.json is not JSON: {exc}", p)
            continue
        real = _comparable(doc)
        nested = consolidated_entries(p, doc) if p != "/" else None
        if nested:
            prefix = p.rstrip("/") + "/"
            for q in sorted(set(nested) | {k for k in root_entries if k.startswith(prefix)}):
                if q not in nested:
                    yield CONSOLIDATED_MISMATCH.finding(f"missing from the nested consolidated metadata of {p}", q)
                elif q not in root_entries or _comparable(root_entries[q]) != _comparable(nested[q]):
                    yield CONSOLIDATED_MISMATCH.finding(
                        f"nested consolidated metadata of {p} disagrees with the root's about this node", q)
        declared = root_entries.get(p) if p != "/" else _comparable(m.root or {})
        if declared is not None and _comparable(declared) != real:
            diff = sorted(k for k in set(real) | set(declared) if real.get(k) != declared.get(k))
            attrs = sorted(k for k in set(real.get("attributes", {})) | set(declared.get("attributes", {}))
                           if real.get("attributes", {}).get(k) != declared.get("attributes", {}).get(k))
            yield CONSOLIDATED_MISMATCH.finding(
                f"consolidated entry differs from the node's zarr.json in {', '.join(diff)}"
                + (f" ({', '.join(attrs)})" if attrs else ""), p)


CHECKS = (
    Check(ZARR_V3, check_zarr_v3),
    Check(CONSOLIDATED_PRESENT, check_consolidated_present),
    Check(CONSOLIDATED_STALE, check_consolidated_stale),
    Check(CONSOLIDATED_MISSING, check_consolidated_missing),
    Check(CONSOLIDATED_MISMATCH, check_consolidated_mismatch),
)
