"""Bucket policy as code against a real S3 API (moto on loopback): the committed declarations
apply, and drift (versioning off, a lifecycle rule changed or added by hand) is detected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures_s3 import FailingHTTPServer
from tooling import repo
from tooling.storage import cli
from tooling.storage.drift import drift
from tooling.storage.policy import StoragePolicyError, load, storage_path

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("env", repo.ENVS)
def test_committed_declarations_are_valid(env: str) -> None:
    policy = load(storage_path(env))
    assert policy.versioning == "Enabled"
    nc = policy.rule("noncurrent-versions")
    assert nc is not None and nc["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert {"expire-scratch", "expire-dead-letter"} <= {r["ID"] for r in policy.rules}


def test_invalid_declaration_names_every_field() -> None:
    with pytest.raises(StoragePolicyError) as e:
        load(FIXTURES / "storage-invalid.yaml")
    msg = str(e.value)
    for field in ("versioning", "noncurrent_versions.keep_days", "expire.0"):
        assert field in msg, msg


def _env_bucket(s3_server, env: str) -> str:
    from tooling.envconfig import read_env_config

    bucket = read_env_config(env).bucket
    client = s3_server.client()
    if bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=bucket)
    return bucket


def test_fresh_bucket_drifts_and_apply_fixes_it(s3_server, s3_env, capsys) -> None:
    bucket = _env_bucket(s3_server, "staging")
    client = s3_server.client()
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    client.delete_bucket_lifecycle(Bucket=bucket)

    assert cli.apply_main("staging", yes=False, endpoint=s3_server.endpoint) == 0  # dry run
    assert "dry run: nothing changed" in capsys.readouterr().out
    assert cli.check_main("staging", as_json=True, endpoint=s3_server.endpoint) == 1
    report = json.loads(capsys.readouterr().out)
    fields = {d["field"]: d for d in report["drift"]}
    assert fields["versioning"]["live"] == "Suspended"
    assert fields["lifecycle.noncurrent-versions"]["live"] is None

    assert cli.apply_main("staging", yes=True, endpoint=s3_server.endpoint) == 0
    capsys.readouterr()
    assert cli.check_main("staging", endpoint=s3_server.endpoint) == 0
    assert "in step" in capsys.readouterr().out
    assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def test_changed_and_foreign_rules_are_drift(s3_server, s3_env, capsys) -> None:
    bucket = _env_bucket(s3_server, "prod")
    assert cli.apply_main("prod", yes=True, endpoint=s3_server.endpoint) == 0
    client = s3_server.client()
    rules = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    for r in rules:
        if r["ID"] == "expire-scratch":
            r["Expiration"] = {"Days": 365}
    rules.append(
        {
            "ID": "by-hand",
            "Status": "Enabled",
            "Filter": {"Prefix": "geozarr/"},
            "Expiration": {"Days": 1},
        }
    )
    client.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": rules}
    )
    capsys.readouterr()

    found = {d.field: d for d in drift(client, bucket, load(storage_path("prod")))}
    assert set(found) == {"lifecycle.expire-scratch", "lifecycle.by-hand"}
    assert found["lifecycle.expire-scratch"].live["Expiration"] == {"Days": 365}
    assert found["lifecycle.by-hand"].action.startswith("remove lifecycle rule by-hand")
    assert cli.check_main("prod", endpoint=s3_server.endpoint) == 1
    out = capsys.readouterr().out
    assert "lifecycle.expire-scratch" in out and "2 difference(s)" in out


def test_cannot_run_is_exit_2(s3_env, capsys) -> None:
    assert cli.check_main("nowhere") == 2
    assert "unknown env" in capsys.readouterr().err
    with FailingHTTPServer(status=403) as denied:  # an S3 API refusing our credentials
        assert cli.check_main("staging", endpoint=denied.endpoint) == 2
        assert cli.apply_main("staging", yes=True, endpoint=denied.endpoint) == 2
    err = capsys.readouterr().err
    assert "cannot read the bucket's policy" in err and "Traceback" not in err


def test_validate_reports_an_invalid_declaration() -> None:
    from tooling.storage.policy import check_storage

    assert check_storage("staging") == []
    (found,) = check_storage("staging", FIXTURES / "storage-invalid.yaml")
    assert found.rule == "storage.schema" and found.env == "staging"
    assert "noncurrent_versions.keep_days" in found.message


def test_a_bucket_never_versioned_is_off(s3_server, s3_bucket) -> None:
    found = {d.field: d for d in drift(s3_server.client(), s3_bucket, load(storage_path("staging")))}
    assert found["versioning"].live == "Off" and found["versioning"].declared == "Enabled"
    assert all(d.live is None for f, d in found.items() if f.startswith("lifecycle."))
