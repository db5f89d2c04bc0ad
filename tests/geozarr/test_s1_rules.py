"""The Sentinel-1 GeoZarr rules (conformance/geozarr/s1.py) against the real converter's S1
output: the clean store passes, and each planted defect (wrong CRS, missing polarisation,
broken multiscales) is caught by its rule at the node it is in."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.findings import Finding
from conformance.geozarr import s1
from conformance.geozarr.context import GeoZarrContext
from conformance.geozarr.model import load_model
from conformance.geozarr.store import open_store

NAME = "S1A_IW_GRDH_1SDV_20241124T180254_sample.zarr"
S1_ARGS = ["--groups", "/measurements", "--gcp-group", "/conditions/gcp",
           "--crs-groups", "/conditions/gcp", "--min-dimension", "16"]


def _s1_findings(store: Path) -> list[Finding]:
    access = open_store(str(store))
    ctx = GeoZarrContext(access=access, model=load_model(access))
    return [f for check in s1.CHECKS for f in check.fn(ctx)]


@pytest.fixture(scope="module")
def s1_converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 32-line (smallest) S1 GRD sample converted by the real `eopf-geozarr convert` (S1 path)."""
    from runner.sample_s1 import write_sample

    base = tmp_path_factory.mktemp("s1rules")
    src, out = base / "sample.zarr", base / NAME
    write_sample(str(src), size=32, seed=3)
    r = subprocess.run(["eopf-geozarr", "convert", str(src), str(out), *S1_ARGS],
                       capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]
    return out


def _pol(store: Path, pol: str) -> str:
    return "/" + next(p.name for p in store.iterdir() if p.name.endswith(f"_{pol}"))


def _edit(store: Path, node: str, fn: Callable[[dict[str, Any]], None]) -> None:
    """Apply FN to NODE's zarr.json and to its entry in every consolidated map holding it."""
    rel = node.strip("/")
    own = store / rel / "zarr.json"
    for holder in [own, *(h for h in store.rglob("zarr.json") if h != own)]:
        doc = json.loads(holder.read_text())
        prefix = holder.parent.relative_to(store).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        entries = (doc.get("consolidated_metadata") or {}).get("metadata") or {}
        if holder == own:
            fn(doc)
        elif rel.startswith(prefix) and rel[len(prefix):] in entries:
            fn(entries[rel[len(prefix):]])
        else:
            continue
        holder.write_text(json.dumps(doc))


def _remove(store: Path, node: str) -> None:
    """Remove NODE and its consolidated entries (a store written without it)."""
    rel = node.strip("/")
    shutil.rmtree(store / rel)
    for holder in store.rglob("zarr.json"):
        doc = json.loads(holder.read_text())
        entries = (doc.get("consolidated_metadata") or {}).get("metadata")
        if not entries:
            continue
        prefix = holder.parent.relative_to(store).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        for key in [k for k in entries if (prefix + k) == rel or (prefix + k).startswith(rel + "/")]:
            del entries[key]
        holder.write_text(json.dumps(doc))


def _wrong_crs(s: Path) -> None:
    _edit(s, f"{_pol(s, 'VV')}/measurements", lambda d: d["attributes"].update({"proj:code": "EPSG:32630"}))


def _missing_polarisation(s: Path) -> None:
    _remove(s, _pol(s, "VH"))


def _missing_measurements(s: Path) -> None:
    _remove(s, f"{_pol(s, 'VH')}/measurements")


def _no_multiscales(s: Path) -> None:
    _edit(s, f"{_pol(s, 'VV')}/measurements", lambda d: d["attributes"].pop("multiscales"))


def _shifted_grid(s: Path) -> None:
    def shift(d: dict[str, Any]) -> None:
        t = d["attributes"]["multiscales"]["layout"][0]["spatial:transform"]
        t[2] += 0.05  # ~500 pixels east
    _edit(s, f"{_pol(s, 'VH')}/measurements", shift)


DEFECTS = [  # name, plant, expected {(rule, (polarisation, node below it) or "/")}
    ("wrong-crs", _wrong_crs, {("geozarr.s1-gcp-geolocation", ("VV", "/measurements"))}),
    ("missing-polarisation", _missing_polarisation, {("geozarr.s1-polarisations", "/")}),
    ("missing-measurements", _missing_measurements, {("geozarr.s1-polarisations", ("VH", ""))}),
    ("broken-multiscales", _no_multiscales, {("geozarr.s1-multiscales", ("VV", "/measurements"))}),
    ("grid-off-the-gcps", _shifted_grid, {("geozarr.s1-multiscales", "/"),
                                          ("geozarr.s1-gcp-geolocation", ("VH", "/measurements"))}),
]


@pytest.mark.slow
def test_the_converted_s1_sample_passes(s1_converted: Path) -> None:
    assert _s1_findings(s1_converted) == []


@pytest.mark.slow
@pytest.mark.parametrize(("name", "plant", "expected"), DEFECTS, ids=[d[0] for d in DEFECTS])
def test_planted_defect_is_caught_by_its_rule(s1_converted: Path, tmp_path: Path, name: str,
                                              plant: Callable[[Path], None],
                                              expected: set[tuple[str, Any]]) -> None:
    store = tmp_path / NAME
    shutil.copytree(s1_converted, store)
    where = {(rule, loc if loc == "/" else _pol(store, loc[0]) + loc[1]) for rule, loc in expected}
    plant(store)
    found = _s1_findings(store)
    assert {(f.rule, f.path) for f in found} == where, [f.to_dict() for f in found]


@pytest.mark.slow
def test_a_store_without_a_declared_mode_needs_a_sentinel1_combination(s1_converted: Path,
                                                                        tmp_path: Path) -> None:
    store = tmp_path / "out.zarr"
    shutil.copytree(s1_converted, store)
    assert _s1_findings(store) == []
    _remove(store, _pol(store, "VV"))  # VH alone is no Sentinel-1 acquisition mode
    found = _s1_findings(store)
    assert [(f.rule, f.path) for f in found] == [("geozarr.s1-polarisations", "/")]
    assert "['VH'] are not a Sentinel-1 combination" in found[0].message


def test_other_stores_have_no_s1_findings(tmp_path: Path) -> None:
    import zarr

    root = zarr.open_group(tmp_path / "s2.zarr", mode="w", zarr_format=3)
    root.create_group("measurements").create_group("reflectance")
    root.create_group("quality")
    assert _s1_findings(tmp_path / "s2.zarr") == []


@pytest.fixture(scope="module")
def s1_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline's own S1 output (`geozarr-runner convert`: the S1 path with params.json's
    s1_* defaults, repairs, run.json) of a 32-line sample."""
    import sys

    from runner.sample_s1 import write_sample

    base = tmp_path_factory.mktemp("s1pipeline")
    src, out = base / "sample.zarr", base / NAME
    write_sample(str(src), size=32, seed=3)
    r = subprocess.run([sys.executable, "-m", "runner", "convert", str(src), str(out), "--collection",
                        "sentinel-1-l1-grd", "--quiet"], capture_output=True, text=True, timeout=600,
                       check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    return out


PIPELINE_DEFECTS = [  # the planted defects, caught by every rule run (check_store)
    ("wrong-crs", _wrong_crs, "geozarr.s1-gcp-geolocation"),
    ("missing-polarisation", _missing_polarisation, "geozarr.s1-polarisations"),
    ("broken-multiscales", _no_multiscales, "geozarr.s1-multiscales"),
]


@pytest.mark.slow
def test_the_pipelines_s1_store_passes_every_rule(s1_pipeline: Path) -> None:
    from conformance.geozarr.check import check_store

    report = check_store(str(s1_pipeline))
    assert report.passed, [f.to_dict() for f in report.findings]
    assert report.extra["product"] == "s1-grd"


@pytest.mark.slow
@pytest.mark.parametrize(("name", "plant", "rule"), PIPELINE_DEFECTS, ids=[d[0] for d in PIPELINE_DEFECTS])
def test_planted_defect_fails_the_checks(s1_pipeline: Path, tmp_path: Path, name: str,
                                         plant: Callable[[Path], None], rule: str) -> None:
    from conformance.geozarr.check import check_store

    store = tmp_path / NAME
    shutil.copytree(s1_pipeline, store)
    plant(store)
    report = check_store(str(store), gdal=False)
    assert not report.passed and report.exit_code == 1
    assert rule in {f.rule for f in report.findings}, [f.to_dict() for f in report.findings]
