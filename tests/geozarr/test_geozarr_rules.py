"""Each GeoZarr rule against the real converter's output: clean output passes,
and each planted defect is caught by its rule (and only its rule where the
defect has one symptom) at the node path it is in."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance.findings import Severity
from conformance.geozarr.check import check_store
from tests.geozarr.stores import (
    REFLECTANCE,
    copy_store,
    drop_entries,
    edit_node,
    remove_chunks,
    remove_node,
    rewrite_data,
)

pytestmark = pytest.mark.slow  # the session fixture runs a real conversion

R = REFLECTANCE


def _attrs(fn: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda doc: fn(doc.setdefault("attributes", {}))


def _missing_level(s: Path) -> None:
    remove_node(s, f"{R}/r720m", consolidated=True)


def _stale_entry(s: Path) -> None:
    remove_node(s, f"{R}/r20m/b05", consolidated=False)


def _missing_entry(s: Path) -> None:
    drop_entries(s, f"{R}/r10m/b03")


def _mismatch_entry(s: Path) -> None:
    edit_node(s, f"{R}/r10m", _attrs(lambda a: a.update(title="changed after consolidation")), consolidated=False)


def _wrong_crs(s: Path) -> None:
    edit_node(s, f"{R}/r10m", _attrs(lambda a: a.update({"proj:code": "EPSG:4326"})))


def _doubled_transform(s: Path) -> None:
    def double(a: dict[str, Any]) -> None:
        t = a["spatial:transform"]
        a["spatial:transform"] = [t[0] * 2, t[1], t[2], t[3], t[4] * 2, t[5]]
    edit_node(s, f"{R}/r20m", _attrs(double))


def _layout_transform(s: Path) -> None:
    def edit(a: dict[str, Any]) -> None:
        entry = next(e for e in a["multiscales"]["layout"] if e["asset"] == "r120m")
        entry["spatial:transform"][0] *= 2
    edit_node(s, R, _attrs(edit))


def _scale_not_pixel_ratio(s: Path) -> None:
    # what eopf-geozarr 0.12 writes on a full tile: r720m scale 305/152 while spatial:transform is 2x
    def edit(a: dict[str, Any]) -> None:
        next(e for e in a["multiscales"]["layout"] if e["asset"] == "r720m")["transform"]["scale"] = [305 / 152] * 2
    edit_node(s, R, _attrs(edit))


def _no_consolidated(s: Path) -> None:
    for node in ("/", R):  # the root's map and the nested one of the multiscales group
        edit_node(s, node, lambda d: d.pop("consolidated_metadata", None), consolidated=False)


def _unregistered_uuid(s: Path) -> None:
    def edit(a: dict[str, Any]) -> None:
        next(c for c in a["zarr_conventions"] if c["name"] == "spatial")["uuid"] = "00000000-0000-0000-0000-000000000000"
    edit_node(s, f"{R}/r20m", _attrs(edit))


def _broken_chain(s: Path) -> None:
    def edit(a: dict[str, Any]) -> None:
        next(e for e in a["multiscales"]["layout"] if e["asset"] == "r360m")["derived_from"] = "r999m"
    edit_node(s, R, _attrs(edit))


def _r10m_b08(s: Path) -> np.ndarray:
    import zarr

    return zarr.open_array(s / R.strip("/") / "r10m" / "b08", mode="r")[...].astype(np.float64)


def _blocks(v: np.ndarray, f: int) -> np.ndarray:
    h, w = v.shape[0] // f, v.shape[1] // f
    return v[: h * f, : w * f].reshape(h, f, w, f)


def _no_resampling(s: Path) -> None:
    edit_node(s, R, _attrs(lambda a: a["multiscales"].pop("resampling_method")))


def _undeclared_convention(s: Path) -> None:
    edit_node(s, f"{R}/r60m", _attrs(lambda a: a.update(
        zarr_conventions=[c for c in a["zarr_conventions"] if c["name"] != "spatial"])))


def _corrupted_level(s: Path) -> None:
    for band in (s / R.strip("/") / "r360m").iterdir():
        if band.is_dir() and band.name.startswith("b"):
            rewrite_data(s, f"{R}/r360m/{band.name}", lambda v: v * 1.5)


def _all_fill(s: Path) -> None:
    remove_chunks(s, f"{R}/r10m/b03")


def _no_dimension_names(s: Path) -> None:
    edit_node(s, f"{R}/r10m/b04", lambda d: d.update(dimension_names=None))


def _fill_mismatch(s: Path) -> None:
    edit_node(s, f"{R}/r10m/b04", _attrs(lambda a: a.update(_FillValue=0.0)))


def _float_scale(s: Path) -> None:
    edit_node(s, f"{R}/r20m/b05", _attrs(lambda a: a.update(scale_factor=0.0001, add_offset=-0.1)))


def _huge_chunks(s: Path) -> None:
    edit_node(s, f"{R}/r60m/b05", lambda d: d["chunk_grid"]["configuration"].update(chunk_shape=[20000, 20000]))


def _bad_codec(s: Path) -> None:
    edit_node(s, f"{R}/r20m/b06", lambda d: d["codecs"].append({"name": "no-such-codec", "configuration": {}}))


def _v2_file(s: Path) -> None:
    (s / "quality" / ".zattrs").write_text("{}")


def _gdal_wrong_crs(s: Path) -> None:
    # Without grid_mapping, GDAL takes the CRS from the array's legacy proj:epsg; the group
    # still declares (and the grid mapping still holds) EPSG:32632.
    def edit(a: dict[str, Any]) -> None:
        a.pop("grid_mapping")
        a["proj:epsg"] = 4326
    edit_node(s, f"{R}/r20m/b01", _attrs(edit))


# (defect, planting, the set of error rules expected, a node path that must be named)
DEFECTS: list[tuple[str, Callable[[Path], None], set[str], str]] = [
    ("missing level", _missing_level, {"geozarr.multiscales-layout"}, f"{R}/r720m"),
    ("stale consolidated entry", _stale_entry, {"geozarr.consolidated-stale"}, f"{R}/r20m/b05"),
    ("missing consolidated entry", _missing_entry, {"geozarr.consolidated-missing"}, f"{R}/r10m/b03"),
    ("consolidated entry differs", _mismatch_entry, {"geozarr.consolidated-mismatch"}, f"{R}/r10m"),
    ("r10m proj:code EPSG:4326", _wrong_crs, {"geozarr.proj-crs"}, f"{R}/r10m"),
    # one defect, several true symptoms: bbox, coordinates, layout and GDAL all disagree with it
    ("r20m transform doubled", _doubled_transform,
     {"geozarr.spatial-consistent", "geozarr.spatial-coords", "geozarr.multiscales-geometry",
      "geozarr.gdal-interop"}, f"{R}/r20m"),
    ("layout transform wrong", _layout_transform, {"geozarr.multiscales-geometry"}, f"{R}/r120m"),
    ("r720m scale is the shape ratio, not 2", _scale_not_pixel_ratio, {"geozarr.multiscales-geometry"},
     f"{R}/r720m"),
    ("no consolidated metadata", _no_consolidated, {"geozarr.consolidated-present"}, "/"),
    ("convention with an unregistered uuid", _unregistered_uuid, {"geozarr.conventions-wellformed"},
     f"{R}/r20m"),
    ("derived_from names no level", _broken_chain, {"geozarr.multiscales-derivation"}, f"{R}/r360m"),
    ("no resampling method", _no_resampling, {"geozarr.multiscales-resampling"}, f"{R}/r120m"),
    ("spatial convention undeclared", _undeclared_convention, {"geozarr.conventions-declared"}, f"{R}/r60m"),
    # r720m is derived from r360m: its (correct) average no longer matches the corrupted parent either
    ("corrupted coarse level", _corrupted_level, {"geozarr.data-resampling"}, f"{R}/r360m/b01"),
    ("band without data", _all_fill, {"geozarr.data-not-all-fill"}, f"{R}/r10m/b03"),
    ("no dimension names", _no_dimension_names, {"geozarr.array-dimensions"}, f"{R}/r10m/b04"),
    ("_FillValue differs from fill_value", _fill_mismatch, {"geozarr.array-fill"}, f"{R}/r10m/b04"),
    ("scale_factor on float data", _float_scale, {"geozarr.array-scale-offset"}, f"{R}/r20m/b05"),
    ("1.5 GiB chunks", _huge_chunks, {"geozarr.array-chunks"}, f"{R}/r60m/b05"),
    ("unknown codec", _bad_codec, {"geozarr.array-codecs"}, f"{R}/r20m/b06"),
    ("zarr v2 file", _v2_file, {"geozarr.zarr-v3"}, "/quality"),
    ("GDAL sees another CRS", _gdal_wrong_crs, {"geozarr.gdal-interop"}, f"{R}/r20m/b01"),
]


# Real defects of eopf-geozarr 0.12's output on the synthetic sample, found by these rules:
# b08, which the converter adds to r20m and r60m by coarsening r10m, holds 0.0 (not NaN) where
# every r10m pixel is no-data, so no-data reads as zero reflectance. (Its other defect, the
# shape ratio as transform.scale, only shows at sizes with odd levels: not at 144 px.)
# And its grid mapping `spatial_ref` loads in xarray as a data variable: rioxarray finds no CRS.
KNOWN_CONVERTER_DEFECTS = {("geozarr.data-resampling", f"{R}/r20m/b08"),
                           ("geozarr.data-resampling", f"{R}/r60m/b08"),
                           *{("geozarr.reader-georef", f"{R}/{lv}{tail}")
                             for lv in ("r10m", "r20m", "r60m", "r120m", "r360m", "r720m")
                             for tail in ("", "/spatial_ref")}}


def _errors(report: Any) -> list[Any]:
    return [f for f in report.findings if f.severity is Severity.ERROR]


def _data_errors(report: Any) -> list[Any]:
    """Errors besides the raw output's known reader defect (tests that rewrite band data)."""
    return [f for f in _errors(report) if f.rule != "geozarr.reader-georef"]


@pytest.fixture(scope="module")
def baseline(converted: Path) -> set[tuple[str, str]]:
    return {(f.rule, f.path) for f in _errors(check_store(str(converted)))}


def test_converted_sample_has_only_the_known_converter_defects(converted: Path) -> None:
    report = check_store(str(converted))
    assert report.error == ""
    assert {(f.rule, f.path) for f in _errors(report)} == KNOWN_CONVERTER_DEFECTS, \
        [f.to_dict() for f in _errors(report)]
    nodata = next(f for f in _errors(report) if f.path == f"{R}/r60m/b08")
    assert "have values where r10m is all no-data (e.g. 0.0)" in nodata.message
    ran = {r["id"] for r in report.rules if "skipped" not in r}
    assert {rule for _, _, rules, _ in DEFECTS for rule in rules} <= ran
    assert report.io["requests"] > 0 and report.io["bytes"] > 0


def test_pipeline_output_has_no_error_findings(pipeline: Path) -> None:
    """`runner convert` repairs the converter's defects (b08 as the NaN-aware block mean,
    transform.scale from the pixel sizes, proj:* of derived levels): nothing is left."""
    report = check_store(str(pipeline))
    assert report.error == ""
    assert _errors(report) == [], [f.to_dict() for f in _errors(report)]
    assert [f for f in report.findings if f.rule == "geozarr.legacy-proj-attrs"] == []
    ran = {r["id"] for r in report.rules if "skipped" not in r}
    assert {"geozarr.data-resampling", "geozarr.multiscales-geometry", "geozarr.gdal-interop"} <= ran


@pytest.mark.parametrize(("name", "plant", "rules", "node"), DEFECTS, ids=[d[0] for d in DEFECTS])
def test_planted_defect_is_caught_by_its_rule(converted: Path, baseline: set[tuple[str, str]], tmp_path: Path,
                                              name: str, plant: Callable[[Path], None], rules: set[str],
                                              node: str) -> None:
    store = copy_store(converted, tmp_path / "store.zarr")
    plant(store)
    report = check_store(str(store))
    errors = [f for f in _errors(report) if (f.rule, f.path) not in baseline]
    assert {f.rule for f in errors} == rules, [f.to_dict() for f in errors]
    assert any(f.path == node or f.path.startswith(node + "#") for f in errors), [f.path for f in errors]
    assert report.exit_code == 1


def test_b08_as_the_runner_repairs_it_passes(converted: Path, tmp_path: Path) -> None:
    """The runner's repair rewrites derived b08 as the NaN-aware block mean of r10m (an
    all-no-data block gives NaN): exactly what geozarr.data-resampling expects."""
    from conformance.geozarr.sampling import block_reduce

    store = copy_store(converted, tmp_path / "store.zarr")
    src = _r10m_b08(store)
    for level, f in (("r20m", 2), ("r60m", 6)):
        rewrite_data(store, f"{R}/{level}/b08", lambda v, f=f: block_reduce(src, f, f, "average").astype(v.dtype))
    report = check_store(str(store))
    assert _data_errors(report) == [], [f.to_dict() for f in _data_errors(report)]


def _nan_propagating_mean(blocks: np.ndarray) -> np.ndarray:
    return blocks.mean(axis=(1, 3))


def _zero_filled_mean(blocks: np.ndarray) -> np.ndarray:
    out = np.where(np.isfinite(blocks), blocks, 0.0).mean(axis=(1, 3))
    out[~np.isfinite(blocks).any(axis=(1, 3))] = np.nan
    return out


@pytest.mark.parametrize(("mean", "symptom"), [
    (_nan_propagating_mean, r" 0 pixels differ .* and [1-9]\d* are no-data where the block has valid pixels"),
    (_zero_filled_mean, r" ([1-9]\d*) pixels differ .*\(\1 of them in partly no-data blocks\) and 0 are no-data"),
], ids=["NaN-propagating mean", "no-data counted as 0"])
def test_b08_wrong_on_partly_no_data_blocks(converted: Path, tmp_path: Path,
                                            mean: Callable[[np.ndarray], np.ndarray], symptom: str) -> None:
    """Partly no-data blocks are compared on their valid pixels: a level computed from its
    parent must hold the mean of those pixels there (not no-data, not a mean with zeros)."""
    from conformance.geozarr.sampling import block_reduce

    store = copy_store(converted, tmp_path / "store.zarr")
    src = _r10m_b08(store)
    rewrite_data(store, f"{R}/r20m/b08", lambda v: block_reduce(src, 2, 2, "average").astype(v.dtype))
    rewrite_data(store, f"{R}/r60m/b08", lambda v: mean(_blocks(src, 6)).astype(v.dtype))
    errors = _data_errors(check_store(str(store)))
    assert [(f.rule, f.path) for f in errors] == [("geozarr.data-resampling", f"{R}/r60m/b08")], \
        [f.to_dict() for f in errors]
    assert re.search(symptom, errors[0].message), errors[0].message


def test_derived_levels_legacy_proj_attrs_warn_on_raw_output_and_not_after_repair(
        converted: Path, tmp_path: Path) -> None:
    raw = check_store(str(converted), sample=False, gdal=False)
    legacy = [f for f in raw.findings if f.rule == "geozarr.legacy-proj-attrs"]
    assert legacy and all(f.severity is Severity.WARNING for f in legacy)
    assert any(f.path == f"{R}/r120m/b02" and "proj:shape" in f.message for f in legacy)

    from runner.repair import repair_store

    store = copy_store(converted, tmp_path / "repaired.zarr")
    repair_store(str(store))
    repaired = check_store(str(store), sample=False, gdal=False)
    assert [f for f in repaired.findings if f.rule == "geozarr.legacy-proj-attrs"] == []
    assert repaired.passed  # metadata-only: the b08 no-data defect is in the data


def test_misaligned_chunks_are_a_warning(pipeline: Path, tmp_path: Path) -> None:
    store = copy_store(pipeline, tmp_path / "store.zarr")
    edit_node(store, f"{R}/r60m/b05", lambda d: d["chunk_grid"]["configuration"].update(chunk_shape=[7, 7]))
    edit_node(store, f"{R}/r360m/b01", lambda d: d["chunk_grid"]["configuration"].update(chunk_shape=[3, 3]))
    report = check_store(str(store), sample=False, gdal=False)
    found = {(f.rule, f.path, f.severity) for f in report.findings if f.rule == "geozarr.chunk-alignment"}
    assert found == {("geozarr.chunk-alignment", f"{R}/r60m", Severity.WARNING),
                     ("geozarr.chunk-alignment", f"{R}/r360m", Severity.WARNING)}
    assert report.passed


def test_undecodable_data_is_a_finding_not_a_crash(converted: Path, tmp_path: Path) -> None:
    store = copy_store(converted, tmp_path / "store.zarr")
    chunk = store / "measurements/reflectance/r360m/b01/c/0/0"
    chunk.write_bytes(b"not blosc at all")
    report = check_store(str(store))
    assert any(f.rule == "geozarr.data-resampling" and f.path == f"{R}/r360m/b01" for f in _errors(report))


def test_sampling_is_bounded(converted: Path) -> None:
    report = check_store(str(converted), bands_per_level=1)
    sample_reads = report.io["by_kind"].get("sample", 0)
    # 5 derived levels × 1 band × (≤4 child + ≤4 parent chunks) + 2 coordinate arrays per level
    assert 0 < sample_reads <= 5 * 8 + 2 * 6, report.io


def test_metadata_reads_are_constant(converted: Path) -> None:
    """Metadata comes from consolidated metadata: the only metadata reads are the root
    and the multiscale group with its levels (for the consistency comparison)."""
    report = check_store(str(converted), sample=False, gdal=False)
    assert report.io["by_kind"].get("metadata", 0) <= 1 + 1 + 6
    assert json.dumps(report.to_dict())
    _ = np


def test_store_without_a_requested_group_fails(pipeline: Path, tmp_path: Path) -> None:
    """Issue 9, case 3: the check compares the store's groups with what run.json says was
    requested (and the product type's native resolutions): a store without r20m fails."""
    store = copy_store(pipeline, tmp_path / "store.zarr")
    assert [f for f in check_store(str(store), sample=False, gdal=False).findings
            if f.rule == "geozarr.requested-groups"] == []
    remove_node(store, f"{R}/r20m", consolidated=True)
    edit_node(store, R, lambda d: d["attributes"]["multiscales"].update(layout=[
        e for e in d["attributes"]["multiscales"]["layout"] if e["asset"] != "r20m"]))
    report = check_store(str(store), sample=False, gdal=False)
    found = [f for f in _errors(report) if f.rule == "geozarr.requested-groups"]
    assert [f.path for f in found] == [f"{R}/r20m"] and "native resolution" in found[0].message
    run = json.loads((store / "run.json").read_text())
    run["groups"] = ["/quality/l2a_quicklook/r99m"]
    (store / "run.json").write_text(json.dumps(run))
    report = check_store(str(store), sample=False, gdal=False)
    paths = {f.path for f in _errors(report) if f.rule == "geozarr.requested-groups"}
    assert paths == {f"{R}/r20m", "/quality/l2a_quicklook/r99m"}
