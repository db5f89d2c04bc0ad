"""`geozarr-conformance` / `python -m conformance`: GeoZarr and STAC conformance checks.

    python -m conformance geozarr STORE [--json | --format table|json|markdown] [--output FILE_OR_S3_URI]
    python -m conformance stac ITEM.json [--store STORE] [--json] [--output ...]
    python -m conformance report --run-id ID --check URI … --output URI   (the DAG's report step)

Exit 0 pass, 1 error findings, 2 cannot run (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from conformance import workflow_report
from conformance.report import FORMATS, Report


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"geozarr-conformance: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="geozarr-conformance", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="kind", required=True, parser_class=_Parser)
    g = sub.add_parser("geozarr", help="check a GeoZarr store (local path or s3:// URI)")
    g.add_argument("store", metavar="STORE")
    g.add_argument("--no-sample", action="store_true", help="skip data sampling (metadata only)")
    g.add_argument("--no-gdal", action="store_true", help="skip the GDAL interop check")
    g.add_argument("--bands-per-level", type=int, default=2, metavar="N",
                   help="bands sampled per derived level (default 2)")
    r = sub.add_parser("report", help="merge the conformance DAG's check reports into one verdict",
                       description=workflow_report.DESCRIPTION)
    workflow_report.add_arguments(r)
    s = sub.add_parser("stac", help="check a STAC item (file, http(s) URL or s3:// URI)")
    s.add_argument("item", metavar="ITEM")
    s.add_argument("--store", default="", help="the store the item describes (consistency checks)")
    s.add_argument("--online", action="store_true",
                   help="fetch (and cache) uncached extension schemas, within the fetch policy "
                   "(https, allowlisted hosts: GEOZARR_STAC_SCHEMA_HOSTS); default: offline")
    s.add_argument("--offline", action="store_true", help="never fetch (the default; kept for scripts)")
    s.add_argument("--allow-unknown-extensions", action="store_true",
                   help="an extension whose schema is neither vendored nor cached is a warning, not an error")
    s.add_argument("--explorer-profile", action=argparse.BooleanOptionalAction, default=None,
                   help="check what the EOPF Explorer relies on (default: on for our collections)")
    s.add_argument("--href-host", action="append", default=[], metavar="HOST",
                   help="also resolve https:// asset hrefs on HOST (HEAD; repeatable; the S3 endpoint's "
                   "host always is)")
    s.add_argument("--schema-cache", default="", metavar="DIR",
                   help="extension schema cache (default $GEOZARR_STAC_SCHEMA_CACHE or the user cache dir)")
    for q in (g, s):
        q.add_argument("--json", action="store_true", help="print the report as JSON (--format json)")
        q.add_argument("--format", choices=FORMATS, default="", help="table (default), json or markdown")
        q.add_argument("--output", default="", metavar="FILE_OR_S3_URI", help="also write the JSON report there")
        q.add_argument("--quiet", action="store_true", help="no progress on stderr")
    g.add_argument("--outputs-dir", default="", metavar="DIR",
                   help="write the error and warning counts there, one file each (Argo output parameters)")
    return p


def _write_counts(directory: str, report: Report) -> None:
    """`errors` and `warnings`: the report's finding counts (a report that could not run counts one
    error), one file each, as the conversion DAG's step metrics read them."""
    counts = report.summary
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / "errors").write_text(str(counts["error"]))
    (out / "warnings").write_text(str(counts["warning"]))


def main(argv: Sequence[str] | None = None) -> int:
    from conformance.report import progress_printer, render, write_output

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.kind == "report":
        return workflow_report.run(args)
    fmt = args.format or ("json" if args.json else "table")
    progress = progress_printer(not args.quiet and fmt == "table" and sys.stderr.isatty())
    try:
        if args.kind == "geozarr":
            from conformance.geozarr.check import check_store

            report = check_store(args.store, sample=not args.no_sample, gdal=not args.no_gdal,
                                 bands_per_level=args.bands_per_level, progress=progress)
        else:
            from conformance.stac.check import check_item

            report = check_item(args.item, store=args.store or None,
                                offline=args.offline or not args.online,
                                schema_cache=args.schema_cache or None,
                                allow_unknown_extensions=args.allow_unknown_extensions,
                                href_hosts=tuple(args.href_host), explorer_profile=args.explorer_profile,
                                progress=progress)
    except KeyboardInterrupt:
        print("geozarr-conformance: interrupted", file=sys.stderr)
        return 2
    if report.error:
        print(f"geozarr-conformance: {args.kind} {report.target}: cannot run: {report.error}", file=sys.stderr)
    if args.output:
        try:
            write_output(report, args.output)
        except Exception as exc:  # noqa: BLE001 - an edge: one line, exit 2
            print(f"geozarr-conformance: cannot write {args.output}: {exc}", file=sys.stderr)
            return 2
    if getattr(args, "outputs_dir", ""):
        _write_counts(args.outputs_dir, report)
    if fmt != "table" or not report.error:  # a table that cannot run is the line on stderr
        print(render(report, fmt))
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
