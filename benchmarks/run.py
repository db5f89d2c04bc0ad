"""Entry point of `invoke bench`: runs the named benchmarks, each printing its
figures and the ratio against its baseline.

A benchmark is a module `benchmarks/<name>_bench.py` with `main() -> int`.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS: dict[str, str] = {
    "validate": "benchmarks.validate_bench",
    "schema": "benchmarks.schema_bench",
    "runner": "benchmarks.runner_bench",
    "geozarr": "benchmarks.geozarr_bench",
    "conformance": "benchmarks.conformance_bench",
    "restore": "benchmarks.restore_bench",
    "tuning": "benchmarks.tuning_bench",
    "fanout": "benchmarks.fanout_bench",
    "backfill": "benchmarks.backfill_bench",
}


def main(which: str | None = None) -> int:
    names = [which] if which else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}: expected one of {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    worst = 0
    for name in names:
        print(f"== {name}", flush=True)
        module = importlib.import_module(BENCHMARKS[name])
        worst = max(worst, module.main())
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
