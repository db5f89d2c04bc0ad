"""Which product a store holds, and which rules apply to it.

The product comes from the store's run.json (`product_type`, written by `geozarr-runner
convert`) when there is one, else from its layout: top groups named after a polarisation
(`..._VV`) make a Sentinel-1 GRD store, `/measurements/reflectance` a Sentinel-2 MSI one.
Every rule applies to every product unless `ONLY_FOR` names the products it is for; a rule
that does not apply is reported as skipped with the product named, never silently dropped.
"""

from __future__ import annotations

from typing import Final

from conformance.geozarr import s1
from conformance.geozarr.context import GeoZarrContext

S1_GRD: Final = "s1-grd"
S2_MSI: Final = "s2-msi"
OTHER: Final = "other"

# rule id -> the products it applies to (rules not listed apply to every product)
ONLY_FOR: Final[dict[str, frozenset[str]]] = {
    s1.POLARISATIONS.id: frozenset({S1_GRD}),
    s1.MULTISCALES.id: frozenset({S1_GRD}),
    s1.GCP_GEOLOCATION.id: frozenset({S1_GRD}),
}


def run_manifest(ctx: GeoZarrContext) -> dict | None:
    """The store's run.json (read once per check run); None when absent or not an object,
    ValueError when it is not JSON (geozarr.requested-groups reports that)."""
    if "run.json" not in ctx.cache:
        phase = ctx.access.phase
        ctx.access.set_phase("manifest")  # its own kind in the report's io: not store metadata
        try:
            doc = ctx.access.read_json("run.json")
        except (ValueError, RecursionError) as exc:
            ctx.cache["run.json"] = exc
        else:
            ctx.cache["run.json"] = doc if isinstance(doc, dict) else None
        finally:
            ctx.access.set_phase(phase)
    value = ctx.cache["run.json"]
    if isinstance(value, Exception):
        raise ValueError(str(value)[:200])  # noqa: TRY004 - callers catch ValueError (not JSON)
    return value


def product_of_type(product_type: str) -> str:
    """'S01SIWGRH' -> s1-grd, 'S02MSIL2A' -> s2-msi, anything else -> other."""
    if product_type.startswith("S01"):
        return S1_GRD
    if product_type.startswith("S02"):
        return S2_MSI
    return OTHER


def store_product(ctx: GeoZarrContext) -> str:
    """The product the store holds: run.json's product type, else its layout."""
    try:
        run = run_manifest(ctx)
    except ValueError:
        run = None
    if run and run.get("product_type"):
        return product_of_type(str(run["product_type"]))
    if s1.polarisation_groups(ctx):
        return S1_GRD
    return S2_MSI if ctx.model.is_group("/measurements/reflectance") else OTHER


def applies(rule_id: str, product: str) -> bool:
    products = ONLY_FOR.get(rule_id)
    return products is None or product in products
