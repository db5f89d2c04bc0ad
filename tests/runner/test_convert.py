"""`convert` (and `preflight`, `manifest`) on real conversions: local and S3,
bad inputs, transient S3 failures, reruns."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import zarr

from runner.manifest import MANIFEST_NAME
from runner.ownership import MARKER_NAME
from tests.fixtures_s3 import FailingHTTPServer
from tests.runner.runnerkit import REPO, Converted, json_lines, run_runner

SCHEMA = json.loads((REPO / "schemas" / "run-manifest.schema.json").read_text())


def _errors(stderr: str) -> list[dict[str, object]]:
    return [e for e in json_lines(stderr) if e["level"] == "error"]


# --- local conversion -------------------------------------------------------------


@pytest.mark.slow
def test_convert_contract(converted_144: Converted) -> None:
    out = converted_144.stdout_json
    assert out["output"] == converted_144.output
    assert out["manifest"] == f"{converted_144.output}/{MANIFEST_NAME}"
    assert out["conversion_path"] == "s2-optimized" and out["product_type"] == "S02MSIL2A"
    assert (converted_144.outputs_dir / "output").read_text() == converted_144.output
    assert (converted_144.outputs_dir / "manifest").read_text() == out["manifest"]
    # the step metrics' inputs (docs/metrics.md): bytes written this run, the product type
    assert int((converted_144.outputs_dir / "bytes").read_text()) == out["bytes"] > 0
    assert (converted_144.outputs_dir / "product_type").read_text() == "S02MSIL2A"
    events = json_lines(converted_144.result.stderr)  # every line is one JSON object
    assert all({"ts", "step", "level", "message"} <= set(e) for e in events)
    assert all(e["step"] == "convert" for e in events)
    progress = [e for e in events if e.get("event") == "progress"]
    assert progress and progress[-1]["done"] == progress[-1]["total"]
    assert not _errors(converted_144.result.stderr)


@pytest.mark.slow
def test_output_is_the_s2_pyramid(converted_144: Converted) -> None:
    refl = zarr.open_group(Path(converted_144.output) / "measurements" / "reflectance", mode="r")
    assert {"r10m", "r20m", "r60m", "r120m", "r360m", "r720m"} <= set(refl.group_keys())
    layout = refl.attrs["multiscales"]["layout"]
    assert [e["asset"] for e in layout] == ["r10m", "r20m", "r60m", "r120m", "r360m", "r720m"]
    assert refl["r720m"]["b04"].shape == (2, 2)


@pytest.mark.slow
def test_manifest_is_valid_complete_and_written_last(converted_144: Converted) -> None:
    store = Path(converted_144.output)
    doc = json.loads((store / MANIFEST_NAME).read_text())
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(doc)
    files = [p for p in store.rglob("*") if p.is_file() and p.name not in (MANIFEST_NAME, MARKER_NAME)]
    assert (store / MARKER_NAME).is_file()  # the ownership marker: not part of the inventory
    assert doc["output"]["objects"] == len(files)
    assert doc["output"]["bytes"] == sum(p.stat().st_size for p in files)
    zarr_jsons = {str(p.relative_to(store)) for p in files if p.name == "zarr.json"}
    assert set(doc["metadata_documents"]) == zarr_jsons
    import hashlib

    for rel, digest in doc["metadata_documents"].items():
        assert hashlib.sha256((store / rel).read_bytes()).hexdigest() == digest, rel
    newest = max(store.rglob("*"), key=lambda p: p.stat().st_mtime_ns)
    assert newest.name == MANIFEST_NAME
    assert doc["versions"]["eopf_geozarr"] == "0.12.0"
    assert doc["parameters"] == {"spatial_chunk": 256, "enable_sharding": False, "compression_level": 3}
    assert set(doc["timings"]) >= {"preflight", "convert", "repair", "manifest", "total"}
    assert doc["collection"] == "sentinel-2-l2a" and doc["item_id"] == "S2_sample_144"
    r = run_runner("manifest", str(store), "--json", "--quiet")
    assert r.returncode == 0 and json.loads(r.stdout)["verified"] is True


@pytest.mark.slow
def test_derived_levels_proj_attributes_are_repaired(converted_144: Converted) -> None:
    store = Path(converted_144.output)
    doc = json.loads((store / MANIFEST_NAME).read_text())
    repaired = {r["path"] for r in doc["repairs"]}
    assert "/measurements/reflectance/r120m/b04" in repaired
    assert "/measurements/reflectance/r20m/b08" in repaired  # injected from r10m by the converter
    root = zarr.open_consolidated(store, mode="r")
    refl_consolidated = zarr.open_consolidated(store / "measurements" / "reflectance", mode="r")
    for level in ("r10m", "r20m", "r60m", "r120m", "r360m", "r720m"):
        group = root[f"measurements/reflectance/{level}"]
        t = group.attrs["spatial:transform"]
        for name, arr in group.arrays():
            if "proj:shape" not in arr.attrs:
                continue
            for view in (arr, zarr.open_array(store / "measurements" / "reflectance" / level / name, mode="r"),
                         refl_consolidated[f"{level}/{name}"]):
                assert list(view.attrs["proj:shape"]) == list(arr.shape[-2:]), (level, name)
                assert list(view.attrs["proj:transform"])[:6] == list(t), (level, name)
                assert list(view.attrs["proj:bbox"]) == list(group.attrs["spatial:bbox"]), (level, name)


@pytest.mark.slow
def test_rerun_of_a_complete_output_is_a_no_op(converted_144: Converted, sample_144: Path) -> None:
    store = Path(converted_144.output)
    before = (store / MANIFEST_NAME).read_text()
    r = run_runner("convert", str(sample_144), str(store), "--collection", "sentinel-2-l2a", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["skipped"] is True
    assert (store / MANIFEST_NAME).read_text() == before


@pytest.mark.slow
def test_rerun_over_a_half_written_output(sample_72: Path, tmp_path: Path) -> None:
    from runner import ownership

    out = tmp_path / "half.zarr"
    # what a killed run leaves: its ownership marker, some metadata and chunks, a stray file,
    # no run.json
    (out / "measurements" / "reflectance" / "r10m" / "b02" / "c" / "0").mkdir(parents=True)
    ownership.claim(str(out), ownership.marker(str(out), str(sample_72), "t", "killed-run"))
    (out / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group", "attributes": {}}')
    (out / "measurements" / "reflectance" / "r10m" / "b02" / "c" / "0" / "0").write_bytes(b"\x00" * 10)
    (out / "stale-leftover.bin").write_bytes(b"x")
    r = run_runner("convert", str(sample_72), str(out), "--collection", "c", "--json", "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["skipped"] is False
    assert not (out / "stale-leftover.bin").exists()
    assert (out / MANIFEST_NAME).is_file()
    assert run_runner("manifest", str(out), "--quiet").returncode == 0
    # a tampered store no longer matches its manifest
    (out / "measurements" / "reflectance" / "r10m" / "zarr.json").write_text("{}")
    r = run_runner("manifest", str(out))
    assert r.returncode == 1 and "SHA-256 differs" in _errors(r.stderr)[0]["message"]


# --- bad input ----------------------------------------------------------------------


def test_bad_group_exits_2_listing_available_and_closest(sample_72: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.zarr"
    for step in (["preflight", str(sample_72)], ["convert", str(sample_72), str(out)]):
        r = run_runner(*step, "--groups", "measurements/reflectance/r15m", "/quality")
        assert r.returncode == 2, r.stderr
        errs = _errors(r.stderr)
        assert len(errs) == 1
        msg = str(errs[0]["message"])
        assert "group /measurements/reflectance/r15m not found" in msg
        assert "closest: /measurements/reflectance/r10m" in msg and "available groups: /" in msg
        assert "Traceback" not in r.stderr
    assert not out.exists()


def test_preflight_reports_product_and_path(sample_72: Path, tmp_path: Path) -> None:
    r = run_runner("preflight", str(sample_72), "--groups", "measurements/reflectance/r10m/", "--json",
                   "--outputs-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["product_type"] == "S02MSIL2A" and out["conversion_path"] == "s2-optimized"
    assert out["groups"] == ["/measurements/reflectance/r10m"] and out["consolidated"] is True
    assert (tmp_path / "conversion_path").read_text() == "s2-optimized"
    assert json.loads((tmp_path / "groups").read_text()) == ["/measurements/reflectance/r10m"]


def test_s2_product_the_converter_would_not_detect(sample_72: Path, tmp_path: Path) -> None:
    """An extra variable (what rio.write_crs adds) makes the converter silently take the
    generic path; preflight refuses it unless --allow-generic."""
    src = tmp_path / "extra.zarr"
    shutil.copytree(sample_72, src)
    g = zarr.open_group(src, mode="r+")
    g["measurements/reflectance/r10m"].create_array("spatial_ref", shape=(), dtype="int64")
    zarr.consolidate_metadata(str(src))
    r = run_runner("preflight", str(src))
    assert r.returncode == 2
    msg = str(_errors(r.stderr)[0]["message"])
    assert "rejects it" in msg and "generic path" in msg and "spatial_ref" in msg
    from runner.preflight import run_preflight

    pre = run_preflight(str(src), ["/measurements/reflectance/r10m"], allow_generic=True)
    assert pre.conversion_path == "generic"
    assert any("rejects it" in n for n in pre.notes)


@pytest.mark.parametrize(
    "make_source, needle",
    [
        (lambda p: p / "does-not-exist.zarr", "no Zarr group there"),
        (lambda p: (p / "empty-dir").mkdir() or p / "empty-dir", "no Zarr group there"),
        (lambda p: (p / "file.zarr").write_text("not zarr") or p / "file.zarr", "no Zarr group there"),
    ],
    ids=["missing", "empty-directory", "a-file"],
)
def test_unreadable_input_exits_2(make_source, needle: str, tmp_path: Path) -> None:
    src = make_source(tmp_path)
    out = tmp_path / "o.zarr"
    r = run_runner("convert", str(src), str(out))
    assert r.returncode == 2, r.stderr
    errs = _errors(r.stderr)
    assert len(errs) == 1 and needle in str(errs[0]["message"])
    assert "Traceback" not in r.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "args, env, needle",
    [
        (["--compression-level", "12"], {}, "compression_level 12"),
        (["--spatial-chunk", "0"], {}, "spatial_chunk 0"),
        ([], {"SPATIAL_CHUNK": "big"}, "parameter spatial_chunk from SPATIAL_CHUNK"),
        ([], {"ENABLE_SHARDING": "maybe"}, "parameter enable_sharding"),
    ],
)
def test_bad_parameters_exit_2(args: list[str], env: dict[str, str], needle: str, sample_72: Path, tmp_path: Path) -> None:
    r = run_runner("convert", str(sample_72), str(tmp_path / "o.zarr"), *args, env=env)
    assert r.returncode == 2, r.stderr
    assert needle in str(_errors(r.stderr)[0]["message"])


def test_missing_credentials_exit_2(sample_72: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    r = run_runner("convert", str(sample_72), "s3://bucket/x/o.zarr", env=env)
    assert r.returncode == 2, r.stderr
    assert "no S3 credentials" in str(_errors(r.stderr)[0]["message"])


def test_no_output_and_no_bucket_exit_2(sample_72: Path) -> None:
    r = run_runner("convert", str(sample_72), "--collection", "c")
    assert r.returncode == 2
    assert "output_bucket" in str(_errors(r.stderr)[0]["message"])


# --- transient S3 failures ----------------------------------------------------------


@pytest.mark.parametrize("status", [500])
def test_s3_5xx_exit_3_and_nothing_complete(status: int, sample_72: Path) -> None:
    with FailingHTTPServer(status) as server:
        env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ENDPOINT_URL": server.endpoint,
               "GEOZARR_S3_MAX_ATTEMPTS": "1"}
        r = run_runner("convert", str(sample_72), "s3://bucket/x/o.zarr", env=env)
        assert r.returncode == 3, r.stderr[-2000:]
        err = _errors(r.stderr)
        assert len(err) == 1 and err[0]["exit_code"] == 3
        r = run_runner("preflight", "s3://bucket/in/S2.zarr", env=env)
        assert r.returncode == 3, r.stderr[-2000:]


def test_s3_connection_refused_exit_3(sample_72: Path) -> None:
    import socket

    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "GEOZARR_S3_MAX_ATTEMPTS": "1"}
    r = run_runner("convert", str(sample_72), "s3://bucket/x/o.zarr", env=env)
    assert r.returncode == 3, r.stderr[-2000:]


# --- real S3 ------------------------------------------------------------------------


@pytest.mark.slow
def test_convert_to_s3(converted_s3_72, s3_server) -> None:
    converted, env = converted_s3_72
    out = converted.stdout_json
    assert out["output"] == converted.output
    assert out["manifest"] == converted.output + "/run.json"
    keys = s3_server.keys("geozarr-out", "tests/sentinel-2-l2a/S2_sample_72.zarr/")
    assert "tests/sentinel-2-l2a/S2_sample_72.zarr/run.json" in keys
    assert "tests/sentinel-2-l2a/S2_sample_72.zarr/measurements/reflectance/r720m/zarr.json" in keys
    body = s3_server.client().get_object(Bucket="geozarr-out", Key="tests/sentinel-2-l2a/S2_sample_72.zarr/run.json")
    doc = json.loads(body["Body"].read())
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert f"tests/sentinel-2-l2a/S2_sample_72.zarr/{MARKER_NAME}" in keys
    assert doc["output"]["objects"] == len(keys) - 2  # neither run.json nor the ownership marker
    r = run_runner("manifest", converted.output, "--quiet", env=env)
    assert r.returncode == 0, r.stderr
