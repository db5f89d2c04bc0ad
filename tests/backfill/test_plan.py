"""The backfill's plan step against a real STAC API (pgSTAC) as the source catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner import cli, manifest
from runner.backfill.plan import PlanEntry, read_plan
from tests.backfill.catalog import seed_source
from tests.fixtures_s3 import FailingHTTPServer

WINDOW = ["--from", "2025-06-01", "--to", "2025-07-01"]


def _plan(api: str, collection: str, tmp_path: Path, *extra: str) -> tuple[int, Path]:
    plan = tmp_path / "plan.jsonl"
    code = cli.main(["plan", "--source-api", api, "--collection", collection, *WINDOW,
                     "--output-root", str(tmp_path / "stores"), "--plan", str(plan), "--quiet",
                     *extra])
    return code, plan


def _lines(plan: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in plan.read_text().splitlines()]


@pytest.fixture(scope="module")
def source(stac_api) -> str:
    return seed_source(stac_api.url, 12)


def test_plan_stops_at_the_limit_and_points_each_product_at_its_store(stac_api, source, tmp_path):
    code, plan = _plan(stac_api.url, source, tmp_path, "--limit", "5", "--page-size", "2")
    assert code == 0
    lines = _lines(plan)
    assert len(lines) == 5 and len({e["item"] for e in lines}) == 5
    for entry in lines:
        assert entry["source"] == f"s3://source/products/{entry['item']}.zarr"
        assert entry["output"] == str(tmp_path / "stores" / f"{entry['item']}.zarr")


def test_plan_filters_by_window_and_ids(stac_api, source, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("# wanted\nS2A_MSIL2A_00003\n\nS2A_MSIL2A_00007\nS2A_MSIL2A_00011\n")
    code, plan = _plan(stac_api.url, source, tmp_path, "--limit", "100", "--ids", str(ids),
                       "--to", "2025-06-01T08:30:00Z")
    assert code == 0
    assert sorted(e["item"] for e in _lines(plan)) == ["S2A_MSIL2A_00003", "S2A_MSIL2A_00007"]


def test_a_resumed_plan_is_read_back_and_never_grows(stac_api, source, tmp_path):
    assert _plan(stac_api.url, source, tmp_path, "--limit", "4")[0] == 0
    first = (tmp_path / "plan.jsonl").read_text()
    code, plan = _plan(stac_api.url, source, tmp_path, "--limit", "40")
    assert code == 0 and plan.read_text() == first


def test_done_products_are_skipped_and_do_not_count(stac_api, source, tmp_path):
    for number in (0, 1):
        item = f"S2A_MSIL2A_{number:05d}"
        store = tmp_path / "stores" / f"{item}.zarr"
        store.mkdir(parents=True)
        (store / "run.json").write_text(json.dumps({
            "versions": manifest.versions(), "input": {"uri": f"s3://source/products/{item}.zarr"}}))
    code, plan = _plan(stac_api.url, source, tmp_path, "--limit", "3")
    assert code == 0
    assert [e["item"] for e in _lines(plan)] == [f"S2A_MSIL2A_{n:05d}" for n in (2, 3, 4)]


def test_a_store_from_another_pipeline_version_is_not_done(stac_api, source, tmp_path):
    store = tmp_path / "stores" / "S2A_MSIL2A_00000.zarr"
    store.mkdir(parents=True)
    (store / "run.json").write_text(json.dumps({
        "versions": {**manifest.versions(), "eopf_geozarr": "0.0.1"},
        "input": {"uri": "s3://source/products/S2A_MSIL2A_00000.zarr"}}))
    assert _plan(stac_api.url, source, tmp_path, "--limit", "1")[0] == 0
    assert read_plan(str(tmp_path / "plan.jsonl"))[0].item == "S2A_MSIL2A_00000"


@pytest.mark.parametrize(("args", "says"), [
    (["--collection", "no-such-collection"], "unknown collection"),
    (["--from", "2025-07-01", "--to", "2025-06-01"], "inverted"),
    (["--from", "2025-06-01", "--to", "2025-06-01"], "empty"),
    (["--bbox", "1,2,3"], "four numbers"),
    (["--bbox", "0,50,10,40"], "latitudes"),
    (["--limit", "0"], "positive"),
    (["--limit", "-3"], "positive"),
    (["--from", "yesterday"], "ISO 8601"),
    (["--collection", "../etc"], "not a valid collection id"),
    (["--search-concurrency", "0"], "--search-concurrency must be within 1..16"),
    (["--search-concurrency", "17"], "--search-concurrency must be within 1..16"),
])
def test_bad_requests_are_one_line_exit_2_and_write_nothing(stac_api, source, tmp_path, capsys,
                                                            args, says):
    base = {"--collection": source, "--from": "2025-06-01", "--to": "2025-07-01", "--limit": "3"}
    flags = dict(base)
    for flag, value in zip(args[::2], args[1::2], strict=True):
        flags[flag] = value
    argv = ["plan", "--source-api", stac_api.url, "--output-root", str(tmp_path / "s"),
            "--plan", str(tmp_path / "plan.jsonl")]
    for flag, value in flags.items():
        argv += [flag, value]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in json.loads(err[0])["message"]
    assert not (tmp_path / "plan.jsonl").exists()


def test_a_failing_source_catalog_is_transient(tmp_path, capsys):
    with FailingHTTPServer(503) as server:
        code, plan = _plan(server.endpoint, "sentinel-2-l2a", tmp_path, "--limit", "3")
    assert code == 3 and not plan.exists()


def test_plan_entries_round_trip():
    entry = PlanEntry("a", "s3://x/a.zarr", "s3://y/a.zarr", "2025-06-01T00:00:00Z")
    assert PlanEntry(**json.loads(entry.to_line())) == entry


def test_a_window_cut_by_the_limit_is_covered_up_to_its_last_product(stac_api, source, tmp_path):
    assert _plan(stac_api.url, source, tmp_path, "--limit", "3")[0] == 0
    summary = json.loads((tmp_path / "plan.jsonl.summary.json").read_text())
    assert summary["planned"] == 3 and summary["covered_until"] == _lines(tmp_path / "plan.jsonl")[-1]["datetime"]


def test_last_success_starts_where_the_last_clean_run_stopped(stac_api, source, tmp_path):
    marker = tmp_path / "stores" / "backfill" / "last-success.json"
    marker.parent.mkdir(parents=True)
    marker.write_text(json.dumps({"covered_until": "2025-06-01T09:00:00Z", "run": "r0"}))
    plan = tmp_path / "plan.jsonl"
    code = cli.main(["plan", "--source-api", stac_api.url, "--collection", source,
                     "--from", "last-success", "--to", "2025-06-01T10:30:00Z", "--limit", "50",
                     "--output-root", str(tmp_path / "stores"), "--plan", str(plan), "--quiet"])
    assert code == 0
    assert [e["item"] for e in _lines(plan)] == ["S2A_MSIL2A_00009", "S2A_MSIL2A_00010"]
