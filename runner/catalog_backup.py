"""Back up the pgSTAC database to S3: the catalog-backup CronWorkflow's step.

    python -m runner.catalog_backup --dest s3://BUCKET/backups/pgstac [--dsn DSN] [--keep N]
                                    [--sample N] [--json]

One backup is `DEST/<UTC stamp>/pgstac.dump` (`pg_dump -Fc`) and, beside it, `manifest.json`:
what was dumped (pgSTAC version, item counts per collection, a deterministic sample of items with
their geometry and asset hrefs, the dump's SHA-256 and size). The counts and the sample are read
in the very snapshot pg_dump dumps (`pg_export_snapshot` + `pg_dump --snapshot`), so they describe
exactly the dump. Order of writes: dump, then manifest, then `DEST/latest.json`: a backup without
its manifest is incomplete and nothing reads it; a manifest exists only beside a verified dump.

Retention (`--keep N`, default 14): older complete backups of this tool (their manifest says
`kind: geozarr-catalog-backup`) are removed, manifest first; on the versioned bucket the removed
objects stay recoverable as noncurrent versions until the lifecycle (overlays/<env>/storage.yaml)
expires them. Nothing else under DEST is touched.

The connection comes from DSN or the libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD,
PGDATABASE); S3 from the AWS variables. Exit 0 ok, 2 bad input, 3 transient (S3 or database
unreachable: Argo retries), 1 anything else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conformance.objectstore import S3Location, s3_client

KIND = "geozarr-catalog-backup"
# where an env's backups live in its bucket (the CronWorkflow's --dest; tests check they agree)
BACKUP_PREFIX = "backups/pgstac"
MANIFEST_VERSION = 1
DUMP_NAME = "pgstac.dump"
MANIFEST_NAME = "manifest.json"
LATEST_NAME = "latest.json"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_STAMP = re.compile(r"^\d{8}T\d{6}Z$")
DEFAULT_KEEP = 14
DEFAULT_SAMPLE = 100


class BackupError(Exception):
    exit_code = 1


class BackupBadInput(BackupError):
    exit_code = 2


class BackupTransient(BackupError):
    exit_code = 3


@dataclass
class Manifest:
    """What one backup holds; `manifest.json` beside the dump."""

    created_at: str
    dump_key: str
    dump_sha256: str
    dump_bytes: int
    pgstac_version: str
    collections: dict[str, int]
    sample: list[dict[str, Any]]
    pg_dump_version: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    kind: str = KIND
    version: int = MANIFEST_VERSION

    @property
    def items_total(self) -> int:
        return sum(self.collections.values())

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"items_total": self.items_total}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        if data.get("kind") != KIND or data.get("version") != MANIFEST_VERSION:
            raise BackupBadInput(
                f"not a {KIND} manifest v{MANIFEST_VERSION}: "
                f"kind={data.get('kind')!r} version={data.get('version')!r}"
            )
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in names})

    def created(self) -> datetime:
        return datetime.strptime(self.created_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def item_fingerprint(item: dict[str, Any]) -> dict[str, Any]:
    """What the restore drill compares per item: ids, geometry, asset hrefs."""
    assets = item.get("assets") if isinstance(item.get("assets"), dict) else {}
    return {
        "collection": item.get("collection"),
        "id": item.get("id"),
        "geometry": item.get("geometry"),
        "assets": {k: a.get("href") for k, a in sorted(assets.items()) if isinstance(a, dict)},
    }


_COUNTS_SQL = """
SELECT c.id, count(i.id) FROM pgstac.collections c LEFT JOIN pgstac.items i ON i.collection = c.id
GROUP BY c.id ORDER BY c.id"""
_SAMPLE_SQL = """
SELECT pgstac.get_item(id, collection) FROM pgstac.items
ORDER BY md5(collection || '/' || id) LIMIT %s"""


def read_catalog(cur: Any, sample: int) -> tuple[str, dict[str, int], list[dict[str, Any]]]:
    """(pgSTAC version, items per collection, sample fingerprints) through cursor CUR."""
    cur.execute("SELECT pgstac.get_version()")
    version = str(cur.fetchone()[0])
    cur.execute(_COUNTS_SQL)
    counts = {str(cid): int(n) for cid, n in cur.fetchall()}
    cur.execute(_SAMPLE_SQL, (sample,))
    items = [item_fingerprint(row[0]) for row in cur.fetchall()]
    return version, counts, items


def _connect(dsn: str) -> Any:
    import psycopg

    try:
        return psycopg.connect(
            dsn, autocommit=False, connect_timeout=30, options="-c search_path=pgstac,public"
        )
    except psycopg.OperationalError as e:
        raise BackupTransient(
            f"cannot connect to the pgSTAC database: {str(e).strip()[:300]}"
        ) from e


def _pg_dump(dsn: str, snapshot: str, path: Path, pg_dump: str) -> None:
    cmd = [pg_dump, "-Fc", "--snapshot", snapshot, "-f", str(path)] + (["-d", dsn] if dsn else [])
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise BackupBadInput(f"{pg_dump} not found (postgresql-client in the image)") from e
    if done.returncode != 0:
        raise BackupError(f"pg_dump exited {done.returncode}: {done.stderr.strip()[-500:]}")


def _version_of(pg_dump: str) -> str:
    try:
        return subprocess.run(
            [pg_dump, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except FileNotFoundError:
        return ""


def dump_catalog(
    dsn: str, path: Path, sample: int, pg_dump: str = "pg_dump"
) -> tuple[str, dict[str, int], list[dict[str, Any]]]:
    """pg_dump -Fc into PATH; the catalog's version, counts and sample in the dump's snapshot."""
    conn = _connect(dsn)
    try:
        conn.isolation_level = 3  # psycopg.IsolationLevel.REPEATABLE_READ
        with conn.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot()")
            snapshot = str(cur.fetchone()[0])
            _pg_dump(dsn, snapshot, path, pg_dump)
            return read_catalog(cur, sample)
    finally:
        conn.rollback()
        conn.close()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _join(prefix: str, *parts: str) -> str:
    return "/".join([prefix.strip("/"), *parts]).lstrip("/")


def upload(client: Any, dest: S3Location, stamp: str, dump: Path, manifest: Manifest) -> None:
    """Dump, then (its size verified) manifest, then latest.json."""
    client.upload_file(str(dump), dest.bucket, manifest.dump_key)
    size = client.head_object(Bucket=dest.bucket, Key=manifest.dump_key)["ContentLength"]
    if size != manifest.dump_bytes:
        raise BackupTransient(
            f"s3://{dest.bucket}/{manifest.dump_key} holds {size} bytes, "
            f"the dump has {manifest.dump_bytes}"
        )
    body = json.dumps(manifest.to_json(), indent=2).encode() + b"\n"
    manifest_key = _join(dest.key, stamp, MANIFEST_NAME)
    client.put_object(
        Bucket=dest.bucket, Key=manifest_key, Body=body, ContentType="application/json"
    )
    latest = {"kind": KIND, "manifest": manifest_key, "created_at": manifest.created_at}
    client.put_object(
        Bucket=dest.bucket,
        Key=_join(dest.key, LATEST_NAME),
        Body=json.dumps(latest).encode(),
        ContentType="application/json",
    )


def read_manifest(client: Any, bucket: str, key: str) -> Manifest:
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return Manifest.from_json(json.loads(body))


def complete_backups(client: Any, dest: S3Location) -> list[str]:
    """Stamps of the complete backups of this tool under DEST, oldest first."""
    stamps = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=dest.bucket, Prefix=_join(dest.key, ""), Delimiter="/"):
        for p in page.get("CommonPrefixes", []):
            stamp = p["Prefix"].rstrip("/").rsplit("/", 1)[-1]
            if _STAMP.match(stamp):
                stamps.append(stamp)
    out = []
    for stamp in sorted(stamps):
        try:
            read_manifest(client, dest.bucket, _join(dest.key, stamp, MANIFEST_NAME))
        except (BackupBadInput, ValueError):
            continue
        except client.exceptions.NoSuchKey:
            continue
        out.append(stamp)
    return out


def prune(client: Any, dest: S3Location, keep: int) -> list[str]:
    """Remove complete backups beyond the newest KEEP (manifest first); their stamps."""
    stamps = complete_backups(client, dest)
    old = stamps[: max(0, len(stamps) - keep)]
    for stamp in old:
        for name in (MANIFEST_NAME, DUMP_NAME):
            client.delete_object(Bucket=dest.bucket, Key=_join(dest.key, stamp, name))
    return old


def backup(
    dest_uri: str,
    dsn: str = "",
    keep: int = DEFAULT_KEEP,
    sample: int = DEFAULT_SAMPLE,
    client: Any | None = None,
    pg_dump: str = "pg_dump",
) -> tuple[Manifest, list[str]]:
    """One backup to DEST_URI; returns its manifest and the stamps retention removed."""
    try:
        dest = S3Location.parse(dest_uri)
    except ValueError as e:
        raise BackupBadInput(str(e)) from e
    client = client or s3_client()
    now = datetime.now(UTC)
    stamp = now.strftime(STAMP_FORMAT)
    with tempfile.TemporaryDirectory(prefix="catalog-backup-") as tmp:
        dump = Path(tmp) / DUMP_NAME
        t0 = time.monotonic()
        version, counts, items = dump_catalog(dsn, dump, sample, pg_dump)
        t1 = time.monotonic()
        manifest = Manifest(
            created_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            dump_key=_join(dest.key, stamp, DUMP_NAME),
            dump_sha256=sha256_of(dump),
            dump_bytes=dump.stat().st_size,
            pgstac_version=version,
            collections=counts,
            sample=items,
            pg_dump_version=_version_of(pg_dump),
            seconds={"dump": round(t1 - t0, 3)},
        )
        upload(client, dest, stamp, dump, manifest)
        manifest.seconds["upload"] = round(time.monotonic() - t1, 3)  # printed, not in the file
    return manifest, prune(client, dest, keep)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m runner.catalog_backup", description=__doc__.splitlines()[0]
    )
    p.add_argument("--dest", required=True, help="s3://BUCKET/PREFIX the backups live under")
    p.add_argument("--dsn", default="", help="libpq connection string (default: PG* variables)")
    p.add_argument("--keep", type=int, default=DEFAULT_KEEP, help="complete backups to keep")
    p.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, help="items fingerprinted")
    p.add_argument("--pg-dump", default="pg_dump", help="the pg_dump program")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.keep < 1 or args.sample < 0:
        print("catalog-backup: --keep must be >= 1 and --sample >= 0", file=sys.stderr)
        return 2
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        manifest, pruned = backup(args.dest, args.dsn, args.keep, args.sample, pg_dump=args.pg_dump)
    except BackupError as e:
        print(f"catalog-backup: {e}", file=sys.stderr)
        return e.exit_code
    except (BotoCoreError, ClientError) as e:
        print(f"catalog-backup: S3: {e}", file=sys.stderr)
        return 3
    summary = {"manifest": manifest.to_json(), "pruned": pruned}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"catalog-backup: {manifest.items_total} items in {len(manifest.collections)} "
            f"collections -> s3://{S3Location.parse(args.dest).bucket}/{manifest.dump_key} "
            f"({manifest.dump_bytes} bytes, sha256 {manifest.dump_sha256[:12]}…); "
            f"pruned {len(pruned)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
