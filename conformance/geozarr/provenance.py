"""The store against what its run asked for: `run.json` (written last by `geozarr-runner convert`)
records the requested groups and the product type; every one of those groups, and every native
resolution the product type must have (`runner.products`), is a group of the store. For a
Sentinel-1 GRD run the groups are paths inside each polarisation group (what the converter
prefixes them with), and each polarisation group must also hold its measurements and GCPs."""

from __future__ import annotations

from collections.abc import Iterator

from conformance.findings import Finding, Rule, Severity
from conformance.geozarr import products, s1
from conformance.geozarr.context import GeoZarrContext
from conformance.geozarr.model import join
from conformance.report import Check

REQUESTED = Rule("geozarr.requested-groups", Severity.ERROR,
                 "every group run.json says was requested, and every native resolution of its "
                 "product type, is a group of the store")


def check_requested_groups(ctx: GeoZarrContext) -> Iterator[Finding]:
    from runner.products import S1_POLARISATION_GROUPS, required_groups

    try:
        run = products.run_manifest(ctx)
    except ValueError as exc:
        yield REQUESTED.finding(f"run.json is not readable JSON: {exc}", "/run.json")
        return
    if run is None:
        return  # not a pipeline store (no run manifest): nothing was requested
    groups = [str(g) for g in run.get("groups")] if isinstance(run.get("groups"), list) else []
    ptype = str(run.get("product_type") or "")
    if products.product_of_type(ptype) == products.S1_GRD:
        native = [g for g in S1_POLARISATION_GROUPS if g not in groups]
        parents = sorted(s1.polarisation_groups(ctx).values())  # none: geozarr.s1-polarisations
        why_native = "each polarisation group's measurements and GCPs"
    else:
        native = [g for g in required_groups(ptype) if g not in groups]
        parents = ["/"]
        why_native = f"a native resolution of {ptype}"
    for parent in parents:
        for group in groups + native:
            path = join(parent, group.strip("/"))
            if not ctx.model.is_group(path):
                why = "requested in run.json" if group in groups else why_native
                yield REQUESTED.finding(f"group {path} is missing from the store ({why})", path)


CHECKS = (Check(REQUESTED, check_requested_groups),)
