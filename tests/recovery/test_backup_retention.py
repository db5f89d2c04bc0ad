"""Retention of runner.catalog_backup on a real S3 API: only complete backups of this tool, beyond
the newest N, are removed (manifest first); an incomplete backup and foreign objects stay."""

from __future__ import annotations

import json

from conformance.objectstore import S3Location
from runner.catalog_backup import KIND, MANIFEST_VERSION, complete_backups, prune


def _put(client, bucket: str, key: str, body: bytes = b"x") -> None:
    client.put_object(Bucket=bucket, Key=key, Body=body)


def _backup(client, bucket: str, stamp: str) -> None:
    manifest = {
        "kind": KIND,
        "version": MANIFEST_VERSION,
        "created_at": "2026-01-01T00:00:00Z",
        "dump_key": f"b/{stamp}/pgstac.dump",
        "dump_sha256": "0" * 64,
        "dump_bytes": 1,
        "pgstac_version": "0.10.0",
        "collections": {},
        "sample": [],
    }
    _put(client, bucket, f"b/{stamp}/pgstac.dump")
    _put(client, bucket, f"b/{stamp}/manifest.json", json.dumps(manifest).encode())


def test_prune_keeps_the_newest_and_touches_nothing_else(s3_server, s3_bucket) -> None:
    client = s3_server.client()
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    for stamp in ("20260101T000000Z", "20260102T000000Z", "20260103T000000Z"):
        _backup(client, s3_bucket, stamp)
    _put(client, s3_bucket, "b/20251231T000000Z/pgstac.dump")  # incomplete: no manifest
    _put(client, s3_bucket, "b/20260101T000000Z/notes.txt")  # not ours
    _put(client, s3_bucket, "b/20260101T000001Z/manifest.json", b'{"kind": "other"}')
    dest = S3Location(s3_bucket, "b")

    assert complete_backups(client, dest) == [
        "20260101T000000Z",
        "20260102T000000Z",
        "20260103T000000Z",
    ]
    assert prune(client, dest, keep=1) == ["20260101T000000Z", "20260102T000000Z"]
    assert sorted(s3_server.keys(s3_bucket)) == [
        "b/20251231T000000Z/pgstac.dump",
        "b/20260101T000000Z/notes.txt",
        "b/20260101T000001Z/manifest.json",
        "b/20260103T000000Z/manifest.json",
        "b/20260103T000000Z/pgstac.dump",
    ]
    # removed on a versioned bucket = recoverable: the old versions are still there
    versions = client.list_object_versions(
        Bucket=s3_bucket, Prefix="b/20260101T000000Z/pgstac.dump"
    )
    assert len(versions.get("Versions", [])) == 1 and len(versions.get("DeleteMarkers", [])) == 1
