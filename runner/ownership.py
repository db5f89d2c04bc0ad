"""Proof that a store at OUTPUT was written by the runner, so that removing it loses no one's data.

`convert` writes the marker `OUTPUT/.geozarr-runner.json` before anything else of a new store:
`{"written_by": "geozarr-runner", "output": OUTPUT, "run_id": ..., "source": ..., "started_at": ...}`.
A later run removes what is at OUTPUT (an incomplete or stale store) only when

- nothing is there (no file, an empty directory, no S3 key under `OUTPUT/`), or
- the marker is there, says `geozarr-runner`, and names this very OUTPUT (a store copied or moved
  elsewhere is not this run's to remove), or
- a run manifest `run.json` naming this OUTPUT is there (stores written before the marker existed).

Anything else (a folder of user files, other items under an S3 prefix, a file) is refused with exit
2 and one line naming the path. On S3 only keys under `OUTPUT/` are ever listed or deleted: never a
sibling such as `OUTPUT.bak/…` nor an object named like the prefix itself.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from runner import storage
from runner.errors import BadInput

MARKER_NAME = ".geozarr-runner.json"
WRITER = "geozarr-runner"
MAX_MARKER_BYTES = 64 * 1024


def run_id() -> str:
    """This run's id: Argo's workflow/pod name when there is one, else a random one."""
    return os.environ.get("GEOZARR_RUN_ID") or os.environ.get("ARGO_POD_NAME") or uuid.uuid4().hex


def marker(output: str, source: str, started_at: str, rid: str) -> dict[str, Any]:
    return {"written_by": WRITER, "output": output, "run_id": rid, "source": source,
            "started_at": started_at}


def _read_json(loc: storage.Location) -> dict[str, Any] | None:
    try:
        if int(loc.fs.size(loc.path) or 0) > MAX_MARKER_BYTES:
            return None
        doc = json.loads(storage.read_text(loc))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def store_keys(loc: storage.Location) -> list[str]:
    """Every object (file) under the store `loc`: on S3 only keys under `OUTPUT/`."""
    prefix = loc.path.rstrip("/") + "/"
    loc.fs.invalidate_cache(loc.path)
    found = loc.fs.find(prefix) if storage.is_s3(loc.uri) else loc.fs.find(loc.path)
    return [k for k in found if k.startswith(prefix)]


def owned(output: str) -> bool:
    """Whether the runner provably wrote what is at OUTPUT (see the module's docstring)."""
    loc = storage.locate(output)
    mark = _read_json(loc.child(MARKER_NAME))
    if mark is not None:
        return mark.get("written_by") == WRITER and mark.get("output") == loc.uri
    run = _read_json(loc.child("run.json"))
    return run is not None and (run.get("output") or {}).get("uri") == loc.uri


def occupied(output: str) -> bool:
    """Whether anything is at OUTPUT (a local file or non-empty directory; an S3 key under it)."""
    loc = storage.locate(output)
    if not storage.is_s3(output):
        path = Path(loc.path)
        return path.is_symlink() or path.is_file() or (path.is_dir() and any(path.iterdir()))
    return bool(store_keys(loc))


def refuse_unowned(output: str) -> bool:
    """BadInput (exit 2) unless OUTPUT is empty or provably the runner's; whether anything is
    there (`occupied`, asked once: on S3 it is a listing)."""
    loc = storage.locate(output)
    if not storage.is_s3(output) and (Path(loc.path).is_symlink() or Path(loc.path).is_file()):
        raise BadInput(f"OUTPUT {loc.uri}: is a file, not a store: refusing to replace it",
                       output=loc.uri)
    there = occupied(output)
    if there and not owned(output):
        raise BadInput(
            f"OUTPUT {loc.uri}: holds data not written by geozarr-runner (no {MARKER_NAME} naming "
            f"this output): refusing to remove it; choose another OUTPUT or empty it yourself",
            output=loc.uri)
    return there


def claim(output: str, mark: dict[str, Any]) -> None:
    """Write the marker: the first object of a new store."""
    loc = storage.locate(output)
    storage.write_text(loc.child(MARKER_NAME), json.dumps(mark, indent=2) + "\n")


def remove_store(output: str) -> int:
    """Delete every object of the (owned) store at OUTPUT, its marker last; the number deleted.

    Callers check `refuse_unowned` first. Only keys under `OUTPUT/` are deleted."""
    loc = storage.locate(output)
    keys = store_keys(loc)
    mark = loc.child(MARKER_NAME).path
    rest = [k for k in keys if k != mark]
    if storage.is_s3(output):
        if rest:
            loc.fs.rm(rest)
        if mark in keys:
            loc.fs.rm(mark)
        loc.fs.invalidate_cache(loc.path)
    else:
        for key in rest:
            os.unlink(key)
        if mark in keys:
            os.unlink(mark)
        _remove_empty_dirs(Path(loc.path))
    return len(keys)


def _remove_empty_dirs(root: Path) -> None:
    if not root.is_dir():
        return
    for sub in sorted((p for p in root.rglob("*") if p.is_dir() and not p.is_symlink()),
                      key=lambda p: len(p.parts), reverse=True):
        try:
            sub.rmdir()
        except OSError:
            pass
