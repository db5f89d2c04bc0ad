"""Bad input to the recovery commands: one clear line and exit 2 (3 for an unreachable database,
which Argo retries), never a traceback."""

from __future__ import annotations

from runner import catalog_backup
from tests.fixtures_stacapi import free_port
from tooling.catalog import cli as drill_cli


def test_drill_needs_exactly_one_source(capsys) -> None:
    assert drill_cli.main() == 2
    assert drill_cli.main(env="staging", local=True) == 2
    assert drill_cli.main(local=True, items=0) == 2
    err = capsys.readouterr().err
    assert "exactly one of --env ENV or --local" in err and "Traceback" not in err


def test_backup_refuses_a_destination_that_is_not_s3(capsys) -> None:
    assert catalog_backup.main(["--dest", "/tmp/backups"]) == 2
    assert "not an s3:// URI" in capsys.readouterr().err


def test_backup_of_an_unreachable_database_is_transient(s3_server, s3_bucket, s3_env, capsys) -> None:
    dsn = f"postgresql://nobody:x@127.0.0.1:{free_port()}/postgres"
    assert catalog_backup.main(["--dest", f"s3://{s3_bucket}/backups/pgstac", "--dsn", dsn]) == 3
    assert "cannot connect to the pgSTAC database" in capsys.readouterr().err
    assert s3_server.keys(s3_bucket) == []  # nothing half-written
