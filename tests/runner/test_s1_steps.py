"""Sentinel-1 GRD through the pipeline's steps (issue 16, item 2): preflight detects it and names
its polarisation groups, convert runs eopf-geozarr's S1 path with the `s1_*` parameters, and the
STAC item carries the product's sar:* and sat:* properties."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.runner.runnerkit import json_lines, run_runner

NAME = "S1A_IW_GRDH_1SDV_20241124T180254_sample.zarr"


@pytest.fixture(scope="module")
def s1_32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smallest S1 GRD sample (32 azimuth lines)."""
    from runner.sample_s1 import write_sample

    out = tmp_path_factory.mktemp("s1steps") / NAME
    write_sample(str(out), size=32, seed=4)
    return out


def _pol(store: Path, pol: str) -> str:
    return next(p.name for p in store.iterdir() if p.name.endswith(f"_{pol}"))


def _without(src: Path, dest: Path, rel: str) -> Path:
    """A copy of the v2 sample SRC without the node REL (and its consolidated entries)."""
    shutil.copytree(src, dest)
    shutil.rmtree(dest / rel)
    meta = json.loads((dest / ".zmetadata").read_text())
    meta["metadata"] = {k: v for k, v in meta["metadata"].items() if not k.startswith(rel + "/")}
    (dest / ".zmetadata").write_text(json.dumps(meta))
    return dest


def test_preflight_detects_s1_and_names_its_polarisation_groups(s1_32: Path, tmp_path: Path) -> None:
    r = run_runner("preflight", str(s1_32), "--json", "--quiet", "--outputs-dir", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["conversion_path"] == "s1-grd" and out["product_type"].startswith("S01")
    pols = ["/" + _pol(s1_32, "VH"), "/" + _pol(s1_32, "VV")]
    assert out["polarisation_groups"] == pols
    assert out["groups"] == ["/measurements"]  # s1_groups: inside each polarisation group
    assert json.loads((tmp_path / "o" / "polarisation_groups").read_text()) == pols


@pytest.mark.parametrize(("removed", "expected"), [
    ("VH", "needs exactly 2"),
    ("VH/conditions/gcp", "has no /conditions/gcp"),
    ("VV/measurements", "has no /measurements"),
])
def test_preflight_refuses_an_incomplete_s1_product(s1_32: Path, tmp_path: Path, removed: str,
                                                    expected: str) -> None:
    pol, _, rest = removed.partition("/")
    src = _without(s1_32, tmp_path / NAME, "/".join(filter(None, [_pol(s1_32, pol), rest])))
    r = run_runner("preflight", str(src))
    assert r.returncode == 2, r.stderr[-2000:]
    errors = [e for e in json_lines(r.stderr) if e["level"] == "error"]
    assert len(errors) == 1 and expected in str(errors[0]["message"]), errors


def test_the_s1_parameters_come_from_params_json(tmp_path: Path) -> None:
    from runner import params

    (tmp_path / "params.json").write_text(json.dumps({"s1_min_dimension": 128,
                                                      "s1_crs_groups": ["/conditions/gcp"]}))
    env = {"GEOZARR_PARAMS_DIR": str(tmp_path)}
    assert params.resolve("s1_min_dimension", env=env) == 128
    assert params.resolve("s1_gcp_group", env=env) == "/conditions/gcp"  # built-in default
    assert params.resolve("s1_min_dimension", env={**env, "S1_MIN_DIMENSION": "64"}) == 64


@pytest.mark.slow
def test_convert_and_stac_take_the_s1_path(s1_32: Path, tmp_path: Path) -> None:
    from conformance.geozarr.check import check_store

    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "params.json").write_text(json.dumps({"s1_min_dimension": 300}))
    env = {"GEOZARR_PARAMS_DIR": str(tmp_path / "params")}
    out = tmp_path / "out" / NAME
    r = run_runner("convert", str(s1_32), str(out), "--collection", "sentinel-1-l1-grd", "--json",
                   "--quiet", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert run["conversion_path"] == "s1-grd" and run["groups"] == ["/measurements"]
    assert run["parameters"]["s1_min_dimension"] == 300
    assert run["parameters"]["s1_gcp_group"] == "/conditions/gcp"
    root = json.loads((out / "zarr.json").read_text())["attributes"]
    assert root["stac_discovery"]["properties"]["sar:polarizations"] == ["VV", "VH"]  # carried

    report = check_store(str(out), gdal=True)
    assert report.passed, [f.to_dict() for f in report.findings]
    assert report.extra["product"] == "s1-grd"
    ran = {r["id"] for r in report.rules if "skipped" not in r}
    assert {"geozarr.s1-polarisations", "geozarr.s1-gcp-geolocation", "geozarr.s1-multiscales"} <= ran

    item_path = tmp_path / "item.json"
    r = run_runner("stac", str(out), "--item-id", "s1", "--collection", "sentinel-1-l1-grd",
                   "-o", str(item_path), "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    item = json.loads(item_path.read_text())
    props = item["properties"]
    assert props["sat:orbit_state"] == "ascending" and props["sat:anx_datetime"].endswith("Z")
    assert props["sat:absolute_orbit"] == 56700 and props["constellation"] == "sentinel-1"
    assert props["proj:code"] == "EPSG:4326" and 8 < props["gsd"] < 13  # ~10 m in metres
    # sar:* wait for the sar schema to be vendored (runner.stac_source.SAR_SCHEMA_URI)
    assert not any(k.startswith("sar:") for k in props)
    assert not any("/eo/" in e for e in item["stac_extensions"])  # no eo field on an S1 item
    bands = {b["description"][:2]: b["name"] for a in item["assets"].values() for b in a.get("bands", [])}
    assert bands == {"VV": "grd", "VH": "grd"}


def test_sar_properties_come_with_the_sar_schema(s1_32: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The product's sar:* are mapped, with the extension, once its schema is vendored."""
    import zarr

    from runner import stac_source

    attrs = dict(zarr.open_group(s1_32, mode="r").attrs)
    props, exts = stac_source.source_properties(attrs)
    assert not any(k.startswith("sar:") for k in props) and stac_source.SAR_SCHEMA_URI not in exts
    monkeypatch.setattr(stac_source, "sar_schema_vendored", lambda: True)
    props, exts = stac_source.source_properties(attrs)
    assert props["sar:instrument_mode"] == "IW" and props["sar:product_type"] == "GRD"
    assert props["sar:polarizations"] == ["VV", "VH"] and props["sar:center_frequency"] == 5.405
    assert stac_source.SAR_SCHEMA_URI in exts


@pytest.mark.slow
def test_s1_levels_pass_every_rule_once_repaired(s1_32: Path, tmp_path: Path) -> None:
    """With levels below the base (s1_min_dimension 16: r2), the converter's derived-level grid
    (stretched transform, corner coordinates) and no-data averaging are repaired: GDAL,
    rioxarray and every rule agree; without the repairs they do not."""
    from conformance.geozarr.check import check_store

    runs = {}
    for name, extra in (("repaired", []), ("raw", ["--no-repair"])):
        out = tmp_path / name / NAME
        r = run_runner("convert", str(s1_32), str(out), "--collection", "sentinel-1-l1-grd",
                       "--s1-min-dimension", "16", "--quiet", *extra)
        assert r.returncode == 0, r.stderr[-3000:]
        runs[name] = out
    layout = json.loads((runs["repaired"] / _pol(s1_32, "VV") / "measurements" / "zarr.json").read_text())
    assert [e["asset"] for e in layout["attributes"]["multiscales"]["layout"]] == [".", "r2"]
    repairs = json.loads((runs["repaired"] / "run.json").read_text())["repairs"]
    repaired = {r["path"].rsplit("/", 2)[-2] + "/" + r["path"].rsplit("/", 1)[-1]
                for r in repairs if r["field"] == "data"}
    assert {"r2/x", "r2/y", "r2/grd"} <= repaired  # centres, and no-data kept out of the means
    report = check_store(str(runs["repaired"]))
    assert report.passed, [f.to_dict() for f in report.findings if f.severity == "error"]
    raw = {f.rule for f in check_store(str(runs["raw"])).findings if f.severity == "error"}
    assert {"geozarr.spatial-coords", "geozarr.gdal-interop", "geozarr.data-resampling"} <= raw
