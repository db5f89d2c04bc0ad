"""GeoZarr rules by product type (conformance/geozarr/products.py): a store's product from its
run.json or its layout; the S1 rules run on S1 stores only and are reported skipped, with the
reason, on the others; a multiscales asset '.' is the multiscales group itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import zarr

from conformance.geozarr import products
from conformance.geozarr.check import check_store
from conformance.geozarr.context import GeoZarrContext
from conformance.geozarr.model import StoreModel, load_model
from conformance.geozarr.multiscales import check_layout
from conformance.geozarr.store import open_store

S1_RULES = {"geozarr.s1-polarisations", "geozarr.s1-gcp-geolocation", "geozarr.s1-multiscales"}


def _store(path: Path, groups: list[str], run: dict[str, Any] | None = None) -> Path:
    root = zarr.open_group(path, mode="w", zarr_format=3)
    for g in groups:
        root.require_group(g)
    zarr.consolidate_metadata(path)
    if run is not None:
        (path / "run.json").write_text(json.dumps(run))
    return path


def _ctx(path: Path) -> GeoZarrContext:
    access = open_store(str(path))
    return GeoZarrContext(access=access, model=load_model(access))


@pytest.mark.parametrize(("groups", "run", "product"), [
    (["S01SIWGRD_X_VV/measurements", "S01SIWGRD_X_VH/measurements"], None, "s1-grd"),
    (["measurements/reflectance/r10m"], None, "s2-msi"),
    (["measurements/reflectance/r10m"], {"product_type": "S01SIWGRH"}, "s1-grd"),  # run.json first
    (["a/b"], None, "other"),
])
def test_the_store_product(tmp_path: Path, groups: list[str], run: dict[str, Any] | None,
                           product: str) -> None:
    assert products.store_product(_ctx(_store(tmp_path / "s.zarr", groups, run))) == product


def test_s1_rules_are_skipped_with_the_reason_on_other_stores(tmp_path: Path) -> None:
    report = check_store(str(_store(tmp_path / "s2.zarr", ["measurements/reflectance/r10m"])),
                         sample=False, gdal=False)
    skipped = {r["id"]: r.get("skipped") for r in report.rules if r["id"] in S1_RULES}
    assert skipped == dict.fromkeys(S1_RULES, "not a rule for s2-msi stores")
    assert report.extra["product"] == "s2-msi"


def test_s1_rules_run_on_s1_stores(tmp_path: Path) -> None:
    store = _store(tmp_path / "S1A_IW_GRDH_1SDV_x.zarr", ["S01SIWGRD_X_VV/measurements"])
    report = check_store(str(store), sample=False, gdal=False)
    ran = {r["id"] for r in report.rules if "skipped" not in r}
    assert S1_RULES <= ran
    # one polarisation of a dual-polarisation (1SDV) product: the S1 rule says so
    assert any(f.rule == "geozarr.s1-polarisations" and "missing ['VH']" in f.message
               for f in report.findings)


def _layout_nodes(asset: str) -> StoreModel:
    """A multiscales group whose base level is ASSET (valid: '.', the group itself)."""
    g = "/S01SIWGRD_X_VV/measurements"
    layout = [{"asset": asset, "spatial:shape": [4, 4],
               "spatial:transform": [1.0, 0.0, 0.0, 0.0, -1.0, 4.0]}]
    nodes = {"/": {"node_type": "group"}, "/S01SIWGRD_X_VV": {"node_type": "group"},
             g: {"node_type": "group", "attributes": {"multiscales": {"layout": layout}}}}
    return StoreModel(access=None, root=nodes["/"], nodes=nodes,  # type: ignore[arg-type]
                      real_nodes=set(nodes))


@pytest.mark.parametrize(("asset", "found"), [
    (".", []),                                             # valid: the group itself
    ("r0", ["layout asset 'r0' does not exist in the store"]),  # invalid: no such group
])
def test_a_layout_asset_dot_is_the_group_itself(asset: str, found: list[str]) -> None:
    ctx = GeoZarrContext(access=None, model=_layout_nodes(asset))  # type: ignore[arg-type]
    assert [f.message for f in check_layout(ctx)] == found
