"""`invoke restore-drill`: exit 0 the restored catalog matches its manifest, 1 mismatches,
2 cannot run (no backup, damaged dump, PostgreSQL/PostGIS missing, S3 unreachable)."""

from __future__ import annotations

import json
import sys

from tooling.catalog.drill import DrillResult, say
from tooling.catalog.errors import CatalogError


def _s3_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def _env_drill(env: str, items: int, endpoint: str = "") -> DrillResult:
    from conformance.objectstore import s3_client
    from runner.catalog_backup import BACKUP_PREFIX
    from tooling.catalog.drill import drill
    from tooling.envconfig import EnvConfigError, read_env_config

    try:
        config = read_env_config(env)
    except EnvConfigError as e:
        raise CatalogError(str(e)) from e
    client = s3_client(endpoint or config.s3_endpoint)
    return drill(client, f"s3://{config.bucket}/{BACKUP_PREFIX}", items=items)


def _print(result: DrillResult) -> None:
    state = "PASS" if result.ok else f"FAIL ({len(result.mismatches)} mismatches)"
    print(
        f"restore drill {state}: {result.items_restored}/{result.items_expected} items restored "
        f"from {result.backup}"
    )
    print(
        f"  RPO {result.rpo_seconds:.0f} s (age of the dump), RTO {result.rto_seconds:.1f} s "
        "(download + restore + API serving)"
    )
    print("  " + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items()))
    for m in result.mismatches[:20]:
        print(f"  mismatch: {json.dumps(m, sort_keys=True)[:300]}")


def main(env: str = "", local: bool = False, items: int = 20, as_json: bool = False,
         endpoint: str = "") -> int:
    if bool(env) == local:
        print("restore-drill: give exactly one of --env ENV or --local", file=sys.stderr)
        return 2
    if items < 1:
        print("restore-drill: --items must be >= 1", file=sys.stderr)
        return 2
    try:
        if local:
            from tooling.catalog.local import local_drill

            result = local_drill(items=items)
        else:
            result = _env_drill(env, items, endpoint)
    except CatalogError as e:
        say(str(e))
        return 2
    except _s3_errors() as e:
        say(f"S3: {e}")
        return 2
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        _print(result)
    return 0 if result.ok else 1
