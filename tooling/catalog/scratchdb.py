"""A scratch PostgreSQL (+ pgSTAC) and a STAC API on this machine, started from nothing in a
temporary directory and torn down after: what the restore drill restores into and serves from.

PostgreSQL 15 with PostGIS 3 (Debian: scripts/bootstrap.sh), run as the `postgres` user when we
are root (PostgreSQL refuses root), listening on 127.0.0.1 only; pgSTAC by `pypgstac migrate`;
the API is stac-fastapi-pgstac under uvicorn (facts: ../shared/notes/stac-api.md).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tooling.catalog.errors import ScratchServerError

PG_BIN = Path(os.environ.get("GEOZARR_PG_BIN", "/usr/lib/postgresql/15/bin"))
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")
USER = "stac"
PASSWORD = "scratch-only"
DATABASE = "postgres"
READY_TIMEOUT_S = 60.0
HINT = "run scripts/bootstrap.sh (it apt-installs postgresql-15 postgresql-15-postgis-3)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_tool(name: str) -> str:
    """Path of a PostgreSQL 15 program (pg_dump, pg_restore, ...)."""
    path = PG_BIN / name
    if not os.access(path, os.X_OK):
        raise ScratchServerError(f"{path} not found: {HINT}")
    return str(path)


def _owner() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as e:
        raise ScratchServerError(f"running as root and there is no `postgres` user: {HINT}") from e
    return "postgres"


def _run(cmd: list[str], what: str, user: str | None = None, timeout: float = 120) -> None:
    done = subprocess.run(
        cmd, check=False, capture_output=True, text=True, user=user, timeout=timeout, cwd="/"
    )
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip()[-1500:]
        raise ScratchServerError(f"{what} failed (exit {done.returncode}): {tail}")


@dataclass
class ScratchPostgres:
    """A running PostgreSQL owned by this process; `dsn` reaches its `postgres` database."""

    root: Path
    port: int
    owner: str | None

    @property
    def data(self) -> Path:
        return self.root / "pgdata"

    @property
    def dsn(self) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def env(self) -> dict[str, str]:
        """libpq variables for pg_restore/psql/the API (PGPASSWORD is needed even with trust)."""
        return {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": USER,
            "PGPASSWORD": PASSWORD,
            "PGDATABASE": DATABASE,
        }

    def stop(self) -> None:
        subprocess.run(
            [pg_tool("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
            check=False,
            capture_output=True,
            user=self.owner,
            timeout=30,
            cwd="/",
        )


def start_postgres(root: Path) -> ScratchPostgres:
    """initdb + start in ROOT (a fresh directory the postgres user can traverse)."""
    if not POSTGIS_CONTROL.is_file():
        raise ScratchServerError(f"PostGIS 3 is not installed ({POSTGIS_CONTROL} missing): {HINT}")
    owner = _owner()
    sock = root / "socket"
    sock.mkdir()
    pwfile = root / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    if owner is not None:
        for p in (root, sock, pwfile):
            shutil.chown(p, user=owner, group=owner)
    pg = ScratchPostgres(root=root, port=free_port(), owner=owner)
    _run(
        [
            pg_tool("initdb"),
            "-D",
            str(pg.data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        "initdb",
        owner,
    )
    opts = (
        f"-c listen_addresses=127.0.0.1 -p {pg.port} -k {sock} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    _run(
        [
            pg_tool("pg_ctl"),
            "-D",
            str(pg.data),
            "-l",
            str(root / "postgresql.log"),
            "-o",
            opts,
            "-w",
            "-t",
            "30",
            "start",
        ],
        "pg_ctl start",
        owner,
    )
    return pg


def migrate_pgstac(dsn: str) -> None:
    """Install pgSTAC (and PostGIS) into the database DSN reaches."""
    pypgstac = Path(sys.executable).with_name("pypgstac")
    _run([str(pypgstac), "migrate", "--dsn", dsn], "pypgstac migrate")


@dataclass
class ScratchApi:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _wait_healthy(api: ScratchApi, deadline: float) -> None:
    last = ""
    while time.monotonic() < deadline:
        if api.process.poll() is not None:
            raise ScratchServerError(
                f"the STAC API exited {api.process.returncode}: "
                f"{api.log.read_text(errors='replace')[-1500:]}"
            )
        try:
            r = requests.get(api.url + "/collections", timeout=2)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.05)
    raise ScratchServerError(f"the STAC API is not healthy after {READY_TIMEOUT_S:.0f} s ({last})")


def serve_api(pg: ScratchPostgres, transactions: bool = True) -> ScratchApi:
    """stac-fastapi-pgstac on a free loopback port against PG; returns once /collections answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "POSTGRES"))}
    env |= pg.env() | {"ENABLE_TRANSACTIONS_EXTENSIONS": "true" if transactions else "false"}
    port = free_port()
    log = pg.root / "uvicorn.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "stac_fastapi.pgstac.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=pg.root,
        )
    api = ScratchApi(url=f"http://127.0.0.1:{port}", process=proc, log=log)
    try:
        _wait_healthy(api, time.monotonic() + READY_TIMEOUT_S)
    except BaseException:
        api.stop()
        raise
    return api


@contextmanager
def scratch_postgres(pgstac: bool = True) -> Iterator[ScratchPostgres]:
    """A PostgreSQL for the duration of the block (with pgSTAC unless PGSTAC is false)."""
    # not under pytest's or the user's 0700 temp dirs: the postgres user must traverse it
    root = Path(tempfile.mkdtemp(prefix="geozarr-scratchdb-", dir="/tmp"))
    os.chmod(root, 0o755)
    pg: ScratchPostgres | None = None
    try:
        pg = start_postgres(root)
        if pgstac:
            migrate_pgstac(pg.dsn)
        yield pg
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def running_api(pg: ScratchPostgres) -> Iterator[ScratchApi]:
    api = serve_api(pg)
    try:
        yield api
    finally:
        api.stop()
