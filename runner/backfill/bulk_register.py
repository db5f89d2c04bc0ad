"""The backfill's `bulk-register` step: upsert many items through the STAC API's bulk endpoint.

    geozarr-runner bulk-register ITEMS --collection C --stac-api-url URL --dead-letter URI
        [--chunk-size 500] [--readers 8] [--attempts 4] [--backoff 1] [--breaker 3]

- ITEMS is a file (local or s3://) listing item JSON URIs, one per line (what the convert
  wave wrote), or a dead-letter list (a replay), or a folder / `s3://…/` prefix whose `*.json`
  objects are the items.
- A chunk's item files are read `--readers` at a time (concurrent S3 GETs), kept in the list's
  order.
- Before anything, a health check (`GET /` of the API): an API that does not answer fails the
  step at once (exit 3), before any item is read.
- The collection is the env's document from git (as `register` uses it), created when missing and
  its extent widened to cover each chunk.
- Items go in chunks to `POST /collections/C/bulk_items` with `method: upsert` (idempotent).
  A transient failure (connection, timeout, 5xx, 408, 429) is retried with exponential backoff;
  a chunk the API refuses (4xx) is dead-lettered with the API's reason.
- Circuit breaker: after `--breaker` chunks in a row fail even after their retries, the API is
  taken as down and every remaining item is dead-lettered without calling it. The dead-letter
  list (JSON lines `item`, `uri`, `reason`, `exit_code`) is what `invoke replay` registers later:
  an outage never fails the conversions, and nothing is lost.
- Outputs: `registered`, `dead_lettered`, `dead_letter`. Exit 0 unless the health check fails
  or the input cannot be read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

from runner import register, storage
from runner.errors import EXIT_BAD_INPUT, EXIT_TRANSIENT, BadInput, RunnerError, TransientFailure
from runner.events import EventLog

DEFAULT_CHUNK = 500
DEFAULT_READERS = 8
MAX_BACKOFF_S = 60.0


@dataclass(frozen=True)
class DeadLetter:
    item: str
    uri: str
    reason: str
    exit_code: int

    def to_line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Policy:
    chunk_size: int = DEFAULT_CHUNK
    attempts: int = 4
    backoff_s: float = 1.0
    breaker: int = 3
    readers: int = DEFAULT_READERS  # item files read at once (S3 GETs in flight)


@dataclass
class Outcome:
    total: int
    registered: int = 0
    dead: list[DeadLetter] = field(default_factory=list)
    failed_in_a_row: int = 0


def health_check(api: register.Api) -> None:
    """Fail fast (TransientFailure, exit 3) when the API does not answer its landing page."""
    resp = api.request("GET", "/", what="check the STAC API's health")
    if resp.status_code != 200:
        raise TransientFailure(f"STAC API health check failed: GET {api.url}/ answered "
                               f"{resp.status_code}")


def item_uris(source: str) -> list[str]:
    """The item URIs listed in SOURCE (a file) or found under it (an s3:// or local prefix)."""
    loc = storage.locate(source)
    if source.endswith("/") or (storage.exists(loc) and loc.fs.isdir(loc.path)):
        base = loc.uri.rstrip("/")
        return sorted(f"{base}/{rel}" for rel in storage.list_files(loc) if rel.endswith(".json"))
    try:
        text = storage.read_text(loc)
    except FileNotFoundError:
        raise BadInput(f"{source}: no such item list") from None
    return [_uri_of(line.strip()) for line in text.splitlines() if line.strip()]


def _uri_of(line: str) -> str:
    """A plain URI line, or a dead-letter line (a replay registers a dead-letter list)."""
    if not line.startswith("{"):
        return line
    try:
        return str(json.loads(line)["uri"])
    except (json.JSONDecodeError, KeyError, TypeError):
        raise BadInput(f"not a URI nor a dead-letter entry: {line[:120]}") from None


def chunks(uris: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(uris), size):
        yield uris[start:start + size]


def item_name(uri: str) -> str:
    """The item a file that was not read stands for: its name without `.json` (the batch writes
    STATE/items/ITEM.json)."""
    return uri.rsplit("/", 1)[-1].removesuffix(".json")


def _read(uri: str) -> dict[str, Any] | RunnerError:
    try:
        return register.read_item(uri)
    except RunnerError as exc:
        return exc


def load_chunk(uris: Sequence[str], collection: str, readers: Executor | None = None,
               ) -> tuple[dict[str, Any], dict[str, str], list[DeadLetter]]:
    """(items by id, uri by id, unreadable ones) of one chunk, each item set to COLLECTION.
    READERS (a thread pool) reads the files concurrently; the result is in URIS' order either way."""
    items: dict[str, Any] = {}
    where: dict[str, str] = {}
    bad: list[DeadLetter] = []
    for uri, item in zip(uris, readers.map(_read, uris) if readers else map(_read, uris), strict=True):
        if isinstance(item, RunnerError):
            bad.append(DeadLetter(item_name(uri), uri, item.message, item.exit_code))
            continue
        items[item["id"]] = {**item, "collection": collection}
        where[item["id"]] = uri
    return items, where, bad


def post_chunk(api: register.Api, collection: dict[str, Any], items: dict[str, Any], policy: Policy,
               log: EventLog) -> None:
    """One bulk upsert (the collection first widened to cover it), retried with exponential
    backoff on transient failures."""
    path = f"/collections/{quote(collection['id'], safe='')}/bulk_items"
    for attempt in range(1, policy.attempts + 1):
        try:
            register.ensure_collection(api, envelope(items), collection, log)
            resp = api.request("POST", path, what=f"upsert {len(items)} items",
                               body={"items": items, "method": "upsert"})
            if resp.status_code in (200, 201):
                return
            raise register.fail_for_status(resp, what=f"upsert {len(items)} items")
        except TransientFailure as exc:
            if attempt == policy.attempts:
                raise
            delay = min(MAX_BACKOFF_S, policy.backoff_s * 2 ** (attempt - 1))
            log.warning("bulk upsert failed: retrying", attempt=attempt, delay_s=delay,
                        reason=exc.message)
            time.sleep(delay)


def envelope(items: dict[str, Any]) -> dict[str, Any]:
    """One pseudo-item whose bbox and datetimes cover every item of a chunk (the collection's
    extent widens once per chunk, not once per item)."""
    from runner.register import widen_extent

    extent: dict[str, Any] | None = None
    for item in items.values():
        extent = widen_extent(extent, item)
    box = extent["spatial"]["bbox"][0] if extent else None
    start, end = extent["temporal"]["interval"][0] if extent else (None, None)
    return {"bbox": box, "properties": {"start_datetime": start, "end_datetime": end, "datetime": None}}


def register_chunk(api: register.Api, collection: dict[str, Any], uris: Sequence[str], policy: Policy,
                   outcome: Outcome, log: EventLog, readers: Executor | None = None) -> None:
    """Widen the collection (the env's document from git) to the chunk, register the chunk, or
    dead-letter it; updates OUTCOME and the breaker's count."""
    items, where, bad = load_chunk(uris, collection["id"], readers)
    outcome.dead += bad
    if not items:
        return
    try:
        post_chunk(api, collection, items, policy, log)
    except RunnerError as exc:
        outcome.dead += [DeadLetter(i, where[i], exc.message, exc.exit_code) for i in items]
        if exc.exit_code == EXIT_TRANSIENT:
            outcome.failed_in_a_row += 1
        return
    outcome.failed_in_a_row = 0
    outcome.registered += len(items)
    log.progress("items registered", done=outcome.registered + len(outcome.dead), total=outcome.total)


def register_all(api: register.Api, collection: dict[str, Any], uris: Sequence[str], policy: Policy,
                 log: EventLog) -> Outcome:
    """Every item of URIS into COLLECTION (the collection document: created or widened as needed)."""
    outcome = Outcome(total=len(uris))
    with ThreadPoolExecutor(policy.readers, thread_name_prefix="read-item") as readers:
        for chunk in chunks(uris, policy.chunk_size):
            if outcome.failed_in_a_row >= policy.breaker:
                reason = (f"circuit open: the STAC API failed {outcome.failed_in_a_row} chunks in a "
                          "row; not called")
                outcome.dead += [DeadLetter(item_name(u), u, reason, EXIT_TRANSIENT) for u in chunk]
                continue
            register_chunk(api, collection, chunk, policy, outcome, log, readers)
    return outcome


def read_dead_letters(uri: str) -> list[DeadLetter]:
    """The dead-letter list at URI (empty when there is none)."""
    text = storage.read_text_if_exists(storage.locate(uri))
    if text is None:
        return []
    return [DeadLetter(**json.loads(line)) for line in text.splitlines() if line]


def write_dead_letters(uri: str, letters: Sequence[DeadLetter]) -> None:
    """Replace the list at URI with LETTERS (the whole list: a replay rewrites what is left)."""
    storage.write_text(storage.locate(uri), "".join(d.to_line() + "\n" for d in letters))


def _first_readable(uris: Sequence[str]) -> dict[str, Any]:
    """The first item that reads (it seeds a new collection's extent), else an empty one."""
    for uri in uris[:20]:
        try:
            return register.read_item(uri)
        except RunnerError:
            continue
    return {}


def add_arguments(p: Any) -> None:
    p.add_argument("items", metavar="ITEMS", help="a file listing item URIs, or an s3:// prefix of items")
    p.add_argument("--collection", required=True, help="the target collection")
    p.add_argument("--stac-api-url", required=True, metavar="URL", help="the target STAC API")
    p.add_argument("--dead-letter", required=True, metavar="URI",
                   help="where items that could not be registered are listed (JSON lines)")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK, metavar="N")
    p.add_argument("--readers", type=int, default=DEFAULT_READERS, metavar="N",
                   help=f"item files read at once (default {DEFAULT_READERS})")
    p.add_argument("--attempts", type=int, default=4, metavar="N", help="tries per chunk (default 4)")
    p.add_argument("--backoff", type=float, default=1.0, metavar="S",
                   help="first retry delay in seconds, doubled each retry (default 1)")
    p.add_argument("--breaker", type=int, default=3, metavar="N",
                   help="failed chunks in a row that open the circuit (default 3)")
    p.add_argument("--timeout", type=float, default=register.DEFAULT_TIMEOUT_S, metavar="S")
    p.add_argument("--collection-json", default=None, metavar="FILE",
                   help="the env's collection document (default $GEOZARR_PARAMS_DIR/collection.json; "
                   "none: a minimal one); created, or widened to cover the items")


def _policy(args: Any) -> Policy:
    for name in ("chunk_size", "attempts", "breaker", "readers"):
        if getattr(args, name) < 1:
            raise BadInput(f"--{name.replace('_', '-')} must be at least 1")
    if args.backoff < 0 or args.timeout <= 0:
        raise BadInput("--backoff must be >= 0 and --timeout > 0")
    return Policy(args.chunk_size, args.attempts, args.backoff, args.breaker, args.readers)


def run(args: Any, log: EventLog) -> dict[str, Any]:
    policy = _policy(args)
    url = register.api_url(args.stac_api_url)
    with register._session() as session:
        api = register.Api(url=url, session=session, timeout=args.timeout)
        health_check(api)
        uris = item_uris(args.items)
        log.info("registering items in bulk", items=len(uris), collection=args.collection)
        doc = register.collection_document(args.collection_json, _first_readable(uris), args.collection)
        outcome = register_all(api, doc, uris, policy, log)
    write_dead_letters(args.dead_letter, outcome.dead)
    if outcome.dead:
        log.warning("items dead-lettered", dead_lettered=len(outcome.dead), dead_letter=args.dead_letter)
    return {"registered": outcome.registered, "dead_lettered": len(outcome.dead),
            "dead_letter": args.dead_letter, "bad_input": sum(d.exit_code == EXIT_BAD_INPUT
                                                              for d in outcome.dead)}
