"""convert-batch, bulk-register and backfill-report together on real conversions (144 px samples),
a real STAC API (pgSTAC) and local state: a backfill without the workflow around it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner import cli
from runner.backfill.plan import PlanCounts, PlanEntry, write_plan
from runner.sample_s2 import write_sample
from tests.stacapi.items import unique

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("products")
    for seed in (1, 2):
        write_sample(str(root / f"P{seed}.zarr"), size=144, seed=seed)
    return root


def _plan(tmp_path: Path, products: Path) -> str:
    entries = [PlanEntry(name, str(products / f"{name}.zarr"), str(tmp_path / "out" / f"{name}.zarr"),
                         "") for name in ("P1", "P2", "P3")]  # P3: no such product
    plan = str(tmp_path / "state" / "plan.jsonl")
    write_plan(plan, entries, PlanCounts(found=4, planned=3, skipped=1))
    return plan


def _batch(plan: str, state: Path, batch: int, collection: str) -> dict[str, int]:
    out = state.parent / f"outputs-{batch}"
    code = cli.main(["convert-batch", plan, "--state", str(state), "--batch", str(batch),
                     "--batches", "2", "--collection", collection, "--quiet", "--outputs-dir", str(out)])
    assert code == 0
    return {k: int((out / k).read_text()) for k in ("converted", "failed", "already")}


def test_a_backfill_without_its_workflow(products, stac_api, tmp_path):
    collection, state = unique("backfill"), tmp_path / "state"
    plan = _plan(tmp_path, products)
    assert _batch(plan, state, 0, collection) == {"converted": 1, "failed": 1, "already": 0}  # P1, P3
    assert _batch(plan, state, 1, collection) == {"converted": 1, "failed": 0, "already": 0}  # P2
    assert _batch(plan, state, 0, collection)["already"] == 1  # a retried batch redoes nothing done
    dead = tmp_path / "state" / "dead-letter.jsonl"
    assert cli.main(["bulk-register", str(state / "items"), "--collection", collection,
                     "--stac-api-url", stac_api.url, "--dead-letter", str(dead), "--quiet"]) == 0
    code = cli.main(["backfill-report", "--run", "r1", "--plan", plan, "--state", str(state),
                     "--dead-letter", str(dead), "--quiet"])
    report = json.loads((state / "report.json").read_text())
    assert code == 1  # a product failed: the workflow says so
    assert report["counts"] == {"planned": 3, "converted": 2, "skipped": 1, "failed": 1,
                                "registered": 2, "dead_lettered": 0}
    [failed] = report["failed"]
    assert failed["item"] == "P3" and failed["step"] == "convert" and failed["exit_code"] == 2
    assert "P3.zarr" in failed["reason"]
