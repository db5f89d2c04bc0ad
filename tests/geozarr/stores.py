"""Test stores: one real converted sample per session, and helpers that plant
defects in a copy while keeping the consolidated metadata consistent (so a
planted defect shows up in its own rule only)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIZE = 144
REFLECTANCE = "/measurements/reflectance"


def converted_sample(base: Path) -> Path:
    """A 144 px synthetic S2 L2A product converted by the real `eopf-geozarr convert`
    (built once under BASE; reused by every test of the session)."""
    out = base / f"converted-{SIZE}.zarr"
    done = base / f"converted-{SIZE}.done"
    if done.exists():
        return out
    src = base / f"sample-{SIZE}.zarr"
    subprocess.run([sys.executable, "-m", "runner", "sample", str(src), "--size", str(SIZE), "--quiet"],
                   check=True, capture_output=True)
    proc = subprocess.run([str(Path(sys.executable).parent / "eopf-geozarr"), "convert", str(src), str(out)],
                          check=False, capture_output=True, text=True)
    if proc.returncode != 0 or not (out / "zarr.json").exists():
        raise RuntimeError(f"eopf-geozarr convert failed: {proc.stderr[-2000:]}")
    done.write_text("ok")
    return out


def copy_store(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2))


def _consolidated_holders(store: Path, node: str) -> list[tuple[Path, str]]:
    """(zarr.json holding a consolidated map, key of NODE in it) for the root and nested maps."""
    out = []
    rel = node.strip("/")
    for holder in (store / "zarr.json", store / REFLECTANCE.strip("/") / "zarr.json"):
        doc = _read(holder)
        if not doc.get("consolidated_metadata"):
            continue
        prefix = holder.parent.relative_to(store).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        if rel.startswith(prefix) or prefix == "":
            out.append((holder, rel[len(prefix):]))
    return out


def edit_node(store: Path, node: str, fn: Callable[[dict[str, Any]], None], *,
              consolidated: bool = True) -> None:
    """Apply FN to NODE's zarr.json, and (by default) to its consolidated entries too."""
    path = store / node.strip("/") / "zarr.json"
    doc = _read(path)
    fn(doc)
    _write(path, doc)
    if not consolidated:
        return
    for holder, key in _consolidated_holders(store, node):
        hdoc = _read(holder)
        entries = hdoc["consolidated_metadata"]["metadata"]
        if key in entries:
            fn(entries[key])
            _write(holder, hdoc)
        elif key == "" and holder.parent == path.parent:
            pass  # the holder is the node itself: already edited above (re-read below)


def drop_entries(store: Path, prefix: str) -> None:
    """Remove NODE/PREFIX and everything below it from every consolidated map."""
    for holder, key in _consolidated_holders(store, prefix):
        hdoc = _read(holder)
        entries = hdoc["consolidated_metadata"]["metadata"]
        for k in [k for k in entries if k == key or k.startswith(key + "/")]:
            del entries[k]
        _write(holder, hdoc)


def remove_node(store: Path, node: str, *, consolidated: bool) -> None:
    shutil.rmtree(store / node.strip("/"))
    if consolidated:
        drop_entries(store, node)


def rewrite_data(store: Path, array: str, fn: Callable[[Any], Any]) -> None:
    """Rewrite an array's values through zarr (codecs and chunking unchanged)."""
    import zarr

    arr = zarr.open_array(store / array.strip("/"), mode="r+")
    arr[...] = fn(arr[...])


def remove_chunks(store: Path, array: str) -> None:
    shutil.rmtree(store / array.strip("/") / "c")


def pipeline_store(base: Path) -> Path:
    """The pipeline's own output for the same sample: `geozarr-runner convert` (the converter
    plus the runner's repair and run manifest), built once under BASE."""
    converted_sample(base)
    out = base / f"pipeline-{SIZE}.zarr"
    done = base / f"pipeline-{SIZE}.done"
    if done.exists():
        return out
    proc = subprocess.run([sys.executable, "-m", "runner", "convert", str(base / f"sample-{SIZE}.zarr"), str(out),
                           "--quiet"], check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"runner convert failed: {proc.stderr[-2000:]}")
    done.write_text("ok")
    return out
