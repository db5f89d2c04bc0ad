"""Steps left running by a killed `invoke conformance`, found and stopped by the next run.

Each step runs in its own process group (its own session). While it runs, its pod directory holds
`pgid` = "PGID STARTTIME" (STARTTIME: the kernel's start time of the group leader, field 22 of
/proc/PID/stat, so a recycled PID is never mistaken for it), and the run directory holds
`executor` with the executor's own PID and start time. A SIGKILLed executor cannot stop its
steps; their groups live on. The next run's `reap(runs_dir)` stops (SIGTERM, then SIGKILL) every
recorded group whose executor is gone and whose leader is still the recorded process.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

PGID_FILE = "pgid"
EXECUTOR_FILE = "executor"


def start_time(pid: int) -> str:
    """The kernel's start time of PID ('' when it does not exist)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22, counted after "pid (comm)"


def _record(path: Path, pid: int) -> None:
    path.write_text(f"{pid} {start_time(pid)}\n")


def _alive(path: Path) -> int:
    """The PID recorded in PATH when that very process is still running, else 0."""
    try:
        pid_text, started = path.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return 0
    return pid if started and start_time(pid) == started else 0


def mark_executor(run_dir: Path) -> None:
    _record(run_dir / EXECUTOR_FILE, os.getpid())


def mark_step(pod_dir: Path, pgid: int) -> None:
    _record(pod_dir / PGID_FILE, pgid)


def forget_step(pod_dir: Path) -> None:
    (pod_dir / PGID_FILE).unlink(missing_ok=True)


def _stop_group(pgid: int, grace: float) -> None:
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def reap(runs_dir: Path, grace: float = 5.0) -> list[int]:
    """Stop the step groups of dead executors under RUNS_DIR; the process groups stopped."""
    stopped: list[int] = []
    if not runs_dir.is_dir():
        return stopped
    for executor in runs_dir.glob(f"*/{EXECUTOR_FILE}"):
        if _alive(executor):
            continue
        for marker in executor.parent.rglob(PGID_FILE):
            pgid = _alive(marker)
            if pgid and pgid != os.getpgrp():
                _stop_group(pgid, grace)
                stopped.append(pgid)
            marker.unlink(missing_ok=True)
    return stopped
