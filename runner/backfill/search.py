"""The plan step's search of the source catalog: one search, or disjoint sub-windows at once.

pgSTAC spends ~1 ms of CPU per item in the one backend serving a search, so a search runs on one
core (and, against a remote catalog, at one page per round trip). With `concurrency` N > 1 the
request's window is cut into sub-windows that N workers search at once, and their items are
yielded in exactly the one search's order, with the same items:

- Every item has a *key*, the instant pgSTAC sorts and filters it by: its `start_datetime` when
  it has both `start_datetime` and `end_datetime`, else its `datetime`. A search of the window
  [S, E] (STAC intervals are closed; pgSTAC: key <= E and end >= S) returns the items whose
  [key, end] meets [S, E], ordered by (key, id).
- Cuts S < t1 < ... < tk < E split the key line into half-open parts (-inf, t1), [t1, t2), ...,
  [tk, +inf). Part i is searched as the closed interval [t(i), t(i+1)] (t0 = S, t(k+1) = E) and
  keeps only the items whose key lies in it. An item of the one search's result with its key in
  part i meets that interval (a middle part holds the key itself; the first part's item ends at
  or after S with a key before t1; the last part's key lies in [tk, E]), and a sub-window returns
  nothing outside [S, E]: so each item is kept exactly once. An item exactly on a cut is returned
  by both neighbours and kept by the later one. The parts in order, each sorted by (key, id), are
  the one search's order.
- The cuts spread evenly (whole seconds) between the first and the last key of the window, found
  by two one-item searches, so a wide window around a short collection splits where items are.
- Memory: each worker holds one page; the pages of a sub-window go to a spool file on local disk
  (TMPDIR, unlinked at once: nothing is left behind) as they come, only what the plan reads of
  each item, and the consumer reads them back one page at a time. Workers start at most
  LOOKAHEAD_PER_WORKER * N sub-windows beyond the one being consumed, bounding the disk too.
- Closing the iterator (the plan reached its limit) cancels the workers: each stops after the
  page in flight, and nobody waits for that page. The first error in any worker stops all of
  them and reaches the consumer as one TransientFailure.
- Searches ask pgSTAC to exclude the items' geometry, bbox and links rather than to include the
  few members the plan reads: pgSTAC builds an include item by item, at ~2.5x the CPU.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

import requests

from runner.backfill.request import BackfillRequest
from runner.errors import RunnerError, TransientFailure

DEFAULT_CONCURRENCY = 2
MAX_CONCURRENCY = 16
WINDOWS_PER_WORKER = 16      # sub-windows per worker: small ones waste little work past the limit
LOOKAHEAD_PER_WORKER = 2     # sub-windows started beyond the consumed one, per worker
SEARCH_TIMEOUT = 120.0       # seconds for one page (connect, read): a hung catalog is an error
SORTBY = ["+properties.datetime", "+id"]
# exclude only: pgSTAC builds an `include` of nested paths item by item, at ~2.5x the CPU of
# excluding the large members (measured on the loopback pgSTAC)
FIELDS = {"exclude": ["geometry", "bbox", "links"]}
KEPT_PROPERTIES = ("datetime", "start_datetime", "end_datetime")

Pages = Callable[[str], Iterator[dict[str, Any]]]


def _client(api_url: str) -> Any:
    from pystac_client import Client

    # pgSTAC sorts without declaring the sort conformance class (pystac-client warns, then sends it)
    warnings.filterwarnings("ignore", message=".*does not conform to SORT", module="pystac_client")
    return Client.open(api_url, timeout=SEARCH_TIMEOUT)


def _search_args(request: BackfillRequest, page_size: int, datetime_range: str) -> dict[str, Any]:
    return {"collections": [request.collection], "datetime": datetime_range, "bbox": request.bbox,
            "ids": list(request.ids) or None, "limit": page_size, "sortby": SORTBY, "fields": FIELDS}


def as_failure(exc: Exception, api_url: str) -> Exception:
    """A source catalog's failure as the runner's TransientFailure (other errors as they are)."""
    from pystac_client.exceptions import APIError

    if isinstance(exc, APIError):
        return TransientFailure(f"source catalog search failed: {str(exc)[:200]}")
    if isinstance(exc, requests.RequestException):
        return TransientFailure(f"source catalog unreachable at {api_url}: {type(exc).__name__}")
    return exc


@contextlib.contextmanager
def _source_errors(api_url: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        failure = as_failure(exc, api_url)
        if failure is exc:
            raise
        raise failure from exc


def search_source(api_url: str, request: BackfillRequest, page_size: int) -> Iterator[dict[str, Any]]:
    """The source items of REQUEST, one search page by page, oldest first (key, then id)."""
    with _source_errors(api_url):
        search = _client(api_url).search(**_search_args(request, page_size, request.datetime_range))
        for page in search.pages_as_dicts():
            yield from page.get("features") or []


def item_key(item: dict[str, Any]) -> datetime:
    """The instant pgSTAC sorts and filters ITEM by (see the module's docstring)."""
    props = item.get("properties") or {}
    text = props.get("start_datetime") if props.get("start_datetime") and props.get("end_datetime") \
        else props.get("datetime")
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        raise RunnerError(f"source item {item.get('id')!r} has no readable datetime ({text!r}): "
                          "plan it with --search-concurrency 1") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _slim(item: dict[str, Any]) -> dict[str, Any]:
    """What the plan reads of an item (id, times, assets): all a spool keeps."""
    props = item.get("properties") or {}
    return {"id": item.get("id"), "assets": item.get("assets") or {},
            "properties": {k: props[k] for k in KEPT_PROPERTIES if k in props}}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class SubWindow:
    """Searched as the closed interval [low, high]; keeps the items keyed in [owns_from, owns_to)."""

    low: datetime
    high: datetime
    owns_from: datetime | None  # None: unbounded
    owns_to: datetime | None

    @property
    def datetime_range(self) -> str:
        return f"{_iso(self.low)}/{_iso(self.high)}"

    def owns(self, item: dict[str, Any]) -> bool:
        key = item_key(item)
        return (self.owns_from is None or key >= self.owns_from) and \
            (self.owns_to is None or key < self.owns_to)


def cuts(start: datetime, end: datetime, first: datetime, last: datetime, parts: int) -> list[datetime]:
    """Up to PARTS-1 whole-second cuts strictly inside (START, END), evenly between the first and
    the last key found there."""
    low, high = max(start, first), min(end, last)
    if parts < 2 or high <= low:
        return []
    step = (high - low) / parts
    moments = {(low + step * i).replace(microsecond=0) for i in range(1, parts)}
    return sorted(m for m in moments if start < m < end)


def sub_windows(start: datetime, end: datetime, at: list[datetime]) -> list[SubWindow]:
    """The sub-windows of [START, END] cut at AT (sorted, strictly inside)."""
    edges = [start, *at, end]
    owned: list[datetime | None] = [None, *at, None]
    return [SubWindow(edges[i], edges[i + 1], owned[i], owned[i + 1]) for i in range(len(edges) - 1)]


def _edge_key(client: Any, request: BackfillRequest, sign: str) -> datetime | None:
    """The first (sign +) or last (sign -) key of the request's items; None when there are none."""
    args = {**_search_args(request, 1, request.datetime_range),
            "sortby": [f"{sign}properties.datetime", f"{sign}id"], "max_items": 1}
    item = next(iter(client.search(**args).items_as_dicts()), None)
    return None if item is None else item_key(item)


def windows_of(api_url: str, request: BackfillRequest, parts: int) -> list[SubWindow]:
    """REQUEST's window cut into up to PARTS sub-windows where its items are: [] when it holds
    no item, one sub-window when it cannot be cut."""
    with _source_errors(api_url):
        client = _client(api_url)
        first = _edge_key(client, request, "+")
        last = _edge_key(client, request, "-") if first is not None else None
    if first is None or last is None:
        return []
    return sub_windows(request.start, request.end, cuts(request.start, request.end, first, last, parts))


def search_items(api_url: str, request: BackfillRequest, page_size: int,
                 concurrency: int = DEFAULT_CONCURRENCY) -> Iterator[dict[str, Any]]:
    """The source items of REQUEST, in the one search's order: over `concurrency` sub-window
    searches at once when > 1. Close the iterator to stop the searches early."""
    windows = windows_of(api_url, request, concurrency * WINDOWS_PER_WORKER) if concurrency > 1 else []
    if len(windows) < 2:
        if concurrency <= 1 or windows:
            yield from search_source(api_url, request, page_size)
        return

    def pages_function() -> Pages:
        worker_client = _client(api_url)
        return lambda window: worker_client.search(
            **_search_args(request, page_size, window)).pages_as_dicts()

    with Fetcher(pages_function, windows, concurrency, api_url) as fetcher:
        yield from fetcher.items()


class _Spool:
    """One sub-window's kept items: written page by page by its worker to a file on local disk,
    read back by the consumer page by page (the byte size of each page written and not yet read
    in `pages`). The file is unlinked as soon as both ends have it open: nothing is left on
    disk whatever happens to the process."""

    def __init__(self) -> None:
        fd, path = tempfile.mkstemp(prefix="plan-search-", suffix=".jsonl")
        self._writer = os.fdopen(fd, "wb")
        self._reader = open(path, "rb")  # noqa: SIM115 - closed by close()
        os.unlink(path)
        self.pages: deque[int] = deque()
        self.done = False

    def write(self, items: list[dict[str, Any]]) -> int:
        data = "".join(json.dumps(i, separators=(",", ":")) + "\n" for i in items).encode()
        self._writer.write(data)
        self._writer.flush()
        return len(data)

    def read(self, size: int) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._reader.read(size).splitlines()]

    def close(self) -> None:
        self._writer.close()
        self._reader.close()


class Fetcher:
    """WORKERS threads searching WINDOWS (in order, a bounded look-ahead beyond the one being
    consumed) into spools; `items()` yields them in order. Leaving the context cancels them."""

    def __init__(self, pages_function: Callable[[], Pages], windows: list[SubWindow], workers: int,
                 api_url: str) -> None:
        self._pages_function, self._windows, self._api_url = pages_function, windows, api_url
        self._spools: list[_Spool | None] = [None] * len(windows)
        self._lookahead = LOOKAHEAD_PER_WORKER * workers
        self._next = self._consumed = 0
        self._cond = threading.Condition()
        self._cancelled = False
        self._error: Exception | None = None
        self._threads = [threading.Thread(target=self._work, name=f"plan-search-{n}", daemon=True)
                         for n in range(workers)]
        self._running = len(self._threads)  # workers not stopped yet
        self._left = False                   # the consumer left the context

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Cancel: a worker stops after the page in flight (nobody waits for it); the last of
        the consumer and the workers to leave closes the spools."""
        with self._cond:
            self._cancelled = self._left = True
            self._cond.notify_all()
            last = self._running == 0
        if last:
            self._close_spools()

    def _close_spools(self) -> None:
        for spool in self._spools:
            if spool is not None:
                spool.close()

    def items(self) -> Iterator[dict[str, Any]]:
        for index in range(len(self._windows)):
            self._wait(lambda i=index: self._spools[i] is not None)
            spool = self._spools[index]
            assert spool is not None
            while (size := self._next_page(spool)) is not None:
                yield from spool.read(size)
            spool.close()
            with self._cond:
                self._consumed = index + 1
                self._cond.notify_all()

    def _wait(self, ready: Callable[[], bool]) -> None:
        """Wait (holding nothing after) until READY, raising the first worker's error."""
        with self._cond:
            while not ready() and self._error is None:
                self._cond.wait(timeout=1.0)
            if self._error is not None:
                raise self._error

    def _next_page(self, spool: _Spool) -> int | None:
        self._wait(lambda: bool(spool.pages) or spool.done)
        with self._cond:
            return spool.pages.popleft() if spool.pages else None

    def _work(self) -> None:
        try:
            pages = self._pages_function()
            while (index := self._claim()) is not None:
                self._fetch(index, pages)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            with self._cond:
                self._error = self._error or as_failure(exc, self._api_url)
                self._cond.notify_all()
        finally:
            with self._cond:
                self._running -= 1
                last = self._running == 0 and self._left
            if last:
                self._close_spools()

    def _stopped(self) -> bool:
        return self._cancelled or self._error is not None

    def _claim(self) -> int | None:
        """The next sub-window to search, once the look-ahead allows; None when all are taken."""
        with self._cond:
            while not self._stopped() and self._consumed + self._lookahead <= self._next < len(self._windows):
                self._cond.wait(timeout=1.0)
            if self._stopped() or self._next >= len(self._windows):
                return None
            index, self._next = self._next, self._next + 1
            self._spools[index] = _Spool()
            self._cond.notify_all()
            return index

    def _fetch(self, index: int, pages: Pages) -> None:
        window, spool = self._windows[index], self._spools[index]
        assert spool is not None
        for page in pages(window.datetime_range):
            if self._stopped():
                return
            size = spool.write([_slim(f) for f in page.get("features") or [] if window.owns(f)])
            with self._cond:
                if size:
                    spool.pages.append(size)
                self._cond.notify_all()
        with self._cond:
            spool.done = True
            self._cond.notify_all()


