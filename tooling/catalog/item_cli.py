"""`invoke item.show|item.delete|item.restore --env ENV --collection C --item ID`.

Exit 0 done, 1 a restore that did not come back identical, 2 cannot run (no such item, nothing
to restore, --reason missing, a purge that cannot be proven safe, API or S3 unreachable).
The env's STAC API, bucket, prefix and S3 endpoint come from overlays/<env>/env.yaml; `--api`
and `--endpoint` override the API URL and the S3 endpoint (a loopback server, a port-forward).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import requests

from tooling.catalog import items
from tooling.catalog.errors import CatalogError


def target(
    env: str, collection: str, item: str, api: str = "", endpoint: str = ""
) -> items.ItemTarget:
    from conformance.objectstore import s3_client
    from tooling.envconfig import EnvConfigError, read_env_config

    if not collection or not item:
        raise CatalogError("--collection and --item are required")
    try:
        config = read_env_config(env)
    except EnvConfigError as e:
        raise CatalogError(str(e)) from e
    return items.ItemTarget(
        env=env,
        api_url=api or config.stac_api_url,
        bucket=config.bucket,
        prefix=config.prefix,
        collection=collection,
        item=item,
        client=s3_client(endpoint or config.s3_endpoint),
    )


def _summary(action: str, out: dict[str, Any]) -> str:
    where = f"{out['collection']}/{out['item']}"
    if action == "show":
        state = "in the catalog" if out["in_catalog"] else "NOT in the catalog"
        lines = [
            (
                f"item {where}: {state}; store {out['store']}: {out['store_objects']} objects, "
                f"{out['store_bytes']} bytes"
            )
        ]
        lines += [
            f"  {a['at']} {a['action']} by {a['who']} ({a['status']}): {a['why']}"
            for a in out["audit"]
        ]
        return "\n".join(lines)
    if action == "delete":
        purged = (
            f"; {len(out['objects'])} store objects deleted (recoverable)" if out["purge"] else ""
        )
        return f"deleted {where} from the catalog{purged}; audit: {out['record']}"
    counts: dict[str, int] = {}
    for how in out["objects"].values():
        counts[how] = counts.get(how, 0) + 1
    same = "identical" if out["item_identical"] else "NOT identical"
    return f"restored {where} ({same} to the audit copy); store objects: {counts or 'none'}; audit: {out['record']}"


def main(
    action: str,
    env: str,
    collection: str,
    item: str,
    reason: str = "",
    purge: bool = False,
    as_json: bool = False,
    api: str = "",
    endpoint: str = "",
) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        t = target(env, collection, item, api, endpoint)
        if action == "show":
            out = items.show(t)
        elif action == "delete":
            out = items.delete(t, reason, purge=purge)
        else:
            out = items.restore(t, reason)
    except CatalogError as e:
        print(f"item.{action}: {e}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError, requests.RequestException) as e:
        print(f"item.{action}: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=2) if as_json else _summary(action, out))
    return 1 if action == "restore" and not out["item_identical"] else 0
