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
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from runner import params
from runner.errors import EXIT_FAILURE, EXIT_OK, BadInput, RunnerError
from runner.events import EventLog

StepFn = Callable[[argparse.Namespace, EventLog], dict[str, Any]]

# Output values each step writes into --outputs-dir (file name = key).
STEP_OUTPUTS: dict[str, tuple[str, ...]] = {
    "sample": ("output",),
    "preflight": ("product_type", "conversion_path", "groups"),
    "convert": ("output", "manifest"),
    "stac": ("item",),
    "manifest": ("manifest",),
    "register": ("item_url",),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one JSON line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        step = self.prog.split()[-1] if " " in self.prog else "runner"
        EventLog(step).error(f"{self.prog}: {message}", exit_code=2)
        raise SystemExit(2)


def _add_common(p: argparse.ArgumentParser, step: str) -> None:
    outs = ", ".join(STEP_OUTPUTS[step])
    p.add_argument("--outputs-dir", metavar="DIR",
                   help=f"write one file per output value into DIR ({outs})")
    p.add_argument("--json", action="store_true", help="print the step's outputs as one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="log warnings and errors only")


def _param_flag(p: argparse.ArgumentParser, key: str, **kwargs: Any) -> None:
    spec = params.PARAMS[key]
    p.add_argument(spec.flag, dest=key, default=None,
                   help=f"{spec.help} (env {spec.env}; default {spec.default!r})", **kwargs)


def _step_sample(args: argparse.Namespace, log: EventLog) -> dict[str, Any]:
    from runner.sample_s2 import check_size, write_sample

    check_size(args.size)
    params.apply_s3_endpoint(getattr(args, "s3_endpoint", None))
    log.info("writing sample", output=args.out, size=args.size, seed=args.seed, product=args.product)
    summary = write_sample(args.out, size=args.size, seed=args.seed, product=args.product,
                           zarr_format=args.zarr_format, log=log)
    log.info("sample written", **summary)
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="geozarr-runner", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True, parser_class=_Parser)

    p = sub.add_parser("sample", help="write a synthetic EOPF product (Sentinel-2 L2A)",
                       description="Write a synthetic EOPF Sentinel-2 L2A product (Zarr v2 like real "
                       "products) that eopf-geozarr converts exactly as a real one. "
                       "Outputs: output.")
    p.add_argument("out", metavar="OUT", help="output store: local path or s3:// URI (replaced)")
    p.add_argument("--size", type=int, default=144,
                   help="r10m edge in pixels of 10 m: a multiple of 6, 72..10980 (default 144)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the synthetic scene (default 0)")
    p.add_argument("--product", default="s2-l2a", choices=["s2-l2a"], help="product type (default s2-l2a)")
    p.add_argument("--zarr-format", type=int, default=2, choices=[2, 3],
                   help="Zarr format of the sample (default 2, like real EOPF products)")
    _param_flag(p, "s3_endpoint")
    _add_common(p, "sample")
    p.set_defaults(func=_step_sample)

    from runner import register

    p = sub.add_parser("register", help="upsert a STAC item into the STAC API",
                       description="Create the collection if missing, POST the item, PUT it when it "
                       "exists (token: env STAC_API_TOKEN). Outputs: item_url.")
    register.add_arguments(p)
    _add_common(p, "register")
    p.set_defaults(func=register.run)
    return parser


def _write_outputs(directory: str, step: str, outputs: dict[str, Any]) -> None:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for key in STEP_OUTPUTS[step]:
        value = outputs.get(key, "")
        text = value if isinstance(value, str) else json.dumps(value)
        (out / key).write_text(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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
            sys.stdout.write(json.dumps(outputs, default=str) + "\n")
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
