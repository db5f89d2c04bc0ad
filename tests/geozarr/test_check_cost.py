"""What a GeoZarr check costs in calls (never seconds): zarr metadata parses, zarr round
trips, model scans. Each test fails without the saving it guards; the verdicts it keeps
are the rule tests' (test_geozarr_rules.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from zarr.core.metadata.v3 import ArrayV3Metadata

from conformance.geozarr import arrays, readers, spatial, zarr_format
from conformance.geozarr.context import GeoZarrContext, layout_levels
from conformance.geozarr.model import load_model
from conformance.geozarr.reader import read_window, zarr_metadata
from conformance.geozarr.store import open_store
from tests.geozarr.stores import copy_store, rewrite_data

pytestmark = pytest.mark.slow  # the session fixture runs a real conversion


def _ctx(store: Path) -> GeoZarrContext:
    access = open_store(str(store))
    return GeoZarrContext(access=access, model=load_model(access))


def _without_attributes(meta: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in meta.items() if k != "attributes"}, sort_keys=True)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every `ArrayV3Metadata.from_dict` call from now on (zarr's own parse still runs)."""
    calls: list[dict[str, Any]] = []
    real = ArrayV3Metadata.from_dict.__func__  # type: ignore[attr-defined]

    def counting(cls: type[ArrayV3Metadata], data: dict[str, Any]) -> ArrayV3Metadata:
        calls.append(data)
        return real(cls, data)

    monkeypatch.setattr(ArrayV3Metadata, "from_dict", classmethod(counting))
    return calls


def test_codecs_rule_parses_each_distinct_metadata_once(converted: Path, parses: list[dict[str, Any]]) -> None:
    """A converted store repeats one metadata (apart from attributes) on many arrays: 187
    arrays, 32 distinct. zarr parses each distinct one once."""
    ctx = _ctx(converted)
    v3 = [m for p, m in ctx.model.nodes.items() if ctx.model.is_array(p) and m.get("zarr_format") == 3]
    distinct = {_without_attributes(m) for m in v3}
    assert len(distinct) < len(v3) / 2
    assert list(arrays.check_codecs(ctx)) == []
    assert len(parses) == len(distinct)


def test_reading_an_array_reuses_the_codecs_rules_parse(converted: Path, parses: list[dict[str, Any]]) -> None:
    """Sampled and coordinate arrays are built from the parse geozarr.array-codecs already
    made: no zarr.json round trip through zarr's open (one parse and one zarr call fewer per
    array), and the same values as zarr's own open of the store's array."""
    ctx = _ctx(converted)
    list(arrays.check_codecs(ctx))
    before = len(parses)
    for path in ("/measurements/reflectance/r60m/x", "/measurements/reflectance/r60m/b01"):
        got = read_window(ctx, path, ctx.model.nodes[path])
        want = zarr.open_array(str(converted / path.strip("/")), mode="r")[...]
        np.testing.assert_array_equal(got, want)
    assert len(parses) == before + 2  # the two zarr.open_array of the comparison only


def test_zarr_metadata_raises_what_zarr_raises(converted: Path) -> None:
    """The shared parse fails exactly as zarr's: a bad codec (cached: every array with it gets
    the error), and attributes that are not a JSON object (never cached)."""
    ctx = _ctx(converted)
    meta = dict(ctx.model.nodes["/measurements/reflectance/r60m/b01"])
    bad_codec = {**meta, "codecs": [*meta["codecs"], {"name": "no-such-codec", "configuration": {}}]}
    bad_attrs = {**meta, "attributes": ["not", "an", "object"]}
    for bad in (bad_codec, {**bad_codec, "attributes": {"other": 1}}, bad_attrs):
        with pytest.raises(Exception) as zarr_error:  # whatever zarr raises
            ArrayV3Metadata.from_dict(dict(bad))
        with pytest.raises(type(zarr_error.value)) as ours:
            zarr_metadata(ctx, bad)
        assert str(ours.value) == str(zarr_error.value)
    assert zarr_metadata(ctx, meta).codecs == ArrayV3Metadata.from_dict(dict(meta)).codecs


class _CountingNodes(dict[str, dict[str, Any]]):
    """A model's nodes that count the scans over them."""

    scans = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        type(self).scans += 1
        return super().__iter__()


def test_children_are_indexed_once(converted: Path) -> None:
    """The rules ask for a group's children ~100 times per store: one scan of the nodes, not
    one per question; the answers are the prefix scan's."""
    model = _ctx(converted).model
    brute = {path: sorted(p for p in model.nodes if p.startswith(path.rstrip("/") + "/")
                          and "/" not in p[len(path.rstrip("/")) + 1:] and p != path) for path in model.nodes}
    model.nodes = _CountingNodes(model.nodes)
    _CountingNodes.scans = 0
    assert {path: model.children(path) for path in brute} == brute
    assert _CountingNodes.scans == 1
    model.nodes["/measurements/extra"] = {"node_type": "group"}
    assert "/measurements/extra" in model.children("/measurements")


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every window zarr decodes from now on (`zarr.Array.__getitem__`)."""
    calls: list[Any] = []
    real = zarr.Array.__getitem__

    def counting(self: zarr.Array, selection: Any) -> Any:
        calls.append(selection)
        return real(self, selection)

    monkeypatch.setattr(zarr.Array, "__getitem__", counting)
    return calls


def test_repeated_coordinates_are_decoded_once(converted: Path, tmp_path: Path, decodes: list[Any],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Every group of a resolution repeats its x/y arrays (same metadata, same chunk bytes): zarr
    decodes each distinct one once (38 coordinate arrays, 12 distinct), and a copy whose bytes
    differ is decoded on its own (its shifted values are found there, and only there)."""
    store = copy_store(converted, tmp_path / "store.zarr")
    shifted = "/measurements/reflectance/r60m/x"
    rewrite_data(store, shifted, lambda v: v + 60.0)
    ctx = _ctx(store)
    read: list[str] = []
    real_read = spatial.read_window

    def reading(ctx: GeoZarrContext, path: str, meta: dict[str, Any], window: Any = None) -> Any:
        read.append(path)
        return real_read(ctx, path, meta, window)

    monkeypatch.setattr(spatial, "read_window", reading)
    found = list(spatial.check_coords(ctx))
    assert [f.path for f in found] == [shifted]
    assert "/quality/mask/r60m/x" in read and shifted in read
    assert len(decodes) < len(read) / 2


def test_coordinates_are_fetched_in_one_batch(converted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The coordinate arrays of every group are all read: their chunks are fetched in one
    batch (one concurrent round trip on S3, not one per array), each object once."""
    ctx = _ctx(converted)
    batches: list[list[str]] = []
    real = ctx.access.read_many

    def counting(keys: list[str]) -> dict[str, bytes | None]:
        if keys:
            batches.append(keys)
        return real(keys)

    monkeypatch.setattr(ctx.access, "read_many", counting)
    assert list(spatial.check_coords(ctx)) == []
    assert len(batches) == 1 and len(batches[0]) == len(set(batches[0])) > 30
    assert ctx.access.stats.by_kind["sample"] == len(batches[0])


def test_consolidated_mismatch_parses_each_document_once(converted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The multiscales group's zarr.json holds its nested consolidated map (the largest
    document read after the root's): each document it reads is parsed once."""
    ctx = _ctx(converted)
    read: list[str] = []
    parsed: list[bytes] = []
    real_read, real_loads = ctx.access.read_many, zarr_format.bounded_json.loads
    monkeypatch.setattr(ctx.access, "read_many", lambda keys: (read.extend(keys), real_read(keys))[1])
    monkeypatch.setattr(zarr_format.bounded_json, "loads", lambda data: (parsed.append(data), real_loads(data))[1])
    assert list(zarr_format.check_consolidated_mismatch(ctx)) == []
    assert len(read) >= 7 and len(parsed) == len(read)


def test_legacy_rule_identifies_each_group_crs_once(converted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """proj:epsg of every band is compared with its group's CRS, identified (`to_epsg`, a PROJ
    search) once per group, not once per band."""
    from pyproj import CRS

    ctx = _ctx(converted)
    groups = spatial._spatial_groups(ctx)
    with_epsg = [a for g in groups for a in spatial.spatial_arrays(ctx.model, g) if "proj:epsg" in ctx.model.attrs(a)]
    assert len(with_epsg) > 2 * len(groups)
    calls: list[CRS] = []
    real = CRS.to_epsg
    monkeypatch.setattr(CRS, "to_epsg", lambda self, *a, **k: (calls.append(self), real(self, *a, **k))[1])
    list(spatial.check_legacy(ctx))
    assert 0 < len(calls) <= len(groups)


def test_reader_rule_builds_only_the_data_arrays_rioxarray_is_asked_about(
        pipeline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule asks rioxarray for each level's CRS and transform and each band's CRS; its own
    questions (grid mappings, dimensions) read the Variables: no DataArray built per variable
    per question (339 -> 207 per store)."""
    import rioxarray  # noqa: F401 - the .rio accessor
    from xarray.core.dataset import Dataset

    ctx = _ctx(pipeline)
    built: list[str] = []
    real = Dataset._construct_dataarray
    monkeypatch.setattr(Dataset, "_construct_dataarray", lambda self, name: (built.append(name), real(self, name))[1])
    levels = [lv.path for g in ctx.model.multiscale_groups() for lv in layout_levels(ctx.model, g)]
    for path in levels:  # the questions alone, asked of xarray's default open
        with readers._open_level(ctx, path) as ds:
            _ = ds.rio.crs
            for name in sorted(n for n in ds.data_vars if ds.variables[n].ndim >= 2):
                _ = ds[name].rio.crs
            ds.rio.transform()
    asked = len(built)
    built.clear()
    assert list(readers.check_readers(ctx)) == []
    assert len(built) == asked > 0
