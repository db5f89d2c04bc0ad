"""Issue 9, case 1: `convert` removes only a store it wrote, locally and on S3, and never a key
outside the store's own prefix; anything else is refused with exit 2 and one line naming the path.
Case 8: the scratch directories of dead runs are reclaimed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner import ownership, scratch
from runner.errors import BadInput
from tests.runner.runnerkit import REPO, json_lines, run_runner


def _one_error(stderr: str) -> dict[str, object]:
    events = json_lines(stderr)
    errors = [e for e in events if e["level"] == "error"]
    assert len(errors) == 1, stderr[-2000:]
    assert "Traceback" not in stderr
    return errors[0]


def test_convert_refuses_a_folder_of_user_files(sample_72: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    (victim / "docs").mkdir(parents=True)
    (victim / "docs" / "a.tex").write_text("x")
    r = run_runner("convert", str(sample_72), str(victim), "--collection", "c")
    assert r.returncode == 2, r.stderr[-2000:]
    err = _one_error(r.stderr)
    assert str(victim) in str(err["message"]) and "refusing" in str(err["message"])
    assert (victim / "docs" / "a.tex").read_text() == "x"


def test_convert_refuses_a_file(sample_72: Path, tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    r = run_runner("convert", str(sample_72), str(target), "--collection", "c")
    assert r.returncode == 2 and str(target) in str(_one_error(r.stderr)["message"])
    assert target.read_text() == "keep me"


def test_convert_refuses_an_s3_prefix_of_other_objects(sample_72: Path, s3_server,
                                                       s3_bucket: str) -> None:
    client = s3_server.client()
    for key in ("out/README", "out/other-item.zarr/zarr.json"):
        client.put_object(Bucket=s3_bucket, Key=key, Body=b"x")
    r = run_runner("convert", str(sample_72), f"s3://{s3_bucket}/out", "--collection", "c",
                   env=s3_server.env())
    assert r.returncode == 2, r.stderr[-2000:]
    assert f"s3://{s3_bucket}/out" in str(_one_error(r.stderr)["message"])
    assert sorted(s3_server.keys(s3_bucket)) == ["out/README", "out/other-item.zarr/zarr.json"]


def test_a_store_copied_from_elsewhere_is_not_ours(tmp_path: Path) -> None:
    store = tmp_path / "copy.zarr"
    store.mkdir()
    mark = ownership.marker(str(tmp_path / "original.zarr"), "src", "t", "r1")
    (store / ownership.MARKER_NAME).write_text(json.dumps(mark))
    (store / "zarr.json").write_text("{}")
    with pytest.raises(BadInput, match="refusing"):
        ownership.refuse_unowned(str(store))
    assert (store / "zarr.json").exists()


def test_empty_or_missing_output_is_free(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    ownership.refuse_unowned(str(tmp_path / "empty"))
    ownership.refuse_unowned(str(tmp_path / "missing"))


def test_s3_removal_stays_inside_the_store_prefix(s3_env: dict[str, str], s3_server,
                                                  s3_bucket: str) -> None:
    client = s3_server.client()
    out = f"s3://{s3_bucket}/col/item.zarr"
    ownership.claim(out, ownership.marker(out, "src", "t", "r1"))
    inside = ["col/item.zarr/zarr.json", "col/item.zarr/a/c/0/0"]
    outside = ["col/item.zarr.bak/zarr.json", "col/item.zarr", "col/item.zarrX/k", "col/README"]
    for key in inside + outside:
        client.put_object(Bucket=s3_bucket, Key=key, Body=b"x")
    ownership.refuse_unowned(out)  # ours: the marker names this output
    assert ownership.remove_store(out) == 3
    assert sorted(s3_server.keys(s3_bucket)) == sorted(outside)


def test_local_removal_of_an_owned_store_keeps_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "item.zarr"
    ownership.claim(str(out), ownership.marker(str(out), "src", "t", "r1"))
    (out / "a" / "c").mkdir(parents=True)
    (out / "a" / "c" / "0").write_bytes(b"1")
    sibling = tmp_path / "item.zarr.bak"
    sibling.write_text("keep")
    ownership.refuse_unowned(str(out))
    assert ownership.remove_store(str(out)) == 2
    assert sibling.read_text() == "keep" and list(out.iterdir()) == []


# --- case 8: scratch of dead runs ---------------------------------------------------------

_HOLDER = """
import sys, time
from runner import scratch
with scratch.scratch_directory(sys.argv[1]) as work:
    (work / "store.zarr").mkdir()
    print(work, flush=True)
    time.sleep(60)
"""


def _holder(root: Path) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(root)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


def test_scratch_of_a_killed_run_is_reclaimed_a_live_ones_kept(tmp_path: Path) -> None:
    killed, dead_dir = _holder(tmp_path)
    live, live_dir = _holder(tmp_path)
    foreign = tmp_path / "geozarr-convert-not-ours"  # no lock file: not made by runner.scratch
    foreign.mkdir()
    try:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(10)
        assert dead_dir.is_dir()  # SIGKILL: no cleanup ran
        assert scratch.reclaim_dead(str(tmp_path)) == [str(dead_dir)]
        assert not dead_dir.exists() and live_dir.is_dir() and foreign.is_dir()
    finally:
        live.kill()
        live.wait(10)
    deadline = time.monotonic() + 5
    while live_dir.exists() and time.monotonic() < deadline:
        scratch.reclaim_dead(str(tmp_path))
    assert not live_dir.exists()
