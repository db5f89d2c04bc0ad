"""The fanned-out conversion's steps (`geozarr-runner parts | convert-part | finalize`).

- `parts`: which parts a product converts in (`runner.fanout.plan_parts`); for a split product
  it also takes the output over (as `convert` does: refuse what the runner did not write, delete
  run.json first, then the old store, then write the ownership marker), so the parts start from
  an empty store that is this run's.
- `convert-part`: one part. A whole part is the single-pod `convert` (run.json written last by
  it). A split part removes what an earlier attempt of it left (its own groups and marker only),
  writes its groups (staged in scratch and uploaded for an s3:// output), then its part marker
  `.geozarr-part-<name>.json`, last.
- `finalize`: refuses unless every planned part's marker is there (a store missing a part never
  gets a run.json), then writes the store root and consolidated metadata, removes the part
  markers and writes run.json, last. For a whole part it checks the run.json `convert-part` wrote.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from runner import fanout, manifest, ownership, source_attrs, storage
from runner.convert import S1Parameters
from runner.converter_events import captured
from runner.converter_import import import_converter
from runner.errors import BadInput, RunnerError
from runner.events import EventLog
from runner.preflight import open_source, product_type


@dataclass
class PartSettings:
    spatial_chunk: int = 4096
    enable_sharding: bool = False
    s1: S1Parameters = field(default_factory=S1Parameters)  # the params' s1_*, as `convert`
    scratch_dir: str | None = None
    repair: bool = True  # repair each group's derived levels, as `convert` does
    extra: dict[str, Any] = field(default_factory=dict)


def parse_parts(text: str, what: str = "--parts") -> list[fanout.Part]:
    """The JSON list `parts` printed; BadInput naming WHAT is wrong."""
    try:
        doc = json.loads(text)
        if not isinstance(doc, list) or not doc:
            raise ValueError("expected a non-empty JSON list of parts")
        parts = [fanout.Part.from_json(d) for d in doc]
    except ValueError as exc:
        raise BadInput(f"{what}: {exc}") from exc
    names = [p.name for p in parts]
    if len(set(names)) != len(names):
        raise BadInput(f"{what}: part names repeat: {names}")
    return parts


def part_marker(output: str, name: str) -> storage.Location:
    return storage.locate(output).child(f"{fanout.PART_MARKER_PREFIX}{name}.json")


def run_parts(source: str, output: str, parallelism: dict[str, int], log: EventLog) -> dict[str, Any]:
    root, _ = open_source(source)
    ptype = product_type(dict(root.attrs))
    plan = fanout.plan_parts(root, ptype, parallelism)
    log.info(f"{plan.product}: {len(plan.parts)} part(s)", reason=plan.reason,
             parts=[p.to_json() for p in plan.parts])
    if plan.split:
        from runner.convert import _take_over  # one take-over protocol for every conversion

        mark = ownership.marker(output, source, manifest.now_iso(), ownership.run_id())
        _take_over(output, mark, log)
    return {"parts": [p.to_json() for p in plan.parts], "product": plan.product,
            "product_type": ptype, "reason": plan.reason, "output": output,
            "split": plan.split}


@contextmanager
def _part_workspace(output: str, settings: PartSettings, log: EventLog) -> Iterator[str]:
    if not storage.is_s3(output):
        yield output
        return
    from runner.convert import _workspace

    with _workspace(output, settings.scratch_dir, log) as work:
        yield work


def _clear_part(output: str, part: fanout.Part) -> int:
    """What an earlier attempt of PART left: its marker first, then its groups (only those)."""
    marker = part_marker(output, part.name)
    if storage.exists(marker):
        marker.fs.rm(marker.path)
    removed = 0
    for group in part.groups:
        loc = storage.locate(output).child(group)
        if storage.exists(loc):
            removed += len(ownership.store_keys(loc)) or 1
            storage.remove_tree(loc)
    return removed


def run_split_part(source: str, output: str, part: fanout.Part, settings: PartSettings,
                   log: EventLog) -> dict[str, Any]:
    if not ownership.owned(output) or manifest.read(output) is not None:
        raise BadInput(f"OUTPUT {output}: not a store that `parts` prepared for this run (no "
                       f"ownership marker, or run.json present): run `parts` first")
    removed = _clear_part(output, part)
    if removed:
        log.info("removed what an earlier attempt of this part wrote", part=part.name, objects=removed)
    with captured(log):  # its warnings as JSON log lines, like the conversion's
        import_converter()  # `seconds` is the part's work, not the converter's import
    t = time.monotonic()
    written: list[str] = []
    with _part_workspace(output, settings, log) as work:
        for group in part.groups:
            log.info("converting a polarisation group", part=part.name, group=group)
            with captured(log):
                written += fanout.convert_s1_polarisation(
                    source, work, group, spatial_chunk=settings.spatial_chunk, s1=settings.s1,
                    enable_sharding=settings.enable_sharding)
        repairs = _repair_groups(work, part, settings, log)
        if work != output:
            storage.upload_tree(work, storage.locate(output),
                                concurrency=storage.upload_concurrency())
    seconds = round(time.monotonic() - t, 3)
    doc = {"part": part.name, "groups": list(part.groups), "written": written, "seconds": seconds,
           "repairs": repairs}
    storage.write_text(part_marker(output, part.name), json.dumps(doc) + "\n")
    log.info("part written", **doc)
    return {"part": part.name, "output": output, "seconds": seconds}


def _repair_groups(work: str, part: fanout.Part, settings: PartSettings,
                   log: EventLog) -> list[dict[str, Any]]:
    """`convert`'s repair of the derived levels, on this part's own groups only (other parts may
    be writing theirs into the same store at the same time)."""
    if not settings.repair:
        return []
    from runner.repair import repair_store

    repairs = []
    for group in part.groups:
        with captured(log):
            done = repair_store(storage.locate(work).child(group).uri)
        # the paths as the whole store's repair names them
        repairs += [{**r.to_dict(), "path": f"/{group}/{r.path.lstrip('/')}".rstrip("/")} for r in done]
    log.info("repaired derived levels", part=part.name, repairs=len(repairs))
    return repairs


def _missing_parts(output: str, parts: list[fanout.Part]) -> list[str]:
    return [p.name for p in parts if not storage.exists(part_marker(output, p.name))]


def run_finalize(source: str, output: str, parts: list[fanout.Part], log: EventLog,
                 collection: str = "", item_id: str = "") -> dict[str, Any]:
    if len(parts) == 1 and parts[0].whole:
        return _finalize_whole(output, log)
    missing = _missing_parts(output, parts)
    if missing:
        raise RunnerError(f"OUTPUT {output}: part(s) {', '.join(missing)} not written: the store "
                          f"stays incomplete (no run.json)", missing=missing)
    t = time.monotonic()
    claim = _marker(output)
    with captured(log):
        summary = fanout.finalize(output)
    root, consolidated = open_source(source)
    added = source_attrs.carry_root_attributes(output, dict(root.attrs))
    log.info("carried the product's root attributes into the store", keys=added)
    seconds = {p.name: _part_seconds(output, p) for p in parts}
    repairs = [r for p in parts for r in _part_doc(output, p).get("repairs", [])]
    for p in parts:
        loc = part_marker(output, p.name)
        loc.fs.rm(loc.path)
    ownership.claim(output, claim)  # again: the root was rewritten
    doc = manifest.build(
        source={"uri": storage.normalise_uri(source), "zarr_format": int(root.metadata.zarr_format),
                "consolidated": consolidated},
        output_uri=output, item_id=item_id, collection=collection,
        product_type=product_type(dict(root.attrs)), conversion_path="s1-grd-fanout",
        groups=summary["groups"], parameters={"parts": [p.to_json() for p in parts]},
        started_at=claim["started_at"], timings={f"part {k}": v for k, v in seconds.items()},
        repairs=repairs, run_started=t)
    uri = manifest.write(output, doc)
    log.info("store complete", output=output, manifest=uri, bytes=doc["output"]["bytes"])
    return {"output": output, "manifest": uri, "bytes": doc["output"]["bytes"],
            "product_type": doc["product_type"], "seconds": _since(claim["started_at"])}


def _marker(output: str) -> dict[str, Any]:
    """The ownership marker `parts` wrote (its run id and start time carry over)."""
    loc = storage.locate(output).child(ownership.MARKER_NAME)
    try:
        mark = json.loads(storage.read_text(loc))
    except (OSError, ValueError) as exc:
        raise RunnerError(f"OUTPUT {output}: no readable ownership marker: {exc}") from exc
    if not isinstance(mark, dict) or not ownership.owned(output):
        raise BadInput(f"OUTPUT {output}: not a store this runner prepared")
    return mark


def _since(started_at: str) -> float:
    from datetime import datetime

    try:
        start = datetime.fromisoformat(str(started_at))
    except ValueError:
        return 0.0
    return round(max(0.0, time.time() - start.timestamp()), 3)


def _part_doc(output: str, part: fanout.Part) -> dict[str, Any]:
    """What PART's marker says (its groups, seconds, repairs); {} when unreadable."""
    try:
        doc = json.loads(storage.read_text(part_marker(output, part.name)))
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _part_seconds(output: str, part: fanout.Part) -> float:
    try:
        return float(_part_doc(output, part)["seconds"])
    except (KeyError, TypeError, ValueError):
        return 0.0


def _finalize_whole(output: str, log: EventLog) -> dict[str, Any]:
    doc = manifest.read(output)
    if doc is None:
        raise RunnerError(f"OUTPUT {output}: no run.json: the whole-product part did not complete")
    problems = manifest.verify(output, doc)
    if problems:
        raise RunnerError(f"OUTPUT {output}: run.json does not match the store: {problems[0]}")
    log.info("store complete (one part)", output=output)
    return {"output": output, "manifest": doc["output"]["manifest_uri"],
            "bytes": doc["output"]["bytes"], "product_type": doc.get("product_type", ""),
            "seconds": (doc.get("timings") or {}).get("total", 0)}
