"""Tasks for platform engineers: `invoke --list` shows them, `invoke --help TASK` explains one.

Tasks are thin: each parses its flags and calls a function in `tooling`, `conformance`,
`runner` or `benchmarks`, which is where the logic (and its tests) live. Tasks of one area with
several verbs are a namespace (`invoke storage.check`): a `Collection` added to `ns` below.
Exit codes are the called function's: 0 ok, 1 findings/failure, 2 cannot run.
"""

from __future__ import annotations

import sys

from invoke import Collection, Context, Exit, task


def _exit(code: int) -> None:
    if code:
        raise Exit(code=code)


@task(help={"env": "staging or prod"})
def render(c: Context, env: str = "staging") -> None:
    """Print the rendered manifests of ENV (real `kubectl kustomize`)."""
    from tooling.manifests import render as mod

    _exit(mod.main(env))


@task(
    help={
        "env": "only this env (staging|prod); default: every env",
        "json": "print the report as JSON",
        "format": "table (default), json or markdown (--json is --format json)",
        "no_cache": "run every kubectl/promtool again instead of reading results of unchanged "
                    "inputs back from build/cache/tools/",
    }
)
def validate(c: Context, env: str = "", json: bool = False, format: str = "",
             no_cache: bool = False) -> None:
    """Render every env and check it offline; exit 0 clean, 1 errors, 2 cannot run.

    Checks: source YAML sanity, strict Kubernetes and Argo schemas, Argo semantic
    lint, CRDs, promtool, overlay preservation, policy, params.json, the Flux objects
    of clusters/ (against the Flux CRDs, their paths rendered), promotion policies.
    """
    from tooling.manifests import validate as mod

    _exit(mod.main(envs=[env] if env else None, as_json=json, fmt=format, use_cache=not no_cache))


@task(help={"path": "a manifest file, or a directory searched for YAML", "json": "JSON output",
            "format": "table (default), json or markdown (--json is --format json)"})
def lint(c: Context, path: str, json: bool = False, format: str = "") -> None:
    """Argo schema and semantic lint of standalone manifests (like `argo lint --offline`)."""
    from tooling.manifests import lint as mod

    _exit(mod.main(path, as_json=json, fmt=format))


@task(
    help={
        "kind": "geozarr or stac",
        "target": "the store (geozarr) or the item JSON (stac)",
        "store": "with stac: the store the item describes",
        "json": "print the report as JSON",
        "online": "with stac: fetch uncached extension schemas (https, allowlisted hosts); "
        "default offline",
        "allow_unknown_extensions": "with stac: an extension we have no schema for is a warning, not an error",
        "format": "table (default), json or markdown (--json is --format json)",
    }
)
def check(c: Context, kind: str, target: str, store: str = "", json: bool = False,
          online: bool = False, allow_unknown_extensions: bool = False, format: str = "") -> None:
    """Conformance checks of one GeoZarr store or one STAC item."""
    from conformance.__main__ import main as conformance_main

    argv = [kind, target]
    if store:
        argv += ["--store", store]
    if json:
        argv.append("--json")
    if format:
        argv += ["--format", format]
    if online:
        argv.append("--online")
    if allow_unknown_extensions:
        argv.append("--allow-unknown-extensions")
    _exit(conformance_main(argv))


@task(
    help={
        "env": "local (default: run the DAG on this machine), staging or prod (submit to Argo)",
        "overlay": "with local: which overlay's rendered template to run (default staging)",
        "size": "the generated sample's size: s2-l2a r10m edge in pixels, s1-grd azimuth lines",
        "json": "print the report as JSON (no progress; one report per product, in order)",
        "wait": "cluster mode: follow the workflow until it ends (default) or return at once",
        "parallelism": "local mode: tasks run at once",
        "output": "local mode: write outputs to this local path instead of the loopback S3 server",
        "format": "table (default), json or markdown (--json is --format json)",
        "product": "s2-l2a or s1-grd (default: both, in sequence)",
    }
)
def conformance(
    c: Context,
    env: str = "local",
    overlay: str = "staging",
    size: int = 144,
    json: bool = False,
    wait: bool = True,
    parallelism: int = 2,
    output: str = "",
    format: str = "",
    product: str = "",
) -> None:
    """Run the deployed `geozarr-conformance` WorkflowTemplate: locally by default, on Argo with --env.

    Each product type (s2-l2a, s1-grd) in sequence, or the one --product names."""
    from tooling.dag import cli

    _exit(
        cli.main(
            env=env,
            overlay=overlay,
            size=size,
            as_json=json,
            wait=wait,
            parallelism=parallelism,
            output=output or None,
            fmt=format,
            product=product,
        )
    )


@task(help={"which": "one of benchmarks/run.py's BENCHMARKS (validate, schema, runner, geozarr, "
                     "conformance, restore, tuning, fanout, backfill); default: all"})
def bench(c: Context, which: str = "") -> None:
    """Run the benchmarks in benchmarks/ and print ratios against their baselines."""
    from benchmarks import run as mod

    _exit(mod.main(which or None))


@task(help={"args": "extra arguments for pytest", "fast": "skip tests that run real conversions",
            "workers": "pytest-xdist workers (default 2: one per core here; 0: in this process)"})
def test(c: Context, args: str = "", fast: bool = False, workers: int = 2) -> None:
    """Run the test suite (pytest)."""
    cmd = [sys.executable, "-m", "pytest"]
    if workers > 0:  # a module's tests stay on one worker: its shared fixtures are built once
        cmd += ["-n", str(workers), "--dist", "loadfile"]
    if fast:
        cmd += ["-m", "not slow"]
    c.run(" ".join(cmd + ([args] if args else [])), pty=False)


@task(
    help={
        "env": "only this env (staging|prod); default: every env",
        "against": "git ref to compare the working tree with (default HEAD)",
        "live": "compare with the live cluster instead (`kubectl diff`, env.yaml's context)",
        "markdown": "print a Markdown summary (the PR comment)",
        "json": "print the report (the changed objects) as JSON",
        "format": "table (default), json or markdown (--json is --format json)",
    }
)
def diff(c: Context, env: str = "", against: str = "HEAD", live: bool = False,
         markdown: bool = False, json: bool = False, format: str = "") -> None:
    """Rendered diff per env: a git ref against the working tree, or against the cluster.

    Exit 0 no difference, 1 differences, 2 cannot run (as `kubectl diff`)."""
    from tooling.gitops import diff as mod

    _exit(mod.main([env] if env else None, against=against, live=live, markdown=markdown, as_json=json,
                   fmt=format))


@task(
    help={
        "digest": "sha256:... digest of the runner image to pin",
        "env": "the env to pin (default prod; staging needs no evidence)",
        "force": "pin even without the evidence (needs --reason)",
        "reason": "why the evidence gate is overridden (goes into the PR body)",
        "body_file": "where to write the pull request body (default build/promotion/<env>-promotion.md)",
        "json": "print the change, the gate's verdict and the evidence as JSON",
    }
)
def promote(c: Context, digest: str, env: str = "prod", force: bool = False, reason: str = "",
            body_file: str = "", json: bool = False) -> None:
    """Pin ENV's runner image to DIGEST if staging's conformance evidence allows it.

    Exit 0 pinned, 1 refused (says what evidence is missing), 2 cannot run."""
    from tooling.gitops import promote as mod

    _exit(mod.main(digest, env=env, force=force, reason=reason, as_json=json, body_file=body_file))


@task(
    help={
        "env": "the env to roll back (default prod)",
        "to": "sha256:... digest to go back to (default: the one pinned before the current one)",
        "force": "roll back even without evidence that the digest passed (needs --reason)",
        "reason": "why the evidence is overridden (goes into the PR body)",
        "body_file": "where to write the pull request body (default build/promotion/<env>-rollback.md)",
        "json": "print the change and the evidence as JSON",
    }
)
def rollback(c: Context, env: str = "prod", to: str = "", force: bool = False, reason: str = "",
             body_file: str = "", json: bool = False) -> None:
    """Pin ENV back to the previously promoted digest (git history), with evidence it passed.

    Exit 0 pinned, 1 refused, 2 cannot run."""
    from tooling.gitops import rollback as mod

    _exit(mod.main(env=env, to=to, force=force, reason=reason, as_json=json, body_file=body_file))


@task(help={"env": "staging or prod", "json": "print the drifted objects as JSON"})
def drift(c: Context, env: str = "staging", json: bool = False) -> None:
    """Live objects against the render (`kubectl diff --server-side`), Secret values masked.

    Exit 0 no drift, 1 drift, 2 cannot run (as `kubectl diff`)."""
    from tooling.gitops import drift as mod

    _exit(mod.main(env, as_json=json))


@task(
    name="check",
    help={
        "env": "the env whose bucket is checked (staging|prod)",
        "json": "print the drift as JSON",
        "endpoint": "S3 endpoint instead of env.yaml's s3_endpoint (e.g. a loopback server)",
    }
)
def storage_check(c: Context, env: str, json: bool = False, endpoint: str = "") -> None:
    """Compare ENV's bucket (versioning, lifecycle) with overlays/ENV/storage.yaml.

    Exit 0 in step, 1 drift, 2 cannot run."""
    from tooling.storage import cli

    _exit(cli.check_main(env, as_json=json, endpoint=endpoint))


@task(
    name="apply",
    help={
        "env": "the env whose bucket is changed (staging|prod)",
        "yes": "really change the bucket (default: dry run, print what would change)",
        "json": "print before/after drift and the calls made as JSON",
        "endpoint": "S3 endpoint instead of env.yaml's s3_endpoint",
    }
)
def storage_apply(c: Context, env: str, yes: bool = False, json: bool = False, endpoint: str = "") -> None:
    """Make ENV's bucket say overlays/ENV/storage.yaml (dry run unless --yes)."""
    from tooling.storage import cli

    _exit(cli.apply_main(env, yes=yes, as_json=json, endpoint=endpoint))


@task(
    name="restore-drill",
    help={
        "env": "restore the env's latest catalog backup (its bucket, backups/pgstac/)",
        "local": "end to end on this machine: register, back up, wipe, restore, compare",
        "items": "items compared (and, with --local, registered); default 20",
        "json": "print {rpo_seconds, rto_seconds, items_expected, items_restored, mismatches}",
        "endpoint": "with --env: S3 endpoint instead of env.yaml's s3_endpoint",
    }
)
def restore_drill(c: Context, env: str = "", local: bool = False, items: int = 20, json: bool = False,
                  endpoint: str = "") -> None:
    """Restore the latest catalog backup into a scratch PostgreSQL + STAC API and compare it.

    Prints RPO (age of the dump) and RTO (to a serving API). Exit 0 match, 1 mismatches, 2 cannot run."""
    from tooling.catalog import cli

    _exit(cli.main(env=env, local=local, items=items, as_json=json, endpoint=endpoint))


_ITEM_HELP = {
    "env": "the env (staging|prod): its STAC API, bucket and prefix (overlays/ENV/env.yaml)",
    "collection": "the item's collection",
    "item": "the item id",
    "json": "print the result as JSON",
    "api": "STAC API URL instead of env.yaml's stac_api_url",
    "endpoint": "S3 endpoint instead of env.yaml's s3_endpoint",
}


@task(name="show", help=_ITEM_HELP)
def item_show(c: Context, env: str, collection: str, item: str, json: bool = False,
              api: str = "", endpoint: str = "") -> None:
    """Show one item: in the catalog or not, its store, its audit history."""
    from tooling.catalog import item_cli

    _exit(item_cli.main("show", env, collection, item, as_json=json, api=api, endpoint=endpoint))


@task(name="delete", help=_ITEM_HELP | {
    "reason": "why (required; logged with who and when to the audit trail on S3)",
    "purge": "also delete the item's own store (delete markers: recoverable while versions exist)"})
def item_delete(c: Context, env: str, collection: str, item: str, reason: str = "", purge: bool = False,
                json: bool = False, api: str = "", endpoint: str = "") -> None:
    """Remove one item from the catalog (and with --purge its store), keeping both recoverable."""
    from tooling.catalog import item_cli

    _exit(item_cli.main("delete", env, collection, item, reason=reason, purge=purge, as_json=json,
                        api=api, endpoint=endpoint))


@task(name="restore", help=_ITEM_HELP | {"reason": "why (required; logged to the audit trail)"})
def item_restore(c: Context, env: str, collection: str, item: str, reason: str = "", json: bool = False,
                 api: str = "", endpoint: str = "") -> None:
    """Bring back the item and its store's object versions as the last item.delete recorded them."""
    from tooling.catalog import item_cli

    _exit(item_cli.main("restore", env, collection, item, reason=reason, as_json=json, api=api,
                        endpoint=endpoint))


@task(
    help={
        "reseal": "re-seal every SealedSecret of ENV for a new controller certificate",
        "env": "the env whose overlays/ENV/secrets/ are re-sealed (staging|prod)",
        "old_key": "the controller's OLD private key (PEM), from its custody backup",
        "cert": "the controller's NEW certificate (PEM): `kubeseal --fetch-cert`",
    }
)
def seal(c: Context, reseal: bool = False, env: str = "", old_key: str = "", cert: str = "") -> None:
    """Re-seal an env's SealedSecrets for a new sealing key (docs/runbooks/sealing-key.md).

    New values are sealed with `python -m tooling.sealing` (docs/runbooks/secrets.md)."""
    if not (reseal and env and old_key and cert):
        print("seal: use `invoke seal --reseal --env ENV --old-key OLD.pem --cert NEW.pem`",
              file=sys.stderr)
        raise Exit(code=2)
    from tooling import resealing

    _exit(resealing.main(env, old_key, cert))


@task(
    name="run",
    default=True,
    help={
        "env": "staging or prod: submit there",
        "collection": "the source catalog's collection (e.g. sentinel-2-l2a)",
        "from_": "window start, ISO 8601 (or last-success)",
        "to": "window end, ISO 8601 (or now)",
        "bbox": "only products intersecting W,S,E,N",
        "ids": "only the item ids listed in this file (one per line)",
        "limit": "hard cap on products converted by this run (> 0)",
        "batches": "convert pods, each a slot of the env's semaphore (default 4; 2 with --local)",
        "search_concurrency": "the plan's searches of the source at once, over disjoint sub-windows "
                              "(1..16; default 2; 1: one search)",
        "run": "the run's name (its state's; the same name resumes); default from the window",
        "source_api": "the source STAC API (default EOPF's)",
        "target_collection": "the collection to register into (default the env's)",
        "dry_run": "search the source and print what would be planned; submit nothing",
        "json": "print JSON (the report, with --local)",
        "local": "run the rendered template here: generated products, a local STAC API",
        "products": "with --local: how many sample products the source catalog holds",
        "size": "with --local: r10m edge of the sample products, in pixels",
        "parallelism": "with --local: tasks run at once",
        "state_dir": "with --local: the run's state (a second run on it resumes); default build/backfill",
    },
)
def backfill_run(c: Context, env: str = "", collection: str = "", from_: str = "", to: str = "",
                 bbox: str = "", ids: str = "", limit: int = 100, batches: int = 0, run: str = "",
                 source_api: str = "", target_collection: str = "", dry_run: bool = False,
                 json: bool = False, local: bool = False, products: int = 12, size: int = 144,
                 parallelism: int = 2, state_dir: str = "", search_concurrency: int = 2) -> None:
    """Submit a bounded, resumable backfill of a collection's window (geozarr-backfill)."""
    from tooling.backfill import cli

    if local:
        _exit(cli.main_local(products=products, size=size, limit=limit, batches=batches or 2,
                             parallelism=parallelism, state_dir=state_dir, as_json=json,
                             search_concurrency=search_concurrency))
        return
    if not (env and collection and from_ and to):
        _exit(cli.usage("--env, --collection, --from and --to are required (or --local)"))
    _exit(cli.main_submit(env=env, collection=collection, start=from_, end=to, bbox=bbox, ids=ids,
                          limit=limit, batches=batches or 4, run=run, source_api=source_api,
                          target_collection=target_collection, dry_run=dry_run, as_json=json,
                          search_concurrency=search_concurrency))


@task(name="status", help={"run": "the backfill run's name", "env": "staging or prod",
                           "json": "print the report (counts, failed, seconds)"})
def backfill_status(c: Context, run: str, env: str = "staging", json: bool = False) -> None:
    """Progress of a backfill run, from its state in the env's object store."""
    from tooling.backfill import cli

    _exit(cli.main_status(run=run, env=env, as_json=json))


@task(help={"run": "the backfill run's name", "env": "staging or prod",
            "batches": "convert pods", "json": "print JSON"})
def replay(c: Context, run: str, env: str = "staging", batches: int = 4, json: bool = False) -> None:
    """Resubmit a backfill run for its failed and dead-lettered products only."""
    from tooling.backfill import cli

    _exit(cli.main_replay(run=run, env=env, batches=batches, as_json=json))


# The task tree. A top-level task is added here; an area with several verbs gets its own
# Collection (`ns.add_collection(Collection("storage", check, apply))` -> `invoke storage.check`).
ns = Collection(render, validate, lint, check, conformance, bench, test, diff, promote, rollback, drift,
                restore_drill, seal, replay)
ns.add_collection(Collection("backfill", backfill_run, backfill_status))
ns.add_collection(Collection("storage", storage_check, storage_apply))
ns.add_collection(Collection("item", item_show, item_delete, item_restore))
