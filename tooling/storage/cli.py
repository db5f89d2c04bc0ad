"""`invoke storage.check|apply --env ENV`: the env's bucket against overlays/<env>/storage.yaml.

check: exit 0 in step, 1 drift (printed), 2 cannot run (bad declaration, no credentials, bucket
or endpoint unreachable). apply: a dry run by default (prints what it would change, exit 0);
with `--yes` it changes the bucket, checks again, and exits 1 if anything still drifts.
Credentials are the standard AWS variables; the endpoint is env.yaml's `s3_endpoint`
(`--endpoint` overrides it, e.g. for a loopback S3 server).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tooling.storage.drift import Drift, apply, drift
from tooling.storage.policy import BucketPolicy, StoragePolicyError, load, storage_path


class CannotRun(Exception):
    pass


@dataclass
class Target:
    env: str
    bucket: str
    endpoint: str
    policy: BucketPolicy
    client: Any


def target(env: str, endpoint: str = "") -> Target:
    from conformance.objectstore import s3_client
    from tooling.envconfig import EnvConfigError, read_env_config

    try:
        config = read_env_config(env)
        policy = load(storage_path(env))
    except (EnvConfigError, StoragePolicyError, ValueError) as e:
        raise CannotRun(str(e)) from e
    endpoint = endpoint or config.s3_endpoint
    return Target(env, config.bucket, endpoint, policy, s3_client(endpoint))


def _s3_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def _print_drift(t: Target, drifts: list[Drift]) -> None:
    head = f"storage: {t.env}: bucket {t.bucket} at {t.endpoint} against {t.policy.source}"
    if not drifts:
        print(
            f"{head}: in step (versioning {t.policy.versioning}, {len(t.policy.rules)} lifecycle rules)"
        )
        return
    print(f"{head}: {len(drifts)} difference(s)")
    for d in drifts:
        print(
            f"  {d.field}: declared {json.dumps(d.declared, sort_keys=True)}, "
            f"live {json.dumps(d.live, sort_keys=True)}  -> {d.action}"
        )


def _report(t: Target, drifts: list[Drift], **extra: Any) -> dict[str, Any]:
    return {
        "env": t.env,
        "bucket": t.bucket,
        "endpoint": t.endpoint,
        "declaration": t.policy.source,
        "in_step": not drifts,
        "drift": [d.to_json() for d in drifts],
        **extra,
    }


def _drifts(env: str, endpoint: str, change: bool) -> tuple[Target, list[Drift], list[str], list[Drift]]:
    """ENV's bucket, its drift and, with CHANGE, the calls that fixed it and the drift after them.
    CannotRun when the declaration or the bucket cannot be read (or changed)."""
    t = target(env, endpoint)
    try:
        drifts = drift(t.client, t.bucket, t.policy)
        calls = apply(t.client, t.bucket, t.policy, drifts) if change and drifts else []
        after = drift(t.client, t.bucket, t.policy) if calls else drifts
    except _s3_errors() as e:
        what = "read or change" if change else "read"
        raise CannotRun(f"{env}: cannot {what} the bucket's policy: {e}") from e
    return t, drifts, calls, after


def _cannot_run_exits_2(main: Callable[..., int]) -> Callable[..., int]:
    """MAIN, printing a CannotRun as one line and exiting 2."""
    @functools.wraps(main)
    def edge(*args: Any, **kwargs: Any) -> int:
        try:
            return main(*args, **kwargs)
        except CannotRun as e:
            print(f"storage: {e}", file=sys.stderr)
            return 2

    return edge


@_cannot_run_exits_2
def check_main(env: str, as_json: bool = False, endpoint: str = "") -> int:
    t, drifts, _, _ = _drifts(env, endpoint, change=False)
    if as_json:
        print(json.dumps(_report(t, drifts), indent=2))
    else:
        _print_drift(t, drifts)
    return 1 if drifts else 0


@_cannot_run_exits_2
def apply_main(env: str, yes: bool = False, as_json: bool = False, endpoint: str = "") -> int:
    t, drifts, calls, after = _drifts(env, endpoint, change=yes)
    if as_json:
        print(
            json.dumps(
                _report(
                    t, after, dry_run=not yes, before=[d.to_json() for d in drifts], calls=calls
                ),
                indent=2,
            )
        )
    elif not yes:
        _print_drift(t, drifts)
        if drifts:
            print(
                "storage: dry run: nothing changed; `--yes` applies: "
                + "; ".join(d.action for d in drifts)
            )
    else:
        for call in calls:
            print(f"storage: {env}: {call}")
        _print_drift(t, after)
    return 1 if yes and after else 0
