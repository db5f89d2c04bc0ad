"""The command line: exit codes, --json report (validated against the shared
schema), --output to a file or s3://, one-line errors, and checks on s3:// stores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conformance.__main__ import main
from tests.geozarr.stores import copy_store, remove_node
from tooling.repo import SCHEMAS

# eopf-geozarr 0.12's derived b08 holds 0.0 where r10m is no-data (see test_geozarr_rules)
# the raw converter output's known defects: rioxarray finds no CRS (spatial_ref is no coordinate),
# and b08 of r20m/r60m averaged with no-data as 0 (the runner repairs both)
RAW_B08 = [("geozarr.reader-georef", f"/measurements/reflectance/{level}{tail}")
           for level in ("r10m", "r20m", "r60m", "r120m", "r360m", "r720m") for tail in ("/spatial_ref", "")] + [
    ("geozarr.data-resampling", f"/measurements/reflectance/{level}/b08") for level in ("r20m", "r60m")]
REPORT_SCHEMA = json.loads((SCHEMAS / "conformance-report.schema.json").read_text())


def _validate(report: dict) -> None:
    jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(report)


@pytest.mark.slow
def test_json_report(converted: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "reports" / "geozarr.json"
    code = main(["geozarr", str(converted), "--json", "--output", str(out)])
    printed = json.loads(capsys.readouterr().out)
    # the raw converter output has its known b08 data defect
    assert code == 1 and printed["passed"] is False
    assert [(f["rule"], f["path"]) for f in printed["findings"] if f["severity"] == "error"] == RAW_B08
    _validate(printed)
    assert json.loads(out.read_text())["findings"] == printed["findings"]
    assert {r["id"] for r in printed["rules"]} >= {"geozarr.zarr-v3", "geozarr.gdal-interop"}
    assert printed["io"]["requests"] > 0 and printed["timings"]["total_seconds"] > 0


@pytest.mark.slow
def test_error_findings_exit_1_with_table(converted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = copy_store(converted, tmp_path / "s.zarr")
    remove_node(store, "/measurements/reflectance/r720m", consolidated=True)
    assert main(["geozarr", str(store)]) == 1
    out = capsys.readouterr().out
    assert "geozarr.multiscales-layout" in out and "/measurements/reflectance/r720m" in out
    assert out.splitlines()[-1].startswith("FAIL geozarr")


@pytest.mark.parametrize("argv", [
    ["geozarr", "/nonexistent/store.zarr"],
    ["stac", "/nonexistent/item.json"],
    ["geozarr"],
    ["nonsense", "x"],
])
def test_cannot_run_is_one_line_exit_2(argv: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "conformance", *argv], check=False, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_cannot_run_json_still_prints_a_valid_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["geozarr", "/nonexistent/store.zarr", "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    _validate(report)
    assert report["passed"] is False and report["exit_code"] == 2 and "no such store" in report["error"]


def test_schema_accepts_a_dag_report_with_nested_checks() -> None:
    sub = {"passed": True, "findings": [], "kind": "geozarr"}
    dag = {"passed": False, "findings": [], "kind": "conformance", "env": "local", "run_id": "r1",
           "template": {"git_sha": "abc123", "rendered_hash": "sha256:00"}, "image": "runner@sha256:00",
           "tasks": [{"name": "convert", "phase": "Succeeded", "seconds": 3.2}],
           "checks": {"geozarr": sub, "stac": {**sub, "kind": "stac"}}}
    _validate(dag)
    dag["checks"]["stac"]["findings"] = [{"rule": "x", "severity": "fatal", "path": "", "message": "m"}]
    with pytest.raises(jsonschema.ValidationError):
        _validate(dag)


@pytest.mark.slow
def test_s3_store_with_a_planted_defect(converted: Path, tmp_path: Path, s3_bucket: str,
                                        s3_env: dict[str, str]) -> None:
    import s3fs

    store = copy_store(converted, tmp_path / "s.zarr")
    remove_node(store, "/measurements/reflectance/r20m/b05", consolidated=False)
    s3fs.S3FileSystem(endpoint_url=s3_env["AWS_ENDPOINT_URL"]).put(str(store), f"{s3_bucket}/bad.zarr",
                                                                   recursive=True)
    from conformance.geozarr.check import check_store

    report = check_store(f"s3://{s3_bucket}/bad.zarr")
    errors = {(f.rule, f.path) for f in report.findings if f.severity == "error"}
    assert ("geozarr.consolidated-stale", "/measurements/reflectance/r20m/b05") in errors
    assert errors - set(RAW_B08) == {("geozarr.consolidated-stale", "/measurements/reflectance/r20m/b05")}


@pytest.mark.slow
def test_s3_store_counts_real_requests_and_gdal_reads_vsis3(
        converted: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """On s3:// the findings are the local ones, and io.requests is every request the check
    made (checked against a server that counts them), GDAL's own included (by_kind.gdal),
    except the directory listings GDAL makes after a missing file, which its network
    statistics leave out (the report's note says so)."""
    import boto3
    import s3fs

    from tests.geozarr.counting_s3 import counting_s3

    with counting_s3() as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        boto3.client("s3", endpoint_url=server.endpoint).create_bucket(Bucket="counted")
        fs = s3fs.S3FileSystem(endpoint_url=server.endpoint)
        fs.put(str(converted), "counted/out/s.zarr", recursive=True)
        before, listings_before = server.count, server.listings
        code = main(["geozarr", "s3://counted/out/s.zarr", "--json"])
        served, listings = server.count - before, server.listings - listings_before
        report = json.loads(capsys.readouterr().out)
        assert main(["geozarr", "s3://counted/out/s.zarr", "--json", "--output", "s3://counted/reports/g.json"]) == 1
        assert json.loads(fs.cat_file("counted/reports/g.json"))["findings"] == report["findings"]
    errors = [(f["rule"], f["path"]) for f in report["findings"] if f["severity"] == "error"]
    assert errors == RAW_B08 and code == 1  # as locally
    gdal = next(r for r in report["rules"] if r["id"] == "geozarr.gdal-interop")
    assert "skipped" not in gdal and gdal["findings"] == 0
    io = report["io"]
    # metadata: 1 root read + 1 paginated listing + the multiscales group and its 6 levels
    assert io["by_kind"]["metadata"] <= 8 and io["by_kind"]["list"] <= 2
    assert io["by_kind"]["gdal"] > 0 and io["gdal"]["bytes"] > 0
    assert io["requests"] == sum(io["by_kind"].values())
    # what the report misses are GDAL's uncounted listings: at most two per level it opens
    # (6 levels; measured: 12 of 162 requests, GDAL 3.12.2)
    missed = served - io["requests"]
    assert 0 <= missed <= min(2 * 6, listings - io["by_kind"]["list"]), (io, served, listings)
    assert "include GDAL's own" in io["note"] and "directory listings" in io["note"]


@pytest.mark.slow
def test_local_report_says_gdal_reads_are_not_counted(converted: Path) -> None:
    from conformance.geozarr.check import check_store

    report = check_store(str(converted))
    assert "gdal" not in report.io["by_kind"] and "GDAL's own file reads" in report.io["note"]
    assert "note" not in check_store(str(converted), gdal=False, sample=False).io


@pytest.mark.slow
def test_outputs_dir_holds_the_finding_counts(converted: Path, tmp_path: Path) -> None:
    """The DAG's validate step reads these as output parameters (its check-errors metric)."""
    assert main(["geozarr", str(converted), "--json", "--outputs-dir", str(tmp_path)]) == 1
    assert (tmp_path / "errors").read_text() == str(len(RAW_B08))
    assert int((tmp_path / "warnings").read_text()) >= 0


def test_outputs_dir_counts_a_check_that_cannot_run_as_one_error(tmp_path: Path) -> None:
    assert main(["geozarr", str(tmp_path / "missing.zarr"), "--json", "--outputs-dir", str(tmp_path / "o")]) == 2
    assert (tmp_path / "o" / "errors").read_text() == "1"
