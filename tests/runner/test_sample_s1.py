"""`sample --product s1-grd`: a synthetic S1 IW GRDH product faithful to the real layouts,
converted by eopf-geozarr through its real Sentinel-1 (GCP) path."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import zarr
from pyproj import Geod

from tests.runner.runnerkit import SHARED, json_lines, run_runner, store_digest

REFERENCES = sorted((SHARED / "reference" / "eopf-products").glob("S1A_IW_GRDH_*.json"))
S1_CONVERT_ARGS = ["--groups", "/measurements", "--gcp-group", "/conditions/gcp",
                   "--crs-groups", "/conditions/gcp"]


def _tree(node: dict, path: str = "") -> dict[str, dict]:
    out = {path or "/": node}
    for name, child in (node.get("members") or {}).items():
        out.update(_tree(child, f"{path}/{name}"))
    return out


def _by_polarisation(spec: dict) -> dict[str, dict[str, dict]]:
    """{"VH": {path inside the group: node}, "VV": ...} of a product's GroupSpec dump."""
    return {name.rsplit("_", 1)[-1]: _tree(node) for name, node in spec["members"].items()}


def _spec(store: Path) -> dict:
    from eopf_geozarr.pyz.v2 import GroupSpec

    return GroupSpec.from_zarr(zarr.open_group(store, mode="r")).model_dump()


@pytest.fixture(scope="module")
def s1_144(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from runner.sample_s1 import write_sample

    out = tmp_path_factory.mktemp("s1") / "S1_sample_144.zarr"
    write_sample(str(out), size=144, seed=7)
    return out


def _pol(root: zarr.Group, pol: str) -> zarr.Group:
    name = next(k for k in root.group_keys() if k.endswith(f"_{pol}"))
    return root[name]


def test_the_references_share_one_layout() -> None:
    """The generator follows the S1A products' layout (processor 2.5.8); both agree node by node."""
    assert len(REFERENCES) == 2
    a, b = (_by_polarisation(json.loads(p.read_text())) for p in REFERENCES)
    assert set(a) == set(b) == {"VH", "VV"}
    assert set(a["VV"]) == set(b["VV"]) == set(a["VH"])


@pytest.mark.parametrize("reference", REFERENCES, ids=lambda p: p.name[:40])
def test_layout_matches_the_real_products(s1_144: Path, reference: Path) -> None:
    ref_spec = json.loads(reference.read_text())
    ref, got = _by_polarisation(ref_spec), _by_polarisation(_spec(s1_144))
    assert set(got) == {"VH", "VV"}
    for pol in ("VH", "VV"):
        assert set(got[pol]) == set(ref[pol]), pol
        for path, r in ref[pol].items():
            g = got[pol][path]
            where = f"{pol}{path}"
            assert (g.get("members") is None) == (r.get("members") is None), where
            if r.get("members") is not None:
                assert set(g.get("attributes") or {}) == set(r.get("attributes") or {}), where
                continue
            assert g["dtype"] == r["dtype"], where
            assert g["compressor"] == r["compressor"], where
            assert g["dimension_separator"] == r["dimension_separator"], where
            assert str(g["fill_value"]) == str(r["fill_value"]) or (
                r["fill_value"] == "NaN" and g["fill_value"] != g["fill_value"]), where
            assert set(g["attributes"]) == set(r["attributes"]), where
            assert g["attributes"]["_ARRAY_DIMENSIONS"] == r["attributes"]["_ARRAY_DIMENSIONS"]
            if path.startswith("/measurements/"):
                continue  # sized to the sample (below)
            assert list(g["shape"]) == r["shape"], where
    grd = got["VV"]["/measurements/grd"]
    assert list(grd["shape"]) == [144, 226] and list(grd["chunks"]) == [18, 36]  # real chunks 2048 x 4096, scaled
    root_ref = ref_spec["attributes"]
    root = dict(zarr.open_group(s1_144, mode="r").attrs)
    assert set(root) == set(root_ref)
    assert set(root["other_metadata"]) == set(root_ref["other_metadata"]) | {"synthetic_sample"}


def test_detected_as_sentinel1_by_the_converter(s1_144: Path) -> None:
    import xarray as xr
    from eopf_geozarr.conversion.geozarr import _is_sentinel1

    dt = xr.open_datatree(s1_144, engine="zarr")
    assert _is_sentinel1(dt)
    assert len(dt.children) == 2
    gcp = dt[f"{next(iter(dt.children))}/conditions/gcp"].to_dataset()
    assert {"line", "pixel", "latitude", "longitude", "height"} <= set(gcp.variables)
    assert gcp["latitude"].dims == ("azimuth_time", "ground_range")


def test_zarr_v2_with_consolidated_metadata(s1_144: Path) -> None:
    assert (s1_144 / ".zmetadata").is_file() and (s1_144 / ".zgroup").is_file()
    assert not (s1_144 / "zarr.json").exists()


def test_gcps_are_a_consistent_swath(s1_144: Path) -> None:
    root = zarr.open_group(s1_144, mode="r")
    geod = Geod(ellps="WGS84")
    vv, vh = _pol(root, "VV"), _pol(root, "VH")
    gcp = vv["conditions/gcp"]
    lines, pixels = gcp["line"][:], gcp["pixel"][:]
    assert lines[0] == 0 and lines[-1] == 143 and np.all(np.diff(lines.astype(int)) > 0)
    assert pixels[0] == 0 and pixels[-1] == 225 and np.all(np.diff(pixels.astype(int)) > 0)
    lat, lon = gcp["latitude"][:], gcp["longitude"][:]
    # 10 m pixels along range and along azimuth, azimuth heading -11 deg (ascending)
    az, _, dist = geod.inv(lon[0, 0], lat[0, 0], lon[0, -1], lat[0, -1])
    assert dist == pytest.approx(225 * 10.0, rel=1e-3) and az == pytest.approx(79.0, abs=0.5)
    az, _, dist = geod.inv(lon[0, 0], lat[0, 0], lon[-1, 0], lat[-1, 0])
    assert dist == pytest.approx(143 * 10.0, rel=1e-3) and az == pytest.approx(-11.0, abs=0.5)
    for name in ("latitude", "longitude", "line", "pixel"):
        assert np.array_equal(gcp[name][:], vh["conditions/gcp"][name][:]), name
    inc = gcp["incidence_angle"][:]
    assert 30 < inc.min() and inc.max() < 31 and np.all(np.diff(inc, axis=1) > 0)
    sd = vv.attrs["stac_discovery"]
    ring = sd["geometry"]["coordinates"][0]
    assert ring[3] == pytest.approx([lon[0, 0], lat[0, 0]], abs=1e-6)
    assert ring[1] == pytest.approx([lon[-1, -1], lat[-1, -1]], abs=1e-6)
    assert root.attrs["stac_discovery"]["geometry"] == sd["geometry"]
    west, south, east, north = sd["bbox"]
    assert west < east and south < north
    assert root.attrs["stac_discovery"]["properties"]["product:type"].startswith("S01")


def test_time_axes_match_the_lines(s1_144: Path) -> None:
    import xarray as xr

    dt = xr.open_datatree(s1_144, engine="zarr")
    vv = next(k for k in dt.children if k.endswith("_VV"))
    t = dt[f"{vv}/measurements"]["azimuth_time"].values
    assert t.dtype.kind == "M" and len(t) == 144
    step = np.diff(t).astype("m8[ns]").astype(np.int64)
    assert np.all(step == step[0]) and abs(step[0] - 1_498_914) <= 1
    assert str(t[0]).startswith("2024-11-24T18:02:54.764458")
    props = dt.attrs["stac_discovery"]["properties"]
    assert props["start_datetime"].startswith("2024-11-24T18:02:54.764458")
    assert props["end_datetime"] < "2024-11-24T18:02:55"  # 144 lines: ~0.2 s


def test_backscatter_is_realistic(s1_144: Path) -> None:
    root = zarr.open_group(s1_144, mode="r")
    db = {}
    for pol in ("VV", "VH"):
        g = _pol(root, pol)
        raw = g["measurements/grd"][:]
        assert raw.dtype == np.uint16 and raw.min() >= 1  # digital numbers, no fill in the swath
        dn = raw.astype(float)
        lut = g["quality/calibration/sigma_nought"][0]
        lut_pixels = g["quality/calibration/pixel"][:]
        a = np.interp(np.arange(dn.shape[1]), lut_pixels, lut)
        sigma0 = dn**2 / a[None, :] ** 2
        db[pol] = 10 * np.log10(sigma0.mean())
        # speckle: single pixels vary (ENL 4.4: std/mean ~ 0.48), 8x8 means much less
        ratio = sigma0.std() / sigma0.mean()
        assert 0.4 < ratio < 1.2, pol
    assert -18 < db["VV"] < -8 and -26 < db["VH"] < -14
    assert 4 < db["VV"] - db["VH"] < 10


def test_large_measurements_are_filled_in_place_with_the_same_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runner import sample_s1

    a, b = tmp_path / "memory.zarr", tmp_path / "in_place.zarr"
    sample_s1.write_sample(str(a), size=32, seed=5)
    monkeypatch.setattr(sample_s1, "IN_MEMORY_BYTES", 0)
    sample_s1.write_sample(str(b), size=32, seed=5)
    assert store_digest(a) == store_digest(b)


def test_cli_writes_it(tmp_path: Path) -> None:
    out = tmp_path / "s1.zarr"
    r = run_runner("sample", str(out), "--product", "s1-grd", "--size", "32", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["product"] == "s1-grd" and summary["polarisations"] == ["VH", "VV"]
    assert summary["lines"] == 32 and summary["pixels"] == 51
    assert any(e.get("event") == "progress" for e in json_lines(r.stderr))


@pytest.mark.parametrize("size", [0, 31, 16678])
def test_bad_size_exits_2_with_one_clear_line(size: int, tmp_path: Path) -> None:
    out = tmp_path / "s.zarr"
    r = run_runner("sample", str(out), "--product", "s1-grd", "--size", str(size))
    assert r.returncode == 2
    lines = json_lines(r.stderr)
    assert len(lines) == 1 and lines[0]["level"] == "error"
    assert f"--size {size}" in str(lines[0]["message"]) and "azimuth lines" in str(lines[0]["message"])
    assert not out.exists()


@pytest.mark.slow
def test_bare_eopf_geozarr_takes_the_s1_path(tmp_path: Path) -> None:
    """The real converter reprojects every polarisation through the GCPs to an EPSG:4326 grid
    with a multiscales pyramid."""
    from runner.sample_s1 import write_sample

    sample, out = tmp_path / "s1.zarr", tmp_path / "out.zarr"
    write_sample(str(sample), size=32, seed=2)  # the smallest size (32 lines)
    r = subprocess.run(["eopf-geozarr", "convert", str(sample), str(out), *S1_CONVERT_ARGS,
                        "--min-dimension", "16"],
                       capture_output=True, text=True, timeout=600, check=False)
    logs = r.stdout + r.stderr
    assert r.returncode == 0, logs[-2000:]
    assert logs.count("Applying Sentinel-1 reprojection") == 2
    src = zarr.open_group(sample, mode="r")
    root = zarr.open_group(out, mode="r")
    for pol in ("VV", "VH"):
        gcp = _pol(src, pol)["conditions/gcp"]
        lat, lon = gcp["latitude"][:], gcp["longitude"][:]
        m = _pol(root, pol)["measurements"]
        assert m.attrs["proj:code"] == "EPSG:4326"
        assert "GEOGCS" in m["spatial_ref"].attrs["crs_wkt"] or "GEOGCRS" in m["spatial_ref"].attrs["crs_wkt"]
        layout = m.attrs["multiscales"]["layout"]
        assert [e["asset"] for e in layout][:2] == [".", "r2"] and "r2" in m.group_keys()
        h, w = m["grd"].shape
        assert tuple(layout[0]["spatial:shape"]) == (h, w)
        x, y = m["x"][:], m["y"][:]
        assert x.min() == pytest.approx(lon.min(), abs=2e-4) and x.max() == pytest.approx(lon.max(), abs=2e-4)
        assert y.min() == pytest.approx(lat.min(), abs=2e-4) and y.max() == pytest.approx(lat.max(), abs=2e-4)
        assert (m["grd"][:] > 0).mean() > 0.3  # the swath, rotated inside its bounding grid


def test_sample_to_s3(s3_server, s3_bucket: str, s3_env: dict[str, str]) -> None:
    r = run_runner("sample", f"s3://{s3_bucket}/in/S1.zarr", "--product", "s1-grd", "--size", "32",
                   "--quiet", env=s3_env)
    assert r.returncode == 0, r.stderr
    keys = s3_server.keys(s3_bucket, "in/S1.zarr/")
    assert "in/S1.zarr/.zmetadata" in keys
    vv = next(k for k in keys if k.endswith("_VV/measurements/grd/.zarray"))
    assert vv.replace("_VV/", "_VH/") in keys
