"""Scratch directories of staged (`s3://`) conversions, and reclaiming those of dead runs.

Each run works in a fresh `geozarr-convert-*` directory under the scratch root and holds an
exclusive `flock` on the file `.geozarr-scratch.lock` inside it for as long as it runs. The lock
is the proof of life: the kernel releases it when the process dies, however it dies (SIGKILL, OOM,
a node's container being stopped), while the directory stays. Before making its own, a run removes
every `geozarr-convert-*` directory of the root that has the lock file and whose lock it can take:
its run is dead. A directory without the lock file is not one this module made and is left alone.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.errors import BadInput

SCRATCH_ENV = "GEOZARR_SCRATCH_DIR"
PREFIX = "geozarr-convert-"
LOCK_NAME = ".geozarr-scratch.lock"


def scratch_root(scratch_dir: str | None) -> str:
    """The root: `scratch_dir`, else $GEOZARR_SCRATCH_DIR, else TMPDIR; created, writable."""
    root = scratch_dir or os.environ.get(SCRATCH_ENV) or tempfile.gettempdir()
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"scratch directory {root}: cannot create it: {exc}") from exc
    if not os.access(root, os.W_OK):
        raise BadInput(f"scratch directory {root}: not writable")
    return root


def _dead(directory: Path) -> bool:
    lock = directory / LOCK_NAME
    if not lock.is_file() or lock.is_symlink():
        return False
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: its run is alive
    finally:
        os.close(fd)  # also releases the lock we may have taken
    return True


def reclaim_dead(root: str) -> list[str]:
    """Remove the scratch directories of dead runs under ROOT; the paths removed."""
    removed: list[str] = []
    for entry in sorted(Path(root).glob(PREFIX + "*")):
        if entry.is_dir() and not entry.is_symlink() and _dead(entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(str(entry))
    return removed


@contextmanager
def scratch_directory(root: str) -> Iterator[Path]:
    """A fresh directory under ROOT, locked while in use, removed on exit whatever happens."""
    work = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))
    fd = os.open(work / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
        os.close(fd)
