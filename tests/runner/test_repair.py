"""The runner's repairs of eopf-geozarr 0.12 output, on tiny planted stores (fast) and on
real conversions checked by the real conformance checker (slow)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

from runner import derived_bands
from runner.repair import apply, plan, repair_store
from tests.runner.runnerkit import REPO, Converted, run_runner

NAN = np.nan

# --- NaN-aware block average ------------------------------------------------------------


@pytest.mark.parametrize(
    ("parent", "factor", "expected"),
    [
        # whole valid block, partial block (no-data skipped), all-no-data block -> NaN
        ([[1, 3, NAN, NAN], [5, 7, NAN, 4]], (2, 2), [[4.0, 4.0]]),
        ([[NAN, NAN], [NAN, NAN]], (2, 2), [[NAN]]),
        ([[2, 4, 6, 8, 10, 12]], (1, 3), [[4.0, 10.0]]),
        # a numeric fill value is no-data too
        ([[0, 2], [0, 4]], (2, 2), [[3.0]]),
    ],
)
def test_block_average(parent: list, factor: tuple[int, int], expected: list) -> None:
    got = derived_bands.block_average(np.array(parent, dtype=np.float32), factor, fill=0)
    np.testing.assert_array_equal(got, np.array(expected))


@pytest.mark.parametrize(
    ("child", "parent", "expected"),
    [
        ([120.0, 0, 699960.0, 0, -120.0, 4700040.0], [60.0, 0, 699960.0, 0, -60.0, 4700040.0], ((2, 2), (0, 0))),
        ([60.0, 0, 700020.0, 0, -60.0, 4700040.0], [10.0, 0, 699960.0, 0, -10.0, 4700040.0], ((6, 6), (0, 6))),
        ([30.0, 0, 699960.0, 0, -30.0, 4700040.0], [20.0, 0, 699960.0, 0, -20.0, 4700040.0], None),  # 1.5x
        ([20.0, 0, 699965.0, 0, -20.0, 4700040.0], [10.0, 0, 699960.0, 0, -10.0, 4700040.0], None),  # half pixel
    ],
)
def test_grid_relation(child: list, parent: list, expected: object) -> None:
    assert derived_bands.grid_relation(child, parent) == expected


# --- a tiny planted store: r10m -> r20m, r60m (injected b08) -> r120m (derived) ---------

_LEVELS = {"r10m": 10.0, "r20m": 20.0, "r60m": 60.0, "r120m": 120.0}
_EDGE = 48  # r10m pixels


def _transform(res: float) -> list[float]:
    return [res, 0.0, 699960.0, 0.0, -res, 4700040.0]


def _r10m() -> np.ndarray:
    rng = np.random.default_rng(5)
    data = (0.2 + 0.1 * rng.random((_EDGE, _EDGE))).astype(np.float32)
    data[:13, :13] = np.nan  # no-data corner: whole and partial blocks at every level
    data[30:, 40:] = np.nan
    return data


def _converter_like(parent: np.ndarray, f: int) -> np.ndarray:
    """What eopf-geozarr 0.12 writes for an injected b08: no-data counted as 0.0."""
    return derived_bands.block_average(np.nan_to_num(parent, nan=0.0), (f, f)).astype(np.float32)


def _plant(root: Path, *, layout_scale_120: float = 2.0) -> None:
    g = zarr.open_group(root, mode="w", zarr_format=3)
    refl = g.create_group("measurements").create_group("reflectance")
    layout = [{"asset": "r10m", "spatial:transform": _transform(10.0)}]
    for level, parent, scale in (("r20m", "r10m", 2.0), ("r60m", "r10m", 6.0), ("r120m", "r60m", layout_scale_120)):
        layout.append({"asset": level, "derived_from": parent,
                       "transform": {"scale": [scale, scale], "translation": [0.0, 0.0]},
                       "spatial:transform": _transform(_LEVELS[level])})
    refl.attrs["multiscales"] = {"layout": layout, "resampling_method": "average"}
    r10m = _r10m()
    r60m_bad = _converter_like(r10m, 6)
    data = {"r10m": r10m, "r20m": _converter_like(r10m, 2), "r60m": r60m_bad,
            "r120m": _converter_like(r60m_bad, 2)}
    # r20m rows 8.. are right already (the converter's error is local): they stay untouched
    right_r20m = derived_bands.block_average(r10m, (2, 2)).astype(np.float32)
    data["r20m"][8:] = right_r20m[8:]
    for level, res in _LEVELS.items():
        lg = refl.create_group(level)
        lg.attrs.update({"spatial:transform": _transform(res), "spatial:shape": [int(_EDGE * 10 / res)] * 2})
        a = lg.create_array("b08", shape=data[level].shape, dtype="float32", chunks=(4, 4), fill_value=np.nan)
        a[:] = data[level]
        if level in ("r20m", "r60m", "r120m"):  # the converter's attributes (r120m copies r60m's)
            a.attrs.update({"_derived_from": "r10m", "_factor": 2 if level == "r20m" else 6,
                            "_resampling_mode": "mean"})
        other = lg.create_array("b02", shape=data[level].shape, dtype="float32", chunks=(4, 4), fill_value=np.nan)
        other[:] = 0.5
    zarr.consolidate_metadata(root)
    zarr.consolidate_metadata(root / "measurements" / "reflectance")


def _read(root: Path, level: str, band: str = "b08") -> np.ndarray:
    return zarr.open_array(root / "measurements" / "reflectance" / level / band, mode="r")[:]


def test_plan_chains_the_injected_band_down_the_layout(tmp_path: Path) -> None:
    _plant(tmp_path / "s.zarr")
    docs = {str(p.relative_to(tmp_path / "s.zarr")): json.loads(p.read_text())
            for p in (tmp_path / "s.zarr").rglob("zarr.json")}
    jobs = derived_bands.plan(docs)
    base = "measurements/reflectance"
    assert [(j.target, j.source, j.factor, j.reason) for j in jobs] == [
        (f"{base}/r20m/b08", f"{base}/r10m/b08", (2, 2), "injected"),
        (f"{base}/r60m/b08", f"{base}/r10m/b08", (6, 6), "injected"),
        (f"{base}/r120m/b08", f"{base}/r60m/b08", (2, 2), "derived"),  # not r10m by its copied _factor
    ]


def test_repair_recomputes_planted_b08_levels(tmp_path: Path) -> None:
    root = tmp_path / "s.zarr"
    _plant(root)
    r20m_chunk = root / "measurements/reflectance/r20m/b08/c/5/0"  # rows 20..23: right already
    before = r20m_chunk.read_bytes(), r20m_chunk.stat().st_mtime_ns
    b02_before = _read(root, "r60m", "b02")

    repairs = [r.to_dict() for r in repair_store(str(root))]

    r10m = _r10m()
    r20m, r60m, r120m = _read(root, "r20m"), _read(root, "r60m"), _read(root, "r120m")
    for got, parent, f in ((r20m, r10m, 2), (r60m, r10m, 6), (r120m, r60m, 2)):
        np.testing.assert_allclose(got, derived_bands.block_average(parent, (f, f)), rtol=1e-6)
    assert np.isnan(r60m[0, 0]) and np.isnan(r20m[:6, :6]).all()  # all-no-data blocks are the fill
    # a partly no-data block (r10m rows 0-5, cols 12-17; col 12 is no-data) averages its valid pixels only
    assert r60m[0, 2] == pytest.approx(float(np.mean(r10m[0:6, 13:18], dtype=np.float64)), rel=1e-6)
    assert np.nanmin(r60m) > 0.19  # no zero reflectance left
    np.testing.assert_array_equal(_read(root, "r60m", "b02"), b02_before)  # other bands untouched
    assert (r20m_chunk.read_bytes(), r20m_chunk.stat().st_mtime_ns) == before  # unchanged chunk row kept

    data = {r["path"].rsplit("/", 2)[-2]: r for r in repairs if r["field"] == "data"}
    assert set(data) == {"r20m", "r60m", "r120m"}
    assert data["r20m"]["new"]["chunk_rows"] == 6 and data["r20m"]["new"]["chunk_rows_rewritten"] == 2  # rows 0-7 planted
    # all-no-data 6x6 blocks the converter wrote as 0.0: 2x2 in the top-left corner, 3x1 bottom right
    assert data["r60m"]["old"]["values_where_source_is_nodata"] == 7
    assert data["r120m"]["new"]["source"] == "/measurements/reflectance/r60m/b08"
    assert repair_store(str(root)) == []  # idempotent


def test_repair_fixes_the_layout_scale_everywhere(tmp_path: Path) -> None:
    root = tmp_path / "s.zarr"
    _plant(root, layout_scale_120=2.0109890109890109)  # a shape ratio (183/91), not the grid's 2
    repairs = repair_store(str(root))
    layout_fixes = [r for r in repairs if r.field.startswith("multiscales.")]
    assert [(r.path, r.field, r.new["scale"]) for r in layout_fixes] == [
        ("/measurements/reflectance", "multiscales.layout[3].transform", [2.0, 2.0])]
    for view in (zarr.open_group(root / "measurements" / "reflectance", mode="r", use_consolidated=False),
                 zarr.open_consolidated(root, mode="r")["measurements/reflectance"],
                 zarr.open_consolidated(root / "measurements" / "reflectance", mode="r")):
        layout = view.attrs["multiscales"]["layout"]
        assert [e.get("transform", {}).get("scale") for e in layout] == [None, [2.0, 2.0], [6.0, 6.0], [2.0, 2.0]]
    assert not [r for r in repair_store(str(root)) if r.field.startswith("multiscales.")]


def test_layout_fix_is_planned_from_the_level_groups() -> None:
    group = {"node_type": "group", "attributes": {"multiscales": {"layout": [
        {"asset": "a", "spatial:transform": _transform(60.0)},
        {"asset": "b", "derived_from": "a", "transform": {"scale": [3.03, 3.03], "translation": [0.0, 0.0]}},
    ]}}}
    docs = {"g/zarr.json": copy.deepcopy(group),
            "g/a/zarr.json": {"node_type": "group", "attributes": {"spatial:transform": _transform(60.0)}},
            "g/b/zarr.json": {"node_type": "group",
                              "attributes": {"spatial:transform": [180.0, 0, 700140.0, 0, -180.0, 4700040.0]}}}
    repairs = plan(docs)
    assert [(r.path, r.field, r.new) for r in repairs] == [
        ("/g", "multiscales.layout[1].transform", {"scale": [3.0, 3.0], "translation": [0.0, 3.0]})]
    apply(docs, repairs)
    assert docs["g/zarr.json"]["attributes"]["multiscales"]["layout"][1]["transform"]["scale"] == [3.0, 3.0]
    assert plan(docs) == []


# --- real conversions, judged by the real checker -----------------------------------------


def _conformance(store: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "conformance", "geozarr", store, "--json"],
                       capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    return json.loads(r.stdout)


@pytest.mark.slow
def test_converted_output_passes_the_geozarr_checks(converted_144: Converted) -> None:
    report = _conformance(converted_144.output)
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert errors == [] and report["passed"] is True
    doc = json.loads((Path(converted_144.output) / "run.json").read_text())
    recomputed = {r["path"] for r in doc["repairs"] if r["field"] == "data"}
    assert "/measurements/reflectance/r60m/b08" in recomputed  # the sample has no-data: the defect was there


@pytest.mark.slow
def test_odd_size_layout_is_repaired_and_passes(tmp_path: Path) -> None:
    """150 px: r60m 25 px -> r120m 12 px; the converter says scale 25/12, the grids say 2."""
    sample, out = tmp_path / "S2_150.zarr", tmp_path / "out.zarr"
    assert run_runner("sample", str(sample), "--size", "150", "--seed", "2", "--quiet").returncode == 0
    r = run_runner("convert", str(sample), str(out), "--collection", "c", "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    report = _conformance(str(out))
    assert [f for f in report["findings"] if f["severity"] == "error"] == []
    doc = json.loads((out / "run.json").read_text())
    fixes = {r["field"]: r for r in doc["repairs"] if r["field"].startswith("multiscales.")}
    assert fixes["multiscales.layout[3].transform"]["old"]["scale"] == [25 / 12, 25 / 12]  # the converter's
    assert fixes["multiscales.layout[3].transform"]["new"]["scale"] == [2.0, 2.0]


def test_layout_fix_leaves_a_degenerate_level_alone() -> None:
    """eopf-geozarr gives a 1-pixel level an identity spatial:transform: no scale is derived from it."""
    docs = {"g/zarr.json": {"node_type": "group", "attributes": {"multiscales": {"layout": [
        {"asset": "a"}, {"asset": "b", "derived_from": "a", "transform": {"scale": [2.0, 2.0]}}]}}},
        "g/a/zarr.json": {"node_type": "group", "attributes": {"spatial:transform": _transform(360.0)}},
        "g/b/zarr.json": {"node_type": "group", "attributes": {"spatial:transform": [1.0, 0, 0.0, 0, 1.0, 0.0]}}}
    assert plan(docs) == []


# --- grid mapping as a coordinate ---------------------------------------------------------


def _array(attrs: dict) -> dict:
    return {"node_type": "array", "shape": [2, 2], "attributes": attrs}


def test_grid_mapping_becomes_a_coordinate_in_the_array_and_every_consolidated_copy() -> None:
    band = _array({"grid_mapping": "spatial_ref", "coordinates": "time"})
    docs = {"zarr.json": {"node_type": "group", "attributes": {}, "consolidated_metadata": {
                "metadata": {"g/b02": copy.deepcopy(band)}}},
            "g/zarr.json": {"node_type": "group", "attributes": {}},
            "g/b02/zarr.json": copy.deepcopy(band),
            "g/b03/zarr.json": _array({"grid_mapping": "spatial_ref", "coordinates": "spatial_ref"}),
            "g/b04/zarr.json": _array({"grid_mapping": "no_such_variable"}),
            "g/spatial_ref/zarr.json": {"node_type": "array", "shape": [], "attributes": {"crs_wkt": "..."}}}
    repairs = plan(docs)
    assert [(r.path, r.field, r.old, r.new) for r in repairs] == [
        ("/g/b02", "coordinates", "time", "time spatial_ref")]  # b03 has it, b04's mapping is no array
    apply(docs, repairs)
    assert docs["g/b02/zarr.json"]["attributes"]["coordinates"] == "time spatial_ref"
    assert docs["zarr.json"]["consolidated_metadata"]["metadata"]["g/b02"]["attributes"]["coordinates"] == \
        "time spatial_ref"
    assert plan(docs) == []


@pytest.mark.slow
def test_the_coordinate_repair_is_recorded_in_run_json(converted_144: Converted) -> None:
    doc = json.loads((Path(converted_144.output) / "run.json").read_text())
    fixed = {r["path"] for r in doc["repairs"] if r["field"] == "coordinates" and r["new"] == "spatial_ref"}
    assert "/measurements/reflectance/r10m/b02" in fixed and "/measurements/reflectance/r720m/b12" in fixed
