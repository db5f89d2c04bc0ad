"""Issue 9, case 3: a product missing a native resolution is refused by preflight and convert
(exit 2, one line naming the group), never converted into a store without it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.runner.runnerkit import json_lines, run_runner

R20 = "measurements/reflectance/r20m"


@pytest.fixture
def without_r20m(sample_72: Path, tmp_path: Path) -> Path:
    src = shutil.copytree(sample_72, tmp_path / "S2_no_r20m.zarr")
    shutil.rmtree(src / R20)
    meta = json.loads((src / ".zmetadata").read_text())
    meta["metadata"] = {k: v for k, v in meta["metadata"].items() if not k.startswith(R20 + "/")}
    (src / ".zmetadata").write_text(json.dumps(meta))
    return src


@pytest.mark.parametrize("step", ["preflight", "convert"])
def test_missing_native_resolution_exits_2(without_r20m: Path, tmp_path: Path, step: str) -> None:
    out = tmp_path / "out.zarr"
    args = [step, str(without_r20m)] + ([str(out), "--collection", "c"] if step == "convert" else [])
    r = run_runner(*args)
    assert r.returncode == 2, r.stderr[-2000:]
    errors = [e for e in json_lines(r.stderr) if e["level"] == "error"]
    assert len(errors) == 1 and f"/{R20}" in str(errors[0]["message"])
    assert "native resolution" in str(errors[0]["message"])
    assert not out.exists()


def test_a_complete_product_passes(sample_72: Path) -> None:
    r = run_runner("preflight", str(sample_72), "--json", "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
