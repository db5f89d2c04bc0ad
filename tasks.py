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
        "json": "print findings and summary as JSON",
    }
)
def validate(c: Context, env: str = "", json: bool = False) -> None:
    """Render every env and check it offline; exit 0 clean, 1 errors, 2 cannot run.

    Checks: source YAML sanity, strict Kubernetes and Argo schemas, Argo semantic
    lint, CRDs, promtool, overlay preservation, policy, params.json.
    """
    from tooling.manifests import validate as mod

    _exit(mod.main(envs=[env] if env else None, as_json=json))


@task(help={"path": "a manifest file, or a directory searched for YAML", "json": "JSON output"})
def lint(c: Context, path: str, json: bool = False) -> None:
    """Argo schema and semantic lint of standalone manifests (like `argo lint --offline`)."""
    from tooling.manifests import lint as mod

    _exit(mod.main(path, as_json=json))


@task(
    help={
        "kind": "geozarr or stac",
        "target": "the store (geozarr) or the item JSON (stac)",
        "store": "with stac: the store the item describes",
        "json": "print the report as JSON",
        "offline": "with stac: never fetch uncached extension schemas",
    }
)
def check(c: Context, kind: str, target: str, store: str = "", json: bool = False, offline: bool = False) -> None:
    """Conformance checks of one GeoZarr store or one STAC item."""
    from conformance.__main__ import main as conformance_main

    argv = [kind, target]
    if store:
        argv += ["--store", store]
    if json:
        argv.append("--json")
    if offline:
        argv.append("--offline")
    _exit(conformance_main(argv))


@task(
    help={
        "env": "local (default: run the DAG on this machine), staging or prod (submit to Argo)",
        "overlay": "with local: which overlay's rendered template to run (default staging)",
        "size": "r10m edge of the generated sample product, in pixels",
        "json": "print the report as JSON (no progress)",
        "wait": "cluster mode: follow the workflow until it ends (default) or return at once",
        "parallelism": "local mode: tasks run at once",
        "output": "local mode: write outputs to this local path instead of the loopback S3 server",
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
) -> None:
    """Run the deployed `geozarr-conformance` WorkflowTemplate: locally by default, on Argo with --env."""
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
        )
    )


@task(help={"which": "validate, runner, geozarr or conformance; default: all"})
def bench(c: Context, which: str = "") -> None:
    """Run the benchmarks in benchmarks/ and print ratios against their baselines."""
    from benchmarks import run as mod

    _exit(mod.main(which or None))


@task(help={"args": "extra arguments for pytest", "fast": "skip tests that run real conversions"})
def test(c: Context, args: str = "", fast: bool = False) -> None:
    """Run the test suite (pytest)."""
    cmd = [sys.executable, "-m", "pytest"]
    if fast:
        cmd += ["-m", "not slow"]
    c.run(" ".join(cmd + ([args] if args else [])), pty=False)


@task(
    help={
        "env": "only this env (staging|prod); default: every env",
        "against": "git ref to compare the working tree with (default HEAD)",
        "live": "compare with the live cluster instead (`kubectl diff`, env.yaml's context)",
        "markdown": "print a Markdown summary (the PR comment)",
        "json": "print the changed objects as JSON",
    }
)
def diff(c: Context, env: str = "", against: str = "HEAD", live: bool = False,
         markdown: bool = False, json: bool = False) -> None:
    """Rendered diff per env: a git ref against the working tree, or against the cluster.

    Exit 0 no difference, 1 differences, 2 cannot run (as `kubectl diff`)."""
    from tooling.gitops import diff as mod

    _exit(mod.main([env] if env else None, against=against, live=live, markdown=markdown, as_json=json))


@task(help={"digest": "sha256:... digest of the image staging runs", "env": "the env to pin (default prod)"})
def promote(c: Context, digest: str, env: str = "prod") -> None:
    """Pin an env's runner image to DIGEST (the change a promotion PR carries)."""
    from tooling.gitops import promote as mod

    _exit(mod.main(digest, env=env))


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
                 parallelism: int = 2, state_dir: str = "") -> None:
    """Submit a bounded, resumable backfill of a collection's window (geozarr-backfill)."""
    from tooling.backfill import cli

    if local:
        _exit(cli.main_local(products=products, size=size, limit=limit, batches=batches or 2,
                             parallelism=parallelism, state_dir=state_dir, as_json=json))
        return
    if not (env and collection and from_ and to):
        _exit(cli.usage("--env, --collection, --from and --to are required (or --local)"))
    _exit(cli.main_submit(env=env, collection=collection, start=from_, end=to, bbox=bbox, ids=ids,
                          limit=limit, batches=batches or 4, run=run, source_api=source_api,
                          target_collection=target_collection, dry_run=dry_run, as_json=json))


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
ns = Collection(render, validate, lint, check, conformance, bench, test, diff, promote, replay)
ns.add_collection(Collection("backfill", backfill_run, backfill_status))
