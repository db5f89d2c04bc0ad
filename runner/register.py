"""`register`: upsert a STAC item into the STAC API (the pipeline's last step).

    geozarr-runner register ITEM.json [--stac-api-url URL] [--collection C]

- ITEM is a local path or an `s3://` URI (what `stac -o` wrote).
- The collection is the item's `collection`; `--collection` / COLLECTION, when set, must
  agree with it (a mismatch is a configuration error, exit 2); an item without one gets it.
- The collection document comes from git: `--collection-json` or
  `$GEOZARR_PARAMS_DIR/collection.json` (overlays/<env>/collection.json, mounted with the
  params), else a minimal one. It is created when the API does not have it, and updated
  (PUT) when its metadata differs from the file's or its extent does not cover the item:
  the spatial and temporal extent is the union of the API's and the item's (the file's
  own extent is only the schema's placeholder). Then the item is POSTed, and on 409 (it
  exists) PUT: re-running is idempotent.
- `STAC_API_TOKEN`, when set, is sent as `Authorization: Bearer ...` (never logged).
- Exit 2: unreadable or invalid item, no/invalid API URL, any 4xx from the API
  (never retried). Exit 3: connection refused, timeouts, 5xx, 408, 429 (Argo retries).
- Outputs: `item_url`, `action` (created|updated), `collection_created`,
  `collection_updated`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from runner import bounded_json, identifiers, params, urls
from runner.errors import BadInput, RunnerError, TransientFailure, classify
from runner.events import EventLog

TOKEN_ENV = "STAC_API_TOKEN"
DEFAULT_TIMEOUT_S = 30.0
_TRANSIENT_STATUS = frozenset({408, 425, 429})


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The step's own arguments (runner.cli adds --outputs-dir, --json, --quiet)."""
    p.add_argument("item", metavar="ITEM", help="the STAC item JSON: local path or s3:// URI")
    for key in ("stac_api_url", "collection", "s3_endpoint"):
        spec = params.PARAMS[key]
        p.add_argument(spec.flag, dest=key, default=None,
                       help=f"{spec.help} (env {spec.env}; default {spec.default!r})")
    p.add_argument("--collection-json", default=None, metavar="FILE",
                   help="the env's collection document (default $GEOZARR_PARAMS_DIR/collection.json "
                   "when it exists, else a minimal one)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                   help=f"seconds per HTTP request before giving up (exit 3; default {DEFAULT_TIMEOUT_S:g})")


@dataclass(frozen=True)
class Api:
    """The STAC API endpoint and how to talk to it."""

    url: str
    session: requests.Session
    timeout: float

    def request(self, method: str, path: str, *, what: str, body: object = None) -> requests.Response:
        """One HTTP request; connection failures and timeouts become TransientFailure."""
        try:
            return self.session.request(method, self.url + path, json=body, timeout=self.timeout,
                                        allow_redirects=False)
        except requests.Timeout as exc:
            raise TransientFailure(f"could not {what}: STAC API timed out after {self.timeout:g} s "
                                   f"({method} {self.url}{path})", cause=type(exc).__name__) from exc
        except requests.ConnectionError as exc:
            raise TransientFailure(f"could not {what}: cannot connect to the STAC API at {self.url}: "
                                   f"{_short(exc)}", cause=type(exc).__name__) from exc
        except requests.RequestException as exc:
            raise BadInput(f"could not {what}: {type(exc).__name__}: {_short(exc)}",
                           cause=type(exc).__name__) from exc


def _short(value: object, limit: int = 300) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _api_reason(resp: requests.Response) -> str:
    """The API's own explanation of an error response, on one short line."""
    try:
        doc = resp.json()
    except ValueError:
        return _short(resp.text) or resp.reason or ""
    if isinstance(doc, dict):
        detail = doc.get("description") or doc.get("detail") or doc.get("message")
        if isinstance(detail, list):  # FastAPI validation errors
            parts = []
            for err in detail[:3]:
                if isinstance(err, dict):
                    loc = ".".join(str(x) for x in err.get("loc", []) if x != "body")
                    parts.append(f"{loc}: {err.get('msg', '')}" if loc else str(err.get("msg", "")))
            detail = "; ".join(parts)
        if detail:
            return _short(detail)
    return _short(doc)


def fail_for_status(resp: requests.Response, *, what: str) -> RunnerError:
    """The failure for an unexpected HTTP status: 5xx/408/429 transient, other 4xx bad input."""
    status = resp.status_code
    where = f"{resp.request.method} {resp.url}" if resp.request is not None else resp.url
    message = f"could not {what}: STAC API answered {status}"
    reason = _api_reason(resp)
    if reason:
        message += f": {reason}"
    if status >= 500 or status in _TRANSIENT_STATUS:
        return TransientFailure(message, status=status, request=where)
    if status in (401, 403):
        message += f" (check {TOKEN_ENV})"
    return BadInput(message, status=status, request=where)


def read_item(uri: str) -> dict[str, Any]:
    """The item document at `uri` (local path or s3://), checked for what registration needs."""
    from runner import storage

    try:
        text = storage.read_text(storage.locate(uri))
    except RunnerError:
        raise
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise BadInput(f"{uri}: not a readable JSON file: {exc}") from exc
    except Exception as exc:  # storage errors are classified at this edge
        raise classify(exc, what=f"read the item {uri}") from exc
    try:
        doc = bounded_json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{uri}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except ValueError as exc:
        raise BadInput(f"{uri}: not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("type") != "Feature":
        raise BadInput(f"{uri}: not a STAC item (expected a JSON object with \"type\": \"Feature\")")
    item_id = doc.get("id")
    if not isinstance(item_id, str) or not item_id.strip():
        raise BadInput(f"{uri}: the item has no id")
    if identifiers.problem(item_id):
        raise BadInput(f"{uri}: item id {item_id!r}: {identifiers.problem(item_id)}")
    return doc


def target_collection(item: dict[str, Any], configured: str, *, uri: str) -> str:
    """The collection to register into: the item's, which must agree with the configured one."""
    in_item = item.get("collection")
    if in_item is not None and (not isinstance(in_item, str) or not in_item.strip()):
        raise BadInput(f"{uri}: the item's collection field is not a non-empty string: {in_item!r}")
    if in_item and configured and in_item != configured:
        raise BadInput(f"{uri}: the item's collection {in_item!r} does not match the configured "
                       f"collection {configured!r} (--collection / COLLECTION)")
    collection = in_item or configured
    if not collection:
        raise BadInput(f"{uri}: the item has no collection and none is configured "
                       "(set --collection or COLLECTION)")
    return identifiers.check("collection", collection)


def api_url(flag_value: object) -> str:
    url = str(params.resolve("stac_api_url", flag_value) or "").strip().rstrip("/")
    if not url:
        raise BadInput("no STAC API URL: set --stac-api-url or STAC_API_URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadInput(f"STAC API URL {url!r} is not an http(s) URL")
    return url


def collection_for(item: dict[str, Any], collection: str) -> dict[str, Any]:
    """A minimal collection document, when the env has none in git."""
    return {
        "type": "Collection",
        "stac_version": item.get("stac_version", "1.1.0"),
        "id": collection,
        "description": f"{collection}: GeoZarr stores converted from EOPF products",
        "license": "other",
        "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
        "links": [],
    }


def _item_extent(item: dict[str, Any]) -> tuple[list[float] | None, str | None, str | None]:
    bbox = item.get("bbox")
    box = [float(v) for v in (bbox[:2] + bbox[3:5] if len(bbox) == 6 else bbox)] \
        if isinstance(bbox, list) and len(bbox) in (4, 6) else None
    props = item.get("properties") or {}
    start = props.get("start_datetime") or props.get("datetime")
    end = props.get("end_datetime") or props.get("datetime")
    return box, start, end


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def _earliest(a: Any, b: Any, *, latest: bool = False) -> Any:
    """The earlier (LATEST: later) of two RFC 3339 strings; None (open) wins, unparsable loses."""
    if a is None or b is None:
        return None
    ta, tb = _instant(a), _instant(b)
    if ta is None or tb is None:
        return a if ta is not None else b
    return (a if ta >= tb else b) if latest else (a if ta <= tb else b)


def widen_extent(existing: dict[str, Any] | None, item: dict[str, Any]) -> dict[str, Any]:
    """The extent covering EXISTING (a collection's `extent`; None: nothing registered yet) and
    the item. Only the overall (first) bbox and interval widen; an open end stays open."""
    box, start, end = _item_extent(item)
    spatial = ((existing or {}).get("spatial") or {}).get("bbox") or []
    temporal = ((existing or {}).get("temporal") or {}).get("interval") or []
    old_box = spatial[0] if spatial and isinstance(spatial[0], list) and len(spatial[0]) == 4 else None
    if box is not None and old_box is not None:
        box = [min(old_box[0], box[0]), min(old_box[1], box[1]), max(old_box[2], box[2]), max(old_box[3], box[3])]
    box = box or old_box or [-180.0, -90.0, 180.0, 90.0]
    old = temporal[0] if temporal and isinstance(temporal[0], list) and len(temporal[0]) == 2 else None
    if old is not None:
        start, end = _earliest(old[0], start), _earliest(old[1], end, latest=True)
    return {"spatial": {"bbox": [box, *spatial[1:]]}, "temporal": {"interval": [[start, end], *temporal[1:]]}}


def desired_collection(doc: dict[str, Any], existing: dict[str, Any] | None,
                       item: dict[str, Any]) -> dict[str, Any]:
    """The env's document with the extent covering the API's current one and the item."""
    return {**doc, "extent": widen_extent((existing or {}).get("extent"), item)}


def _needs_update(existing: dict[str, Any], desired: dict[str, Any]) -> bool:
    """The API's copy lacks or differs in a key of the desired document (links: those we set)."""
    for key, value in desired.items():
        if key == "links":
            have = {(link.get("rel"), link.get("href")) for link in existing.get("links") or []}
            if any((link.get("rel"), link.get("href")) not in have for link in value):
                return True
        elif existing.get(key) != value:
            return True
    return False


def ensure_collection(api: Api, item: dict[str, Any], doc: dict[str, Any], log: EventLog) -> tuple[bool, bool]:
    """Create or update the collection so that it is DOC covering the item; (created, updated)."""
    collection = doc["id"]
    path = f"/collections/{quote(collection, safe='')}"
    resp = api.request("GET", path, what=f"look up collection {collection}")
    if resp.status_code not in (200, 404):
        raise fail_for_status(resp, what=f"look up collection {collection}")
    existing = _collection_body(resp, collection, log) if resp.status_code == 200 else None
    if resp.status_code == 200 and existing is None:
        return False, False
    desired = desired_collection(doc, existing, item)
    if existing is None:
        resp = api.request("POST", "/collections", what=f"create collection {collection}", body=desired)
        if resp.status_code in (200, 201):
            log.info("collection created", collection=collection, status=resp.status_code)
            return True, False
        if resp.status_code != 409:  # 409: created concurrently by another run: update it below
            raise fail_for_status(resp, what=f"create collection {collection}")
        return False, _update_collection(api, item, doc, log)
    if not _needs_update(existing, desired):
        log.info("collection exists", collection=collection)
        return False, False
    return False, _put_collection(api, desired, log)


def _collection_body(resp: requests.Response, collection: str, log: EventLog) -> dict[str, Any] | None:
    """The API's collection document, or None (logged) when its answer is not one: then it is
    left as it is rather than overwritten from a document we cannot compare with."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("id") == collection:
        return body
    log.warning("collection lookup answered 200 without the collection document: not updating it",
                collection=collection)
    return None


def _update_collection(api: Api, item: dict[str, Any], doc: dict[str, Any], log: EventLog) -> bool:
    path = f"/collections/{quote(doc['id'], safe='')}"
    resp = api.request("GET", path, what=f"look up collection {doc['id']}")
    if resp.status_code != 200:
        raise fail_for_status(resp, what=f"look up collection {doc['id']}")
    existing = _collection_body(resp, doc["id"], log)
    if existing is None:
        return False
    desired = desired_collection(doc, existing, item)
    return _put_collection(api, desired, log) if _needs_update(existing, desired) else False


def _put_collection(api: Api, desired: dict[str, Any], log: EventLog) -> bool:
    collection = desired["id"]
    resp = api.request("PUT", f"/collections/{quote(collection, safe='')}",
                       what=f"update collection {collection}", body=desired)
    if resp.status_code not in (200, 201, 204):
        raise fail_for_status(resp, what=f"update collection {collection}")
    log.info("collection updated", collection=collection, extent=desired["extent"], status=resp.status_code)
    return True


def upsert_item(api: Api, item: dict[str, Any], collection: str, log: EventLog) -> str:
    """POST the item; on 409 PUT it. Returns 'created' or 'updated'."""
    item_id = item["id"]
    items = f"/collections/{quote(collection, safe='')}/items"
    resp = api.request("POST", items, what=f"create item {item_id}", body=item)
    if resp.status_code in (200, 201):
        log.info("item created", item_id=item_id, collection=collection, status=resp.status_code)
        return "created"
    if resp.status_code != 409:
        raise fail_for_status(resp, what=f"create item {item_id}")
    log.info("item exists: updating", item_id=item_id, collection=collection)
    resp = api.request("PUT", f"{items}/{quote(item_id, safe='')}", what=f"update item {item_id}",
                       body=item)
    if resp.status_code in (200, 201, 204):
        log.info("item updated", item_id=item_id, collection=collection, status=resp.status_code)
        return "updated"
    raise fail_for_status(resp, what=f"update item {item_id}")


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment: the API URL is explicit
    session.headers.update({"Accept": "application/json", "Content-Type": "application/json",
                            "User-Agent": "geozarr-runner-register"})
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    return session


def run(args: argparse.Namespace, log: EventLog) -> dict[str, Any]:
    """The step (runner.cli's StepFn): read, check, then create collection and upsert item."""
    url = api_url(args.stac_api_url)
    if args.timeout <= 0:
        raise BadInput(f"--timeout must be positive, got {args.timeout:g}")
    params.apply_s3_endpoint(args.s3_endpoint)
    item = read_item(args.item)
    collection = target_collection(item, str(params.resolve("collection", args.collection) or ""),
                                   uri=args.item)
    item = {**item, "collection": collection}
    doc = collection_document(args.collection_json, item, collection)
    started = time.monotonic()
    log.info("registering item", item=args.item, item_id=item["id"], collection=collection,
             stac_api_url=url, token=bool(os.environ.get(TOKEN_ENV, "").strip()))
    with _session() as session:
        api = Api(url=url, session=session, timeout=args.timeout)
        created, updated = ensure_collection(api, item, doc, log)
        action = upsert_item(api, item, collection, log)
    item_url = f"{urls.without_credentials(url)}/collections/{quote(collection, safe='')}/items/{quote(item['id'], safe='')}"
    log.info("item registered", item_url=item_url, action=action,
             elapsed_s=round(time.monotonic() - started, 3))
    return {"item_url": item_url, "action": action, "collection_created": created,
            "collection_updated": updated}


def collection_document(path: str | None, item: dict[str, Any], collection: str) -> dict[str, Any]:
    """The env's collection document (git), which must name the item's collection."""
    from runner.stac_links import read_collection_doc

    doc = read_collection_doc(path)
    if not doc:
        return collection_for(item, collection)
    if doc.get("id") != collection:
        raise BadInput(f"the collection document's id {doc.get('id')!r} is not the item's collection "
                       f"{collection!r}")
    return doc

