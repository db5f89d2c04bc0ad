"""The backfill tasks' edges: flags in, one line or a report out, exit 0 ok, 1 failed, 2 cannot run
(bad input: nothing submitted), 3 a catalog or the object store is unreachable."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.backfill.request import BackfillRequest, parse_ids, parse_request
from runner.backfill.search import DEFAULT_CONCURRENCY, MAX_CONCURRENCY
from runner.errors import EXIT_BAD_INPUT, BadInput, RunnerError
from tooling.backfill import cluster
from tooling.dag.cluster import ClusterError
from tooling.envconfig import EnvConfigError, read_env_config


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    print(f"backfill: {message}", file=sys.stderr)
    return code


def usage(message: str) -> int:
    return _fail(message)


def concurrency_message(value: int) -> str:
    return f"--search-concurrency must be within 1..{MAX_CONCURRENCY}, not {value}"


def _guarded(fn: Callable[[], int]) -> int:
    """Runner and cluster failures as one line with their exit code."""
    try:
        return fn()
    except RunnerError as exc:
        return _fail(exc.message, exc.exit_code)
    except (ClusterError, EnvConfigError) as exc:
        return _fail(str(exc))


def _request(collection: str, start: str, end: str, bbox: str, ids: str, limit: int) -> BackfillRequest:
    lines: list[str] = []
    if ids:
        try:
            lines = Path(ids).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"--ids {ids}: cannot read: {exc}") from exc
    return parse_request(collection=collection, start=start, end=end, bbox=bbox,
                         ids=parse_ids(lines), limit=limit)


def main_submit(*, env: str, collection: str, start: str, end: str, bbox: str = "", ids: str = "",
                limit: int = 100, batches: int = 4, run: str = "", source_api: str = "",
                target_collection: str = "", dry_run: bool = False, as_json: bool = False,
                search_concurrency: int = DEFAULT_CONCURRENCY, client: Any = None) -> int:
    def go() -> int:
        if batches < 1:
            return _fail(f"--batches must be at least 1, not {batches}")
        if not 1 <= search_concurrency <= MAX_CONCURRENCY:
            return _fail(concurrency_message(search_concurrency))
        request = _request(collection, start, end, bbox, ids, limit)
        cfg = read_env_config(env)
        api = source_api or cluster.DEFAULT_SOURCE_API
        if dry_run:
            root = f"s3://{cfg.bucket}/{cfg.prefix.strip('/')}/{target_collection or collection}"
            found = cluster.dry_run(api, request, root, search_concurrency=search_concurrency)
            print(cluster.as_json(found) if as_json else
                  f"would plan {found['counts']['planned']} products "
                  f"(first: {', '.join(found['first']) or 'none'})")
            return 0
        sub = cluster.Submission(request, run or _run_name(request), batches, api, target_collection,
                                 search_concurrency=search_concurrency)
        name = cluster.submit(cfg, sub, client)
        print(cluster.as_json({"workflow": name, "run": sub.run}) if as_json else
              f"submitted {name} (run {sub.run}): `invoke backfill.status {sub.run} --env {env}`")
        return 0
    return _guarded(go)


def _run_name(request: BackfillRequest) -> str:
    return f"{request.collection}-{request.start:%Y%m%d}-{request.end:%Y%m%d}".lower()


def main_status(*, run: str, env: str, as_json: bool = False) -> int:
    def go() -> int:
        doc = cluster.status(cluster.state_uri(read_env_config(env), run), run)
        print(cluster.as_json(doc) if as_json else cluster.progress_line(doc))
        failed = doc["counts"]["failed"] or doc["counts"]["dead_lettered"]
        return 1 if doc.get("finished") and failed else 0
    return _guarded(go)


def main_replay(*, run: str, env: str, batches: int = 4, as_json: bool = False,
                client: Any = None) -> int:
    def go() -> int:
        cfg = read_env_config(env)
        state = cluster.state_uri(cfg, run)
        targets = cluster.replay_targets(state)
        if not targets["failed"] and not targets["dead_lettered"]:
            print(cluster.as_json({"run": run, "replayed": 0}) if as_json else
                  f"run {run}: nothing failed or dead-lettered, nothing to replay")
            return 0
        name = cluster.submit(cfg, cluster.replay_submission(state, run, batches), client)
        print(cluster.as_json({"workflow": name, "run": run, **targets}) if as_json else
              f"replaying run {run} as {name}: {len(targets['failed'])} failed, "
              f"{len(targets['dead_lettered'])} dead-lettered")
        return 0
    return _guarded(go)


def main_local(*, products: int, size: int, limit: int, batches: int, parallelism: int,
               state_dir: str, as_json: bool = False,
               search_concurrency: int = DEFAULT_CONCURRENCY) -> int:
    """`invoke backfill --local`: exit 0 all converted and registered, 1 some failed, 2 cannot run."""
    from tooling.backfill.local import DEFAULT_STATE, CannotRun, LocalBackfill, run_local_backfill
    from tooling.dag.progress import Progress

    if products < 1 or limit < 1 or batches < 1 or parallelism < 1:
        return _fail("--products, --limit, --batches and --parallelism must be at least 1")
    if not 1 <= search_concurrency <= MAX_CONCURRENCY:
        return _fail(concurrency_message(search_concurrency))
    job = LocalBackfill(products=products, size=size, limit=limit, batches=batches,
                        parallelism=parallelism, state_dir=Path(state_dir) if state_dir else DEFAULT_STATE,
                        search_concurrency=search_concurrency)
    try:
        report = run_local_backfill(job, Progress(quiet=as_json))
    except CannotRun as exc:
        return _fail(str(exc))
    print(cluster.as_json(report) if as_json else cluster.progress_line({**report, "finished": True}))
    counts = report["counts"]
    return 1 if counts["failed"] or counts["dead_lettered"] or report["phase"] != "Succeeded" else 0
