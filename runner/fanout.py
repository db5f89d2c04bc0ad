"""Conversion in parts: each part writes a disjoint set of groups of one output store, then
`finalize` writes what spans them (the store-root footprint and the consolidated metadata).

Measured (docs/architecture.md, "Fan-out"): eopf-geozarr 0.12's Sentinel-1 path converts each
polarisation group independently of the other (its GCP reprojection and multiscales are per
group), so a part per polarisation writes exactly what the single-process conversion writes
for that group. Its public entry point (`create_geozarr_dataset`) only takes both
polarisations at once, so a part calls the two steps it runs per group
(`setup_datatree_metadata_geozarr_spec_compliant`, `iterative_copy`) on a tree holding the
root and one polarisation, and `finalize` runs its closing steps (store-root metadata,
root consolidation) once every part is done. The Sentinel-2 optimised path cannot be split:
see `S2_NOT_SPLITTABLE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner import products
from runner.convert import S1Parameters
from runner.converter_import import import_converter

S2_NOT_SPLITTABLE = (
    "the Sentinel-2 optimised path (create_multiscale_from_datatree) writes every leaf group and "
    "derives r120m/r360m/r720m from the r60m it has just written, in one call: a tree without "
    "r60m fails (KeyError 'r60m'), and its writes are whole-group `to_zarr(mode='w')`, so two "
    "spatial tiles of one group overwrite each other instead of composing"
)


PART_MARKER_PREFIX = ".geozarr-part-"  # `<output>/.geozarr-part-<name>.json`: that part is written
WHOLE = "whole"  # the part name of a product converted in one pod


@dataclass(frozen=True)
class Part:
    """One pod's share of a conversion: the top groups it writes (none: the whole product)."""

    name: str
    groups: tuple[str, ...] = ()

    @property
    def whole(self) -> bool:
        return not self.groups

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "groups": list(self.groups)}

    @classmethod
    def from_json(cls, doc: Any) -> Part:
        """A part as `parts` printed it; ValueError naming what is wrong."""
        if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not doc["name"]:
            raise ValueError(f"not a part (expected {{\"name\": str, \"groups\": [str]}}): {doc!r}")
        groups = doc.get("groups", [])
        if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
            raise ValueError(f"part {doc['name']}: groups must be a list of group names: {groups!r}")
        if (doc["name"] == WHOLE) != (not groups):
            raise ValueError(f"part {doc['name']}: only the part {WHOLE!r} has no groups")
        return cls(doc["name"], tuple(groups))


@dataclass(frozen=True)
class Plan:
    product: str  # s1-grd | s2-l2a | the product:type lower-cased
    reason: str  # why the conversion is split this way
    parts: tuple[Part, ...]

    @property
    def split(self) -> bool:
        return not self.parts[0].whole


def product_family(product_type: str, s1: bool) -> str:
    """The key of per-product params (`fanout_parallelism`): s1-grd, s2-l2a, or the type."""
    if s1:
        return "s1-grd"
    if product_type.upper().startswith(("S02", "S2")) and "L2A" in product_type.upper():
        return "s2-l2a"
    return product_type.lower()


def bins(groups: list[str], width: int) -> list[list[str]]:
    """GROUPS dealt round-robin into at most WIDTH non-empty bins (one pod each)."""
    width = max(1, min(width, len(groups)))
    return [groups[i::width] for i in range(width)]


def plan_parts(root: Any, product_type: str, parallelism: dict[str, int]) -> Plan:
    """The parts of a conversion: one per S1 polarisation, dealt into at most
    `parallelism[product]` pods; one whole part for anything else (with the reason)."""
    s1 = products.is_sentinel1(product_type)
    product = product_family(product_type, s1)
    width = int(parallelism.get(product, 1))
    if not s1:
        why = S2_NOT_SPLITTABLE if product == "s2-l2a" else "only S1 GRD converts per group"
        return Plan(product, f"one part: {why}", (Part(WHOLE),))
    groups = sorted(name for name, _ in root.groups())
    dealt = bins(groups, width)
    names = ["+".join(g.rsplit("_", 1)[-1] for g in b).lower() for b in dealt]
    if len(set(names)) < len(names) or WHOLE in names:
        names = [f"part-{i}" for i in range(len(dealt))]
    parts = tuple(Part(n, tuple(b)) for n, b in zip(names, dealt))
    return Plan(product, f"{len(groups)} polarisation groups in {len(parts)} part(s) "
                f"(fanout_parallelism[{product}] = {width})", parts)


def polarisation_groups(source: str) -> list[str]:
    """The top groups of an S1 GRD product (one per polarisation), sorted."""
    import zarr

    from runner import storage

    root = zarr.open_group(storage.zarr_store(source, read_only=True), mode="r")
    return sorted(root.group_keys())


def convert_s1_polarisation(source: str, output: str, group: str, *, spatial_chunk: int = 4096,
                            s1: S1Parameters | None = None, enable_sharding: bool = False,
                            max_retries: int = 3) -> list[str]:
    """Write the polarisation `group` of the S1 GRD product `source` into `output`, as the
    single-process conversion would (GCP reprojection, multiscales, conditions, quality);
    returns the groups written. The store root is left to `finalize`."""
    import xarray as xr

    import_converter()
    from eopf_geozarr.conversion.geozarr import (
        iterative_copy,
        setup_datatree_metadata_geozarr_spec_compliant,
    )
    from zarr.codecs import BloscCodec

    from runner import storage

    dt = xr.open_datatree(source, engine="zarr", chunks="auto",
                          storage_options=storage.storage_options(source))
    try:
        if group not in dt.children:
            raise KeyError(f"{group}: not a top group of {source} ({', '.join(dt.children)})")
        part = xr.DataTree(children={group: dt[group].copy()})
        part.attrs = dict(dt.attrs)  # the S1 detection reads the root's stac_discovery
        s1 = s1 or S1Parameters()
        gcp = f"/{group}{s1.gcp_group}"
        prepared = setup_datatree_metadata_geozarr_spec_compliant(
            part, [f"/{group}{g}" for g in s1.groups], gcp)
        # the compressor create_geozarr_dataset gives iterative_copy
        compressor = BloscCodec(cname="zstd", clevel=3, shuffle="shuffle", blocksize=0)
        iterative_copy(part, prepared, output, compressor, spatial_chunk, s1.min_dimension,
                       max_retries, [f"/{group}{c}" for c in s1.crs_groups], gcp, enable_sharding)
        return sorted(prepared)
    finally:
        dt.close()


def finalize(output: str) -> dict[str, Any]:
    """What the converter writes last, once for the whole store: the store-root footprint
    (union of every group's bbox) and the root's consolidated metadata."""
    import_converter()
    import zarr
    from eopf_geozarr.conversion import fs_utils, utils
    from eopf_geozarr.conversion.geozarr import consolidate_metadata

    utils.write_store_root_geo_metadata(output)
    group = fs_utils.open_zarr_group(output, mode="r+")
    consolidate_metadata(group.store)
    root = zarr.open_group(group.store, mode="r")
    return {"output": output, "groups": sorted(root.group_keys()),
            "bbox": root.attrs.get("spatial:bbox")}
