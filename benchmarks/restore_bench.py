"""Catalog restore time (RTO) at 1k and 10k items, end to end on this machine.

Each size: a source catalog (PostgreSQL 15 + pgSTAC + stac-fastapi-pgstac) gets N synthetic items
through the API, the CronWorkflow's backup module dumps it to a loopback S3 server, the source is
wiped, and `invoke restore-drill`'s code restores the dump into a scratch PostgreSQL and serves it
(RTO = download + checksum + PostgreSQL start + restore + API healthy), then compares 100 sampled
items and the counts. Baseline: the catalog RTO target of docs/runbooks/disaster-recovery.md
(15 min); the ratio is measured / target. Exit 0 when every size meets it with no mismatch.
"""

from __future__ import annotations

import sys

from tooling.catalog.local import local_drill

SIZES = (1_000, 10_000)
RTO_TARGET_S = 900.0
SAMPLE = 100


def main() -> int:
    worst = 0
    for n in SIZES:
        result = local_drill(items=n, sample=SAMPLE, progress=lambda m: print(f"  {m}", flush=True))
        s = result.seconds
        print(
            f"restore {n:>6} items: RTO {result.rto_seconds:6.1f} s "
            f"(download {s['download']:.1f}, postgres {s['postgres_start']:.1f}, "
            f"restore {s['restore']:.1f}, api {s['api_ready']:.1f}); "
            f"backup {s['backup']:.1f} s, register {s['register']:.1f} s; "
            f"{result.items_restored}/{result.items_expected} items, "
            f"{len(result.mismatches)} mismatches; "
            f"ratio vs {RTO_TARGET_S:.0f} s target: {result.rto_seconds / RTO_TARGET_S:.3f}",
            flush=True,
        )
        if result.mismatches or result.rto_seconds > RTO_TARGET_S:
            worst = 1
    return worst


if __name__ == "__main__":
    sys.exit(main())
