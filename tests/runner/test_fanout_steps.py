"""`geozarr-runner parts | convert-part | finalize` (runner.fanout_steps): the plan per product,
the take-over, a finalize that refuses a store missing a part (no run.json), and a part that
first removes what an earlier attempt of it wrote. Real samples, real conversions where marked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.fanout import PART_MARKER_PREFIX, S2_NOT_SPLITTABLE
from tests.runner.runnerkit import json_lines, run_runner
from tests.runner.test_fanout import _files


@pytest.fixture(scope="module")
def s1_32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from runner.sample_s1 import write_sample

    src = tmp_path_factory.mktemp("s1") / "s1.zarr"
    write_sample(str(src), size=32, seed=4)
    return src


def parts(source: Path, output: Path, width: str = '{"s1-grd": 2}') -> tuple[int, dict, str]:
    r = run_runner("parts", str(source), str(output), "--json", env={"FANOUT_PARALLELISM": width})
    return r.returncode, (json.loads(r.stdout) if r.returncode == 0 else {}), r.stderr


def test_s1_one_part_per_polarisation_and_the_output_taken_over(s1_32: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"
    code, doc, err = parts(s1_32, out)
    assert code == 0, err
    assert doc["product"] == "s1-grd" and doc["split"] is True
    assert [(p["name"], [g[-3:] for g in p["groups"]]) for p in doc["parts"]] == [
        ("vh", ["_VH"]), ("vv", ["_VV"])]
    assert sorted(p.name for p in out.iterdir()) == [".geozarr-runner.json"]  # empty, and ours


def test_s1_parallelism_from_params_deals_groups_into_fewer_pods(s1_32: Path, tmp_path: Path) -> None:
    code, doc, err = parts(s1_32, tmp_path / "out.zarr", '{"s1-grd": 1, "s2-l2a": 1}')
    assert code == 0, err
    assert [(p["name"], len(p["groups"])) for p in doc["parts"]] == [("vh+vv", 2)]
    assert "fanout_parallelism[s1-grd] = 1" in doc["reason"]


def test_s2_is_one_whole_part_with_the_reason(sample_72: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"
    code, doc, err = parts(sample_72, out, '{"s2-l2a": 4}')
    assert code == 0, err
    assert doc["parts"] == [{"name": "whole", "groups": []}]
    assert doc["product"] == "s2-l2a" and doc["split"] is False
    assert S2_NOT_SPLITTABLE in doc["reason"]
    assert not out.exists()  # the whole part is `convert`: it takes the output over itself


def test_parts_refuses_an_output_the_runner_did_not_write(s1_32: Path, tmp_path: Path) -> None:
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "precious.txt").write_text("keep")
    code, _, err = parts(s1_32, out)
    assert code == 2
    assert "not written by geozarr-runner" in json_lines(err)[-1]["message"]
    assert (out / "precious.txt").read_text() == "keep"


def test_finalize_refuses_a_store_missing_a_part(s1_32: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"
    code, doc, err = parts(s1_32, out)
    assert code == 0, err
    (out / f"{PART_MARKER_PREFIX}vh.json").write_text('{"seconds": 1}')  # vh written, vv not
    r = run_runner("finalize", str(s1_32), str(out), "--parts", json.dumps(doc["parts"]))
    assert r.returncode == 1
    assert "part(s) vv not written" in json_lines(r.stderr)[-1]["message"]
    assert not (out / "run.json").exists()
    m = run_runner("manifest", str(out))
    assert m.returncode == 2  # incomplete: no run.json


@pytest.mark.parametrize("bad", ["[]", "{}", '[{"name": "whole", "groups": ["x"]}]',
                                 '[{"name": "a", "groups": ["x"]}, {"name": "a", "groups": ["y"]}]'])
def test_bad_parts_are_one_line_exit_2(s1_32: Path, tmp_path: Path, bad: str) -> None:
    r = run_runner("finalize", str(s1_32), str(tmp_path / "o.zarr"), "--parts", bad)
    assert r.returncode == 2
    assert json_lines(r.stderr)[-1]["message"].startswith("--parts:")


def test_a_bad_part_is_one_line_exit_2(s1_32: Path, tmp_path: Path) -> None:
    r = run_runner("convert-part", "notjson", str(s1_32), str(tmp_path / "o.zarr"))
    assert r.returncode == 2
    assert json_lines(r.stderr)[-1]["message"].startswith("PART:")
    assert not (tmp_path / "o.zarr").exists()


def test_convert_part_needs_a_store_prepared_by_parts(s1_32: Path, tmp_path: Path) -> None:
    r = run_runner("convert-part", '{"name": "vh", "groups": ["X_VH"]}', str(s1_32),
                   str(tmp_path / "o.zarr"))
    assert r.returncode == 2
    assert "run `parts` first" in json_lines(r.stderr)[-1]["message"]


@pytest.mark.slow
def test_parts_with_a_stale_attempt_then_finalize_write_the_single_process_store(
        s1_32: Path, tmp_path: Path) -> None:
    single, out = tmp_path / "single.zarr", tmp_path / "out.zarr"
    r = run_runner("convert", str(s1_32), str(single), timeout=900)  # the single-pod step
    assert r.returncode == 0, r.stderr[-2000:]
    code, doc, err = parts(s1_32, out)
    assert code == 0, err
    vv = doc["parts"][1]
    # what a killed earlier attempt of vv left: part of its group and its marker
    (out / vv["groups"][0] / "stale").mkdir(parents=True)
    (out / vv["groups"][0] / "stale" / "zarr.json").write_text("{}")
    (out / f"{PART_MARKER_PREFIX}vv.json").write_text('{"seconds": 1}')
    for part in doc["parts"]:
        c = run_runner("convert-part", json.dumps(part), str(s1_32), str(out), timeout=900)
        assert c.returncode == 0, c.stderr[-2000:]
    assert any(e.get("message") == "removed what an earlier attempt of this part wrote"
               for e in json_lines(c.stderr))
    f = run_runner("finalize", str(s1_32), str(out), "--parts", json.dumps(doc["parts"]), "--json")
    assert f.returncode == 0, f.stderr[-2000:]
    assert json.loads(f.stdout)["bytes"] > 0
    fan = _files(out)
    assert json.loads(fan.pop("run.json"))["exit_status"] == 0
    fan.pop(".geozarr-runner.json")
    reference = _files(single)
    for made in ("run.json", ".geozarr-runner.json"):  # how each store was made
        reference.pop(made)
    assert sorted(fan) == sorted(reference)  # no part marker, no stale group left
    assert [k for k in reference if reference[k] != fan[k]] == []
