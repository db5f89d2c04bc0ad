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

from typing import Any

from runner.converter_import import import_converter

S1_MEASUREMENTS = "/measurements"
S1_GCP_GROUP = "/conditions/gcp"
S2_NOT_SPLITTABLE = (
    "the Sentinel-2 optimised path (create_multiscale_from_datatree) writes every leaf group and "
    "derives r120m/r360m/r720m from the r60m it has just written, in one call: a tree without "
    "r60m fails (KeyError 'r60m'), and its writes are whole-group `to_zarr(mode='w')`, so two "
    "spatial tiles of one group overwrite each other instead of composing"
)


def polarisation_groups(source: str) -> list[str]:
    """The top groups of an S1 GRD product (one per polarisation), sorted."""
    import zarr

    from runner import storage

    root = zarr.open_group(storage.zarr_store(source, read_only=True), mode="r")
    return sorted(root.group_keys())


def convert_s1_polarisation(source: str, output: str, group: str, *, spatial_chunk: int = 4096,
                            min_dimension: int = 256, max_retries: int = 3) -> list[str]:
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
        gcp = f"/{group}{S1_GCP_GROUP}"
        prepared = setup_datatree_metadata_geozarr_spec_compliant(
            part, [f"/{group}{S1_MEASUREMENTS}"], gcp)
        # the compressor create_geozarr_dataset gives iterative_copy
        compressor = BloscCodec(cname="zstd", clevel=3, shuffle="shuffle", blocksize=0)
        iterative_copy(part, prepared, output, compressor, spatial_chunk, min_dimension,
                       max_retries, [gcp], gcp, False)
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
