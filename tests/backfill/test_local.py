"""`invoke backfill --local`: the rendered geozarr-backfill template through the local executor,
real conversions of generated products (144 px), a real STAC API as source and target catalog,
state on disk. One 12-product run (concurrency 2) is shared: a limit below the catalog's size and
one broken product; a second run on its state converts nothing; a copy of its state registers
into a STAC API that stops mid-run (dead letters), then replays once it is back; a run
interrupted midway resumes converting only the rest."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import pytest
import requests

from tests.loopback import LoopbackHTTPServer
from tooling.backfill import local
from tooling.backfill.cli import main_local

pytestmark = pytest.mark.slow
PRODUCTS, LIMIT, BROKEN = 12, 10, 3


def _statuses(state: Path) -> dict[str, dict]:
    return {p.stem: {**json.loads(p.read_text()), "mtime": p.stat().st_mtime_ns}
            for p in state.rglob("backfill/local/status/*.json")}


def _break(products: Path, number: int) -> None:
    """A product without its r20m resolution: preflight refuses it (exit 2)."""
    local.write_products(products, number + 1, 144, local.Progress(quiet=True))
    root = products / f"{local.product_name(number)}.zarr"
    shutil.rmtree(root / "measurements" / "reflectance" / "r20m")
    meta = json.loads((root / ".zmetadata").read_text())
    meta["metadata"] = {k: v for k, v in meta["metadata"].items() if "reflectance/r20m" not in k}
    (root / ".zmetadata").write_text(json.dumps(meta))


def _run(state: Path, capsys: pytest.CaptureFixture[str], **kwargs: int) -> tuple[int, dict]:
    args = {"products": PRODUCTS, "size": 144, "limit": LIMIT, "batches": 2, "parallelism": 2, **kwargs}
    code = main_local(state_dir=str(state), as_json=True, **args)
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict, Path, dict]:
    state = tmp_path_factory.mktemp("backfill-state")
    _break(state / "products", BROKEN)
    out = StringIO()  # a module fixture cannot use capsys
    with redirect_stdout(out):
        code = main_local(state_dir=str(state), as_json=True, products=PRODUCTS, size=144,
                          limit=LIMIT, batches=2, parallelism=2)
    return code, json.loads(out.getvalue()), state, _statuses(state)


def test_the_limit_holds_and_a_failing_product_does_not_stop_the_others(first_run):
    code, report, _, statuses = first_run
    assert code == 1  # one product failed: the run says so
    assert report["counts"] == {"planned": LIMIT, "converted": LIMIT - 1, "skipped": 0,
                                "failed": 1, "registered": LIMIT - 1, "dead_lettered": 0}
    [failed] = report["failed"]
    assert failed["item"] == local.product_name(BROKEN) and failed["exit_code"] == 2
    assert "r20m" in failed["reason"]
    assert len(statuses) == LIMIT  # never more than the limit, of the 12 in the catalog


def test_a_second_run_on_the_same_state_converts_nothing(first_run, capsys):
    _, _, state, before = first_run
    code, report = _run(state, capsys, limit=50)  # a larger limit changes nothing: the plan is read back
    after = _statuses(state)
    assert report["counts"]["planned"] == LIMIT and report["counts"]["converted"] == LIMIT - 1
    converted = [item for item, s in before.items() if s["status"] == "converted"]
    assert all(after[item]["mtime"] == before[item]["mtime"] for item in converted)
    assert code == 1


def test_an_interrupted_run_resumes_with_only_the_rest(tmp_path, capsys):
    state = tmp_path / "state"
    code = ("import sys\nfrom tooling.backfill.cli import main_local\n"
            f"sys.exit(main_local(products=3, size=144, limit=3, batches=1, parallelism=1, "
            f"state_dir={str(state)!r}, as_json=True))")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parents[2],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 600
    while not _statuses(state) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=120)
    before = _statuses(state)
    assert 1 <= len(before) < 3, "interrupted too late (every product done) or too early"
    code, report = _run(state, capsys, products=3, limit=3, batches=1, parallelism=1)
    after = _statuses(state)
    assert code == 0 and report["counts"]["converted"] == 3
    assert all(after[item]["mtime"] == s["mtime"] for item, s in before.items())


class _Gateway(http.server.BaseHTTPRequestHandler):
    """The STAC API behind a gateway: requests pass through to UPSTREAM until the first bulk write
    into a collection other than the source one; from then on the API is stopped (503), until
    `stopped` is cleared (it is back)."""

    upstream = ""
    armed = True  # the next bulk write stops the API
    stopped = False
    bulk_writes_refused = 0

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        cls = type(self)
        if self.command == "POST" and self.path.endswith("/bulk_items") and \
                f"/{local.SOURCE_COLLECTION}/" not in self.path and cls.armed:
            cls.stopped = True
        if cls.stopped:
            cls.bulk_writes_refused += self.path.endswith("/bulk_items")
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        resp = requests.request(self.command, cls.upstream + self.path, data=body or None, timeout=60,
                                headers={"Content-Type": self.headers.get("Content-Type", "application/json")})
        self.send_response(resp.status_code)
        self.send_header("Content-Type", resp.headers.get("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(resp.content)))
        self.end_headers()
        self.wfile.write(resp.content)

    do_GET = do_POST = do_PUT = do_DELETE = _forward

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_the_stac_api_stopped_mid_run_dead_letters_and_a_replay_registers(first_run, stac_api, capsys,
                                                                          tmp_path, monkeypatch):
    _, _, done_state, _ = first_run
    state = tmp_path / "state"
    shutil.copytree(done_state, state, ignore=shutil.ignore_patterns("runs"))  # converted: no conversion
    gateway = type("Gateway", (_Gateway,), {"upstream": stac_api.url})
    with LoopbackHTTPServer(gateway) as api:
        monkeypatch.setattr(local, "catalog", lambda: contextlib.nullcontext(api.url))
        code, down = _run(state, capsys)
        assert gateway.stopped and gateway.bulk_writes_refused >= 1
        gateway.stopped, gateway.armed = False, False  # the API is back
        replay_code, back = _run(state, capsys)
    converted = LIMIT - 1
    assert code == 1 and down["counts"]["dead_lettered"] == converted
    assert down["counts"]["registered"] == 0 and down["counts"]["converted"] == converted
    assert replay_code == 1  # the broken product still fails; nothing else does
    assert back["counts"]["registered"] == converted and back["counts"]["dead_lettered"] == 0
    items = [json.loads(p.read_text()) for p in state.rglob("backfill/local/items/*.json")]
    assert len(items) == converted
    for item in items:
        resp = requests.get(f"{stac_api.url}/collections/{item['collection']}/items/{item['id']}", timeout=10)
        assert resp.status_code == 200, item["id"]
