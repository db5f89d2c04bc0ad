"""Restore a catalog backup (runner.catalog_backup) into a PostgreSQL.

pgSTAC's SQL functions call PostGIS and their own functions unqualified, and a pg_dump script
empties search_path first: a plain `pg_restore` of a pgSTAC database fails (collection_geom cannot
find st_makeenvelope; stac-utils/pgstac#64). So the dump goes through `pg_restore -f -` and `psql`
with search_path set to `pgstac, public` where the script empties it (outside COPY data), after
creating pgSTAC's roles, which live in the cluster, not in the dump.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

from runner.catalog_backup import Manifest
from tooling.catalog.errors import CatalogError, NoBackup
from tooling.catalog.scratchdb import ScratchPostgres, pg_tool

PGSTAC_ROLES = ("pgstac_admin", "pgstac_read", "pgstac_ingest")
_EMPTY_PATH = b"SELECT pg_catalog.set_config('search_path', '', false);"
_PGSTAC_PATH = b"SELECT pg_catalog.set_config('search_path', 'pgstac, public', false);"


def _roles_sql() -> bytes:
    return b"".join(
        f"DO $$ BEGIN CREATE ROLE {r}; EXCEPTION WHEN duplicate_object THEN NULL; END $$;\n".encode()
        for r in PGSTAC_ROLES
    )


def download_dump(client: Any, bucket: str, manifest: Manifest, path: Path) -> None:
    """The manifest's dump into PATH; its SHA-256 must be the recorded one."""
    client.download_file(bucket, manifest.dump_key, str(path))
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != manifest.dump_sha256:
        raise NoBackup(
            f"s3://{bucket}/{manifest.dump_key}: SHA-256 {h.hexdigest()} is not the "
            f"manifest's {manifest.dump_sha256}: the dump is damaged"
        )


def restore_dump(dump: Path, pg: ScratchPostgres) -> None:
    """Restore DUMP (pg_dump -Fc of a pgSTAC database) into PG's database."""
    src = subprocess.Popen(
        [pg_tool("pg_restore"), "-f", "-", str(dump)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    dst = subprocess.Popen(
        [pg_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.dsn],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert src.stdout is not None and dst.stdin is not None
    try:
        dst.stdin.write(_roles_sql())
        in_copy = False
        for line in src.stdout:
            if in_copy:
                in_copy = line != b"\\.\n"
            elif line.startswith(b"COPY ") and line.rstrip().endswith(b"FROM stdin;"):
                in_copy = True
            elif line.rstrip(b"\n") == _EMPTY_PATH:
                line = _PGSTAC_PATH + b"\n"
            dst.stdin.write(line)
        dst.stdin.close()
    except BrokenPipeError:
        pass  # psql stopped on an error: reported below
    src.stdout.close()
    src_err = src.stderr.read() if src.stderr else b""
    dst_err = dst.stderr.read() if dst.stderr else b""
    if src.wait() != 0:
        raise CatalogError(f"pg_restore exited {src.returncode}: {src_err.decode()[-800:]}")
    if dst.wait() != 0:
        raise CatalogError(
            f"psql stopped restoring (exit {dst.returncode}): {dst_err.decode()[-800:]}"
        )
