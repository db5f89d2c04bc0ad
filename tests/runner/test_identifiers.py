"""Issue 9, case 4: one identifier policy (runner.identifiers), enforced by the first step that
sees an id: preflight (env ITEM_ID / COLLECTION in the DAG), convert, stac, register."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner import identifiers
from tests.runner.runnerkit import json_lines, run_runner

BAD = ["../../etc", "a\nb", "<script>alert(1)</script>", "x" * 256, "-leading-dash", "a/b", "",
       "..", "a..b"]
GOOD = ["S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613", "sentinel-2-l2a", "a",
        "v1.0", "x" * 255]


@pytest.mark.parametrize("value", BAD)
def test_bad_ids_have_a_reason(value: str) -> None:
    assert identifiers.problem(value)


@pytest.mark.parametrize("value", GOOD)
def test_good_ids_pass(value: str) -> None:
    assert identifiers.problem(value) == "" and identifiers.check("item id", value) == value


def _refused(r: object, needle: str = "") -> None:
    assert r.returncode == 2, r.stderr[-2000:]  # type: ignore[attr-defined]
    errors = [e for e in json_lines(r.stderr) if e["level"] == "error"]  # type: ignore[attr-defined]
    assert len(errors) == 1 and "Traceback" not in r.stderr  # type: ignore[attr-defined]
    assert needle in str(errors[0]["message"])


@pytest.mark.parametrize("value", ["../../etc", "a\nb", "<script>"])
def test_steps_refuse_a_bad_item_id_first(value: str, sample_72: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.zarr"
    _refused(run_runner("preflight", str(sample_72), env={"ITEM_ID": value}), "item id")
    _refused(run_runner("preflight", str(sample_72), env={"COLLECTION": value}), "collection")
    _refused(run_runner("convert", str(sample_72), str(out), "--item-id", value,
                        "--collection", "c"), "item id")
    _refused(run_runner("convert", str(sample_72), str(out), "--collection", value), "collection")
    assert not out.exists()
    _refused(run_runner("stac", str(out), "--item-id", value, "--collection", "c",
                        "-o", str(tmp_path / "i.json")), "")


def test_register_refuses_a_bad_item_id(tmp_path: Path) -> None:
    item = tmp_path / "item.json"
    item.write_text(json.dumps({"type": "Feature", "id": "../../etc", "collection": "c"}))
    _refused(run_runner("register", str(item), "--stac-api-url", "http://127.0.0.1:9"), "item id")
