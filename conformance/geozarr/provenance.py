"""The store against what its run asked for: `run.json` (written last by `geozarr-runner convert`)
records the requested groups and the product type; every one of those groups, and every native
resolution the product type must have (`runner.products`), is a group of the store."""

from __future__ import annotations

from collections.abc import Iterator

from conformance.findings import Finding, Rule, Severity
from conformance.geozarr.context import GeoZarrContext
from conformance.report import Check

REQUESTED = Rule("geozarr.requested-groups", Severity.ERROR,
                 "every group run.json says was requested, and every native resolution of its "
                 "product type, is a group of the store")


def check_requested_groups(ctx: GeoZarrContext) -> Iterator[Finding]:
    from runner.products import required_groups

    try:
        run = ctx.access.read_json("run.json")
    except (ValueError, RecursionError) as exc:
        yield REQUESTED.finding(f"run.json is not readable JSON: {str(exc)[:200]}", "/run.json")
        return
    if not isinstance(run, dict):
        return  # not a pipeline store (no run manifest): nothing was requested
    groups = run.get("groups") if isinstance(run.get("groups"), list) else []
    ptype = str(run.get("product_type") or "")
    wanted = [str(g) for g in groups] + [g for g in required_groups(ptype) if g not in groups]
    for group in wanted:
        path = "/" + group.strip("/")
        if not ctx.model.is_group(path):
            why = "requested in run.json" if group in groups else f"a native resolution of {ptype}"
            yield REQUESTED.finding(f"group {path} is missing from the store ({why})", path)


CHECKS = (Check(REQUESTED, check_requested_groups),)
