"""The backfill's `convert-batch` step: one pod converts its share of the plan, product by product.

    geozarr-runner convert-batch PLAN --state STATE_URI --batch K --batches N --collection C

- Its share is every entry i of the plan with i % N == K: batches are balanced, and the
  workflow holds N nodes whatever the plan's length (Argo's node and parameter limits).
- Each product runs the single-product pipeline's own steps, in this process (imports paid
  once): `convert` (which runs preflight), the GeoZarr checks, `stac`. Their command lines are
  the same as in `geozarr-convert`.
- Each product's outcome is a small JSON document `STATE/status/ITEM.json` (`converted`, or
  `failed` with the step, reason and exit code); its item goes to `STATE/items/ITEM.json` for
  bulk registration. A product already `converted` in STATE is not redone (a retried or resumed
  batch), and one that fails never stops the others.
- Exit 0 when every product of the share has an outcome (failures included: the report counts
  them); 3 when the state cannot be written (transient: Argo retries the batch).
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runner import storage
from runner.backfill.plan import PlanEntry, iter_plan
from runner.errors import BadInput, classify
from runner.events import EventLog

CONVERTED, FAILED = "converted", "failed"


@dataclass(frozen=True)
class Outcome:
    item: str
    status: str
    seconds: float
    step: str = ""
    reason: str = ""
    exit_code: int = 0
    item_uri: str = ""


def share(entries: Iterable[PlanEntry], batch: int, batches: int) -> list[PlanEntry]:
    return [e for i, e in enumerate(entries) if i % batches == batch]


def status_uri(state: str, item: str) -> str:
    return f"{state.rstrip('/')}/status/{item}.json"


def item_uri(state: str, item: str) -> str:
    return f"{state.rstrip('/')}/items/{item}.json"


def read_outcome(state: str, item: str) -> Outcome | None:
    text = storage.read_text_if_exists(storage.locate(status_uri(state, item)))
    if text is None:
        return None
    try:
        return Outcome(**json.loads(text))
    except (json.JSONDecodeError, TypeError):
        return None


def write_outcome(state: str, outcome: Outcome) -> None:
    """Record OUTCOME; a state store that fails is transient (the batch is retried)."""
    uri = status_uri(state, outcome.item)
    try:
        storage.write_text(storage.locate(uri), json.dumps(asdict(outcome), sort_keys=True))
    except Exception as exc:
        raise classify(exc, what=f"record the outcome at {uri}") from exc


def _last_error(stderr: str) -> str:
    """The message of the last error event a step logged (its one line)."""
    for line in reversed(stderr.splitlines()):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("level") == "error":
            return str(event.get("message", ""))[:500]
    return stderr.strip().splitlines()[-1][:500] if stderr.strip() else "no message"


def _call(step: str, main: Any, argv: list[str]) -> tuple[int, str]:
    """Run a step's CLI in this process: (exit code, its last error message)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = int(main(argv))
    return code, _last_error(err.getvalue()) if code else ""


def pipeline(entry: PlanEntry, state: str, collection: str) -> list[tuple[str, Any, list[str]]]:
    """The single-product steps for ENTRY: (name, main, argv), in order."""
    from conformance.__main__ import main as conformance_main
    from runner.cli import main as runner_main

    report = f"{state.rstrip('/')}/checks/{entry.item}.json"
    return [
        ("convert", runner_main, ["convert", entry.source, entry.output, "--item-id", entry.item,
                                  "--collection", collection, "--quiet"]),
        ("validate", conformance_main, ["geozarr", entry.output, "--quiet", "--output", report]),
        ("build-stac", runner_main, ["stac", entry.output, "--collection", collection,
                                     "--item-id", entry.item, "-o", item_uri(state, entry.item),
                                     "--quiet"]),
    ]


def convert_one(entry: PlanEntry, state: str, collection: str, log: EventLog) -> Outcome:
    started = time.monotonic()
    for step, main, argv in pipeline(entry, state, collection):
        code, reason = _call(step, main, argv)
        if code:
            log.warning("product failed", item=entry.item, step=step, exit_code=code, reason=reason)
            return Outcome(entry.item, FAILED, round(time.monotonic() - started, 3), step, reason, code)
    return Outcome(entry.item, CONVERTED, round(time.monotonic() - started, 3),
                   item_uri=item_uri(state, entry.item))


def run_batch(entries: Sequence[PlanEntry], state: str, collection: str, log: EventLog) -> dict[str, int]:
    counts = {CONVERTED: 0, FAILED: 0, "already": 0}
    for done, entry in enumerate(entries, 1):
        previous = read_outcome(state, entry.item)
        if previous is not None and previous.status == CONVERTED:
            counts["already"] += 1
            continue
        outcome = convert_one(entry, state, collection, log)
        write_outcome(state, outcome)
        counts[outcome.status] += 1
        log.progress("products", done=done, total=len(entries), item=entry.item, status=outcome.status)
    return counts


def add_arguments(p: Any) -> None:
    p.add_argument("plan", metavar="PLAN", help="the plan (JSON lines) the plan step wrote")
    p.add_argument("--state", required=True, metavar="URI", help="the backfill's state prefix")
    p.add_argument("--batch", type=int, required=True, metavar="K", help="this batch, 0..N-1")
    p.add_argument("--batches", type=int, required=True, metavar="N", help="how many batches")
    p.add_argument("--collection", required=True, help="the target collection")


def run(args: Any, log: EventLog) -> dict[str, Any]:
    if args.batches < 1 or not 0 <= args.batch < args.batches:
        raise BadInput(f"--batch {args.batch} is not within 0..{args.batches - 1}")
    try:
        mine = share(iter_plan(args.plan), args.batch, args.batches)  # the plan streamed
    except (FileNotFoundError, NotADirectoryError):
        raise BadInput(f"no plan at {args.plan}") from None
    log.info("converting a batch", batch=args.batch, batches=args.batches, products=len(mine))
    with tempfile.TemporaryDirectory(prefix="batch-") as tmp, contextlib.chdir(Path(tmp)):
        counts = run_batch(mine, args.state, args.collection, log)
    log.info("batch done", **counts)
    return {"converted": counts[CONVERTED], "failed": counts[FAILED], "already": counts["already"]}
