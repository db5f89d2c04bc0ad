"""Correct and undo: show, delete and restore one STAC item and its GeoZarr store, with an audit
trail on S3.

- The item's own store is `s3://{bucket}/{prefix}/{collection}/{item}.zarr/` (where the pipeline
  writes it, runner.convert). `--purge` deletes only objects under that prefix, and only when one
  of the item's asset hrefs names that store: nothing else is ever deleted.
- The bucket is versioned (overlays/<env>/storage.yaml): a purge leaves delete markers, the data
  stays as noncurrent versions until the lifecycle expires them (noncurrent keep_days).
- Before anything changes, the item's JSON (the API's bytes) is copied to the audit prefix and
  an audit record names every store object version; restore reads that record back: it PUTs the
  copy, and removes exactly the delete markers it created (or copies the recorded version back
  when something was written on top since), so item and store come back byte for byte.
- The audit log is one JSON object per action under `audit/items/<collection>/<item>/`:
  who (GEOZARR_OPERATOR, else user@host), when, why (`--reason`, required), what was done.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from tooling.catalog.errors import AuditError, CatalogError

AUDIT_PREFIX = "audit/items"


@dataclass
class ItemTarget:
    """One item of one env: where its catalog entry, store and audit trail are."""

    env: str
    api_url: str
    bucket: str
    prefix: str
    collection: str
    item: str
    client: Any  # boto3 S3 client of the env's endpoint

    @property
    def item_url(self) -> str:
        return f"{self.api_url.rstrip('/')}/collections/{quote(self.collection, safe='')}/items/{quote(self.item, safe='')}"

    @property
    def store_prefix(self) -> str:
        return f"{self.prefix}/{self.collection}/{self.item}.zarr/"

    @property
    def store_uri(self) -> str:
        return f"s3://{self.bucket}/{self.store_prefix.rstrip('/')}"

    @property
    def audit_dir(self) -> str:
        return f"{AUDIT_PREFIX}/{self.collection}/{self.item}/"


def operator() -> str:
    """Who acts: GEOZARR_OPERATOR (CI sets it to the pipeline's identity), else user@host."""
    if os.environ.get("GEOZARR_OPERATOR"):
        return os.environ["GEOZARR_OPERATOR"]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def _now() -> tuple[str, str]:
    now = datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S%fZ"), now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _session() -> requests.Session:
    s = requests.Session()
    token = os.environ.get("STAC_API_TOKEN", "")
    if token:
        s.headers["Authorization"] = f"Bearer {token}"
    return s


def fetch_item(t: ItemTarget, http: requests.Session) -> bytes | None:
    """The item's JSON as the API serves it (None when absent)."""
    r = http.get(t.item_url, timeout=30)
    if r.status_code == 404:
        return None
    if r.status_code != 200:
        raise CatalogError(f"GET {t.item_url}: HTTP {r.status_code}: {r.text[:200]}")
    return r.content


def store_objects(t: ItemTarget) -> list[dict[str, Any]]:
    """The current objects of the item's store: key, version id, ETag, size."""
    out = []
    paginator = t.client.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=t.bucket, Prefix=t.store_prefix):
        for v in page.get("Versions", []):
            if v.get("IsLatest"):
                out.append(
                    {
                        "key": v["Key"],
                        "version_id": v["VersionId"],
                        "etag": v["ETag"],
                        "size": v["Size"],
                    }
                )
    return sorted(out, key=lambda o: o["key"])


def names_its_store(t: ItemTarget, item: dict[str, Any]) -> bool:
    """Does one of ITEM's asset hrefs name the item's own store (the proof --purge needs)?"""
    assets = item.get("assets") if isinstance(item.get("assets"), dict) else {}
    hrefs = {str(a.get("href", "")).rstrip("/") for a in assets.values() if isinstance(a, dict)}
    return any(h == t.store_uri or h.startswith(t.store_uri + "/") for h in hrefs)


def write_record(t: ItemTarget, stamp: str, action: str, record: dict[str, Any]) -> str:
    key = f"{t.audit_dir}{stamp}-{action}.json"
    t.client.put_object(
        Bucket=t.bucket,
        Key=key,
        Body=json.dumps(record, indent=2).encode(),
        ContentType="application/json",
    )
    return key


def audit_records(t: ItemTarget) -> list[dict[str, Any]]:
    """Every audit record of the item, oldest first."""
    keys = []
    for page in t.client.get_paginator("list_objects_v2").paginate(
        Bucket=t.bucket, Prefix=t.audit_dir
    ):
        keys += [o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("-item.json")]
    return [
        json.loads(t.client.get_object(Bucket=t.bucket, Key=k)["Body"].read()) | {"record": k}
        for k in sorted(keys)
    ]


def _base_record(t: ItemTarget, action: str, when: str, reason: str) -> dict[str, Any]:
    return {
        "action": action,
        "at": when,
        "who": operator(),
        "why": reason,
        "env": t.env,
        "collection": t.collection,
        "item": t.item,
        "item_url": t.item_url,
        "store": t.store_uri,
        "status": "started",
    }


def keep_item_copy(t: ItemTarget, stamp: str, body: bytes) -> dict[str, Any]:
    key = f"{t.audit_dir}{stamp}-item.json"
    put = t.client.put_object(
        Bucket=t.bucket, Key=key, Body=body, ContentType="application/geo+json"
    )
    return {
        "key": key,
        "version_id": put.get("VersionId"),
        "sha256": hashlib.sha256(body).hexdigest(),
    }


def purge_store(t: ItemTarget, objects: list[dict[str, Any]]) -> None:
    """Delete OBJECTS (no version id: delete markers); record each marker's version id."""
    for start in range(0, len(objects), 1000):
        batch = objects[start : start + 1000]
        done = t.client.delete_objects(
            Bucket=t.bucket, Delete={"Objects": [{"Key": o["key"]} for o in batch], "Quiet": False}
        )
        markers = {d["Key"]: d.get("DeleteMarkerVersionId") for d in done.get("Deleted", [])}
        if done.get("Errors"):
            raise CatalogError(
                f"S3 refused to delete {len(done['Errors'])} object(s): {done['Errors'][:3]}"
            )
        for o in batch:
            o["delete_marker_version_id"] = markers.get(o["key"])


def _require_versioning(t: ItemTarget) -> None:
    status = t.client.get_bucket_versioning(Bucket=t.bucket).get("Status") or "Off"
    if status != "Enabled":
        raise AuditError(f"refusing --purge: versioning of s3://{t.bucket} is {status}, the deleted "
                         f"objects would not be recoverable (invoke storage.apply --env {t.env})")


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise AuditError("--reason is required: every change to the catalog says why")


def delete(t: ItemTarget, reason: str, purge: bool = False) -> dict[str, Any]:
    """Remove the item from the catalog (and with PURGE its store); the final audit record."""
    _require_reason(reason)
    with _session() as http:
        body = fetch_item(t, http)
        if body is None:
            raise AuditError(f"{t.item_url}: no such item: nothing to delete")
        objects = store_objects(t)
        if purge:
            _require_versioning(t)
        if purge and objects and not names_its_store(t, json.loads(body)):
            raise AuditError(
                f"refusing --purge: no asset of the item names {t.store_uri}/, so it "
                "cannot be proven to be the item's own store"
            )
        stamp, when = _now()
        record = _base_record(t, "delete", when, reason) | {
            "purge": purge,
            "item_copy": keep_item_copy(t, stamp, body),
            "objects": objects if purge else [],
            "store_objects": len(objects),
        }
        write_record(t, stamp, "delete", record)  # intent first: a crash leaves a restorable record
        r = http.delete(t.item_url, timeout=30)
        if r.status_code not in (200, 204):
            raise CatalogError(f"DELETE {t.item_url}: HTTP {r.status_code}: {r.text[:200]}")
    if purge:
        purge_store(t, record["objects"])
    record["status"] = "done"
    record["record"] = write_record(t, stamp, "delete", record)
    return record


def _last_delete(t: ItemTarget) -> dict[str, Any]:
    deletes = [r for r in audit_records(t) if r.get("action") == "delete"]
    if not deletes:
        raise AuditError(
            f"no delete of {t.collection}/{t.item} in s3://{t.bucket}/{t.audit_dir}: "
            "nothing to restore from"
        )
    return deletes[-1]


def _latest_version(t: ItemTarget, key: str) -> dict[str, Any] | None:
    page = t.client.list_object_versions(Bucket=t.bucket, Prefix=key)
    entries = [v | {"marker": False} for v in page.get("Versions", []) if v["Key"] == key]
    entries += [m | {"marker": True} for m in page.get("DeleteMarkers", []) if m["Key"] == key]
    return next((e for e in entries if e.get("IsLatest")), None)


def restore_object(t: ItemTarget, o: dict[str, Any]) -> str:
    """Bring back one recorded object version; how ("unchanged", "marker-removed", "copied")."""
    latest = _latest_version(t, o["key"])
    if latest and not latest["marker"] and latest["VersionId"] == o["version_id"]:
        return "unchanged"
    marker = o.get("delete_marker_version_id")
    if latest and latest["marker"] and marker and latest["VersionId"] == marker:
        # the delete marker this tool created: removing it makes the recorded version current
        t.client.delete_object(Bucket=t.bucket, Key=o["key"], VersionId=marker)
        current = _latest_version(t, o["key"])
        if current and not current["marker"] and current["VersionId"] == o["version_id"]:
            return "marker-removed"
    t.client.copy_object(
        Bucket=t.bucket,
        Key=o["key"],
        CopySource={"Bucket": t.bucket, "Key": o["key"], "VersionId": o["version_id"]},
    )
    return "copied"


def _put_item(t: ItemTarget, http: requests.Session, body: bytes, exists: bool) -> None:
    item = json.loads(body)
    if exists:
        r = http.put(t.item_url, json=item, timeout=30)
    else:
        r = http.post(t.item_url.rsplit("/", 1)[0], json=item, timeout=30)
    if r.status_code not in (200, 201):
        raise CatalogError(f"restoring {t.item_url}: HTTP {r.status_code}: {r.text[:200]}")


def restore(t: ItemTarget, reason: str) -> dict[str, Any]:
    """Bring back the item and its store as the last delete recorded them; the audit record."""
    _require_reason(reason)
    source = _last_delete(t)
    copy = source["item_copy"]
    body = t.client.get_object(Bucket=t.bucket, Key=copy["key"], VersionId=copy["version_id"])[
        "Body"
    ].read()
    if hashlib.sha256(body).hexdigest() != copy["sha256"]:
        raise AuditError(f"the audit copy s3://{t.bucket}/{copy['key']} is not what was recorded")
    stamp, when = _now()
    with _session() as http:
        current = fetch_item(t, http)
        record = _base_record(t, "restore", when, reason) | {"from": source["record"]}
        if current is not None:  # restoring over a newer version: keep that one too
            record["replaced_copy"] = keep_item_copy(t, stamp, current)
        write_record(t, stamp, "restore", record)
        _put_item(t, http, body, exists=current is not None)
        restored = fetch_item(t, http)
    record["objects"] = {o["key"]: restore_object(t, o) for o in source.get("objects", [])}
    record["item_identical"] = restored == body
    record["status"] = "done"
    record["record"] = write_record(t, stamp, "restore", record)
    return record


def show(t: ItemTarget) -> dict[str, Any]:
    """The item (or its absence), its store's current objects and its audit history."""
    with _session() as http:
        body = fetch_item(t, http)
    objects = store_objects(t)
    return {
        "env": t.env,
        "collection": t.collection,
        "item": t.item,
        "item_url": t.item_url,
        "in_catalog": body is not None,
        "item_json": json.loads(body) if body else None,
        "store": t.store_uri,
        "store_objects": len(objects),
        "store_bytes": sum(o["size"] for o in objects),
        "audit": [
            {k: r.get(k) for k in ("at", "action", "who", "why", "status", "record")}
            for r in audit_records(t)
        ],
    }
