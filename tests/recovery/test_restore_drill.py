"""The restore drill end to end on real parts: PostgreSQL 15 + PostGIS + pgSTAC, the STAC API,
the backup module the CronWorkflow runs, and S3 on loopback (moto). Register 20 items, back up,
wipe, restore, compare: no mismatch. Then a damaged backup must not pass."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runner.catalog_backup import BACKUP_PREFIX, LATEST_NAME
from tooling.catalog.drill import DrillResult, drill
from tooling.catalog.errors import NoBackup
from tooling.catalog.local import local_drill

ITEMS = 20


@pytest.fixture(scope="module")
def drilled(s3_server) -> tuple[Any, str, DrillResult]:
    client = s3_server.client()
    client.create_bucket(Bucket="drill-backups")
    dest = f"s3://drill-backups/{BACKUP_PREFIX}"
    result = local_drill(items=ITEMS, client=client, dest_uri=dest, progress=lambda m: None)
    return client, dest, result


def test_register_back_up_wipe_restore_matches(drilled) -> None:
    _, _, result = drilled
    out = result.to_json()
    assert out["mismatches"] == []
    assert out["items_expected"] == ITEMS and out["items_restored"] == ITEMS
    assert 0 <= out["rpo_seconds"] < 600
    assert (
        0
        < out["rto_seconds"]
        == pytest.approx(
            sum(out["seconds"][k] for k in ("download", "postgres_start", "restore", "api_ready")),
            rel=0.05,
        )
    )


def _manifest(client: Any) -> tuple[str, dict[str, Any]]:
    latest = json.loads(
        client.get_object(Bucket="drill-backups", Key=f"{BACKUP_PREFIX}/{LATEST_NAME}")[
            "Body"
        ].read()
    )
    key = latest["manifest"]
    return key, json.loads(client.get_object(Bucket="drill-backups", Key=key)["Body"].read())


def test_manifest_records_counts_sample_and_checksum(drilled) -> None:
    client, _, _ = drilled
    _, manifest = _manifest(client)
    assert manifest["kind"] == "geozarr-catalog-backup" and manifest["items_total"] == ITEMS
    assert sum(manifest["collections"].values()) == ITEMS and len(manifest["collections"]) == 2
    assert len(manifest["sample"]) == ITEMS and len(manifest["dump_sha256"]) == 64
    first = manifest["sample"][0]
    assert first["geometry"]["type"] == "Polygon" and first["assets"]["geozarr"].endswith(".zarr")


def test_a_damaged_dump_is_refused_before_restoring(drilled) -> None:
    client, dest, _ = drilled
    _, manifest = _manifest(client)
    original = client.get_object(Bucket="drill-backups", Key=manifest["dump_key"])["Body"].read()
    client.put_object(Bucket="drill-backups", Key=manifest["dump_key"], Body=original[:-10])
    try:
        with pytest.raises(NoBackup, match="damaged"):
            drill(client, dest, items=ITEMS, progress=lambda m: None)
    finally:
        client.put_object(Bucket="drill-backups", Key=manifest["dump_key"], Body=original)


def test_no_backup_is_a_clear_error(s3_server, s3_bucket) -> None:
    with pytest.raises(NoBackup, match="no complete backup"):
        drill(s3_server.client(), f"s3://{s3_bucket}/{BACKUP_PREFIX}", progress=lambda m: None)


def test_env_drill_reports_what_differs_from_the_manifest(drilled, s3_server, s3_env, capsys) -> None:
    """`invoke restore-drill --env staging --json` on the env bucket's backups/pgstac/ (a copy of
    the module's backup on the loopback server) whose manifest says one asset href and one count
    differently from the dump: both are reported, exit 1."""
    from tooling.catalog import cli
    from tooling.envconfig import read_env_config

    client, _, _ = drilled
    bucket = read_env_config("staging").bucket
    if bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=bucket)
    for key in s3_server.keys("drill-backups", BACKUP_PREFIX + "/"):
        client.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": "drill-backups", "Key": key})
    key, manifest = _manifest(client)
    victim = manifest["sample"][3]
    victim["assets"]["geozarr"] = "s3://elsewhere/x.zarr"
    cid = min(manifest["collections"])
    manifest["collections"][cid] += 1
    client.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())
    capsys.readouterr()

    code = cli.main(env="staging", items=ITEMS, as_json=True, endpoint=s3_server.endpoint)
    printed = capsys.readouterr()
    assert code == 1, printed.err
    out = json.loads(printed.out)
    assert {"rpo_seconds", "rto_seconds", "items_expected", "items_restored", "mismatches"} <= set(out)
    assert out["items_expected"] == ITEMS + 1 and out["items_restored"] == ITEMS
    assert out["backup"].startswith(f"s3://{bucket}/{BACKUP_PREFIX}/")
    found = {(m["what"], m.get("collection"), m.get("id")) for m in out["mismatches"]}
    assert found == {("assets", victim["collection"], victim["id"]), ("item-count", cid, None)}
