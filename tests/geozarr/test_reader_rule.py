"""geozarr.reader-georef: xarray's default decoding and rioxarray on every level.

Valid fixture: the pipeline's output (the runner makes `spatial_ref` a coordinate).
Invalid fixtures: the converter's raw output, and defects planted in a pipeline copy."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.findings import Severity
from conformance.geozarr.check import check_store
from tests.geozarr.stores import REFLECTANCE as R
from tests.geozarr.stores import copy_store, edit_node

pytestmark = pytest.mark.slow  # the session fixtures run a real conversion

RULE = "geozarr.reader-georef"
LEVELS = ("r10m", "r20m", "r60m", "r120m", "r360m", "r720m")


def _reader_errors(store: Path) -> list[Any]:
    report = check_store(str(store), sample=False, gdal=False)
    return [f for f in report.findings if f.rule == RULE and f.severity is Severity.ERROR]


def test_rioxarray_reads_crs_and_transform_at_every_level_of_the_pipeline_output(pipeline: Path) -> None:
    """The done-when, asserted with rioxarray itself (default options), not through the rule."""
    import rioxarray  # noqa: F401
    import xarray as xr
    import zarr

    for level in LEVELS:
        attrs = zarr.open_group(pipeline / R.strip("/") / level, mode="r").attrs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ds = xr.open_dataset(pipeline / R.strip("/") / level, engine="zarr")
        assert "spatial_ref" in ds.coords, level
        assert ds.rio.crs is not None and ds.rio.crs.to_epsg() == 32632, level
        assert list(ds.rio.transform())[:6] == pytest.approx(attrs["spatial:transform"]), level
        assert ds["b02"].rio.crs.to_epsg() == 32632, level
    assert _reader_errors(pipeline) == []


def test_the_converters_raw_output_fails_on_every_level(converted: Path) -> None:
    errors = _reader_errors(converted)
    assert {f.path for f in errors} == {f"{R}/{lv}{tail}" for lv in LEVELS for tail in ("", "/spatial_ref")}
    assert any("finds no CRS" in f.message for f in errors)


def _no_coordinates(store: Path) -> None:
    for band in ("b02", "b03", "b04", "b08"):
        edit_node(store, f"{R}/r10m/{band}", lambda d: d["attributes"].pop("coordinates"))


def _other_crs(store: Path) -> None:
    from pyproj import CRS

    wkt = CRS.from_epsg(32633).to_wkt("WKT1_GDAL")

    def edit(d: dict[str, Any]) -> None:
        d["attributes"].update(crs_wkt=wkt, spatial_ref=wkt)
    edit_node(store, f"{R}/r60m/spatial_ref", edit)


def _shifted_x(store: Path) -> None:
    import zarr

    x = zarr.open_array(store / R.strip("/") / "r120m" / "x", mode="r+")
    x[...] = x[...] + 1000.0


PLANTED: list[tuple[str, Callable[[Path], None], str, str]] = [
    ("grid mapping not a coordinate", _no_coordinates, f"{R}/r10m", "finds no CRS"),
    ("grid mapping of another CRS", _other_crs, f"{R}/r60m", "sees CRS EPSG:32633"),
    ("coordinates shifted", _shifted_x, f"{R}/r120m", "sees transform"),
]


@pytest.mark.parametrize(("name", "plant", "node", "message"), PLANTED, ids=[p[0] for p in PLANTED])
def test_planted_reader_defect(pipeline: Path, tmp_path: Path, name: str, plant: Callable[[Path], None],
                               node: str, message: str) -> None:
    store = copy_store(pipeline, tmp_path / "store.zarr")
    plant(store)
    errors = _reader_errors(store)
    assert errors, name
    assert {f.path.split("/spatial_ref")[0] for f in errors} == {node}, [f.to_dict() for f in errors]
    assert any(message in f.message for f in errors), [f.message for f in errors]


def test_on_s3_the_rule_opens_each_level_as_zarr_v3_without_v2_probes(
        pipeline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A level whose zarr.json the listing shows is opened as Zarr v3 (what zarr picks anyway):
    no .zgroup/.zattrs/.zmetadata probes, counted at a real S3 server. Same verdict."""
    import boto3
    import s3fs

    from tests.geozarr.counting_s3 import counting_s3

    with counting_s3() as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        boto3.client("s3", endpoint_url=server.endpoint).create_bucket(Bucket="readers")
        s3fs.S3FileSystem(endpoint_url=server.endpoint).put(str(pipeline), "readers/p.zarr", recursive=True)
        server.reset()
        report = check_store("s3://readers/p.zarr", sample=False, gdal=False)
    assert not [f for f in report.findings if f.rule == RULE]
    probes = [p for _, p in server.requests if p.rsplit("/", 1)[-1] in (".zgroup", ".zattrs", ".zmetadata")]
    assert probes == []
    # per level: its zarr.json twice (consolidated attempt, then the group), one per member
    # (bands, x, y, spatial_ref: 15 at r20m) and the x and y chunks: 111 for the 6 levels
    assert report.io["by_kind"]["readers"] <= 20 * len(LEVELS), report.io
