"""`promtool check rules` on the PrometheusRule groups of a rendered env.

promtool reads plain rule files, so each PrometheusRule's `.spec` is written to a temporary file
first. promtool comes from Debian's `prometheus` package (scripts/bootstrap.sh installs it).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from conformance.findings import Finding, Rule, Severity
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
