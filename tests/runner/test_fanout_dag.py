"""The rendered staging `geozarr-convert`, run by the local executor (tooling/dag) from preflight
to finalize on a small S1 GRD sample, S3 on loopback: one convert-part pod per polarisation,
retried on its own; the store equals the single-process conversion's; a part that fails leaves
no run.json (the store never looks complete)."""

from __future__ import annotations

import copy
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.runner.test_fanout import _files

pytestmark = pytest.mark.slow

BUCKET = "eopf-geozarr-staging"
# a convert-part pod whose part `vv` fails: FAIL_ONCE exits 3 (transient) on its first attempt
# only (a file of the test, {flag}, remembers it: each pod's own volumes are fresh; not under
# /tmp, which the local executor maps to the pod's own emptyDir), FAIL_ALWAYS exits 1 (never retried)
FAIL_ONCE = ('case "$1" in *\'"vv"\'*) [ -e {flag} ] || {{ touch {flag}; '
             'echo planted >&2; exit 3; }};; esac; exec geozarr-runner "$0" "$@"')
FAIL_ALWAYS = 'case "$1" in *\'"vv"\'*) echo planted >&2; exit 1;; esac; exec geozarr-runner "$0" "$@"'


@pytest.fixture(scope="module")
def s1(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The S1 sample, its polarisation groups and the single-pod `convert` step's files (the
    converter's output, repaired, with the product's root attributes; not its run.json and
    ownership marker, which say how it was made)."""
    from runner.fanout import polarisation_groups
    from runner.sample_s1 import write_sample

    work = tmp_path_factory.mktemp("s1-dag")
    src, single = work / "s1.zarr", work / "single.zarr"
    write_sample(str(src), size=32, seed=4)
    r = subprocess.run(["geozarr-runner", "convert", str(src), str(single), "--quiet"],
                       capture_output=True, text=True, timeout=900, check=False)
    assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]
    files = _files(single)
    for made in ("run.json", ".geozarr-runner.json"):
        files.pop(made)
    return {"source": src, "groups": polarisation_groups(str(src)), "single": files}


@pytest.fixture(scope="module")
def staging():
    from tooling.manifests.rendered import render_env

    return render_env("staging")


def _convert_template(rendered, script: str) -> dict[str, Any]:
    doc = copy.deepcopy(rendered.workflow_template("geozarr-convert"))
    part = next(t for t in doc["spec"]["templates"] if t["name"] == "convert-part")
    part["container"]["command"] = ["sh", "-c", script]
    return doc


def _run(rendered, s1: dict[str, Any], tmp_path: Path, script: str) -> tuple[Any, dict[str, bytes]]:
    from tooling.dag.fanout import run_conversion
    from tooling.dag.objectstore import LoopbackS3

    params = {"source_url": str(s1["source"]), "item_id": "s1-fanout"}
    with LoopbackS3() as s3:
        s3.create_bucket(BUCKET)
        result = run_conversion(rendered, s3, tmp_path / "run", params, sleep=lambda s: None,
                                template_doc=_convert_template(rendered, script))
        client = s3.client()
        prefix = "geozarr/sentinel-2-l2a-staging/s1-fanout.zarr/"
        keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=prefix) for o in page.get("Contents", [])]
        files = {k.removeprefix(prefix): client.get_object(Bucket=BUCKET, Key=k)["Body"].read()
                 for k in keys}
    return result, files


def test_fan_out_retries_one_part_and_writes_the_single_process_store(
        staging, s1: dict[str, Any], tmp_path: Path) -> None:
    with tempfile.TemporaryDirectory(dir="/var/tmp") as flags:
        result, files = _run(staging, s1, tmp_path, FAIL_ONCE.format(flag=Path(flags) / "vv-failed"))
    phases = {t.name: t.phase for t in result.tasks}
    assert result.phase == "Succeeded", result.message
    assert phases == {"preflight": "Succeeded", "parts": "Succeeded", "convert-part(0)": "Succeeded",
                      "convert-part(1)": "Succeeded", "convert-part": "Succeeded",
                      "finalize": "Succeeded"}
    assert len(result.task("convert-part(0)").attempts) == 1  # vh: not rerun for vv's failure
    assert len(result.task("convert-part(1)").attempts) == 2  # vv: retried on its own
    manifest = json.loads(files.pop("run.json"))
    assert manifest["conversion_path"] == "s1-grd-fanout"
    assert [p["name"] for p in manifest["parameters"]["parts"]] == ["vh", "vv"]
    assert manifest["repairs"]  # each part repaired its derived levels, as `convert` does
    files.pop(".geozarr-runner.json")
    assert sorted(files) == sorted(s1["single"])
    assert [k for k in files if files[k] != s1["single"][k]] == []


def test_a_failing_part_leaves_the_store_incomplete(staging, s1: dict[str, Any], tmp_path: Path) -> None:
    result, files = _run(staging, s1, tmp_path, FAIL_ALWAYS)
    phases = {t.name: t.phase for t in result.tasks}
    assert result.phase == "Failed"
    assert phases["convert-part(0)"] == "Succeeded" and phases["convert-part(1)"] == "Failed"
    assert len(result.task("convert-part(1)").attempts) == 1  # exit 1: never retried
    assert phases["finalize"] == "Omitted"
    assert "run.json" not in files  # never looks complete
    assert ".geozarr-part-vh.json" in files and ".geozarr-part-vv.json" not in files
    assert any(k.startswith(s1["groups"][0] + "/") for k in files)  # vh's part is there


def test_s2_converts_in_one_whole_part_through_the_template(staging, sample_72: Path,
                                                             tmp_path: Path) -> None:
    from runner.fanout import S2_NOT_SPLITTABLE
    from tooling.dag.fanout import run_conversion
    from tooling.dag.objectstore import LoopbackS3

    with LoopbackS3() as s3:
        s3.create_bucket(BUCKET)
        result = run_conversion(staging, s3, tmp_path / "run", {
            "source_url": str(sample_72), "item_id": "s2-fanout",
            "fanout_parallelism": '{"s2-l2a": 4}'})  # more pods asked for: still one part
        # by prefix: moto's backend is the process's, other tests' objects may share the bucket
        keys = {o["Key"] for o in s3.client().list_objects_v2(
            Bucket=BUCKET, Prefix="geozarr/sentinel-2-l2a-staging/s2-fanout.zarr/run.json").get("Contents", [])}
    assert result.phase == "Succeeded", result.message
    assert [t.name for t in result.tasks if t.name.startswith("convert-part(")] == ["convert-part(0)"]
    parts = result.task("parts").outputs
    assert json.loads(parts["parts"]) == [{"name": "whole", "groups": []}]
    assert S2_NOT_SPLITTABLE in parts["reason"]
    assert "L2A" in result.task("finalize").outputs["product_type"]
    assert "geozarr/sentinel-2-l2a-staging/s2-fanout.zarr/run.json" in keys
