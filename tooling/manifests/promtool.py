"""`promtool check rules` on the PrometheusRule groups of a rendered env.

promtool reads plain rule files, so each PrometheusRule's `.spec` is written to a temporary file
first. promtool comes from Debian's `prometheus` package (scripts/bootstrap.sh installs it).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from conformance.findings import Finding, Rule, Severity
from tooling import repo
from tooling.errors import ToolingError

RULES = Rule("promtool.rules", Severity.ERROR, "PrometheusRule groups pass `promtool check rules`")

INSTALL_HINT = "promtool not found on PATH: apt-get install -y --no-install-recommends prometheus (or scripts/bootstrap.sh)"


class PromtoolMissing(ToolingError):
    pass


def check_rules(docs: Sequence[Any], env: str = "") -> list[Finding]:
    """One finding per problem promtool reports, per PrometheusRule; PromtoolMissing without promtool."""
    rules = [d for d in docs if d.kind == "PrometheusRule"]
    if not rules:
        return []
    exe = shutil.which("promtool")
    if exe is None:
        raise PromtoolMissing(INSTALL_HINT)
    out: list[Finding] = []
    with tempfile.TemporaryDirectory(prefix="geozarr-promtool-") as tmp:
        files = []
        for i, doc in enumerate(rules):
            path = Path(tmp) / f"{i}.rules.yaml"
            spec = doc.obj.get("spec") if isinstance(doc.obj.get("spec"), dict) else {}
            path.write_text(yaml.safe_dump({"groups": spec.get("groups") or []}, sort_keys=False))
            files.append((path, doc))
        # one promtool process for every file: it reports per file
        done = subprocess.run([exe, "check", "rules", *(str(p) for p, _ in files)],
                              capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return []
        text = done.stdout + done.stderr
        for path, doc in files:
            where = {"env": env, "file": doc.file, "kind": doc.kind, "name": doc.name}
            problems = _problems_for(text, str(path))
            out += [RULES.finding(_strip_location(p, str(path)), path="spec.groups", **where) for p in problems]
        if not out:  # promtool failed without naming a file
            last = (text.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            out.append(RULES.finding(f"promtool check rules failed: {last}", env=env))
    return out


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
        path.write_text(yaml.safe_dump({"groups": spec.get("groups") or []}, sort_keys=False))
        paths.append(path)
    return paths


def test_rules(docs: Sequence[Any], test_files: Sequence[Path], env: str = "",
               substitutions: dict[str, str] | None = None, cache_dir: Path | None = None) -> list[Finding]:
    """`promtool test rules` of each test file against the env's rendered PrometheusRules, after
    replacing each key of SUBSTITUTIONS in the test's text: one finding per failing file, naming
    the failed assertions. With CACHE_DIR, a pass is remembered under the hash of everything
    promtool reads (its binary, the rule files, the test): the same inputs are not run again."""
    if not test_files:
        return []
    exe = _promtool()
    out: list[Finding] = []
    with tempfile.TemporaryDirectory(prefix="geozarr-promtool-test-") as tmp:
        rule_files = write_rule_files(docs, Path(tmp))
        running = []
        for test in test_files:  # one promtool per file, all at once
            copy = Path(tmp) / f"test-{test.name}"
            text = test.read_text()
            for key, value in (substitutions or {}).items():
                text = text.replace(key, value)
            copy.write_text(text)
            passed = _pass_marker(cache_dir, exe, rule_files, text)
            if passed is not None and passed.exists():
                continue
            running.append((test, copy, passed, subprocess.Popen(
                [exe, "test", "rules", copy.name], cwd=tmp, text=True, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT)))
        for test, copy, passed, proc in running:
            report, _ = proc.communicate()
            if proc.returncode == 0 and passed is not None:
                passed.parent.mkdir(parents=True, exist_ok=True)
                passed.touch()
            if proc.returncode != 0:
                report = report.replace(copy.name, test.name)
                lines = [ln.strip() for ln in report.splitlines() if ln.strip() and "Unit Testing" not in ln]
                out.append(TESTS.finding(" | ".join(lines[:12]), env=env, file=repo.relpath(test)))
    return out


def _pass_marker(cache_dir: Path | None, exe: str, rule_files: Sequence[Path], test_text: str) -> Path | None:
    """The file that says these exact inputs passed (None without a cache)."""
    if cache_dir is None:
        return None
    stat = Path(exe).stat()
    digest = hashlib.sha256(f"{Path(exe).resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    for path in sorted(rule_files):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(test_text.encode())
    return cache_dir / f"{digest.hexdigest()}.passed"


def check_expressions(expressions: dict[str, str]) -> dict[str, str]:
    """{key: promtool's parse error} for the PromQL expressions (key -> expr) that do not parse:
    each is a recording rule of its own group in one temporary rule file."""
    if not expressions:
        return {}
    exe = _promtool()
    keys = list(expressions)
    groups = [{"name": f"q{i}", "rules": [{"record": "dashboard:query", "expr": expressions[k]}]}
              for i, k in enumerate(keys)]
    with tempfile.TemporaryDirectory(prefix="geozarr-promql-") as tmp:
        path = Path(tmp) / "queries.rules.yaml"
        path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        done = subprocess.run([exe, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return {}
    errors: dict[str, str] = {}
    for line in _problems_for(done.stdout + done.stderr, str(path)):
        message = _strip_location(line, str(path))
        head = message.split(",", 1)[0]  # group "q3"
        index = head.removeprefix('group "q').rstrip('"')
        key = keys[int(index)] if index.isdigit() and int(index) < len(keys) else "(unknown)"
        errors[key] = message
    return errors or {"(promtool)": (done.stdout + done.stderr).strip().splitlines()[-1]}
