"""`convert`: the real eopf-geozarr conversion, made safe to retry.

1. preflight (hierarchy, groups, product type, conversion path);
2. if OUTPUT/run.json exists and records the same input, path and parameters
   and the store still matches it: nothing to do (idempotent rerun);
3. otherwise delete OUTPUT/run.json first, then everything under OUTPUT
   (an incomplete or stale store);
4. convert in-process with eopf-geozarr's own functions (the same calls as
   `eopf-geozarr convert`, but with `compression_level` honoured on the S2
   path and the converter's logs as JSON events);
5. repair the derived levels (`runner.repair`);
6. write OUTPUT/run.json, last.

An `s3://` OUTPUT is staged: steps 4-5 write a local copy in a scratch
directory (`--scratch-dir`, env `GEOZARR_SCRATCH_DIR`, else TMPDIR), which is
then uploaded with bounded concurrency (`GEOZARR_UPLOAD_CONCURRENCY` PUTs in
flight) and checked by one listing before run.json is written; the scratch
copy is removed afterwards, also on failure. The converter's and zarr's many
small remote writes, listings and existence checks become one batch of PUTs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from runner import manifest, storage
from runner.converter_events import captured
from runner.converter_import import import_converter
from runner.errors import BadInput, RunnerError, classify
from runner.events import EventLog
from runner.preflight import PATH_OLCI, PATH_S2, Preflight, run_preflight
from runner.repair import repair_store

MAX_RETRIES = 3  # the converter's own retries of network operations


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
    extra: dict[str, Any] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        return {
            "spatial_chunk": self.spatial_chunk,
            "enable_sharding": self.enable_sharding,
            "compression_level": self.compression_level,
        }


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
    if req.spatial_chunk < 1:
        raise BadInput(f"spatial_chunk {req.spatial_chunk}: must be a positive integer")
    if not 1 <= req.compression_level <= 9:
        raise BadInput(f"compression_level {req.compression_level}: must be between 1 and 9")
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
        and doc.get("parameters") == req.parameters()
        and doc.get("conversion_path") == pre.conversion_path
        and doc.get("exit_status") == 0
    )
    if not same:
        return None
    return doc if not manifest.verify(output, doc) else None


def _clean(output: str, log: EventLog) -> None:
    loc = storage.locate(output)
    mloc = manifest.manifest_location(output)
    if storage.exists(mloc):
        mloc.fs.rm(mloc.path)  # first: from here on the store is incomplete
    if storage.exists(loc) or (storage.is_s3(output) and loc.fs.find(loc.path, maxdepth=1)):
        log.info("removing an existing incomplete or stale output", output=output)
        storage.remove_tree(loc)
    if not storage.is_s3(output):
        Path(loc.path).parent.mkdir(parents=True, exist_ok=True)


SCRATCH_ENV = "GEOZARR_SCRATCH_DIR"


@contextmanager
def _workspace(output: str, scratch_dir: str | None, log: EventLog) -> Iterator[str]:
    """Where the converter writes: OUTPUT itself when local, else a fresh directory under
    the scratch directory (removed on exit, whatever happens)."""
    if not storage.is_s3(output):
        yield output
        return
    root = scratch_dir or os.environ.get(SCRATCH_ENV) or None
    if root:
        try:
            Path(root).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(f"scratch directory {root}: cannot create it: {exc}") from exc
        if not os.access(root, os.W_OK):
            raise BadInput(f"scratch directory {root}: not writable")
    work = tempfile.mkdtemp(prefix="geozarr-convert-", dir=root)
    local = str(Path(work) / PurePosixPath(output).name)
    log.info("staging the output in a scratch directory", scratch=local)
    try:
        yield local
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _convert_in_process(pre: Preflight, req: ConvertRequest, output: str, log: EventLog) -> None:
    import xarray as xr

    import_converter()
    from eopf_geozarr import create_geozarr_dataset
    from eopf_geozarr.s2_optimization.s2_converter import convert_s2_optimized

    options = storage.storage_options(pre.source)
    dt = xr.open_datatree(pre.source, engine="zarr", chunks="auto", storage_options=options)
    try:
        if pre.conversion_path == PATH_S2:
            convert_s2_optimized(
                dt_input=dt,
                output_path=output,
                enable_sharding=req.enable_sharding,
                spatial_chunk=req.spatial_chunk,
                compression_level=req.compression_level,
                validate_output=True,
                keep_scale_offset=False,
                max_retries=MAX_RETRIES,
            )
        elif pre.conversion_path == PATH_OLCI:
            from eopf_geozarr.conversion.open_source import open_source_datatree
            from eopf_geozarr.s3_olci_optimization.olci_converter import convert_olci_optimized

            dt.close()
            dt = open_source_datatree(pre.source, storage_options=options, mask_and_scale=False)
            convert_olci_optimized(dt, output_path=output, min_dimension=256)
        else:
            create_geozarr_dataset(
                dt_input=dt,
                groups=pre.groups,
                output_path=output,
                spatial_chunk=req.spatial_chunk,
                min_dimension=256,
                max_retries=MAX_RETRIES,
                crs_groups=None,
                gcp_group=None,
                enable_sharding=req.enable_sharding,
            )
    finally:
        dt.close()


def run_convert(req: ConvertRequest, log: EventLog) -> dict[str, Any]:
    started_at = manifest.now_iso()
    t_start = time.monotonic()
    timings: dict[str, float] = {}
    validate_parameters(req)
    output = storage.normalise_uri(req.output)

    t = time.monotonic()
    # the output's side first (credentials, reachability, an existing run.json): it is
    # cheap, and a misconfigured or failing S3 API should not wait for the converter's imports
    try:
        existing = manifest.read(output)
    except RunnerError:
        raise
    except Exception as exc:
        raise classify(exc, what=f"read the existing output {output}") from exc
    with captured(log):
        pre = run_preflight(req.source, req.groups, allow_generic=req.allow_generic)
    timings["preflight"] = time.monotonic() - t
    log.info("preflight passed", product_type=pre.product_type, conversion_path=pre.conversion_path,
             groups=pre.groups, notes=pre.notes)

    try:
        done = _existing_complete(req, pre, output, existing)
    except RunnerError:
        raise
    except Exception as exc:
        raise classify(exc, what=f"read the existing output {output}") from exc
    if done is not None:
        log.info("output already complete for this input and these parameters: nothing to do",
                 output=output, manifest=done["output"]["manifest_uri"])
        return {"output": output, "manifest": done["output"]["manifest_uri"], "skipped": True, "bytes": 0,
                "item_id": done.get("item_id"), "product_type": done.get("product_type"),
                "conversion_path": done.get("conversion_path")}

    t = time.monotonic()
    try:
        _clean(output, log)
    except RunnerError:
        raise
    except Exception as exc:
        raise classify(exc, what=f"remove the incomplete output {output}") from exc
    timings["clean"] = time.monotonic() - t

    with _workspace(output, req.scratch_dir, log) as work:
        t = time.monotonic()
        log.info("converting", source=pre.source, output=output, conversion_path=pre.conversion_path,
                 **({"staged_at": work} if work != output else {}), **req.parameters())
        try:
            with captured(log):
                _convert_in_process(pre, req, work, log)
        except RunnerError:
            raise
        except Exception as exc:
            raise classify(exc, what=f"convert {pre.source} to {output}") from exc
        timings["convert"] = time.monotonic() - t

        t = time.monotonic()
        repairs: list[dict[str, Any]] = []
        if req.repair:
            try:
                repairs = [r.to_dict() for r in repair_store(
                    work, progress=lambda message, done, total: log.progress(message, done=done, total=total))]
            except Exception as exc:
                raise classify(exc, what=f"repair the derived levels in {output}") from exc
            log.info("repaired derived levels", repairs=len(repairs),
                     nodes=len({r["path"] for r in repairs}),
                     recomputed_arrays=sorted(r["path"] for r in repairs if r["field"] == "data"))
        timings["repair"] = time.monotonic() - t

        if work != output:
            t = time.monotonic()
            concurrency = storage.upload_concurrency()
            log.info("uploading", output=output, concurrency=concurrency)
            try:
                objects, nbytes = storage.upload_tree(work, storage.locate(output), concurrency=concurrency)
            except RunnerError:
                raise
            except Exception as exc:
                raise classify(exc, what=f"upload the converted store to {output}") from exc
            timings["upload"] = time.monotonic() - t
            log.info("uploaded", output=output, objects=objects, bytes=nbytes,
                     seconds=round(timings["upload"], 3))

        item_id = req.item_id or derive_item_id(pre.source)
        try:
            doc = manifest.build(
                source={"uri": pre.source, "zarr_format": pre.zarr_format, "consolidated": pre.consolidated},
                output_uri=output,
                item_id=item_id,
                collection=req.collection,
                product_type=pre.product_type,
                conversion_path=pre.conversion_path,
                groups=pre.groups,
                parameters=req.parameters(),
                started_at=started_at,
                timings=timings,
                repairs=repairs,
                run_started=t_start,
                inventory_uri=work,
            )
            uri = manifest.write(output, doc)
        except RunnerError:
            raise
        except Exception as exc:
            raise classify(exc, what=f"write the run manifest of {output}") from exc
    log.info("conversion complete", output=output, manifest=uri, bytes=doc["output"]["bytes"],
             objects=doc["output"]["objects"], seconds=round(time.monotonic() - t_start, 3))
    return {"output": output, "manifest": uri, "skipped": False, "bytes": doc["output"]["bytes"], "item_id": item_id,
            "product_type": pre.product_type, "conversion_path": pre.conversion_path}

