"""`sample`: a synthetic S2 L2A product faithful to the real layout, detected and
converted by eopf-geozarr like a real one."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import zarr
from pyproj import Transformer

from tests.runner.runnerkit import REFERENCE_S2_L2A, json_lines, run_runner, store_digest


def _tree(node: dict, path: str = "") -> dict[str, dict]:
    out = {path or "/": node}
    for name, child in (node.get("members") or {}).items():
        out.update(_tree(child, f"{path}/{name}"))
    return out


def _spec(store: Path) -> dict:
    from eopf_geozarr.pyz.v2 import GroupSpec

    return GroupSpec.from_zarr(zarr.open_group(store, mode="r")).model_dump()


@pytest.mark.parametrize("size", [0, 36, 66, 100, 145, 10986])
def test_bad_size_exits_2_with_one_clear_line(size: int, tmp_path: Path) -> None:
    out = tmp_path / "s.zarr"
    r = run_runner("sample", str(out), "--size", str(size))
    assert r.returncode == 2
    lines = json_lines(r.stderr)
    assert len(lines) == 1 and lines[0]["level"] == "error"
    assert f"--size {size}" in str(lines[0]["message"]) and "multiple of 6" in str(lines[0]["message"])
    assert "Traceback" not in r.stderr
    assert not out.exists()


def test_layout_matches_the_real_product(sample_144: Path) -> None:
    ref = _tree(json.loads(REFERENCE_S2_L2A.read_text()))
    got = _tree(_spec(sample_144))
    assert set(got) == set(ref)
    scale = 144 / 10980
    for path, r in ref.items():
        g = got[path]
        assert (g.get("members") is None) == (r.get("members") is None), path
        if r.get("members") is not None:
            continue
        assert g["dtype"] == r["dtype"], path
        assert g["compressor"] == r["compressor"], path
        assert g["fill_value"] == r["fill_value"] or (r["fill_value"] == "NaN" and g["fill_value"] != g["fill_value"]) or str(g["fill_value"]) == "nan", path
        assert g["dimension_separator"] == r["dimension_separator"], path
        assert set(g["attributes"]) == set(r["attributes"]), path
        dims = r["attributes"].get("_ARRAY_DIMENSIONS")
        assert g["attributes"].get("_ARRAY_DIMENSIONS") == dims
        for i, dim in enumerate(dims or []):
            if dim in ("x", "y") and r["shape"][i] >= 1830:
                assert g["shape"][i] == round(r["shape"][i] * scale), path
            else:
                assert g["shape"][i] == r["shape"][i], path
    root_ref = json.loads(REFERENCE_S2_L2A.read_text())["attributes"]
    root = dict(zarr.open_group(sample_144, mode="r").attrs)
    assert set(root) == set(root_ref)
    assert set(root["other_metadata"]) == set(root_ref["other_metadata"]) | {"synthetic_sample"}
    assert root["stac_discovery"]["properties"]["product:type"] == "S02MSIL2A"


def test_zarr_v2_with_consolidated_metadata(sample_144: Path) -> None:
    assert (sample_144 / ".zmetadata").is_file()
    assert (sample_144 / ".zgroup").is_file()
    assert not (sample_144 / "zarr.json").exists()
    assert json.loads((sample_144 / "measurements/reflectance/r10m/b02/.zarray").read_text())["chunks"] == [72, 72]


def test_detected_as_sentinel2_by_the_converter(sample_144: Path) -> None:
    from eopf_geozarr.s2_optimization.s2_converter import is_sentinel2_dataset

    assert is_sentinel2_dataset(zarr.open_group(sample_144, mode="r"))


def test_geolocation_is_a_consistent_utm_tile(sample_144: Path) -> None:
    root = zarr.open_group(sample_144, mode="r")
    r10 = root["measurements/reflectance/r10m"]
    x, y = r10["x"][:], r10["y"][:]
    assert x.dtype == np.int64 and y.dtype == np.int64
    assert x[0] == 699965 and np.all(np.diff(x) == 10)
    assert y[0] == 4700035 and np.all(np.diff(y) == -10)
    r60 = root["measurements/reflectance/r60m"]
    assert r60["x"][0] == 699990 and r60["b01"].shape == (24, 24)
    attrs = r10["b02"].attrs
    assert attrs["proj:epsg"] == 32632
    assert attrs["proj:transform"] == [10.0, 0.0, 699960.0, 0.0, -10.0, 4700040.0, 0.0, 0.0, 1.0]
    assert attrs["proj:shape"] == [144, 144]
    assert r60["b01"].attrs["proj:transform"][0] == 60.0
    sd = root.attrs["stac_discovery"]
    assert root.attrs["other_metadata"]["horizontal_CRS_code"] == "EPSG:32632"
    to_ll = Transformer.from_crs(32632, 4326, always_xy=True)
    west, south, east, north = sd["bbox"]
    for cx, cy in [(699960, 4700040), (701400, 4698600), (699960, 4698600), (701400, 4700040)]:
        lon, lat = to_ll.transform(cx, cy)
        assert west - 1e-9 <= lon <= east + 1e-9 and south - 1e-9 <= lat <= north + 1e-9
    ring = sd["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and sd["geometry"]["type"] == "Polygon"
    assert min(p[0] for p in ring) == pytest.approx(west) and max(p[1] for p in ring) == pytest.approx(north)
    assert sd["properties"]["start_datetime"].startswith("2025-10-08")


def test_values_are_realistic(sample_144: Path) -> None:
    root = zarr.open_group(sample_144, mode="r")
    b04 = root["measurements/reflectance/r10m/b04"][:]
    b08 = root["measurements/reflectance/r10m/b08"][:]
    nodata = b04 == 0
    assert 0.01 < nodata.mean() < 0.2, "some no-data (fill 0), not most"
    assert np.array_equal(nodata, b08 == 0)
    valid = b04[~nodata].astype(float) * 1e-4 - 0.1
    assert 0.0 < valid.min() and valid.max() < 1.0
    assert valid.std() > 0.01, "not a constant field"
    # spatially smooth: neighbours correlate strongly, but not perfectly (noise)
    a = b04.astype(float)
    m = (~nodata[:, 1:]) & (~nodata[:, :-1])
    corr = np.corrcoef(a[:, 1:][m], a[:, :-1][m])[0, 1]
    assert 0.8 < corr < 0.9999
    # r60m shows the same landscape as r10m (block means agree loosely)
    b04_60 = root["measurements/reflectance/r60m/b04"][:].astype(float)
    block = a.reshape(24, 6, 24, 6).mean(axis=(1, 3))
    ok = (b04_60 > 0) & (block > 0) & ~nodata.reshape(24, 6, 24, 6).any(axis=(1, 3))
    assert np.corrcoef(block[ok], b04_60[ok])[0, 1] > 0.8
    scl = root["conditions/mask/l2a_classification/r20m/scl"][:]
    assert set(np.unique(scl)) >= {0} and len(np.unique(scl)) >= 3


@pytest.mark.parametrize(("product", "size"), [("s2-l2a", 72), ("s1-grd", 32)])
def test_deterministic_for_a_seed(tmp_path: Path, product: str, size: int) -> None:
    """Every product's sample: the same seed writes the same bytes, another seed others."""
    import importlib

    module = importlib.import_module("runner.sample_s1" if product == "s1-grd" else "runner.sample_s2")
    a, b, c = tmp_path / "a.zarr", tmp_path / "b.zarr", tmp_path / "c.zarr"
    for out, seed in ((a, 5), (b, 5), (c, 6)):
        module.write_sample(str(out), size=size, seed=seed, product=product)
    assert store_digest(a) == store_digest(b)
    assert store_digest(a) != store_digest(c)


def test_rewrites_an_existing_output(tmp_path: Path) -> None:
    out = tmp_path / "s.zarr"
    (out / "junk").mkdir(parents=True)
    (out / "junk" / "file").write_text("x")
    r = run_runner("sample", str(out), "--size", "72", "--json", "--outputs-dir", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    assert not (out / "junk").exists()
    assert json.loads(r.stdout)["output"] == str(out)
    assert (tmp_path / "o" / "output").read_text() == str(out)
    events = json_lines(r.stderr)
    assert any(e.get("event") == "progress" for e in events)


def test_zarr_v3_sample_is_detected_too(tmp_path: Path) -> None:
    from eopf_geozarr.s2_optimization.s2_converter import is_sentinel2_dataset

    from runner.sample_s2 import write_sample

    out = tmp_path / "v3.zarr"
    write_sample(str(out), size=72, seed=1, zarr_format=3)
    assert (out / "zarr.json").is_file()
    g = zarr.open_group(out, mode="r")
    assert g["measurements/reflectance/r10m/b02"].metadata.dimension_names == ("y", "x")
    assert is_sentinel2_dataset(g)


def test_sample_to_s3(s3_server, s3_bucket: str, s3_env: dict[str, str]) -> None:
    r = run_runner("sample", f"s3://{s3_bucket}/in/S2.zarr", "--size", "72", "--quiet", env=s3_env)
    assert r.returncode == 0, r.stderr
    keys = s3_server.keys(s3_bucket, "in/S2.zarr/")
    assert "in/S2.zarr/.zmetadata" in keys
    assert "in/S2.zarr/measurements/reflectance/r60m/b09/.zarray" in keys


@pytest.mark.slow
def test_bare_eopf_geozarr_takes_the_s2_path(sample_72: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"
    r = subprocess.run(["eopf-geozarr", "convert", str(sample_72), str(out)],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Detected Sentinel-2 input" in r.stdout + r.stderr
    refl = zarr.open_group(out / "measurements" / "reflectance", mode="r")
    assert {"r10m", "r20m", "r60m", "r120m", "r360m", "r720m"} <= set(refl.group_keys())
    assert "multiscales" in refl.attrs
    assert refl["r720m"]["b04"].shape == (1, 1)  # 72 px at 10 m = 720 m


# --- the synthetic scene's vectorised fields -----------------------------------------------


def _scene():
    from runner.sample_scene import Scene

    return Scene(seed=3, x0=699960.0, y0=4700040.0, width=10980.0, height=10980.0)


def test_separable_fields_equal_their_per_pixel_definition() -> None:
    """The smooth field (plane waves) and the cloud (Gaussian blobs), evaluated as outer
    products, equal the per-pixel formulas."""
    s = _scene()
    x = 699965.0 + 10 * np.arange(0, 1098, 7)
    y = 4700035.0 - 10 * np.arange(0, 1098, 5)
    X, Y = np.meshgrid(x, y)
    wl, ang, ph, amp = s._waves(1)
    direct = sum(amp[k] * np.sin(2 * np.pi * ((X - s.x0) * np.cos(ang[k]) + (s.y0 - Y) * np.sin(ang[k])) / wl[k]
                                 + ph[k]) for k in range(len(wl)))
    np.testing.assert_allclose(s._smooth(1, x, y), direct, atol=2e-5)
    rng = np.random.default_rng([s.seed, 99])
    cx = s.x0 + rng.uniform(0.1, 0.9, 3) * s.width
    cy = s.y0 - rng.uniform(0.1, 0.9, 3) * s.height
    r = rng.uniform(0.05, 0.15, 3) * s.width
    peak = rng.uniform(0.6, 1.0, 3)
    blobs = sum(peak[k] * np.exp(-((X - cx[k]) ** 2 + (Y - cy[k]) ** 2) / r[k] ** 2) for k in range(3))
    np.testing.assert_allclose(s.cloud(x, y), np.clip(blobs, 0, 1), atol=1e-6)
    fx, fy = (X - s.x0) / s.width, (s.y0 - Y) / s.height
    np.testing.assert_array_equal(s.nodata(x, y), fx + 0.2 * fy > 1.02)


def test_digital_counts_are_the_rounded_reflectance() -> None:
    from runner.sample_scene import to_digital_counts

    s = _scene()
    x = 699965.0 + 10 * np.arange(1098)
    y = 4700035.0 - 10 * np.arange(0, 1098, 17)  # down to the bottom: the no-data strip widens
    dn = s.digital_counts("b08", x, y, noise_key=(10, 0, 0))
    ref = to_digital_counts(s.reflectance("b08", x, y, noise_key=(10, 0, 0)))
    assert np.array_equal(dn == 0, ref == 0) and (dn == 0).any()
    assert np.abs(dn.astype(int) - ref.astype(int)).max() <= 1  # float32 rounding at .5 only
    assert (dn == ref).mean() > 0.999
    noise = dn.astype(float) - to_digital_counts(np.where(ref == 0, np.nan, s.surface_reflectance(
        "b08", s.surface(x, y)))).astype(float)
    assert 35 < noise[ref > 0].std() < 45  # sensor noise: sigma 0.004 reflectance = 40 counts
