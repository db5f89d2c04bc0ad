"""The backfill's `backfill-report` step: what the run did, as JSON on S3 and as outputs.

    geozarr-runner backfill-report --run RUN --plan PLAN --state STATE --dead-letter URI
        [--started ISO] [-o URI]

Counts `planned`, `converted`, `skipped` (done before: from the plan's summary), `failed`
(with the step, reason and exit code of each), `registered` (converted and not dead-lettered)
and `dead_lettered`; `seconds` since `--started`, and throughput. The report is written to
`-o` (default STATE/report.json). Exit 0 when nothing failed or was dead-lettered, else 1: the
workflow's verdict; the report says what to replay.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from runner import storage
from runner.backfill.batch import CONVERTED, FAILED, Outcome, read_outcome
from runner.backfill.bulk_register import read_dead_letters
from runner.backfill.plan import iter_plan, last_success_uri, read_summary
from runner.backfill.request import parse_datetime
from runner.errors import BadInput, RunnerError
from runner.events import EventLog

OUTCOME_READERS = 16  # status documents read at once
OUTCOME_CHUNK = 1000  # ... out of this many at a time (bounded memory, whatever the run's size)


def read_outcomes(state: str) -> Iterator[Outcome]:
    """Every product outcome recorded under STATE/status/ (one document per product), in item
    order, OUTCOME_READERS at a time: one after the other, a 10,000-product run's report would
    wait on 10,000 requests in a row."""
    items = sorted(rel.removesuffix(".json") for rel in
                   storage.list_files(storage.locate(f"{state.rstrip('/')}/status")))
    with ThreadPoolExecutor(OUTCOME_READERS, thread_name_prefix="read-outcome") as pool:
        for start in range(0, len(items), OUTCOME_CHUNK):
            chunk = items[start:start + OUTCOME_CHUNK]
            yield from (o for o in pool.map(lambda item: read_outcome(state, item), chunk) if o)


def report_uri(state: str) -> str:
    return f"{state.rstrip('/')}/report.json"


def read_report(state: str) -> dict[str, Any] | None:
    """The report a finished run wrote, or None."""
    text = storage.read_text_if_exists(storage.locate(report_uri(state)))
    return json.loads(text) if text is not None else None


def build_report(run: str, plan: str, state: str, dead_letter: str, seconds: float) -> dict[str, Any]:
    try:
        entries = [e.item for e in iter_plan(plan)]
    except (FileNotFoundError, NotADirectoryError):
        raise BadInput(f"no plan at {plan}") from None
    planned, converted, failed = set(entries), 0, []
    for o in read_outcomes(state):
        if o.item in planned and o.status == CONVERTED:
            converted += 1
        elif o.item in planned and o.status == FAILED:
            failed.append({"item": o.item, "step": o.step, "reason": o.reason, "exit_code": o.exit_code})
    dead = read_dead_letters(dead_letter)
    counts = {"planned": len(entries), "converted": converted,
              "skipped": int(read_summary(plan).get("skipped", 0)), "failed": len(failed),
              "registered": max(0, converted - len(dead)), "dead_lettered": len(dead)}
    return {"run": run, "counts": counts, "failed": failed,
            "dead_lettered": [d.item for d in dead], "seconds": round(seconds, 3),
            "products_per_hour": round(converted * 3600 / seconds, 2) if seconds > 0 else None}


def record_success(output_root: str, plan: str, run: str) -> None:
    """The next sliding window starts where this clean run's coverage ended."""
    covered = read_summary(plan).get("covered_until")
    if covered:
        storage.write_text(storage.locate(last_success_uri(output_root)),
                           json.dumps({"covered_until": covered, "run": run}))


def add_arguments(p: Any) -> None:
    p.add_argument("--run", required=True, help="the backfill run's name (the workflow's)")
    p.add_argument("--plan", required=True, metavar="URI")
    p.add_argument("--state", required=True, metavar="URI")
    p.add_argument("--dead-letter", required=True, metavar="URI")
    p.add_argument("--started", default="", metavar="ISO", help="when the run started")
    p.add_argument("-o", "--report-out", dest="report_out", default="", metavar="URI")
    p.add_argument("--output-root", default="", metavar="URI",
                   help="the stores' root: a clean run records its coverage there (last-success)")


def run(args: Any, log: EventLog) -> dict[str, Any]:
    started = parse_datetime(args.started, "--started") if args.started else None
    seconds = (datetime.now(UTC) - started).total_seconds() if started else 0.0
    report = build_report(args.run, args.plan, args.state, args.dead_letter, seconds)
    out = args.report_out or report_uri(args.state)
    storage.write_text(storage.locate(out), json.dumps(report, indent=2) + "\n")
    log.info("backfill report", report=out, **report["counts"])
    clean = not (report["counts"]["failed"] or report["counts"]["dead_lettered"])
    if clean and args.output_root:
        record_success(args.output_root, args.plan, args.run)
    if not clean:
        raise RunnerError(f"backfill {args.run}: {report['counts']['failed']} failed, "
                          f"{report['counts']['dead_lettered']} dead-lettered: see {out}",
                          report=out)
    return {"report": out, **report["counts"]}
