"""A backfill's plan and status documents grow with the collection: the steps stream the plan
(memory holds a read block) and the report reads the per-product status documents concurrently,
in bounded chunks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from runner import storage
from runner.backfill import batch, report
from runner.backfill.batch import Outcome, share, write_outcome
from runner.backfill.plan import PlanCounts, PlanEntry, count_plan, iter_plan, read_plan, write_plan
from runner.errors import RunnerError


def _entries(n: int) -> list[PlanEntry]:
    return [PlanEntry(f"P{i:05d}", f"s3://in/P{i:05d}.zarr", f"s3://out/P{i:05d}.zarr", "") for i in range(n)]


def test_a_plan_is_streamed_entry_by_entry(tmp_path: Path) -> None:
    plan = tmp_path / "plan.jsonl"
    plan.write_text("\n".join(e.to_line() for e in _entries(3)) + "\n{not json\n")
    entries = iter_plan(str(plan))
    assert next(entries).item == "P00000"  # given before the bad line further on is read
    with pytest.raises(RunnerError, match="unreadable"):
        list(entries)
    assert read_plan(str(tmp_path / "none.jsonl")) is None and count_plan(str(tmp_path / "none.jsonl")) is None


def test_a_batch_takes_its_share_of_a_streamed_plan(tmp_path: Path) -> None:
    plan, entries = str(tmp_path / "state" / "plan.jsonl"), _entries(1000)
    write_plan(plan, entries, PlanCounts(found=1000, planned=1000))
    assert count_plan(plan) == 1000 and read_plan(plan) == entries
    shares = [share(iter_plan(plan), k, 3) for k in range(3)]
    assert shares == [entries[k::3] for k in range(3)]


def test_a_plan_on_s3_is_read_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranged GETs of about READ_BLOCK bytes, not the object in one response."""
    from tests.geozarr.counting_s3 import counting_s3

    with counting_s3() as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        from runner.s3 import s3_client

        s3_client().create_bucket(Bucket="plan-blocks")
        plan, entries = "s3://plan-blocks/run/plan.jsonl", _entries(1000)
        write_plan(plan, entries, PlanCounts(planned=1000))
        monkeypatch.setattr(storage, "READ_BLOCK", 4096)
        server.reset()
        assert read_plan(plan) == entries
        gets = [r for r in server.requests if r == ("GET", "/plan-blocks/run/plan.jsonl")]
    length = sum(len(e.to_line()) + 1 for e in entries)
    # each read: a block, or the text reader's 8 KiB chunk and a block of read-ahead
    assert len(gets) >= length // (4096 + 8192) >= 8, server.requests


def test_the_report_reads_status_documents_concurrently_in_item_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = str(tmp_path / "state")
    for i in range(30):
        write_outcome(state, Outcome(f"P{i:05d}", batch.CONVERTED if i % 4 else batch.FAILED, 1.0))
    (tmp_path / "state" / "status" / "P00031.json").write_text("{not json")  # skipped, as before
    monkeypatch.setattr(report, "OUTCOME_CHUNK", 7)
    together = threading.Barrier(4, timeout=10)  # broken (the test fails) if reads are one by one
    real = report.read_outcome

    def read(state_: str, item: str) -> Outcome | None:
        if item in {"P00008", "P00009", "P00010", "P00011"}:  # one chunk's reads, in flight at once
            together.wait()
        return real(state_, item)

    monkeypatch.setattr(report, "read_outcome", read)
    outcomes = list(report.read_outcomes(state))
    assert [o.item for o in outcomes] == [f"P{i:05d}" for i in range(30)]
    assert sum(o.status == batch.FAILED for o in outcomes) == 8
    assert list(report.read_outcomes(str(tmp_path / "no-state"))) == []
