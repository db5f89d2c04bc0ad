"""`geozarr-runner` / `python -m runner`: the pipeline's steps as one command.

Every step:
- takes its parameters from flags, env vars or `$GEOZARR_PARAMS_DIR`
  (see `runner.params`);
- logs one JSON object per event on stderr;
- with `--json` prints one JSON object (its outputs) on stdout;
- with `--outputs-dir DIR` writes one file per output value into DIR (for
  Argo's `outputs.parameters[].valueFrom.path`);
- exits 0 ok, 1 anything else, 2 bad input or configuration, 3 transient
  remote failure (S3 5xx, throttling, timeouts).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from runner import identifiers, params, urls
from runner.errors import EXIT_FAILURE, EXIT_OK, BadInput, RunnerError
from runner.events import EventLog

StepFn = Callable[[argparse.Namespace, EventLog], dict[str, Any]]

# Output values each step writes into --outputs-dir (file name = key).
STEP_OUTPUTS: dict[str, tuple[str, ...]] = {
    "sample": ("output",),
    "preflight": ("product_type", "conversion_path", "groups", "polarisation_groups"),
    "convert": ("output", "manifest", "bytes", "product_type"),
    "parts": ("parts", "product", "product_type", "reason", "output"),
    "convert-part": ("part", "output", "seconds"),
    "finalize": ("output", "manifest", "bytes", "product_type", "seconds"),
    "stac": ("item",),
    "manifest": ("manifest",),
    "register": ("item_url",),
    "plan": ("plan", "planned"),
    "bulk-register": ("registered", "dead_lettered", "dead_letter"),
    "convert-batch": ("converted", "failed", "already"),
    "backfill-report": ("report", "planned", "converted", "skipped", "failed", "registered",
                        "dead_lettered"),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one JSON line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        step = self.prog.split()[-1] if " " in self.prog else "runner"
        EventLog(step).error(f"{self.prog}: {message}", exit_code=2)
        raise SystemExit(2)


def _add_common(p: argparse.ArgumentParser, step: str, run: Any) -> None:
    """The flags every step has, and RUN (args, log) -> outputs as the step's function."""
    outs = ", ".join(STEP_OUTPUTS[step])
    p.add_argument("--outputs-dir", metavar="DIR",
                   help=f"write one file per output value into DIR ({outs})")
    p.add_argument("--json", action="store_true", help="print the step's outputs as one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="log warnings and errors only")
    p.set_defaults(func=run)


def _param_flag(p: argparse.ArgumentParser, key: str, **kwargs: Any) -> None:
    spec = params.PARAMS[key]
    p.add_argument(spec.flag, dest=key, default=None,
                   help=f"{spec.help} (env {spec.env}; default {spec.default!r})", **kwargs)


def _step_sample(args: argparse.Namespace, log: EventLog) -> dict[str, Any]:
    if args.product == "s1-grd":
        from runner.sample_s1 import check_size, write_sample
    else:
        from runner.sample_s2 import check_size, write_sample

    check_size(args.size)
    params.apply_s3_endpoint(getattr(args, "s3_endpoint", None))
    log.info("writing sample", output=args.out, size=args.size, seed=args.seed, product=args.product)
    summary = write_sample(args.out, size=args.size, seed=args.seed, product=args.product,
                           zarr_format=args.zarr_format, log=log)
    log.info("sample written", **summary)
    return summary


def _source(args: argparse.Namespace) -> str:
    source = args.source or params.resolve("source_url")
    if not source:
        raise BadInput("no SOURCE given and no source_url set (env SOURCE_URL)")
    return str(source)


def _identifiers(source: str, item_id: str | None = None, collection: str | None = None) -> tuple[str, str]:
    """The run's item id (ITEM_ID, else env ITEM_ID, else derived from SOURCE) and collection
    (COLLECTION, else env COLLECTION), both checked: refused with BadInput when invalid."""
    from runner.convert import derive_item_id

    item = identifiers.check("item id", params.resolve("item_id", item_id) or derive_item_id(source))
    coll = params.resolve("collection", collection)
    if coll:
        identifiers.check("collection", coll)
    return item, coll


def _target(args: argparse.Namespace, source: str) -> tuple[str, str, str]:
    """(item id, collection, OUTPUT): OUTPUT as given, else the default store of both."""
    from runner.convert import default_output

    item_id, collection = _identifiers(source, args.item_id, args.collection)
    output = args.output or default_output(params.resolve("output_bucket", args.output_bucket),
                                           params.resolve("output_prefix", args.output_prefix),
                                           collection, item_id)
    return item_id, collection, output


def _step_preflight(args: argparse.Namespace, log: EventLog) -> dict[str, Any]:
    from runner.converter_events import captured
    from runner.preflight import run_preflight

    params.apply_s3_endpoint(args.s3_endpoint)
    source = _source(args)
    _identifiers(source)  # the DAG's first step is the first to see them
    groups = params.resolve("groups", args.groups)
    with captured(log):
        result = run_preflight(source, groups, allow_generic=args.allow_generic,
                               s1_groups=params.resolve("s1_groups", args.s1_groups),
                               s1_gcp_group=params.resolve("s1_gcp_group", args.s1_gcp_group))
    out = result.outputs()
    log.info(f"{result.product_type}: conversion path {result.conversion_path}", **out)
    return out


def _step_convert(args: argparse.Namespace, log: EventLog) -> dict[str, Any]:
    from runner.convert import ConvertRequest, run_convert

    params.apply_s3_endpoint(args.s3_endpoint)
    source = _source(args)
    item_id, collection, output = _target(args, source)
    req = ConvertRequest(
        source=source,
        output=output,
        groups=params.resolve("groups", args.groups),
        item_id=item_id,
        collection=collection,
        spatial_chunk=params.resolve("spatial_chunk", args.spatial_chunk),
        enable_sharding=params.resolve("enable_sharding", args.enable_sharding),
        compression_level=params.resolve("compression_level", args.compression_level),
        allow_generic=args.allow_generic,
        force=args.force,
        repair=args.repair,
        scratch_dir=args.scratch_dir or None,
        s1=_s1_parameters(args),
    )
    return run_convert(req, log)


def _output(args: argparse.Namespace, source: str) -> str:
    """OUTPUT, or the default one of this source's item id and collection, normalised."""
    from runner import storage

    return storage.normalise_uri(_target(args, source)[2])


def _step_parts(args: argparse.Namespace, log: EventLog) -> dict[str, Any]:
    from runner.fanout_steps import run_parts

    params.apply_s3_endpoint(args.s3_endpoint)
    source = _source(args)
    width = params.resolve("fanout_parallelism", args.fanout_parallelism)
    return run_parts(source, _output(args, source), width, log)


def _step_convert_part(args: argparse.Namespace, log: EventLog) -> dict[str, Any]:
    from runner.fanout_steps import PartSettings, parse_parts, run_split_part

    part = parse_parts(f"[{args.part}]", what="PART")[0]
    if part.whole:
        return {**_step_convert(args, log), "part": part.name, "seconds": 0}
    params.apply_s3_endpoint(args.s3_endpoint)
    source = _source(args)
    settings = PartSettings(spatial_chunk=params.resolve("spatial_chunk", args.spatial_chunk),
                            enable_sharding=params.resolve("enable_sharding", args.enable_sharding),
                            s1=_s1_parameters(args), scratch_dir=args.scratch_dir or None,
                            repair=args.repair)
    return run_split_part(source, _output(args, source), part, settings, log)


def _step_finalize(args: argparse.Namespace, log: EventLog) -> dict[str, Any]:
    from runner import storage
    from runner.fanout_steps import parse_parts, run_finalize

    params.apply_s3_endpoint(args.s3_endpoint)
    source = _source(args)
    item_id, collection, output = _target(args, source)
    return run_finalize(source, storage.normalise_uri(output), parse_parts(args.parts), log,
                        collection=collection, item_id=item_id)


def _s1_parameters(args: argparse.Namespace) -> Any:
    from runner.convert import S1Parameters

    return S1Parameters(groups=tuple(params.resolve("s1_groups", args.s1_groups)),
                        gcp_group=params.resolve("s1_gcp_group", args.s1_gcp_group),
                        crs_groups=tuple(params.resolve("s1_crs_groups", args.s1_crs_groups)),
                        min_dimension=params.resolve("s1_min_dimension", args.s1_min_dimension))


def _step_stac(args: argparse.Namespace, log: EventLog) -> dict[str, Any]:
    from runner import manifest, stac_links, storage
    from runner.stac_item import run_stac

    params.apply_s3_endpoint(args.s3_endpoint)
    output = storage.normalise_uri(args.output)
    run = manifest.read(output) or {}
    collection = params.resolve("collection", args.collection) or str(run.get("collection") or "")
    item_id = params.resolve("item_id", args.item_id) or str(run.get("item_id") or "")
    if not collection:
        raise BadInput("no collection: pass --collection (or set COLLECTION)")
    if not item_id:
        raise BadInput("no item id: pass --item-id (or set ITEM_ID)")
    identifiers.check("collection", collection)
    identifiers.check("item id", item_id)
    links = stac_links.from_params(vars(args), args.collection_json)
    out = run_stac(output, collection=collection, item_id=item_id, dest=args.item_out,
                   stac_api_url=urls.without_credentials(
                       params.resolve("stac_api_url", args.stac_api_url)), links=links,
                   run=run or None)
    log.info("STAC item written", **out)
    return out


def _step_manifest(args: argparse.Namespace, log: EventLog) -> dict[str, Any]:
    from runner import manifest, storage
    from runner.errors import RunnerError

    params.apply_s3_endpoint(args.s3_endpoint)
    output = storage.normalise_uri(args.output)
    doc = manifest.read(output)
    if doc is None:
        raise BadInput(f"{output}: no {manifest.MANIFEST_NAME}: the store is incomplete (or not converted)")
    problems = manifest.verify(output, doc)
    uri = manifest.manifest_location(output).uri
    if problems:
        raise RunnerError(f"{output}: the store differs from its manifest: {'; '.join(problems[:5])}"
                          + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""),
                          problems=problems)
    log.info("store matches its manifest", output=output, manifest=uri,
             documents=len(doc["metadata_documents"]))
    return {"manifest": uri, "output": output, "verified": True}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="geozarr-runner", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True, parser_class=_Parser)
    for add_step in (_add_sample, _add_register, _add_preflight, _add_convert, _add_stac, _add_manifest,
                     _add_backfill_steps, _add_fanout_steps):
        add_step(sub)
    return parser


def _add_sample(sub: Any) -> None:
    p = sub.add_parser("sample", help="write a synthetic EOPF product (Sentinel-2 L2A or Sentinel-1 GRD)",
                       description="Write a synthetic EOPF Sentinel-2 L2A or Sentinel-1 IW GRDH product "
                       "(Zarr v2 like real products) that eopf-geozarr converts exactly as a real one. "
                       "Outputs: output.")
    p.add_argument("out", metavar="OUT", help="output store: local path or s3:// URI (replaced)")
    p.add_argument("--size", type=int, default=144,
                   help="s2-l2a: r10m edge in pixels of 10 m, a multiple of 6, 72..10980; s1-grd: "
                   "azimuth lines of 10 m, 32..16677 (pixels: size x 1.563) (default 144)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the synthetic scene (default 0)")
    p.add_argument("--product", default="s2-l2a", choices=["s2-l2a", "s1-grd"],
                   help="product type (default s2-l2a)")
    p.add_argument("--zarr-format", type=int, default=2, choices=[2, 3],
                   help="Zarr format of the sample (default 2, like real EOPF products)")
    _param_flag(p, "s3_endpoint")
    _add_common(p, "sample", _step_sample)


def _add_register(sub: Any) -> None:
    from runner import register

    p = sub.add_parser("register", help="upsert a STAC item into the STAC API",
                       description="Create the collection if missing, POST the item, PUT it when it "
                       "exists (token: env STAC_API_TOKEN). Outputs: item_url.")
    register.add_arguments(p)
    _add_common(p, "register", register.run)



def _add_backfill_steps(sub: Any) -> None:
    """The backfill's steps (runner.backfill): plan, convert-batch, bulk-register, backfill-report."""
    from runner.backfill import batch, bulk_register, plan, report

    for name, module, what in (
            ("plan", plan, "plan a backfill: the source products not converted yet"),
            ("convert-batch", batch, "convert a backfill batch, product by product"),
            ("bulk-register", bulk_register, "upsert many STAC items in bulk; dead-letter what fails"),
            ("backfill-report", report, "count what a backfill run did")):
        p = sub.add_parser(name, help=what, description=(module.__doc__ or "").split("\n\n")[0]
                           + f" Outputs: {', '.join(STEP_OUTPUTS[name])}.")
        module.add_arguments(p)
        _add_common(p, name, module.run)


def _add_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE", nargs="?", default=None,
                   help="input product: local path or s3:// URI (default: source_url)")


def _add_output(p: argparse.ArgumentParser) -> None:
    """OUTPUT and the params its default is made of (and the object store's endpoint)."""
    p.add_argument("output", metavar="OUTPUT", nargs="?", default=None,
                   help="output store (default s3://{output_bucket}/{output_prefix}/{collection}/{item_id}.zarr)")
    for key in ("item_id", "collection", "output_bucket", "output_prefix", "s3_endpoint"):
        _param_flag(p, key)


def _add_input(p: argparse.ArgumentParser) -> None:
    """The input product and its groups: what preflight checks and convert converts."""
    _add_source(p)
    _param_flag(p, "groups", nargs="+")
    p.add_argument("--allow-generic", action="store_true",
                   help="accept a Sentinel-2 product that the converter would not detect as one")


def _add_preflight(sub: Any) -> None:
    p = sub.add_parser("preflight", help="check the input and the requested groups; say the conversion path",
                       description="Read the input's hierarchy (consolidated metadata when present), check "
                       "the requested groups, detect the product type and the conversion path eopf-geozarr "
                       "will take (Sentinel-1 GRD: the polarisation groups, each checked for the s1_* groups). "
                       "Outputs: product_type, conversion_path, groups, polarisation_groups.")
    _add_input(p)
    _param_flag(p, "s3_endpoint")
    _s1_flags(p, ("s1_groups", "s1_gcp_group"))
    _add_common(p, "preflight", _step_preflight)


def _s1_flags(p: argparse.ArgumentParser, keys: tuple[str, ...]) -> None:
    for key in keys:
        _param_flag(p, key, **({"nargs": "+"} if key in ("s1_groups", "s1_crs_groups") else {}))


def _add_convert(sub: Any) -> None:
    p = sub.add_parser("convert", help="convert with eopf-geozarr; write OUTPUT/run.json last",
                       description="Convert SOURCE to a GeoZarr store at OUTPUT with eopf-geozarr "
                       "(S2 L2A: the S2-optimised path), repair the derived levels' proj:* attributes, "
                       "and write the run manifest OUTPUT/run.json last: a store without it is incomplete "
                       "and is removed by the next run. Outputs: output, manifest.")
    _convert_arguments(p)
    _add_common(p, "convert", _step_convert)


def _convert_arguments(p: argparse.ArgumentParser) -> None:
    """SOURCE, its groups, OUTPUT and the conversion's flags (`convert`, and `convert-part`)."""
    _add_input(p)
    _add_output(p)
    for key in ("spatial_chunk", "enable_sharding", "compression_level"):
        _param_flag(p, key)
    _s1_flags(p, ("s1_groups", "s1_gcp_group", "s1_crs_groups", "s1_min_dimension"))
    p.add_argument("--force", action="store_true", help="reconvert even when OUTPUT is complete for this input")
    p.add_argument("--no-repair", dest="repair", action="store_false",
                   help="keep the converter's output as it is (no proj:*, layout or derived-band repairs)")
    p.add_argument("--scratch-dir", metavar="DIR", default=None,
                   help="with an s3:// OUTPUT: convert and repair in a fresh directory under DIR, then "
                   "upload (env GEOZARR_SCRATCH_DIR; default TMPDIR); the local copy is removed afterwards")


def _add_fanout_steps(sub: Any) -> None:
    """The fanned-out conversion (runner.fanout_steps): parts, convert-part, finalize."""
    p = sub.add_parser("parts", help="the parts a product converts in (one pod each)",
                       description="List the parts of SOURCE's conversion: one per S1 polarisation "
                       "group, dealt into at most fanout_parallelism[product] pods; one whole part for "
                       "S2 (its optimised path cannot be split). For a split product, take OUTPUT over. "
                       "Outputs: parts (JSON list), product, product_type, reason, output.")
    _add_source(p)
    _add_output(p)
    _param_flag(p, "fanout_parallelism")
    _add_common(p, "parts", _step_parts)
    p = sub.add_parser("convert-part", help="convert one part of a product into OUTPUT",
                       description="Convert the part PART (one item of `parts`) of SOURCE into OUTPUT; "
                       "a whole part is `convert`. Outputs: part, output, seconds.")
    p.add_argument("part", metavar="PART", help='one part as JSON: {"name": ..., "groups": [...]}')
    _convert_arguments(p)
    _add_common(p, "convert-part", _step_convert_part)
    p = sub.add_parser("finalize", help="complete a fanned-out store: root, consolidated metadata, "
                       "run.json last", description="Check every part of PARTS is written, write the "
                       "store root and consolidated metadata, then OUTPUT/run.json last. Outputs: "
                       "output, manifest, bytes, product_type, seconds.")
    _add_source(p)
    _add_output(p)
    p.add_argument("--parts", required=True, metavar="JSON", help="the parts `parts` listed")
    _add_common(p, "finalize", _step_finalize)


def _add_stac(sub: Any) -> None:
    p = sub.add_parser("stac", help="build the STAC 1.1 item of a converted store",
                       description="Build the STAC 1.1 Item of a complete store (OUTPUT/run.json must "
                       "exist) with pystac: geometry/bbox in EPSG:4326 from the store, datetime from the "
                       "source's stac_discovery, projection v2.0.0 fields, GeoZarr assets (+ alternate s3 "
                       "hrefs with the storage extension). Outputs: item.")
    p.add_argument("output", metavar="OUTPUT", help="the converted store: local path or s3:// URI")
    _param_flag(p, "collection")
    _param_flag(p, "item_id")
    _param_flag(p, "stac_api_url")
    p.add_argument("-o", "--item-out", dest="item_out", required=True, metavar="ITEM.json",
                   help="where to write the item: local path or s3:// URI")
    _param_flag(p, "s3_endpoint")
    for key in ("source_item_url", "xyz_url", "tilejson_url", "viewer_url"):
        _param_flag(p, key)
    p.add_argument("--collection-json", default=None, metavar="FILE",
                   help="the env's collection document, for the license and cite-as links "
                   "(default $GEOZARR_PARAMS_DIR/collection.json when it exists)")
    _add_common(p, "stac", _step_stac)


def _add_manifest(sub: Any) -> None:
    p = sub.add_parser("manifest", help="recompute (and verify) the run manifest of a store",
                       description="Recompute the inventory of OUTPUT (bytes, objects, SHA-256 of every "
                       "metadata document) and compare it with OUTPUT/run.json: exit 1 when they differ, "
                       "2 when the store has no run.json (incomplete). Outputs: manifest.")
    p.add_argument("output", metavar="OUTPUT", help="the converted store: local path or s3:// URI")
    _param_flag(p, "s3_endpoint")
    _add_common(p, "manifest", _step_manifest)


def _write_outputs(directory: str, step: str, outputs: dict[str, Any]) -> None:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for key in STEP_OUTPUTS[step]:
        value = outputs.get(key, "")
        text = urls.mask(value if isinstance(value, str) else json.dumps(value))
        (out / key).write_text(text)


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """One parser per process (~17 ms to build: a batch pod runs two steps per product with it;
    its defaults hold no state of a run, so parsing again with it is as parsing with a new one)."""
    return build_parser()


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    log = EventLog(args.step, quiet=bool(getattr(args, "quiet", False)))
    fn: StepFn = args.func
    try:
        outputs = fn(args, log)
        if args.outputs_dir:
            try:
                _write_outputs(args.outputs_dir, args.step, outputs)
            except OSError as exc:
                raise BadInput(f"--outputs-dir {args.outputs_dir}: cannot write: {exc}") from exc
        if args.json:
            sys.stdout.write(urls.mask(json.dumps(outputs, default=str)) + "\n")
        return EXIT_OK
    except RunnerError as exc:
        log.error(exc.message, exit_code=exc.exit_code, **exc.fields)
        return exc.exit_code
    except KeyboardInterrupt:
        log.error("interrupted", exit_code=EXIT_FAILURE)
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - the edge: unexpected failures are exit 1
        log.error(f"unexpected failure: {type(exc).__name__}: {exc}", exit_code=EXIT_FAILURE,
                  traceback=traceback.format_exc(limit=8))
        return EXIT_FAILURE
