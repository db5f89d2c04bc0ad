"""The backfill's `plan` step: which source products to convert, written as JSON lines.

    geozarr-runner plan --source-api URL --collection C --from DATE --to DATE [--bbox W,S,E,N]
        [--ids FILE] --limit N --output-root s3://bucket/prefix/collection --plan URI
        [--target-api URL] [--page-size 100] [--search-concurrency 2]

- The source catalog is searched page by page (pystac-client), oldest first, by
  `--search-concurrency` searches at once over disjoint sub-windows of the window
  (runner.backfill.search: the same items in the same order as one search; 1 is one search).
  Memory is bounded by the page size times the concurrency, never by the collection's size.
- A product is *done* (skipped) when its store's `run.json` says it was converted from the same
  source by the same pipeline versions and, with `--target-api`, the target catalog has its
  item made by the same software. Skipped products do not count against the limit.
- At most `--limit` products are planned, whatever the catalog holds. When the plan already
  exists (a resumed run) it is read back instead of searching again, so a resumed backfill
  never plans more than its first run did.
- The plan is one JSON object per line (`item`, `source`, `output`, `datetime`), spooled to an
  anonymous local file as it is selected and written in one object, with its counts beside it
  (`PLAN.summary.json`, incl. `covered_until`: how far the window was covered).
  `--from last-success --to now` is the sliding window of the geozarr-ingest CronWorkflow: it
  starts where the last successful run's coverage ended.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import requests

from runner import manifest, storage
from runner.backfill.request import BackfillRequest
from runner.backfill.search import DEFAULT_CONCURRENCY, MAX_CONCURRENCY, search_items
from runner.errors import BadInput, RunnerError, TransientFailure
from runner.events import EventLog

DEFAULT_PAGE_SIZE = 100
SOURCE_ASSET_KEYS = ("product", "zarr", "data")


@dataclass(frozen=True)
class PlanEntry:
    item: str
    source: str
    output: str
    datetime: str

    def to_line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass
class PlanCounts:
    found: int = 0
    planned: int = 0
    skipped: int = 0
    unusable: int = 0
    covered_until: str = ""  # the window's end, or the last planned product's when the limit hit

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


LAST_SUCCESS = "last-success"
DEFAULT_LOOKBACK = timedelta(days=1)


def last_success_uri(output_root: str) -> str:
    """Where a successful run records how far it covered (the next sliding window's start)."""
    return f"{output_root.rstrip('/')}/backfill/{LAST_SUCCESS}.json"


def resolve_window(start: str, end: str, output_root: str) -> tuple[str, str]:
    """`now` and `last-success` (the end of the last good run, else a day back) as ISO 8601."""
    end_iso = datetime.now(UTC).isoformat() if end == "now" else end
    if start != LAST_SUCCESS:
        return start, end_iso
    last = storage.read_text_if_exists(storage.locate(last_success_uri(output_root)))
    if last is not None:
        return str(json.loads(last)["covered_until"]), end_iso
    fallback = datetime.fromisoformat(end_iso) - DEFAULT_LOOKBACK
    return fallback.isoformat(), end_iso


def source_href(item: dict[str, Any]) -> str | None:
    """The Zarr product an EOPF catalog item points at (its `product` asset, else a zarr one)."""
    assets = item.get("assets") or {}
    for key in SOURCE_ASSET_KEYS:
        href = (assets.get(key) or {}).get("href")
        if href:
            return str(href)
    for asset in assets.values():
        if "zarr" in str(asset.get("type", "")) and asset.get("href"):
            return str(asset["href"])
    return None


def check_collection(api_url: str, collection: str, timeout: float = 30.0) -> None:
    """BadInput when the source catalog has no such collection; TransientFailure when it is down."""
    url = f"{api_url.rstrip('/')}/collections/{collection}"
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise TransientFailure(f"source catalog unreachable at {api_url}: {type(exc).__name__}") from exc
    if response.status_code == 404:
        raise BadInput(f"unknown collection {collection!r} in the source catalog {api_url}")
    if response.status_code >= 500:
        raise TransientFailure(f"source catalog {api_url} answered {response.status_code}")
    if not response.ok:
        raise BadInput(f"source catalog {api_url} refused {url}: HTTP {response.status_code}")


def store_is_done(output: str, source: str) -> bool:
    """The store has a run.json from the same source and the same pipeline versions."""
    try:
        run = json.loads(storage.read_text(manifest.manifest_location(output)))
    except (FileNotFoundError, json.JSONDecodeError, OSError):
        return False
    current = manifest.versions()
    same_versions = all(run.get("versions", {}).get(k) == current[k] for k in ("runner", "eopf_geozarr"))
    return same_versions and (run.get("input") or {}).get("uri") == source


def item_is_registered(target_api: str, collection: str, item_id: str, timeout: float = 30.0) -> bool:
    """The target catalog has the item, made by this pipeline's software versions."""
    url = f"{target_api.rstrip('/')}/collections/{collection}/items/{item_id}"
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise TransientFailure(f"target catalog unreachable at {target_api}: {type(exc).__name__}") from exc
    if response.status_code != 200:
        return False
    software = (response.json().get("properties") or {}).get("processing:software") or {}
    current = manifest.versions()
    return software.get("geozarr-runner") == current["runner"] and \
        software.get("eopf-geozarr") == current["eopf_geozarr"]


def output_uri(output_root: str, item_id: str) -> str:
    return f"{output_root.rstrip('/')}/{item_id}.zarr"


def existing_stores(output_root: str) -> set[str]:
    """The names of the stores under OUTPUT_ROOT: one listing (S3: by delimiter), instead of a
    request per product; only these can be done."""
    loc = storage.locate(output_root)
    try:
        names = loc.fs.ls(loc.path, detail=False)
    except FileNotFoundError:
        return set()
    return {str(n).rstrip("/").rsplit("/", 1)[-1] for n in names}


def select(items: Iterable[dict[str, Any]], request: BackfillRequest, output_root: str,
           target_api: str | None, counts: PlanCounts, log: EventLog) -> Iterator[PlanEntry]:
    """Plan entries for the items not done yet, stopping at the request's limit."""
    latest, ordered = "", True
    stores = existing_stores(output_root)
    for item in items:
        counts.found += 1
        entry = _entry(item, output_root)
        if entry is None:
            counts.unusable += 1
            log.warning("source item without a Zarr product asset", item=item.get("id"))
            continue
        if entry.output.rsplit("/", 1)[-1] in stores and _is_done(entry, request.collection, target_api):
            counts.skipped += 1
            continue
        counts.planned += 1
        yield entry
        ordered, latest = ordered and entry.datetime >= latest, entry.datetime
        if counts.planned >= request.limit:
            # a window cut short is covered up to its last entry only if the API sorted oldest first
            counts.covered_until = entry.datetime if ordered else ""
            return
    counts.covered_until = request.datetime_range.split("/")[1]


def _entry(item: dict[str, Any], output_root: str) -> PlanEntry | None:
    href = source_href(item)
    item_id = str(item.get("id") or "")
    if not href or not item_id:
        return None
    when = str((item.get("properties") or {}).get("datetime") or "")
    return PlanEntry(item_id, href, output_uri(output_root, item_id), when)


def _is_done(entry: PlanEntry, collection: str, target_api: str | None) -> bool:
    if not store_is_done(entry.output, entry.source):
        return False
    return target_api is None or item_is_registered(target_api, collection, entry.item)


def iter_plan(uri: str) -> Iterator[PlanEntry]:
    """The entries of the plan at URI, streamed (memory holds a read block, not the plan: a
    backfill's plan grows with the collection). FileNotFoundError when there is none yet."""
    for line in storage.read_lines(storage.locate(uri)):
        if not line:
            continue
        try:
            yield PlanEntry(**json.loads(line))
        except (json.JSONDecodeError, TypeError) as exc:
            raise RunnerError(f"the existing plan {uri} is unreadable ({exc}); move it away to replan") from exc


def read_plan(uri: str) -> list[PlanEntry] | None:
    """The whole plan at URI, or None when there is none yet (for the workstation's tools; the
    steps stream it with `iter_plan`)."""
    try:
        return list(iter_plan(uri))
    except (FileNotFoundError, NotADirectoryError):
        return None


def count_plan(uri: str) -> int | None:
    """How many entries the plan at URI holds (streamed), or None when there is none yet."""
    try:
        return sum(1 for _ in iter_plan(uri))
    except (FileNotFoundError, NotADirectoryError):
        return None


def summary_uri(plan_uri: str) -> str:
    """Where the plan's counts are kept, beside it (the report reads `skipped` there)."""
    return plan_uri + ".summary.json"


def read_summary(plan_uri: str) -> dict[str, Any]:
    text = storage.read_text_if_exists(storage.locate(summary_uri(plan_uri)))
    return json.loads(text) if text is not None else {}


def spool_entries(entries: Iterable[PlanEntry]) -> IO[bytes]:
    """ENTRIES as JSON lines in an anonymous local file (memory does not grow with the plan)."""
    lines = tempfile.TemporaryFile()  # noqa: SIM115 - returned open; the caller closes it
    for entry in entries:
        lines.write((entry.to_line() + "\n").encode())
    lines.seek(0)
    return lines


def publish_plan(uri: str, lines: IO[bytes], counts: PlanCounts,
                 request: dict[str, Any] | None = None) -> None:
    """The summary (counts, the request), then the spooled entries in one object: a plan is there
    whole or not at all, and a replay can resubmit the same request."""
    summary = {**counts.to_dict(), "request": request or {}}
    storage.write_text(storage.locate(summary_uri(uri)), json.dumps(summary))
    storage.write_stream(storage.locate(uri), lines)


def write_plan(uri: str, entries: Iterable[PlanEntry], counts: PlanCounts,
               request: dict[str, Any] | None = None) -> None:
    """Write the plan of ENTRIES (once they are all there, COUNTS are final)."""
    with spool_entries(entries) as lines:
        publish_plan(uri, lines, counts, request)


def make_plan(*, source_api: str, request: BackfillRequest, output_root: str, plan_uri: str,
              target_api: str | None = None, page_size: int = DEFAULT_PAGE_SIZE,
              concurrency: int = DEFAULT_CONCURRENCY, log: EventLog) -> dict[str, Any]:
    """Search, select and write the plan; or read back the plan a previous run wrote."""
    planned = count_plan(plan_uri)
    if planned is not None:
        log.info("resuming: the plan exists", plan=plan_uri, planned=planned)
        counts = {**read_summary(plan_uri), "planned": planned}
        return {"plan": plan_uri, "resumed": True, "counts": counts}
    check_collection(source_api, request.collection)
    counts = PlanCounts()
    # closed as soon as the limit is reached: the searches still running stop there
    with closing(search_items(source_api, request, page_size, concurrency)) as items:
        lines = spool_entries(select(items, request, output_root, target_api, counts, log))
    with lines:
        publish_plan(plan_uri, lines, counts, {**request.to_dict(), "source_api": source_api})
    log.info("plan written", plan=plan_uri, **counts.to_dict())
    return {"plan": plan_uri, "resumed": False, "counts": counts.to_dict()}


def add_arguments(p: Any) -> None:
    """The step's own arguments (runner.cli adds --outputs-dir, --json, --quiet)."""
    p.add_argument("--source-api", required=True, metavar="URL", help="the source STAC API")
    p.add_argument("--collection", required=True, help="the source collection")
    p.add_argument("--from", dest="start", required=True, metavar="DATE",
                   help=f"window start: ISO 8601, or {LAST_SUCCESS} (where the last good run stopped; "
                   "a day back when none did)")
    p.add_argument("--to", dest="end", required=True, metavar="DATE", help="window end: ISO 8601 or now")
    p.add_argument("--bbox", default="", metavar="W,S,E,N", help="only items intersecting this box")
    p.add_argument("--ids", default="", metavar="FILE", help="only these item ids (one per line)")
    p.add_argument("--limit", type=int, required=True, metavar="N", help="plan at most N products")
    p.add_argument("--output-root", required=True, metavar="URI",
                   help="where stores go: OUTPUT_ROOT/ITEM.zarr (s3:// or a local path)")
    p.add_argument("--plan", dest="plan_uri", required=True, metavar="URI", help="where to write the plan")
    p.add_argument("--target-api", default="", metavar="URL",
                   help="the target STAC API: products registered there by this pipeline are done")
    p.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE, metavar="N",
                   help=f"items per search page (default {DEFAULT_PAGE_SIZE})")
    p.add_argument("--search-concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N",
                   help="searches at once over disjoint sub-windows of the window (default "
                   f"{DEFAULT_CONCURRENCY}; 1: one search)")


def _read_ids(uri: str) -> list[str]:
    """The ids file (local or s3://), at most 64 MiB."""
    if not uri:
        return []
    loc = storage.locate(uri)
    try:
        with loc.fs.open(loc.path, "rb") as f:
            return f.read(64 * 1024 * 1024).decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"--ids {uri}: cannot read: {exc}") from exc


def run(args: Any, log: EventLog) -> dict[str, Any]:
    from runner.backfill.request import parse_request

    if not 1 <= args.page_size <= 10_000:
        raise BadInput(f"--page-size must be within 1..10000, not {args.page_size}")
    if not 1 <= args.search_concurrency <= MAX_CONCURRENCY:
        raise BadInput(f"--search-concurrency must be within 1..{MAX_CONCURRENCY}, "
                       f"not {args.search_concurrency}")
    start, end = resolve_window(args.start, args.end, args.output_root)
    request = parse_request(collection=args.collection, start=start, end=end,
                            bbox=args.bbox, ids=_read_ids(args.ids), limit=args.limit)
    result = make_plan(source_api=args.source_api, request=request, output_root=args.output_root,
                       plan_uri=args.plan_uri, target_api=args.target_api or None,
                       page_size=args.page_size, concurrency=args.search_concurrency, log=log)
    return {**result, "planned": result["counts"]["planned"]}
