"""`promtool check rules` on the PrometheusRule groups of a rendered env.

promtool reads plain rule files, so each PrometheusRule's `.spec` is written to a temporary file
first; promtool runs in that temporary directory and is given file names, not paths, so its output
depends only on the files' bytes and is cached by them (tooling.manifests.toolcache). promtool comes from Debian's `prometheus` package (scripts/bootstrap.sh installs it).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from conformance.findings import Finding, Rule, Severity
from tooling import repo
from tooling.errors import ToolingError
from tooling.manifests import toolcache
from tooling.manifests.toolcache import ToolCache

RULES = Rule("promtool.rules", Severity.ERROR, "PrometheusRule groups pass `promtool check rules`")

INSTALL_HINT = "promtool not found on PATH: apt-get install -y --no-install-recommends prometheus (or scripts/bootstrap.sh)"


class PromtoolMissing(ToolingError):
    pass


def _run(argv: list[str], directory: Path, cache: ToolCache | None) -> toolcache.ToolResult:
    """ARGV (`promtool ...` naming files of DIRECTORY by their names) run in DIRECTORY: its output
    names no temporary path, so a result is a function of the files' bytes (and can be cached)."""
    return toolcache.run([_promtool(), *argv], inputs=[p for p in directory.iterdir() if p.is_file()],
                         cache=cache, verdicts=(0, 1), cwd=directory)


def check_rules(docs: Sequence[Any], env: str = "", cache: ToolCache | None = None) -> list[Finding]:
    """One finding per problem promtool reports, per PrometheusRule; PromtoolMissing without promtool."""
    rules = [d for d in docs if d.kind == "PrometheusRule"]
    if not rules:
        return []
    _promtool()
    out: list[Finding] = []
    with tempfile.TemporaryDirectory(prefix="geozarr-promtool-") as tmp:
        files = []
        for i, doc in enumerate(rules):
            name = f"{i}.rules.yaml"
            spec = doc.obj.get("spec") if isinstance(doc.obj.get("spec"), dict) else {}
            (Path(tmp) / name).write_text(_dump({"groups": spec.get("groups") or []}))
            files.append((name, doc))
        # one promtool process for every file: it reports per file
        done = _run(["check", "rules", *(name for name, _ in files)], Path(tmp), cache)
    if done.returncode == 0:
        return []
    text = done.stdout + done.stderr
    for name, doc in files:
        where = {"env": env, "file": doc.file, "kind": doc.kind, "name": doc.name}
        problems = _problems_for(text, name)
        out += [RULES.finding(_strip_location(p, name), path="spec.groups", **where) for p in problems]
    if not out:  # promtool failed without naming a file
        last = (text.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        out.append(RULES.finding(f"promtool check rules failed: {last}", env=env))
    return out


def _dump(data: Any) -> str:
    """YAML text of DATA (libyaml's emitter when the wheel has it: the same text, faster)."""
    return yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)


def _strip_location(line: str, path: str) -> str:
    """`TMPFILE: 5:11: group "g", rule 1, …` -> `group "g", rule 1, …` (lines of the temp file mean nothing)."""
    rest = line[len(path) + 1:].strip()
    head, sep, tail = rest.partition(": ")
    return tail if sep and head.replace(":", "").isdigit() else rest


def _problems_for(text: str, path: str) -> list[str]:
    """promtool's error lines about PATH (they start with the file name)."""
    lines = [line.strip() for line in text.splitlines()]
    return list(dict.fromkeys(line for line in lines if line.startswith(path + ":")))


TESTS = Rule("promtool.tests", Severity.ERROR,
             "the env's alert unit tests pass `promtool test rules` (base/monitoring/tests/<env>/)")
PROMQL = Rule("promtool.promql", Severity.ERROR, "every dashboard query parses (promtool check rules)")


def _promtool() -> str:
    exe = shutil.which("promtool")
    if exe is None:
        raise PromtoolMissing(INSTALL_HINT)
    return exe


def write_rule_files(docs: Sequence[Any], directory: Path) -> list[Path]:
    """Each PrometheusRule's `.spec` as `<name>.rules.yaml` in DIRECTORY (what tests name in `rule_files`)."""
    paths = []
    for doc in (d for d in docs if d.kind == "PrometheusRule"):
        spec = doc.obj.get("spec") if isinstance(doc.obj.get("spec"), dict) else {}
        path = directory / f"{doc.name}.rules.yaml"
        path.write_text(_dump({"groups": spec.get("groups") or []}))
        paths.append(path)
    return paths


def test_rules(docs: Sequence[Any], test_files: Sequence[Path], env: str = "",
               substitutions: dict[str, str] | None = None, cache: ToolCache | None = None) -> list[Finding]:
    """`promtool test rules` of each test file against the env's rendered PrometheusRules, after
    replacing each key of SUBSTITUTIONS in the test's text: one finding per failing file, naming
    the failed assertions. The files run at once, each in a directory of its own holding the rule
    files and the test (so that CACHE keys a result by exactly what promtool reads)."""
    if not test_files:
        return []
    _promtool()
    with tempfile.TemporaryDirectory(prefix="geozarr-promtool-test-") as tmp, \
            ThreadPoolExecutor(max_workers=len(test_files)) as pool:
        runs = []
        for i, test in enumerate(test_files):
            directory = Path(tmp) / str(i)
            directory.mkdir()
            write_rule_files(docs, directory)
            text = test.read_text()
            for key, value in (substitutions or {}).items():
                text = text.replace(key, value)
            copy = directory / f"test-{test.name}"
            copy.write_text(text)
            runs.append((test, copy, pool.submit(_run, ["test", "rules", copy.name], directory, cache)))
        return [_test_finding(test, copy.name, future.result(), env)
                for test, copy, future in runs if future.result().returncode != 0]


def _test_finding(test: Path, copy_name: str, done: toolcache.ToolResult, env: str) -> Finding:
    report = (done.stdout + done.stderr).replace(copy_name, test.name)
    lines = [ln.strip() for ln in report.splitlines() if ln.strip() and "Unit Testing" not in ln]
    return TESTS.finding(" | ".join(lines[:12]), env=env, file=repo.relpath(test))


def check_expressions(expressions: dict[str, str], cache: ToolCache | None = None) -> dict[str, str]:
    """{key: promtool's parse error} for the PromQL expressions (key -> expr) that do not parse:
    each is a recording rule of its own group in one temporary rule file."""
    if not expressions:
        return {}
    _promtool()
    keys = list(expressions)
    groups = [{"name": f"q{i}", "rules": [{"record": "dashboard:query", "expr": expressions[k]}]}
              for i, k in enumerate(keys)]
    with tempfile.TemporaryDirectory(prefix="geozarr-promql-") as tmp:
        path = Path(tmp) / "queries.rules.yaml"
        path.write_text(_dump({"groups": groups}))
        done = _run(["check", "rules", path.name], Path(tmp), cache)
    if done.returncode == 0:
        return {}
    errors: dict[str, str] = {}
    for line in _problems_for(done.stdout + done.stderr, path.name):
        message = _strip_location(line, path.name)
        head = message.split(",", 1)[0]  # group "q3"
        index = head.removeprefix('group "q').rstrip('"')
        key = keys[int(index)] if index.isdigit() and int(index) < len(keys) else "(unknown)"
        errors[key] = message
    return errors or {"(promtool)": (done.stdout + done.stderr).strip().splitlines()[-1]}
