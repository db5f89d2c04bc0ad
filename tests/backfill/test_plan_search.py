"""The plan step's concurrent search (runner.backfill.search) against a real STAC API (pgSTAC):
the same plan as one search, items on sub-window cuts kept once, the limit, cancellation, and a
catalog failing mid-search."""

from __future__ import annotations

import json
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runner import cli, manifest
from runner.backfill.request import parse_request
from runner.backfill.search import (
    LOOKAHEAD_PER_WORKER,
    WINDOWS_PER_WORKER,
    cuts,
    item_key,
    search_items,
    search_source,
    sub_windows,
    windows_of,
)
from tests.backfill.catalog import add_items, new_collection, seed_source
from tests.backfill.proxy import CountingProxy
from tests.stacapi.items import make_item

FROM, TO = "2025-05-31T00:00:00Z", "2025-06-30T00:00:00Z"
T0 = datetime(2025, 6, 1, tzinfo=UTC)
CONCURRENCIES = (2, 3)


def _z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _item(collection: str, item_id: str, when: datetime, product: bool = True,
          span: tuple[datetime, datetime] | None = None) -> dict:
    props = {"start_datetime": _z(span[0]), "end_datetime": _z(span[1])} if span else {}
    item = make_item(item_id, collection, datetime=_z(when), **props)
    item["assets"] = {"product": {"href": f"s3://source/products/{item_id}.zarr",
                                  "type": "application/vnd+zarr", "roles": ["data"]}} if product else {}
    return item


def _request(collection: str, limit: int = 100_000):
    return parse_request(collection=collection, start=FROM, end=TO, limit=limit)


def _boundary_items(collection: str, cut: datetime, tag: str) -> list[dict]:
    """Items on and around a cut: two exactly on it (a tie broken by id), one a microsecond either
    side, one whose time range starts on it and one whose range straddles it."""
    micro = timedelta(microseconds=1)
    return [_item(collection, f"B{tag}b", cut), _item(collection, f"B{tag}a", cut),
            _item(collection, f"B{tag}m", cut - micro), _item(collection, f"B{tag}p", cut + micro),
            _item(collection, f"B{tag}r", cut + timedelta(minutes=5), span=(cut, cut + timedelta(minutes=10))),
            _item(collection, f"B{tag}s", cut, span=(cut - timedelta(seconds=30), cut + timedelta(seconds=30)))]


@pytest.fixture(scope="module")
def catalog(stac_api) -> tuple[str, dict[int, list[datetime]]]:
    """~710 items: irregular times, one without a product asset, one whose range straddles the
    window's start, then items on every cut the searches of CONCURRENCIES make."""
    collection = new_collection(stac_api.url)
    items = [_item(collection, f"S{n:04d}", T0 + timedelta(minutes=37 * n, seconds=(7 * n) % 60))
             for n in range(240)]
    items[17]["assets"] = {}
    before = datetime(2025, 5, 30, 23, tzinfo=UTC)
    items.append(_item(collection, "EARLY", before, span=(before, before + timedelta(hours=2))))
    add_items(stac_api.url, collection, items)
    first, last = before, T0 + timedelta(minutes=37 * 239, seconds=(7 * 239) % 60)
    request = _request(collection)
    planned = {c: cuts(request.start, request.end, first, last, c * WINDOWS_PER_WORKER)
               for c in CONCURRENCIES}
    add_items(stac_api.url, collection, [item for c, at in planned.items()
                                         for i, cut in enumerate(at)
                                         for item in _boundary_items(collection, cut, f"{c}-{i}")])
    return collection, planned


def test_sub_windows_own_every_instant_once_inside_their_search():
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)
    at = cuts(start, end, start + timedelta(hours=3), end - timedelta(hours=1), 8)
    assert len(at) == 7 and all(c.microsecond == 0 and start < c < end for c in at)
    windows = sub_windows(start, end, at)
    micro = timedelta(microseconds=1)
    probes = [start, end, *at, *(c - micro for c in at), *(c + micro for c in at)]
    for moment in probes:
        owners = [w for w in windows if w.owns({"properties": {"datetime": _z(moment)}})]
        assert len(owners) == 1, moment
        assert owners[0].low <= moment <= owners[0].high
    assert windows[0].owns({"properties": {"datetime": _z(start - timedelta(days=9))}})
    assert cuts(start, end, start, start, 8) == [] and cuts(start, end, start, end, 1) == []


def test_the_windows_are_cut_where_the_boundary_items_sit(stac_api, catalog):
    collection, planned = catalog
    for concurrency, at in planned.items():
        windows = windows_of(stac_api.url, _request(collection), concurrency * WINDOWS_PER_WORKER)
        assert [w.owns_from for w in windows[1:]] == at


@pytest.mark.parametrize("concurrency", CONCURRENCIES)
def test_concurrent_search_yields_the_one_search_items_in_its_order(stac_api, catalog, concurrency):
    collection, planned = catalog
    request = _request(collection)
    serial = [i["id"] for i in search_source(stac_api.url, request, 50)]
    assert len(serial) == len(set(serial)) > 400
    concurrent = [i["id"] for i in search_items(stac_api.url, request, 7, concurrency)]
    assert concurrent == serial
    on_cuts = [i for i in serial if i.startswith(f"B{concurrency}-")]
    assert len(on_cuts) == 6 * len(planned[concurrency])
    keys = [item_key(i) for i in search_items(stac_api.url, request, 50, concurrency)]
    assert keys == sorted(keys)


def _plan(api: str, collection: str, root: Path, *extra: str) -> tuple[int, str, dict]:
    plan = root / "plan.jsonl"
    code = cli.main(["plan", "--source-api", api, "--collection", collection, "--from", FROM,
                     "--to", TO, "--output-root", str(root.parent / "stores"), "--plan", str(plan),
                     "--quiet", *extra])
    if code:
        return code, "", {}
    return code, plan.read_text(), json.loads((root / "plan.jsonl.summary.json").read_text())


def _done(root: Path, *items: str) -> None:
    for item in items:
        store = root / "stores" / f"{item}.zarr"
        store.mkdir(parents=True)
        (store / "run.json").write_text(json.dumps({
            "versions": manifest.versions(), "input": {"uri": f"s3://source/products/{item}.zarr"}}))


@pytest.mark.parametrize(("concurrency", "limit"), [(2, 100_000), (3, 100_000), (3, 1), (3, 61),
                                                    (2, 300), (8, 100_000)])
def test_the_concurrent_plan_is_the_serial_plan(stac_api, catalog, tmp_path, concurrency, limit):
    collection, _ = catalog
    _done(tmp_path, "S0003", "B2-0a", "B2-1s")
    runs = {}
    for c in (1, concurrency):
        (tmp_path / str(c)).mkdir()
        runs[c] = _plan(stac_api.url, collection, tmp_path / str(c), "--limit", str(limit),
                        "--page-size", "9", "--search-concurrency", str(c))
    assert runs[1][0] == runs[concurrency][0] == 0
    assert runs[concurrency][1] == runs[1][1]
    assert runs[concurrency][2] == runs[1][2]
    counts = runs[1][2]
    assert counts["planned"] == min(limit, counts["found"] - counts["skipped"] - counts["unusable"])
    assert len(runs[1][1].splitlines()) == counts["planned"] <= limit
    if limit >= 100_000:
        assert counts["skipped"] == 3 and counts["unusable"] == 1 and counts["covered_until"] == TO


def _searches_stopped() -> bool:
    """The search workers all stop (each after the page it was fetching; nobody waits for it)."""
    for thread in threading.enumerate():
        if thread.name.startswith("plan-search-"):
            thread.join(timeout=30)
    return not [t for t in threading.enumerate() if t.name.startswith("plan-search-")]


@pytest.fixture(scope="module")
def big(stac_api) -> str:
    return seed_source(stac_api.url, 400)


def test_a_small_limit_cancels_the_searches_after_a_few_pages(stac_api, big, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with CountingProxy(stac_api.url) as proxy:
        code, text, counts = _plan(proxy.url, big, tmp_path, "--limit", "3", "--page-size", "5",
                                   "--search-concurrency", "4")
    assert code == 0 and len(text.splitlines()) == 3 and counts["found"] == 3
    # a whole scan is 80 pages (64 sub-windows of <= 7 items: 2 pages each); cancelled, at most
    # the 2 probes and the sub-windows started before the limit: the one read and the look-ahead
    windows_started = 1 + LOOKAHEAD_PER_WORKER * 4
    assert proxy.searches <= 2 + windows_started * 2, proxy.searches
    assert _searches_stopped()
    assert not list(tmp_path.glob("plan-search-*"))


def test_a_catalog_failing_mid_search_is_one_transient_error(stac_api, big, tmp_path, monkeypatch,
                                                             capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with CountingProxy(stac_api.url, fail_from=6) as proxy:
        code, _, _ = _plan(proxy.url, big, tmp_path, "--limit", "1000", "--page-size", "5",
                           "--search-concurrency", "4")
    assert code == 3 and proxy.searches >= 6
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "source catalog search failed" in json.loads(err[0])["message"]
    assert not (tmp_path / "plan.jsonl").exists()
    assert _searches_stopped()
    assert not list(tmp_path.glob("plan-search-*"))
