"""A real STAC API on loopback for tests: PostgreSQL 15 + PostGIS 3 (Debian),
pgSTAC (`pypgstac migrate`) and stac-fastapi-pgstac under uvicorn.

Use from a conftest.py:

    from tests.fixtures_stacapi import stac_api  # noqa: F401

- `stac_api` (session): a `StacApi` whose `.url` is the API's base URL
  (transactions enabled: POST/PUT/DELETE of collections and items).

The servers are the ones the restore drill starts (tooling/catalog/scratchdb.py, the one place
that knows how): everything from nothing in a temporary directory, torn down after the session;
`initdb` as the `postgres` user when running as root (PostgreSQL refuses root), a server on
127.0.0.1 only, `pypgstac migrate`, then uvicorn on a free loopback port. Missing PostgreSQL or
PostGIS fails the fixture with what to run (scripts/bootstrap.sh); it never skips.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tooling.catalog.errors import ScratchServerError
from tooling.catalog.scratchdb import free_port, running_api, scratch_postgres

__all__ = ["StacApi", "free_port", "stac_api"]


@dataclass
class StacApi:
    """A running STAC API; `timings` holds the seconds each start phase took."""

    url: str
    dsn: str
    log_dir: Path
    timings: dict[str, float] = field(default_factory=dict)

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, **kwargs: object) -> requests.Response:
        return requests.post(self.url + path, timeout=10, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def stac_api() -> Iterator[StacApi]:
    t0 = time.monotonic()
    try:
        with scratch_postgres() as pg:
            t1 = time.monotonic()
            with running_api(pg) as api:
                t2 = time.monotonic()
                timings = {"postgres_and_pgstac": t1 - t0, "api_ready": t2 - t1, "total": t2 - t0}
                yield StacApi(url=api.url, dsn=pg.dsn, log_dir=pg.root, timings=timings)
    except ScratchServerError as e:
        pytest.fail(f"STAC API fixture: {e}", pytrace=False)
