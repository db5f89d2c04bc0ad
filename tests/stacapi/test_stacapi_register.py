"""`geozarr-runner register` against a real STAC API (pgSTAC + stac-fastapi-pgstac on
loopback), and against tiny loopback servers for the failures a healthy API never shows.

Black-box through `python -m runner register` where the process boundary matters (exit
codes, stderr lines, env-driven parameters as the WorkflowTemplate passes them);
in-process through `runner.cli.main` where that is cheaper and equivalent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pystac
import pytest
import requests

from tests.fixtures_s3 import S3Server
from tests.fixtures_stacapi import StacApi, free_port
from tests.stacapi.items import make_item, unique, write_item
from tests.stacapi.loopback_http import SilentServer, StatusServer
from tests.stacapi.register_cli import json_lines, register, run_register


def item_url(api: StacApi, collection: str, item_id: str) -> str:
    return f"{api.url}/collections/{collection}/items/{item_id}"


def only_error_line(stderr: str) -> dict[str, Any]:
    """Bad input: exactly one stderr line, a JSON error event (no traceback, no noise)."""
    lines = json_lines(stderr)
    assert len(lines) == 1, stderr
    assert lines[0]["level"] == "error" and lines[0]["step"] == "register", lines[0]
    return lines[0]


# --- the real API: create, update, search -------------------------------------------------


def test_first_registration_creates_collection_and_item(stac_api: StacApi, tmp_path: Path) -> None:
    collection, item_id = unique("sentinel-2-l2a"), unique("S2A_MSIL2A_20251008T100041")
    item = make_item(item_id, collection)
    pystac.Item.from_dict(item).validate()  # the test's own item is valid STAC 1.1 (offline core schema)
    outputs = tmp_path / "outputs"
    # as the WorkflowTemplate runs it: API URL and collection from the environment
    proc = run_register(str(write_item(tmp_path / "item.json", item)), "--outputs-dir", str(outputs),
                        "--json", env={"STAC_API_URL": stac_api.url, "COLLECTION": collection})

    assert proc.returncode == 0, proc.stderr
    url = item_url(stac_api, collection, item_id)
    assert json.loads(proc.stdout) == {"item_url": url, "action": "created", "collection_created": True,
                                       "collection_updated": False}
    assert (outputs / "item_url").read_text() == url
    messages = [e["message"] for e in json_lines(proc.stderr)]
    assert messages.index("collection created") < messages.index("item created") < len(messages)
    assert messages[-1] == "item registered"

    got = requests.get(url, timeout=10)
    assert got.status_code == 200
    doc = got.json()
    assert (doc["id"], doc["collection"]) == (item_id, collection)
    assert doc["bbox"] == item["bbox"]
    assert doc["geometry"] == item["geometry"]
    assert doc["assets"]["geozarr"] == item["assets"]["geozarr"]
    coll = stac_api.get(f"/collections/{collection}")
    assert coll.status_code == 200
    assert coll.json()["extent"]["spatial"]["bbox"] == [item["bbox"]]


def test_reregistering_the_same_id_updates_it_idempotently(
    stac_api: StacApi, tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_step_env: None,
) -> None:
    collection, item_id = unique("sentinel-2-l2a"), unique("S2B_MSIL2A")
    path = tmp_path / "item.json"
    args = (str(path), "--stac-api-url", stac_api.url, "--json")

    write_item(path, make_item(item_id, collection, **{"geozarr:revision": 1}))
    assert register(*args) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["action"], first["collection_created"]) == ("created", True)

    for revision in (2, 2):  # a changed item, then the very same document again
        write_item(path, make_item(item_id, collection, **{"geozarr:revision": revision}))
        assert register(*args) == 0
        captured = capsys.readouterr()
        result = json.loads(captured.out)
        assert result == {"item_url": item_url(stac_api, collection, item_id), "action": "updated",
                          "collection_created": False, "collection_updated": False}
        assert "item exists: updating" in [e["message"] for e in json_lines(captured.err)]
        doc = requests.get(result["item_url"], timeout=10).json()
        assert doc["properties"]["geozarr:revision"] == revision

    listing = stac_api.get(f"/collections/{collection}/items").json()
    assert [f["id"] for f in listing["features"]] == [item_id]


def test_a_search_by_collection_and_bbox_finds_the_item(
    stac_api: StacApi, tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_step_env: None,
) -> None:
    collection = unique("sentinel-2-l2a")
    inside, elsewhere = unique("S2A_T32TQM"), unique("S2A_T31UDQ")
    for item_id, bbox in ((inside, (11.0, 45.0, 11.5, 45.4)), (elsewhere, (2.0, 48.0, 2.5, 48.4))):
        path = write_item(tmp_path / f"{item_id}.json", make_item(item_id, collection, bbox=bbox))
        assert register(str(path), "--stac-api-url", stac_api.url) == 0, capsys.readouterr().err

    def search_ids(bbox: list[float]) -> list[str]:
        r = stac_api.post("/search", json={"collections": [collection], "bbox": bbox, "limit": 10})
        assert r.status_code == 200, r.text
        return sorted(f["id"] for f in r.json()["features"])

    assert search_ids([11.1, 45.1, 11.2, 45.2]) == [inside]
    assert search_ids([0.0, 40.0, 20.0, 50.0]) == sorted([inside, elsewhere])
    assert search_ids([-60.0, -10.0, -50.0, 0.0]) == []
    r = stac_api.get("/search", params={"collections": collection, "bbox": "11.1,45.1,11.2,45.2"})
    assert [f["id"] for f in r.json()["features"]] == [inside]


def test_item_from_s3_and_parameters_from_the_params_dir(
    stac_api: StacApi, s3_server: S3Server, s3_bucket: str, s3_env: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], clean_step_env: None,
) -> None:
    """The pipeline's real shape: `build-stac` wrote the item to S3; the API URL and the
    collection come from the mounted ConfigMap (GEOZARR_PARAMS_DIR), the token from env."""
    collection, item_id = unique("sentinel-2-l2a"), unique("S2C_MSIL2A")
    key = f"geozarr/{collection}/items/{item_id}.json"
    s3_server.client().put_object(Bucket=s3_bucket, Key=key,
                                  Body=json.dumps(make_item(item_id, collection)).encode())
    params_dir = tmp_path / "params"
    params_dir.mkdir()
    (params_dir / "params.json").write_text(json.dumps({"collection": "sentinel-2-l2a",
                                                        "stac_api_url": "http://127.0.0.1:9"}))
    (params_dir / "collection").write_text(collection)  # an overlay's flat override wins
    (params_dir / "stac_api_url").write_text(stac_api.url)
    monkeypatch.setenv("GEOZARR_PARAMS_DIR", str(params_dir))
    monkeypatch.setenv("STAC_API_TOKEN", "not-checked-by-this-api")

    assert register(f"s3://{s3_bucket}/{key}", "--json") == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["item_url"] == item_url(stac_api, collection, item_id)
    assert requests.get(item_url(stac_api, collection, item_id), timeout=10).status_code == 200


# --- bad input: exit 2, one line, nothing registered --------------------------------------


def test_collection_mismatch_and_invalid_json_exit_2_with_one_line(stac_api: StacApi, tmp_path: Path) -> None:
    """Black-box: the CLI's exit code and its whole stderr."""
    collection, item_id = unique("sentinel-2-l2a"), unique("S2A_MISMATCH")
    mismatched = write_item(tmp_path / "item.json", make_item(item_id, collection))
    proc = run_register(str(mismatched), env={"STAC_API_URL": stac_api.url, "COLLECTION": "sentinel-1-grd"})
    assert proc.returncode == 2
    error = only_error_line(proc.stderr)
    assert collection in error["message"] and "sentinel-1-grd" in error["message"]
    assert proc.stdout == ""
    assert stac_api.get(f"/collections/{collection}").status_code == 404  # nothing created

    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "Feature", "id": ')
    proc = run_register(str(broken), "--stac-api-url", stac_api.url)
    assert proc.returncode == 2
    assert "not valid JSON" in only_error_line(proc.stderr)["message"]


BAD_INPUT: list[tuple[str, Any, tuple[str, ...], str]] = [
    # (case, item document or raw text or None for no file, extra args, expected in the message)
    ("invalid-json", "{not json", (), "not valid JSON"),
    ("not-a-feature", {"type": "FeatureCollection", "features": []}, (), "not a STAC item"),
    ("json-array", [1, 2], (), "not a STAC item"),
    ("no-id", {"type": "Feature"}, (), "has no id"),
    ("slash-in-id", {"type": "Feature", "id": "a/b", "collection": "c"}, (), "no '/'"),
    ("collection-mismatch", "ITEM", ("--collection", "other-collection"), "does not match"),
    ("no-collection-anywhere", "ITEM-WITHOUT-COLLECTION", (), "has no collection"),
    ("missing-file", None, (), "not found"),
    ("item-is-a-directory", "DIR", (), "not a readable JSON file"),
    ("api-rejects-the-item", "ITEM-WITHOUT-GEOMETRY", (), "STAC API answered 400"),
]


@pytest.mark.parametrize(("case", "content", "extra", "expected"), BAD_INPUT,
                         ids=[c[0] for c in BAD_INPUT])
def test_bad_item_exits_2_with_one_line(
    case: str, content: Any, extra: tuple[str, ...], expected: str, stac_api: StacApi,
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_step_env: None,
) -> None:
    collection, item_id = unique("bad"), unique("S2A_BAD")
    path = tmp_path / "item.json"
    if content == "DIR":
        path.mkdir()
    elif content == "ITEM":
        write_item(path, make_item(item_id, collection))
    elif content == "ITEM-WITHOUT-COLLECTION":
        write_item(path, make_item(item_id, None))
    elif content == "ITEM-WITHOUT-GEOMETRY":
        item = make_item(item_id, collection)
        del item["geometry"]
        write_item(path, item)
    elif isinstance(content, str):
        path.write_text(content)
    elif content is not None:
        write_item(path, content)
    outputs = tmp_path / "outputs"

    code = register(str(path), "--stac-api-url", stac_api.url, "--outputs-dir", str(outputs), *extra)

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    if case == "api-rejects-the-item":  # the collection step ran: its info lines come first
        errors = [e for e in json_lines(captured.err) if e["level"] == "error"]
        assert len(errors) == 1 and "geometry" in errors[0]["message"], captured.err
        message = errors[0]["message"]
    else:
        message = only_error_line(captured.err)["message"]
    assert expected in message
    assert not outputs.exists()  # no item_url for Argo to pick up
    assert stac_api.get(f"/collections/{collection}/items/{item_id}").status_code == 404


@pytest.mark.parametrize(("args", "expected"), [
    ((), "no STAC API URL"),
    (("--stac-api-url", "ftp://127.0.0.1/stac"), "not an http(s) URL"),
    (("--stac-api-url", "http://127.0.0.1:1", "--timeout", "0"), "--timeout must be positive"),
], ids=["no-url", "not-http", "zero-timeout"])
def test_bad_configuration_exits_2_with_one_line(
    args: tuple[str, ...], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    clean_step_env: None,
) -> None:
    path = write_item(tmp_path / "item.json", make_item(unique("S2A"), "sentinel-2-l2a"))
    assert register(str(path), *args) == 2
    assert expected in only_error_line(capsys.readouterr().err)["message"]


# --- remote failures: transient → exit 3, client errors → exit 2 ---------------------------


def test_api_down_and_server_error_exit_3_black_box(tmp_path: Path) -> None:
    path = write_item(tmp_path / "item.json", make_item(unique("S2A"), "sentinel-2-l2a"))
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc = run_register(str(path), "--stac-api-url", closed)
    assert proc.returncode == 3, proc.stderr
    errors = [e for e in json_lines(proc.stderr) if e["level"] == "error"]
    assert len(errors) == 1 and "cannot connect to the STAC API" in errors[0]["message"]
    assert "Traceback" not in proc.stderr

    with StatusServer(500) as server:
        proc = run_register(str(path), "--stac-api-url", server.url)
    assert proc.returncode == 3, proc.stderr
    errors = [e for e in json_lines(proc.stderr) if e["level"] == "error"]
    assert len(errors) == 1 and "STAC API answered 500" in errors[0]["message"]
    assert errors[0]["exit_code"] == 3


REMOTE: list[tuple[str, int, dict[str, int], int, str]] = [
    # (case, default status, per-route statuses, exit code, expected in the error message)
    ("collection-lookup-500", 500, {}, 3, "answered 500"),
    ("collection-lookup-503", 503, {}, 3, "answered 503"),
    ("throttled-429", 429, {}, 3, "answered 429"),
    ("item-post-502", 502, {"GET /collections/c": 200}, 3, "could not create item"),
    ("item-put-500", 500, {"GET /collections/c": 200, "POST /collections/c/items": 409}, 3,
     "could not update item"),
    ("collection-create-500", 500, {"GET /collections/c": 404}, 3, "could not create collection"),
    ("unauthorized-401", 401, {}, 2, "check STAC_API_TOKEN"),
    ("forbidden-on-post-403", 403, {"GET /collections/c": 200}, 2, "check STAC_API_TOKEN"),
    ("put-404", 404, {"GET /collections/c": 200, "POST /collections/c/items": 409}, 2,
     "answered 404"),
    ("redirect-301", 301, {}, 2, "answered 301"),
]


@pytest.mark.parametrize(("case", "status", "routes", "exit_code", "expected"), REMOTE,
                         ids=[c[0] for c in REMOTE])
def test_remote_failures_map_to_exit_codes(
    case: str, status: int, routes: dict[str, int], exit_code: int, expected: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], clean_step_env: None,
) -> None:
    path = write_item(tmp_path / "item.json", make_item("i", "c"))
    with StatusServer(status, routes=routes) as server:
        code = register(str(path), "--stac-api-url", server.url)
    captured = capsys.readouterr()
    assert code == exit_code, captured.err
    errors = [e for e in json_lines(captured.err) if e["level"] == "error"]
    assert len(errors) == 1 and expected in errors[0]["message"], captured.err
    assert errors[0]["exit_code"] == exit_code


def test_an_api_that_never_answers_times_out_with_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_step_env: None,
) -> None:
    path = write_item(tmp_path / "item.json", make_item("i", "c"))
    with SilentServer() as server:
        code = register(str(path), "--stac-api-url", server.url, "--timeout", "0.3")
    assert code == 3
    errors = [e for e in json_lines(capsys.readouterr().err) if e["level"] == "error"]
    assert len(errors) == 1 and "timed out after 0.3 s" in errors[0]["message"]


def test_the_token_is_sent_as_bearer_and_never_logged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    clean_step_env: None,
) -> None:
    token = "s3cr3t-token-value"
    monkeypatch.setenv("STAC_API_TOKEN", token)
    item = make_item("i", "c")
    path = write_item(tmp_path / "item.json", item)
    with StatusServer(201, routes={"GET /collections/c": 200}) as server:
        assert register(str(path), "--stac-api-url", server.url + "/") == 0
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/collections/c"),
                                                             ("POST", "/collections/c/items")]
    assert {r.headers.get("Authorization") for r in server.requests} == {f"Bearer {token}"}
    assert json.loads(server.requests[1].body) == item
    assert token not in capsys.readouterr().err
