"""`convert`: the real eopf-geozarr conversion, made safe to retry.

1. preflight (hierarchy, groups, product type, conversion path);
2. if OUTPUT/run.json exists and records the same input, path and parameters
   and the store still matches it: nothing to do (idempotent rerun);
3. otherwise take OUTPUT over (`runner.ownership`): refuse it (exit 2) unless
   it is empty or a store this runner wrote; delete OUTPUT/run.json first, then
   every object under OUTPUT; write the ownership marker first of the new store;
4. convert in-process with eopf-geozarr's own functions (the same calls as
   `eopf-geozarr convert`, but with `compression_level` honoured on the S2
   path and the converter's logs as JSON events);
5. repair the derived levels (`runner.repair`);
6. write OUTPUT/run.json, last.

An `s3://` OUTPUT is staged: steps 4-5 write a local copy in a scratch
directory (`--scratch-dir`, env `GEOZARR_SCRATCH_DIR`, else TMPDIR), which is
then uploaded with bounded concurrency (`GEOZARR_UPLOAD_CONCURRENCY` PUTs in
flight) and checked by one listing before run.json is written; the scratch
copy is removed afterwards, also on failure, and scratch directories of dead
runs are reclaimed first (`runner.scratch`). The converter's and zarr's many
small remote writes, listings and existence checks become one batch of PUTs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from runner import identifiers, manifest, ownership, scratch, source_attrs, storage
from runner.converter_events import captured
from runner.converter_import import import_converter
from runner.errors import BadInput, RunnerError, classify
from runner.events import EventLog
from runner.preflight import PATH_OLCI, PATH_S1, PATH_S2, Preflight, run_preflight
from runner.repair import repair_store

MAX_RETRIES = 3  # the converter's own retries of network operations


@dataclass(frozen=True)
class S1Parameters:
    """eopf-geozarr's Sentinel-1 options (params `s1_*`): paths inside each polarisation group."""

    groups: tuple[str, ...] = ("/measurements",)
    gcp_group: str = "/conditions/gcp"
    crs_groups: tuple[str, ...] = ("/conditions/gcp",)
    min_dimension: int = 256

    def to_dict(self) -> dict[str, Any]:
        return {"s1_groups": list(self.groups), "s1_gcp_group": self.gcp_group,
                "s1_crs_groups": list(self.crs_groups), "s1_min_dimension": self.min_dimension}


@dataclass
class ConvertRequest:
    source: str
    output: str
    groups: list[str]
    item_id: str
    collection: str
    spatial_chunk: int
    enable_sharding: bool
    compression_level: int
    allow_generic: bool = False
    force: bool = False
    repair: bool = True
    scratch_dir: str | None = None
    s1: S1Parameters = field(default_factory=lambda: S1Parameters())
    extra: dict[str, Any] = field(default_factory=dict)

    def parameters(self, conversion_path: str = "") -> dict[str, Any]:
        """The parameters recorded in run.json (and compared on a rerun); the Sentinel-1
        ones only for a Sentinel-1 conversion."""
        out: dict[str, Any] = {
            "spatial_chunk": self.spatial_chunk,
            "enable_sharding": self.enable_sharding,
            "compression_level": self.compression_level,
        }
        if conversion_path == PATH_S1:
            out.update(self.s1.to_dict())
        return out


def derive_item_id(source: str) -> str:
    """The product's name: the source's last path segment without .zarr / .SAFE."""
    name = PurePosixPath(source.rstrip("/")).name
    for suffix in (".zarr", ".SAFE", ".safe"):
        name = name.removesuffix(suffix)
    return name


def default_output(bucket: str, prefix: str, collection: str, item_id: str) -> str:
    if not bucket:
        raise BadInput("no OUTPUT given and no output_bucket set (flag --output-bucket, env OUTPUT_BUCKET)")
    if not collection:
        raise BadInput("no OUTPUT given and no collection set (flag --collection, env COLLECTION)")
    parts = [p.strip("/") for p in (prefix, collection) if p.strip("/")]
    return "s3://" + "/".join([bucket.strip("/"), *parts, f"{item_id}.zarr"])


def validate_parameters(req: ConvertRequest) -> None:
    identifiers.check("item id", req.item_id or derive_item_id(req.source))
    if req.collection:
        identifiers.check("collection", req.collection)
    if req.spatial_chunk < 1:
        raise BadInput(f"spatial_chunk {req.spatial_chunk}: must be a positive integer")
    if not 1 <= req.compression_level <= 9:
        raise BadInput(f"compression_level {req.compression_level}: must be between 1 and 9")
    if req.s1.min_dimension < 1:
        raise BadInput(f"s1_min_dimension {req.s1.min_dimension}: must be a positive integer")
    src = storage.normalise_uri(req.source)
    out = storage.normalise_uri(req.output)
    if src == out or out.startswith(src.rstrip("/") + "/") or src.startswith(out.rstrip("/") + "/"):
        raise BadInput(f"OUTPUT {out} overlaps the input {src}")


def _existing_complete(req: ConvertRequest, pre: Preflight, output: str,
                       doc: dict[str, Any] | None) -> dict[str, Any] | None:
    if doc is None or req.force:
        return None
    same = (
        (doc.get("input") or {}).get("uri") == pre.source
        and doc.get("parameters") == req.parameters(pre.conversion_path)
        and doc.get("conversion_path") == pre.conversion_path
        and doc.get("exit_status") == 0
    )
    if not same:
        return None
    return doc if not manifest.verify(output, doc) else None


@contextmanager
def _failing_as(what: str) -> Iterator[None]:
    """Any failure inside becomes the RunnerError `classify` gives for WHAT."""
    try:
        yield
    except RunnerError:
        raise
    except Exception as exc:
        raise classify(exc, what=what) from exc


def _take_over(output: str, claim: dict[str, Any], log: EventLog) -> None:
    """Make OUTPUT this run's: refuse what the runner did not write; of a store it did, delete
    run.json first (from then on the store is incomplete), then every other object; then write
    the ownership marker, the first object of the new store."""
    if ownership.refuse_unowned(output):  # something is there (run.json can only be then)
        mloc = manifest.manifest_location(output)
        if storage.exists(mloc):
            mloc.fs.rm(mloc.path)
        removed = ownership.remove_store(output)
        log.info("removed an incomplete or stale store this runner wrote", output=output,
                 objects=removed)
    if not storage.is_s3(output):
        Path(storage.locate(output).path).mkdir(parents=True, exist_ok=True)
    ownership.claim(output, claim)


@contextmanager
def _workspace(output: str, scratch_dir: str | None, log: EventLog) -> Iterator[str]:
    """Where the converter writes: OUTPUT itself when local, else a fresh directory under
    the scratch root (`runner.scratch`: dead runs' directories are reclaimed first)."""
    if not storage.is_s3(output):
        yield output
        return
    root = scratch.scratch_root(scratch_dir)
    reclaimed = scratch.reclaim_dead(root)
    if reclaimed:
        log.info("reclaimed the scratch directories of dead runs", removed=reclaimed)
    with scratch.scratch_directory(root) as work:
        local = str(work / PurePosixPath(output).name)
        log.info("staging the output in a scratch directory", scratch=local)
        yield local


def _convert_s2(dt: Any, req: ConvertRequest, output: str) -> None:
    from eopf_geozarr.s2_optimization.s2_converter import convert_s2_optimized

    convert_s2_optimized(
        dt_input=dt, output_path=output, enable_sharding=req.enable_sharding,
        spatial_chunk=req.spatial_chunk, compression_level=req.compression_level,
        validate_output=True, keep_scale_offset=False, max_retries=MAX_RETRIES,
    )


def _convert_olci(source: str, options: dict[str, Any] | None, output: str) -> None:
    from eopf_geozarr.conversion.open_source import open_source_datatree
    from eopf_geozarr.s3_olci_optimization.olci_converter import convert_olci_optimized

    dt = open_source_datatree(source, storage_options=options, mask_and_scale=False)
    try:
        convert_olci_optimized(dt, output_path=output, min_dimension=256)
    finally:
        dt.close()


def _convert_generic(dt: Any, pre: Preflight, req: ConvertRequest, output: str) -> None:
    from eopf_geozarr import create_geozarr_dataset

    create_geozarr_dataset(
        dt_input=dt, groups=pre.groups, output_path=output, spatial_chunk=req.spatial_chunk,
        min_dimension=256, max_retries=MAX_RETRIES, crs_groups=None, gcp_group=None,
        enable_sharding=req.enable_sharding,
    )


def _convert_s1(dt: Any, pre: Preflight, req: ConvertRequest, output: str) -> None:
    """eopf-geozarr's Sentinel-1 path (what `eopf-geozarr convert --groups G --gcp-group P
    --crs-groups C --min-dimension N` runs): it prefixes G, P and C with each polarisation
    group, reprojects the measurements through the GCPs and builds their multiscales."""
    from eopf_geozarr import create_geozarr_dataset

    create_geozarr_dataset(
        dt_input=dt, groups=pre.groups, output_path=output, spatial_chunk=req.spatial_chunk,
        min_dimension=req.s1.min_dimension, max_retries=MAX_RETRIES,
        crs_groups=list(req.s1.crs_groups) or None, gcp_group=req.s1.gcp_group,
        enable_sharding=req.enable_sharding,
    )


def _convert_in_process(pre: Preflight, req: ConvertRequest, output: str) -> None:
    import xarray as xr

    import_converter()
    options = storage.storage_options(pre.source)
    if pre.conversion_path == PATH_OLCI:
        _convert_olci(pre.source, options, output)
        return
    dt = xr.open_datatree(pre.source, engine="zarr", chunks="auto", storage_options=options)
    try:
        if pre.conversion_path == PATH_S2:
            _convert_s2(dt, req, output)
        elif pre.conversion_path == PATH_S1:
            _convert_s1(dt, pre, req, output)
        else:
            _convert_generic(dt, pre, req, output)
    finally:
        dt.close()


@dataclass
class _Run:
    """One conversion in progress: what every step reads and adds to."""

    req: ConvertRequest
    log: EventLog
    output: str
    started_at: str = field(default_factory=manifest.now_iso)
    t_start: float = field(default_factory=time.monotonic)
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        t = time.monotonic()
        yield
        self.timings[name] = time.monotonic() - t


def _preflight(run: _Run) -> tuple[Preflight, dict[str, Any] | None]:
    """The existing run.json and the preflight: the output's side first (credentials,
    reachability) since it is cheap, and a failing S3 API should not wait for the converter."""
    with run.timed("preflight"):
        with _failing_as(f"read the existing output {run.output}"):
            existing = manifest.read(run.output)
        with captured(run.log):
            pre = run_preflight(run.req.source, run.req.groups, allow_generic=run.req.allow_generic,
                                s1_groups=list(run.req.s1.groups), s1_gcp_group=run.req.s1.gcp_group)
    run.log.info("preflight passed", product_type=pre.product_type,
                 conversion_path=pre.conversion_path, groups=pre.groups, notes=pre.notes,
                 polarisation_groups=pre.polarisation_groups)
    return pre, existing


def _skipped(run: _Run, pre: Preflight, existing: dict[str, Any] | None) -> dict[str, Any] | None:
    with _failing_as(f"read the existing output {run.output}"):
        done = _existing_complete(run.req, pre, run.output, existing)
    if done is None:
        return None
    run.log.info("output already complete for this input and these parameters: nothing to do",
                 output=run.output, manifest=done["output"]["manifest_uri"])
    return {"output": run.output, "manifest": done["output"]["manifest_uri"], "skipped": True, "bytes": 0,
            "item_id": done.get("item_id"), "product_type": done.get("product_type"),
            "conversion_path": done.get("conversion_path")}


def _convert(run: _Run, pre: Preflight, work: str) -> None:
    staged = {"staged_at": work} if work != run.output else {}
    run.log.info("converting", source=pre.source, output=run.output,
                 conversion_path=pre.conversion_path, **staged,
                 **run.req.parameters(pre.conversion_path))
    with (run.timed("convert"), _failing_as(f"convert {pre.source} to {run.output}"),
          captured(run.log)):
        _convert_in_process(pre, run.req, work)
        if pre.conversion_path == PATH_S1:
            added = source_attrs.carry_root_attributes(work, pre.root_attributes)
            run.log.info("carried the product's root attributes into the store", keys=added)


def _repair(run: _Run, work: str) -> list[dict[str, Any]]:
    if not run.req.repair:
        run.timings["repair"] = 0.0
        return []
    with run.timed("repair"), _failing_as(f"repair the derived levels in {run.output}"):
        repairs = [r.to_dict() for r in repair_store(
            work, progress=lambda message, done, total: run.log.progress(message, done=done,
                                                                         total=total))]
    run.log.info("repaired derived levels", repairs=len(repairs),
                 nodes=len({r["path"] for r in repairs}),
                 recomputed_arrays=sorted(r["path"] for r in repairs if r["field"] == "data"))
    return repairs


def _upload(run: _Run, work: str) -> None:
    concurrency = storage.upload_concurrency()
    run.log.info("uploading", output=run.output, concurrency=concurrency)
    with run.timed("upload"), _failing_as(f"upload the converted store to {run.output}"):
        objects, nbytes = storage.upload_tree(work, storage.locate(run.output),
                                              concurrency=concurrency)
    run.log.info("uploaded", output=run.output, objects=objects, bytes=nbytes,
                 seconds=round(run.timings["upload"], 3))


def _write_manifest(run: _Run, pre: Preflight, work: str, item_id: str,
                    repairs: list[dict[str, Any]]) -> dict[str, Any]:
    with _failing_as(f"write the run manifest of {run.output}"):
        doc = manifest.build(
            source={"uri": pre.source, "zarr_format": pre.zarr_format,
                    "consolidated": pre.consolidated},
            output_uri=run.output, item_id=item_id, collection=run.req.collection,
            product_type=pre.product_type, conversion_path=pre.conversion_path,
            groups=pre.groups, parameters=run.req.parameters(pre.conversion_path), started_at=run.started_at,
            timings=run.timings, repairs=repairs, run_started=run.t_start, inventory_uri=work,
        )
        manifest.write(run.output, doc)
    return doc


def run_convert(req: ConvertRequest, log: EventLog) -> dict[str, Any]:
    validate_parameters(req)
    run = _Run(req=req, log=log, output=storage.normalise_uri(req.output))
    pre, existing = _preflight(run)
    skipped = _skipped(run, pre, existing)
    if skipped is not None:
        return skipped
    item_id = req.item_id or derive_item_id(pre.source)
    claim = ownership.marker(run.output, pre.source, run.started_at, ownership.run_id())
    with run.timed("clean"), _failing_as(f"take over the output {run.output}"):
        _take_over(run.output, claim, log)
    with _workspace(run.output, req.scratch_dir, log) as work:
        _convert(run, pre, work)
        repairs = _repair(run, work)
        if work != run.output:
            _upload(run, work)  # the marker written by _take_over stays untouched
        else:
            with _failing_as(f"mark the output {run.output}"):
                ownership.claim(run.output, claim)  # again: the converter may have replaced the root
        doc = _write_manifest(run, pre, work, item_id, repairs)
    uri = doc["output"]["manifest_uri"]
    log.info("conversion complete", output=run.output, manifest=uri, bytes=doc["output"]["bytes"],
             objects=doc["output"]["objects"], seconds=round(time.monotonic() - run.t_start, 3))
    return {"output": run.output, "manifest": uri, "skipped": False, "bytes": doc["output"]["bytes"],
            "item_id": item_id,
            "product_type": pre.product_type, "conversion_path": pre.conversion_path}
