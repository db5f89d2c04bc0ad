"""`bulk-register` against the real STAC API (pgSTAC), and against a loopback API that fails."""

from __future__ import annotations

import http.server
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from runner import cli, register
from runner.backfill.bulk_register import load_chunk, read_dead_letters
from tests.loopback import LoopbackHTTPServer
from tests.stacapi.items import make_item, unique, write_item


def _items(tmp_path: Path, collection: str, count: int) -> Path:
    folder = tmp_path / "items"
    folder.mkdir(exist_ok=True)
    uris = [str(write_item(folder / f"it-{n:03d}.json", make_item(f"it-{n:03d}", collection)))
            for n in range(count)]
    listing = tmp_path / "items.txt"
    listing.write_text("\n".join(uris) + "\n")
    return listing


def _run(api: str, collection: str, items: Path | str, dead: Path, *extra: str) -> int:
    return cli.main(["bulk-register", str(items), "--collection", collection, "--stac-api-url", api,
                     "--dead-letter", str(dead), "--quiet", "--backoff", "0", *extra])


def _count(api: str, collection: str) -> int:
    body = requests.get(f"{api}/collections/{collection}/items", params={"limit": 1000},
                        timeout=10).json()
    return len(body["features"])


class _DownForWrites(http.server.BaseHTTPRequestHandler):
    """Healthy landing page and reads; every write (POST, PUT) answers 503. Counts them."""

    posts = 0

    def do_GET(self) -> None:
        body = json.dumps({"type": "Catalog", "id": "x", "links": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        type(self).posts += 1  # POST and PUT: the writes
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_POST

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_every_item_is_registered_in_chunks_and_a_rerun_is_idempotent(stac_api, tmp_path):
    collection = unique("bulk")
    listing, dead = _items(tmp_path, collection, 23), tmp_path / "dead.jsonl"
    assert _run(stac_api.url, collection, listing, dead, "--chunk-size", "5") == 0
    assert _count(stac_api.url, collection) == 23 and read_dead_letters(str(dead)) == []
    extent = requests.get(f"{stac_api.url}/collections/{collection}", timeout=10).json()["extent"]
    assert extent["spatial"]["bbox"][0] == [11.0, 45.0, 11.5, 45.4]  # widened to the items
    assert _run(stac_api.url, collection, tmp_path / "items", dead) == 0  # a folder of items
    assert _count(stac_api.url, collection) == 23


def test_an_unreadable_item_is_dead_lettered_and_the_rest_registered(stac_api, tmp_path):
    collection = unique("bulk")
    listing, dead = _items(tmp_path, collection, 6), tmp_path / "dead.jsonl"
    (tmp_path / "items" / "it-002.json").write_text("{not json")
    assert _run(stac_api.url, collection, listing, dead, "--chunk-size", "4") == 0
    letters = read_dead_letters(str(dead))
    assert [d.exit_code for d in letters] == [2] and "not valid JSON" in letters[0].reason
    assert _count(stac_api.url, collection) == 5


def test_an_api_down_at_start_fails_fast_before_reading_items(tmp_path, capsys):
    dead = tmp_path / "dead.jsonl"
    code = _run("http://127.0.0.1:9", "c", tmp_path / "no-such-list.txt", dead)
    assert code == 3 and not dead.exists()
    assert "cannot connect" in capsys.readouterr().err


def test_the_breaker_opens_then_replay_registers_the_dead_letters(stac_api, tmp_path, monkeypatch):
    collection = unique("bulk")
    listing, dead = _items(tmp_path, collection, 20), tmp_path / "dead.jsonl"
    handler = type("Down", (_DownForWrites,), {"posts": 0})
    read = []
    real_read_item = register.read_item
    monkeypatch.setattr(register, "read_item", lambda uri: read.append(uri) or real_read_item(uri))
    with LoopbackHTTPServer(handler) as down:
        code = _run(down.url, collection, listing, dead, "--chunk-size", "2", "--attempts", "2",
                    "--breaker", "3")
    monkeypatch.undo()
    assert code == 0  # an outage does not fail the conversions
    assert len(read) == 1 + 3 * 2  # the first item (collection doc) and 3 chunks: no more once open
    letters = read_dead_letters(str(dead))
    assert len(letters) == 20 and {d.exit_code for d in letters} == {3}
    assert handler.posts == 3 * 2  # 3 chunks x 2 attempts (one write each), then the circuit stays open
    assert sum("circuit open" in d.reason for d in letters) == 14
    # the API is back: replay the dead-letter list itself
    assert _run(stac_api.url, collection, dead, dead) == 0
    assert _count(stac_api.url, collection) == 20 and read_dead_letters(str(dead)) == []


def test_bad_policy_is_one_line_exit_2(stac_api, tmp_path, capsys):
    code = _run(stac_api.url, "c", tmp_path / "x", tmp_path / "d", "--chunk-size", "0")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--chunk-size" in err[0]


def test_items_read_concurrently_keep_the_list_order(tmp_path):
    uris = _items(tmp_path, "c", 12).read_text().splitlines()
    (tmp_path / "items" / "it-003.json").write_text("{not json")
    (tmp_path / "items" / "it-007.json").unlink()
    with ThreadPoolExecutor(4) as pool:
        items, where, bad = load_chunk(uris, "c", pool)
    assert (items, where, bad) == load_chunk(uris, "c")  # the same as one at a time
    assert list(items) == [f"it-{n:03d}" for n in range(12) if n not in (3, 7)]
    # named as the item, as a chunk the circuit breaker skips names its items
    assert [d.item for d in bad] == ["it-003", "it-007"]


def test_readers_below_one_is_one_line_exit_2(tmp_path, capsys):
    code = _run("http://127.0.0.1:9", "c", tmp_path / "x", tmp_path / "d", "--readers", "0")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--readers" in err[0]
