"""The drill end to end on this machine: a source catalog (PostgreSQL + pgSTAC + API) gets
synthetic items, is backed up by the CronWorkflow's own module to an S3 API, is wiped (its server
stopped, its data directory removed), and the backup is restored and compared (drill.drill)."""

from __future__ import annotations

import time
from typing import Any

from runner.catalog_backup import BACKUP_PREFIX, backup
from tooling.catalog.drill import DrillResult, Progress, drill, say
from tooling.catalog.scratchdb import pg_tool, running_api, scratch_postgres
from tooling.catalog.seed import seed

LOCAL_BUCKET = "geozarr-drill"


def seed_and_back_up(
    client: Any, dest_uri: str, items: int, sample: int, progress: Progress = say
) -> dict[str, float]:
    """A source catalog with ITEMS items, backed up to DEST_URI, then wiped; seconds per phase."""
    seconds: dict[str, float] = {}
    t0 = time.monotonic()
    with scratch_postgres() as src:
        with running_api(src) as api:
            seconds["source_start"] = time.monotonic() - t0
            progress(f"registering {items} items in the source catalog")
            mark = time.monotonic()
            seed(api.url, items)
            seconds["register"] = time.monotonic() - mark
        mark = time.monotonic()
        manifest, _ = backup(
            dest_uri, dsn=src.dsn, sample=sample, client=client, pg_dump=pg_tool("pg_dump")
        )
        seconds["backup"] = time.monotonic() - mark
        progress(
            f"backed up {manifest.items_total} items ({manifest.dump_bytes} bytes); "
            "wiping the source catalog"
        )
    return seconds


def local_drill(
    items: int = 20,
    sample: int = 100,
    client: Any | None = None,
    dest_uri: str = "",
    progress: Progress = say,
) -> DrillResult:
    """Register, back up, wipe, restore, compare; on the loopback S3 server unless CLIENT is given."""
    if client is not None:
        seconds = seed_and_back_up(client, dest_uri, items, sample, progress)
        result = drill(client, dest_uri, items=min(items, sample), progress=progress)
        result.seconds = seconds | result.seconds
        return result
    from tooling.dag.objectstore import LoopbackS3

    with LoopbackS3() as s3:
        s3.create_bucket(LOCAL_BUCKET)
        return local_drill(
            items, sample, s3.client(), f"s3://{LOCAL_BUCKET}/{BACKUP_PREFIX}", progress
        )
