"""A real STAC API on loopback for tests: PostgreSQL 15 + PostGIS 3 (Debian),
pgSTAC (`pypgstac migrate`) and stac-fastapi-pgstac under uvicorn.

Use from a conftest.py:

    from tests.fixtures_stacapi import stac_api  # noqa: F401

- `stac_api` (session): a `StacApi` whose `.url` is the API's base URL
  (transactions enabled: POST/PUT/DELETE of collections and items).

Everything is started from nothing in a temporary directory and torn down after
the session: `initdb` (as the `postgres` user when running as root: PostgreSQL
refuses root), a server listening on 127.0.0.1 only (unix socket in the same
temporary directory), `pypgstac migrate`, then uvicorn on a free loopback port.
Missing PostgreSQL or PostGIS fails the fixture with what to run
(scripts/bootstrap.sh); it never skips.
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
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

PG_BIN = Path(os.environ.get("GEOZARR_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")
PG_USER = "stac"
PG_PASSWORD = "stac-test-only"
PG_DATABASE = "postgres"
READY_TIMEOUT_S = 120.0  # a deadline, not a speed goal: a loaded machine takes longer
_BOOTSTRAP_HINT = "run scripts/bootstrap.sh (it apt-installs postgresql-15 postgresql-15-postgis-3)"


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


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _check_installed() -> None:
    missing = [str(p) for p in (PG_BIN / "initdb", PG_BIN / "pg_ctl") if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"PostgreSQL 15 is not installed ({', '.join(missing)} missing): {_BOOTSTRAP_HINT}",
                    pytrace=False)
    if not POSTGIS_CONTROL.is_file():
        pytest.fail(f"PostGIS 3 is not installed ({POSTGIS_CONTROL} missing): {_BOOTSTRAP_HINT}",
                    pytrace=False)


def _db_owner() -> str | None:
    """The OS user that runs PostgreSQL: `postgres` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail(f"running as root and there is no `postgres` user to run PostgreSQL: {_BOOTSTRAP_HINT}",
                    pytrace=False)
    return "postgres"


def _run(cmd: list[str], *, user: str | None, what: str, env: dict[str, str] | None = None,
         timeout: float = 60) -> None:
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, user=user, env=env,
                          timeout=timeout, cwd="/")
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip()[-2000:]
        pytest.fail(f"STAC API fixture: {what} failed (exit {proc.returncode}):\n{tail}", pytrace=False)


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"STAC API fixture: uvicorn exited with {proc.returncode}:\n{_tail(log)}",
                        pytrace=False)
        try:
            r = requests.get(url + "/_mgmt/ping", timeout=1)
            if r.status_code == 200:
                r = requests.get(url + "/collections", timeout=2)
                if r.status_code == 200:
                    return
            last = f"HTTP {r.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.05)
    pytest.fail(f"STAC API fixture: not healthy after {READY_TIMEOUT_S:.0f} s (last: {last}):\n"
                f"{_tail(log)}", pytrace=False)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def stac_api() -> Iterator[StacApi]:
    _check_installed()
    owner = _db_owner()
    t0 = time.monotonic()
    deadline = t0 + READY_TIMEOUT_S
    timings: dict[str, float] = {}
    # Not under pytest's basetemp: that is 0700 root, which the postgres user cannot traverse.
    root = Path(tempfile.mkdtemp(prefix="geozarr-stacapi-"))
    data, sock, logs = root / "pgdata", root / "socket", root / "logs"
    for d in (sock, logs):
        d.mkdir()
    pwfile = root / "pwfile"
    pwfile.write_text(PG_PASSWORD + "\n")
    if owner is not None:
        for p in (root, sock, logs, pwfile):
            shutil.chown(p, user=owner, group=owner)
    pg_port, api_port = free_port(), free_port()
    pg_ctl = str(PG_BIN / "pg_ctl")
    pg_log = logs / "postgresql.log"
    api_log = logs / "uvicorn.log"
    dsn = f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{pg_port}/{PG_DATABASE}"
    pg_started = False
    api_proc: subprocess.Popen[bytes] | None = None
    try:
        step = time.monotonic()
        _run([str(PG_BIN / "initdb"), "-D", str(data), "-U", PG_USER, f"--pwfile={pwfile}",
              "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"],
             user=owner, what="initdb")
        timings["initdb"] = time.monotonic() - step

        step = time.monotonic()
        server_opts = (f"-c listen_addresses=127.0.0.1 -p {pg_port} -k {sock} "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        _run([pg_ctl, "-D", str(data), "-l", str(pg_log), "-o", server_opts, "-w", "-t", "20", "start"],
             user=owner, what=f"pg_ctl start (log: {pg_log})")
        pg_started = True
        timings["postgres_start"] = time.monotonic() - step

        step = time.monotonic()
        pypgstac = Path(sys.executable).with_name("pypgstac")
        _run([str(pypgstac), "migrate", "--dsn", dsn], user=None, what="pypgstac migrate")
        timings["pgstac_migrate"] = time.monotonic() - step

        step = time.monotonic()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PG", "POSTGRES"))},
            "PGHOST": "127.0.0.1", "PGPORT": str(pg_port), "PGUSER": PG_USER,
            "PGPASSWORD": PG_PASSWORD, "PGDATABASE": PG_DATABASE,
            "ENABLE_TRANSACTIONS_EXTENSIONS": "true",
        }
        url = f"http://127.0.0.1:{api_port}"
        with api_log.open("wb") as log_fh:
            api_proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "stac_fastapi.pgstac.app:create_app", "--factory",
                 "--host", "127.0.0.1", "--port", str(api_port), "--log-level", "warning"],
                stdout=log_fh, stderr=subprocess.STDOUT, env=env, cwd=root,
            )
        _wait_healthy(url, api_proc, api_log, deadline)
        timings["api_ready"] = time.monotonic() - step
        timings["total"] = time.monotonic() - t0
        yield StacApi(url=url, dsn=dsn, log_dir=logs, timings=timings)
    finally:
        if api_proc is not None:
            _stop(api_proc)
        if pg_started:
            subprocess.run([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], check=False,
                           capture_output=True, user=owner, timeout=30, cwd="/")
        shutil.rmtree(root, ignore_errors=True)
