"""The restore drill: the latest catalog backup restored into a scratch PostgreSQL, served by a
scratch STAC API, and compared with what its manifest recorded.

- RPO: the age of the restored dump when the drill starts (what a loss now would lose, at most).
- RTO: from the start of the download to a serving API (download + checksum + restore + API up).
- Comparison: items per collection (SQL on the restored database) and the manifest's sample of
  items fetched through the API: id, geometry and asset hrefs. Any difference is a mismatch.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from conformance.objectstore import S3Location
from runner.catalog_backup import LATEST_NAME, Manifest, item_fingerprint, read_catalog
from tooling.catalog.errors import NoBackup
from tooling.catalog.restore import download_dump, restore_dump
from tooling.catalog.scratchdb import ScratchApi, ScratchPostgres, running_api, scratch_postgres

Progress = Callable[[str], None]


def say(message: str) -> None:
    print(f"restore-drill: {message}", file=sys.stderr, flush=True)


@dataclass
class DrillResult:
    backup: str
    rpo_seconds: float
    rto_seconds: float
    items_expected: int
    items_restored: int
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def to_json(self) -> dict[str, Any]:
        return {
            "rpo_seconds": round(self.rpo_seconds, 3),
            "rto_seconds": round(self.rto_seconds, 3),
            "items_expected": self.items_expected,
            "items_restored": self.items_restored,
            "mismatches": self.mismatches,
            "backup": self.backup,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def latest_manifest(client: Any, dest: S3Location) -> Manifest:
    """The manifest `latest.json` under DEST points at (NoBackup when there is none)."""
    key = "/".join([dest.key.strip("/"), LATEST_NAME]).lstrip("/")
    try:
        latest = json.loads(client.get_object(Bucket=dest.bucket, Key=key)["Body"].read())
        body = client.get_object(Bucket=dest.bucket, Key=latest["manifest"])["Body"].read()
        return Manifest.from_json(json.loads(body))
    except client.exceptions.NoSuchKey as e:
        raise NoBackup(
            f"no complete backup under s3://{dest.bucket}/{dest.key} ({key} or the "
            "manifest it names is missing)"
        ) from e
    except (ValueError, KeyError, TypeError) as e:
        raise NoBackup(f"s3://{dest.bucket}/{key}: unreadable ({e})") from e


def _mismatch(what: str, expected: Any, restored: Any, **where: Any) -> dict[str, Any]:
    return {"what": what, **where, "expected": expected, "restored": restored}


def compare_counts(
    manifest: Manifest, restored: dict[str, int], version: str
) -> list[dict[str, Any]]:
    out = []
    if version != manifest.pgstac_version:
        out.append(_mismatch("pgstac-version", manifest.pgstac_version, version))
    for cid in sorted(set(manifest.collections) | set(restored)):
        if manifest.collections.get(cid) != restored.get(cid):
            out.append(
                _mismatch(
                    "item-count", manifest.collections.get(cid), restored.get(cid), collection=cid
                )
            )
    return out


def compare_sample(api_url: str, sample: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each sampled item fetched through the API against its recorded fingerprint."""
    out = []
    with requests.Session() as http:
        for expected in sample:
            cid, iid = expected["collection"], expected["id"]
            r = http.get(
                f"{api_url}/collections/{quote(cid, safe='')}/items/{quote(iid, safe='')}",
                timeout=30,
            )
            if r.status_code != 200:
                out.append(
                    _mismatch("item-missing", iid, f"HTTP {r.status_code}", collection=cid, id=iid)
                )
                continue
            got = item_fingerprint(r.json())
            for key in ("geometry", "assets"):
                if got[key] != expected[key]:
                    out.append(_mismatch(key, expected[key], got[key], collection=cid, id=iid))
    return out


def verify(
    pg: ScratchPostgres, api: ScratchApi, manifest: Manifest, items: int
) -> tuple[int, list[dict[str, Any]]]:
    """(items restored, mismatches) of the restored catalog against MANIFEST."""
    import psycopg

    with (
        psycopg.connect(pg.dsn, options="-c search_path=pgstac,public") as conn,
        conn.cursor() as cur,
    ):
        version, counts, _ = read_catalog(cur, 0)
    mismatches = compare_counts(manifest, counts, version)
    mismatches += compare_sample(api.url, manifest.sample[:items])
    return sum(counts.values()), mismatches


def drill(client: Any, dest_uri: str, items: int = 20, progress: Progress = say) -> DrillResult:
    """Restore the latest backup under DEST_URI into a scratch catalog and compare it."""
    dest = S3Location.parse(dest_uri)
    manifest = latest_manifest(client, dest)
    started = datetime.now(UTC)
    rpo = (started - manifest.created()).total_seconds()
    progress(
        f"latest backup {manifest.created_at} ({manifest.items_total} items, "
        f"{manifest.dump_bytes} bytes): restoring"
    )
    t0 = time.monotonic()
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="restore-drill-") as tmp:
        dump = Path(tmp) / "pgstac.dump"
        download_dump(client, dest.bucket, manifest, dump)
        seconds["download"] = time.monotonic() - t0
        with scratch_postgres(pgstac=False) as pg:
            seconds["postgres_start"] = time.monotonic() - t0 - seconds["download"]
            mark = time.monotonic()
            restore_dump(dump, pg)
            seconds["restore"] = time.monotonic() - mark
            mark = time.monotonic()
            with running_api(pg) as api:
                seconds["api_ready"] = time.monotonic() - mark
                rto = time.monotonic() - t0
                progress(
                    f"API serving after {rto:.1f} s; comparing {min(items, len(manifest.sample))} "
                    "sampled items and the counts"
                )
                mark = time.monotonic()
                restored, mismatches = verify(pg, api, manifest, items)
                seconds["verify"] = time.monotonic() - mark
    return DrillResult(
        backup=f"s3://{dest.bucket}/{manifest.dump_key}",
        rpo_seconds=rpo,
        rto_seconds=rto,
        items_expected=manifest.items_total,
        items_restored=restored,
        mismatches=mismatches,
        seconds=seconds,
    )
