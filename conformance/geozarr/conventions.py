"""zarr_conventions: every convention a node uses is declared on that node."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from conformance.findings import Finding, Rule, Severity
from conformance.geozarr.context import GeoZarrContext
from conformance.report import Check

# The registered conventions this pipeline uses: uuid → canonical name.
KNOWN: dict[str, str] = {
    "689b58e2-cf7b-45e0-9fff-9cfc0883d6b4": "spatial",
    "f17cb550-5864-4468-aeb7-f3180cfb622f": "proj",
    "d35379db-88df-4056-af3a-620245f8e347": "multiscales",
}
ALIASES = {"spatial": "spatial", "spatial:": "spatial", "proj": "proj", "proj:": "proj", "geo-proj": "proj",
           "multiscales": "multiscales"}
# Attribute keys each convention defines (legacy per-array proj:epsg/shape/transform/bbox are not geo-proj keys).
KEYS: dict[str, tuple[str, ...]] = {
    "spatial": ("spatial:dimensions", "spatial:bbox", "spatial:transform", "spatial:shape", "spatial:registration"),
    "proj": ("proj:code", "proj:wkt2", "proj:projjson"),
    "multiscales": ("multiscales",),
}

DECLARED = Rule("geozarr.conventions-declared", Severity.ERROR,
                "a node using spatial:*, proj:code/wkt2/projjson or multiscales declares that convention "
                "in its zarr_conventions")
WELLFORMED = Rule("geozarr.conventions-wellformed", Severity.ERROR,
                  "zarr_conventions is a list of objects identifying each convention (uuid/schema_url/spec_url), "
                  "with the registered uuid for known names")


def declared(attrs: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    conv = attrs.get("zarr_conventions")
    if not isinstance(conv, list):
        return out
    for c in conv:
        if not isinstance(c, dict):
            continue
        if c.get("uuid") in KNOWN:
            out.add(KNOWN[c["uuid"]])
        elif isinstance(c.get("name"), str) and c["name"] in ALIASES:
            out.add(ALIASES[c["name"]])
    return out


def check_declared(ctx: GeoZarrContext) -> Iterator[Finding]:
    """Readers decide what `spatial:*`/`proj:*`/`multiscales` mean from the declaration:
    an undeclared use is ambiguous, so error."""
    m = ctx.model
    for path in sorted(m.nodes):
        attrs = m.attrs(path)
        have = declared(attrs)
        for conv, keys in KEYS.items():
            used = [k for k in keys if k in attrs]
            if used and conv not in have:
                yield DECLARED.finding(f"uses {', '.join(used)} without declaring the {conv} convention", path)


def check_wellformed(ctx: GeoZarrContext) -> Iterator[Finding]:
    m = ctx.model
    for path in sorted(m.nodes):
        conv = m.attrs(path).get("zarr_conventions")
        if conv is None:
            continue
        if not isinstance(conv, list):
            yield WELLFORMED.finding(f"zarr_conventions must be a list, got {type(conv).__name__}", path)
            continue
        for i, c in enumerate(conv):
            where = f"{path}#zarr_conventions[{i}]"
            if not isinstance(c, dict):
                yield WELLFORMED.finding("entry is not an object", where)
                continue
            if not any(isinstance(c.get(k), str) and c.get(k) for k in ("uuid", "schema_url", "spec_url")):
                yield WELLFORMED.finding("entry has none of uuid, schema_url, spec_url", where)
            name = ALIASES.get(c.get("name", ""))
            uuid = c.get("uuid")
            if name and uuid is not None and KNOWN.get(uuid) != name:
                yield WELLFORMED.finding(f"convention {c.get('name')!r} has uuid {uuid!r}, not its registered uuid",
                                         where)


CHECKS = (
    Check(DECLARED, check_declared),
    Check(WELLFORMED, check_wellformed),
)
