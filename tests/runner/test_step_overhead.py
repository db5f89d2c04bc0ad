"""What a product's steps cost besides the conversion (#10's per-product overhead): each
step reads what it needs once. Measured in requests at a real (moto) S3 server and in
lookups, never in seconds."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import fsspec
import pytest

from runner import storage
from tests.runner.runnerkit import Converted


def test_a_local_listing_is_fsspecs_without_dangling_links(tmp_path: Path) -> None:
    root = tmp_path / "store.zarr"
    for rel, data in {"zarr.json": b"{}", "a/zarr.json": b"{}", "a/c/0/0": b"xyz", ".hidden": b"1"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "a" / "empty-dir").mkdir()
    os.symlink(tmp_path / "nowhere", root / "a" / "dangling")
    fs = fsspec.filesystem("file")
    want = {p.removeprefix(f"{root}/"): int(i["size"]) for p, i in fs.find(str(root), detail=True).items()
            if i["type"] == "file" and not p.endswith("dangling")}
    assert storage.list_files(storage.locate(str(root))) == want == storage.local_files(str(root))
    assert want == {"zarr.json": 2, "a/zarr.json": 2, "a/c/0/0": 3, ".hidden": 1}
    assert storage.list_files(storage.locate(str(tmp_path / "missing"))) == {}


def test_preflight_looks_zarrs_version_up_once(sample_144: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """eopf-geozarr's detection (pydantic-zarr) asks for zarr's version per array; preflight
    answers from the first lookup, with the same verdict, and leaves the module as it was."""
    import pydantic_zarr.v2 as pz

    from runner.preflight import PATH_S2, run_preflight

    calls: list[str] = []
    original = pz.version

    def counted(name: str) -> str:
        calls.append(name)
        return original(name)

    monkeypatch.setattr(pz, "version", counted)
    pre = run_preflight(str(sample_144), [])
    assert pre.conversion_path == PATH_S2 and pre.arrays > 100
    assert calls == ["zarr"]
    assert pz.version is counted


def _upload(converted: Converted, env: dict[str, str], bucket: str, monkeypatch: pytest.MonkeyPatch) -> str:
    from runner.s3 import s3_client

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s3_client().create_bucket(Bucket=bucket)
    uri = f"s3://{bucket}/stores/S2_sample_144.zarr"
    storage.upload_tree(converted.output, storage.locate(uri))
    return uri


def test_the_stac_step_reads_run_json_once_and_the_root_as_zarr_v3(converted_144: Converted, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from runner.cli import main
    from tests.geozarr.counting_s3 import counting_s3

    with counting_s3() as server:
        uri = _upload(converted_144, server.env(), "stac-requests", monkeypatch)
        server.reset()
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            code = main(["stac", uri, "--collection", "sentinel-2-l2a", "--item-id", "S2_sample_144",
                         "-o", str(tmp_path / "item.json"), "--quiet"])
    assert code == 0
    run_json = [r for r in server.requests if r[1].endswith("/run.json")]
    assert [m for m, _ in run_json].count("GET") == 1, run_json
    # run.json, and the root's zarr.json (consolidated) as Zarr v3: no v2 probes, no listings
    # (15 requests before: run.json read twice after existence checks, .zgroup/.zattrs/.zmetadata)
    assert server.count <= 3 and server.listings == 0, server.requests


def test_reading_run_json_is_one_request_whether_or_not_it_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    """No existence check (a HEAD, and on S3 a listing after a 404) before the GET."""
    from runner import manifest
    from tests.geozarr.counting_s3 import counting_s3

    with counting_s3() as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        from runner.s3 import s3_client

        s3_client().create_bucket(Bucket="one-read")
        storage.write_text(storage.locate("s3://one-read/done.zarr/run.json"), '{"item_id": "x"}')
        server.reset()
        assert manifest.read("s3://one-read/done.zarr") == {"item_id": "x"}
        assert manifest.read("s3://one-read/new.zarr") is None
    assert server.requests == [("GET", "/one-read/done.zarr/run.json"), ("GET", "/one-read/new.zarr/run.json")]


def test_a_local_read_says_none_only_when_nothing_is_there(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text("{}")
    assert storage.read_text_if_exists(storage.locate(str(tmp_path / "run.json"))) == "{}"
    assert storage.read_text_if_exists(storage.locate(str(tmp_path / "missing.json"))) is None
    assert storage.read_text_if_exists(storage.locate(str(tmp_path / "run.json" / "x.json"))) is None
    with pytest.raises(IsADirectoryError):
        storage.read_text_if_exists(storage.locate(str(tmp_path)))


def test_taking_over_a_fresh_s3_output_is_one_listing_and_the_marker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing under OUTPUT/ (its listing says so): no run.json to look for, nothing to remove,
    the marker written once."""
    from runner import ownership
    from runner.convert import _take_over
    from runner.events import EventLog
    from tests.geozarr.counting_s3 import counting_s3

    with counting_s3() as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        from runner.s3 import s3_client

        s3_client().create_bucket(Bucket="take-over")
        server.reset()
        mark = ownership.marker("s3://take-over/new.zarr", "/src.zarr", "now", "run-1")
        _take_over("s3://take-over/new.zarr", mark, EventLog("test", quiet=True))
        assert ownership.owned("s3://take-over/new.zarr")
    put = server.requests.index(("PUT", "/take-over/new.zarr/.geozarr-runner.json"))
    before = server.requests[:put]
    # s3fs's find: the listing, then (nothing found) a HEAD and a listing of the path itself;
    # before: 9 requests (run.json looked up, OUTPUT listed twice, the marker written twice)
    assert len(before) <= 3 and not [p for _, p in before if "run.json" in p], before
    assert [r for r in server.requests if r[0] == "PUT"] == [server.requests[put]]


def test_the_runner_parser_is_built_once_and_keeps_nothing_between_parses() -> None:
    from runner import cli

    first = cli._parser().parse_args(["stac", "/a.zarr", "-o", "/i.json", "--xyz-url", "https://x/{z}"])
    second = cli._parser().parse_args(["stac", "/b.zarr", "-o", "/j.json"])
    assert cli._parser() is cli._parser()
    assert (first.output, first.xyz_url) == ("/a.zarr", "https://x/{z}")
    assert (second.output, second.xyz_url, second.item_out) == ("/b.zarr", None, "/j.json")


def test_a_metadata_document_is_written_without_jsons_python_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The repair's rewritten zarr.json documents (a store's root: 300 KB) are indented by orjson;
    the json module's indenting encoder (pure Python, 40x slower) is not called for them."""
    import json

    from runner import metadata_docs

    doc = {"zarr_format": 3, "node_type": "group", "attributes": {
        "name": "Réflectance", "scale": [1e-07, 0.5, 10.0], "n": 2**63 - 1, "empty": {}, "none": None,
        "nested": [{"a": [1, 2]}, []]}}
    want = json.dumps(doc, indent=2, allow_nan=True)

    def pure_python(*_a: object, **_k: object) -> None:
        raise AssertionError("json's indenting encoder was used")

    monkeypatch.setattr(json.encoder, "_make_iterencode", pure_python)
    got = metadata_docs.dumps(doc)
    assert json.loads(got) == doc == json.loads(want)
    assert got.decode().splitlines()[:3] == want.splitlines()[:3]  # same layout: 2-space indent


def test_a_metadata_document_keeps_what_orjson_would_change() -> None:
    """NaN, infinities (orjson: null) and integers beyond 64 bits (orjson: refused) are written
    as zarr-python writes them."""
    import json
    import math

    from runner import metadata_docs

    for value in (math.nan, math.inf, -math.inf, 2**70):
        doc = {"attributes": {"_FillValue": value, "ok": 1.5}}
        got = json.loads(metadata_docs.dumps(doc))["attributes"]
        assert got["ok"] == 1.5
        assert math.isnan(got["_FillValue"]) if math.isnan(value) else got["_FillValue"] == value


def _zarr_view(uri: str) -> tuple[dict, dict, dict]:
    """(root attributes, groups, sorted arrays) as zarr opens the store."""
    from runner.stac_item import _open_root, read_hierarchy

    root = _open_root(uri)
    tree = read_hierarchy(root)
    return dict(root.attrs), tree.groups, {k: sorted(v) for k, v in tree.arrays.items()}


def test_the_stac_step_reads_a_consolidated_root_as_json_seeing_what_zarr_sees(
        converted_144: Converted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The item needs the groups' attributes and the arrays' names: no array's metadata is parsed
    (zarr parses ~190 for a Sentinel-2 store to list them), and the view is zarr's own; a store
    without consolidated metadata is opened through zarr."""
    import zarr
    from zarr.core.metadata.v3 import ArrayV3Metadata

    from runner.stac_item import read_tree

    plain = tmp_path / "plain.zarr"
    zarr.open_group(str(plain), mode="w").create_group("a").create_array("b", shape=(2,), dtype="u1")
    for uri in (str(converted_144.output), str(plain)):
        want = _zarr_view(uri)
        parsed: list[dict] = []
        original = ArrayV3Metadata.from_dict.__func__

        def counted(cls: type, d: dict, _parsed: list = parsed, _original=original) -> object:
            _parsed.append(d)
            return _original(cls, d)

        monkeypatch.setattr(ArrayV3Metadata, "from_dict", classmethod(counted))
        attrs, tree = read_tree(uri)
        monkeypatch.undo()
        assert (attrs, tree.groups, {k: sorted(v) for k, v in tree.arrays.items()}) == want
        assert (parsed == []) == (uri != str(plain)), uri
    assert len(want[2]["/a"]) == 1 and len(_zarr_view(str(converted_144.output))[1]) > 20


def test_preflight_counts_a_consolidated_hierarchy_from_its_documents(
        sample_144: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The groups and arrays of a consolidated input come from its metadata documents, as zarr
    would list them walking the members (which builds every array)."""
    import zarr

    from runner.preflight import _hierarchy, open_source

    walked = _hierarchy(zarr.open_group(str(sample_144), mode="r", use_consolidated=False))
    root, consolidated = open_source(str(sample_144))
    assert consolidated
    monkeypatch.setattr(zarr.Group, "members", lambda *_a, **_k: pytest.fail("members walked"))
    assert _hierarchy(root) == walked
    assert len(walked[0]) > 20 and walked[1] > 100


def test_run_json_looks_package_versions_up_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    from runner import manifest

    manifest._version.cache_clear()
    looked_up: list[str] = []
    original = metadata.version
    monkeypatch.setattr(metadata, "version", lambda dist: looked_up.append(dist) or original(dist))
    first = manifest.versions()
    assert manifest.versions() == first and first["zarr"] == original("zarr")
    assert sorted(looked_up) == ["eopf-geozarr", "xarray", "zarr"]
