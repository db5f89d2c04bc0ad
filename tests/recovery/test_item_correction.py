"""Correct and undo on real parts (the STAC API on PostgreSQL/pgSTAC, S3 on loopback): a wrong
registration deleted with its store, then restored: item JSON and every store object come back
byte for byte; nothing outside the item's own store is touched; every action is audited."""

from __future__ import annotations

import json
import os
import uuid

import pytest
import requests

from tooling.catalog import item_cli
from tooling.envconfig import read_env_config

ENV = "staging"


@pytest.fixture
def bucket(s3_server, s3_env) -> str:
    name = read_env_config(ENV).bucket
    client = s3_server.client()
    if name not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=name)
    client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def registered(stac_api, s3_server, bucket) -> tuple[str, str]:
    """A collection and an item whose GeoZarr store (3 objects) sits where the pipeline puts it."""
    cid, iid = f"recovery-{uuid.uuid4().hex[:6]}", f"S2A-{uuid.uuid4().hex[:8]}"
    collection = {
        "type": "Collection",
        "id": cid,
        "stac_version": "1.1.0",
        "description": "t",
        "license": "proprietary",
        "links": [],
        "extent": {
            "spatial": {"bbox": [[-180, -90, 180, 90]]},
            "temporal": {"interval": [[None, None]]},
        },
    }
    assert stac_api.post("/collections", json=collection).status_code == 201
    store = f"geozarr/{cid}/{iid}.zarr"
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": iid,
        "collection": cid,
        "geometry": {"type": "Point", "coordinates": [11.25, 45.2]},
        "bbox": [11.25, 45.2, 11.25, 45.2],
        "properties": {"datetime": "2025-10-08T10:00:41Z"},
        "links": [],
        "assets": {"geozarr": {"href": f"s3://{bucket}/{store}", "roles": ["data"]}},
    }
    assert stac_api.post(f"/collections/{cid}/items", json=item).status_code == 201
    client = s3_server.client()
    for key in ("zarr.json", "measurements/r10m/b02/c/0/0", "measurements/r10m/b02/zarr.json"):
        client.put_object(Bucket=bucket, Key=f"{store}/{key}", Body=os.urandom(2048))
    client.put_object(
        Bucket=bucket, Key=f"{store}.bak/zarr.json", Body=b"a neighbour"
    )  # not its store
    return cid, iid


def _objects(s3_server, bucket: str, prefix: str) -> dict[str, tuple[bytes, str]]:
    client = s3_server.client()
    return {
        k: (
            client.get_object(Bucket=bucket, Key=k)["Body"].read(),
            client.head_object(Bucket=bucket, Key=k)["VersionId"],
        )
        for k in s3_server.keys(bucket, prefix)
    }


def _run(action: str, stac_api, s3_server, cid: str, iid: str, **kw) -> int:
    return item_cli.main(action, ENV, cid, iid, api=stac_api.url, endpoint=s3_server.endpoint, **kw)


def test_delete_purge_then_restore_round_trips_byte_for_byte(
    stac_api, s3_server, bucket, registered, capsys
) -> None:
    cid, iid = registered
    prefix = f"geozarr/{cid}/{iid}.zarr/"
    item_before = stac_api.get(f"/collections/{cid}/items/{iid}").content
    store_before = _objects(s3_server, bucket, prefix)
    neighbour_before = _objects(s3_server, bucket, f"geozarr/{cid}/{iid}.zarr.bak/")
    assert len(store_before) == 3

    assert (
        _run(
            "delete",
            stac_api,
            s3_server,
            cid,
            iid,
            reason="wrong product registered",
            purge=True,
            as_json=True,
        )
        == 0
    )
    record = json.loads(capsys.readouterr().out)
    assert (
        record["status"] == "done" and record["why"] == "wrong product registered" and record["who"]
    )
    assert stac_api.get(f"/collections/{cid}/items/{iid}").status_code == 404
    assert s3_server.keys(bucket, prefix) == []
    assert _objects(s3_server, bucket, f"geozarr/{cid}/{iid}.zarr.bak/") == neighbour_before

    assert (
        _run("restore", stac_api, s3_server, cid, iid, reason="the product was right after all")
        == 0
    )
    assert "restored" in capsys.readouterr().out
    assert stac_api.get(f"/collections/{cid}/items/{iid}").content == item_before
    assert _objects(s3_server, bucket, prefix) == store_before  # same bytes, same version ids

    assert _run("show", stac_api, s3_server, cid, iid, as_json=True) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["in_catalog"] and shown["store_objects"] == 3
    assert [(a["action"], a["status"]) for a in shown["audit"]] == [
        ("delete", "done"),
        ("restore", "done"),
    ]


def test_restore_over_a_newer_write_copies_the_recorded_version(
    stac_api, s3_server, bucket, registered, capsys
) -> None:
    cid, iid = registered
    prefix = f"geozarr/{cid}/{iid}.zarr/"
    store_before = _objects(s3_server, bucket, prefix)
    assert _run("delete", stac_api, s3_server, cid, iid, reason="test", purge=True) == 0
    s3_server.client().put_object(Bucket=bucket, Key=f"{prefix}zarr.json", Body=b"written since")
    assert _run("restore", stac_api, s3_server, cid, iid, reason="undo") == 0
    capsys.readouterr()
    after = _objects(s3_server, bucket, prefix)
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in store_before.items()}


def test_refusals_are_exit_2_and_change_nothing(
    stac_api, s3_server, bucket, registered, capsys
) -> None:
    cid, iid = registered
    assert _run("delete", stac_api, s3_server, cid, iid, reason="  ") == 2
    assert "--reason is required" in capsys.readouterr().err
    assert _run("restore", stac_api, s3_server, cid, iid, reason="x") == 2
    assert "nothing to restore" in capsys.readouterr().err
    # an item whose assets do not name its store: its store cannot be proven to be its own
    item = stac_api.get(f"/collections/{cid}/items/{iid}").json()
    item["assets"]["geozarr"]["href"] = f"s3://{bucket}/elsewhere/{iid}.zarr"
    assert (
        requests.put(
            f"{stac_api.url}/collections/{cid}/items/{iid}", json=item, timeout=10
        ).status_code
        == 200
    )
    assert _run("delete", stac_api, s3_server, cid, iid, reason="x", purge=True) == 2
    assert "refusing --purge: no asset of the item names" in capsys.readouterr().err
    # a bucket without versioning: a purge could not be undone
    client = s3_server.client()
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    try:
        assert _run("delete", stac_api, s3_server, cid, iid, reason="x", purge=True) == 2
    finally:
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert "versioning of s3://" in capsys.readouterr().err
    assert stac_api.get(f"/collections/{cid}/items/{iid}").status_code == 200
    assert len(s3_server.keys(bucket, f"geozarr/{cid}/{iid}.zarr/")) == 3
    assert _run("show", stac_api, s3_server, "", iid) == 2
